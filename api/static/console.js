// tier0 consoles (editor, analytics): sign-in with the desk's accounts, the forced password change, and a tiny
// toolkit for the panels (window.tier0). Each panel is its own script that calls tier0.panel(name, {...}).
// No innerHTML with data: every text goes through textContent (tier0.el); sanitised HTML from the server only
// through tier0.html(), which parses it into an inert template first.
(function () {
  "use strict";
  const $ = sel => document.querySelector(sel);
  const store = window.sessionStorage;
  const KEY = "tier0.desk.token";  // the same session as the agent console
  let token = store.getItem(KEY);
  const panels = [];              // {name, title, roles, show, hide, button, section}
  let current = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === undefined || v === null || v === false) return;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : v);
    });
    children.flat().forEach(c => { if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c)); });
    return e;
  }

  // server-rendered, already sanitised HTML (knowledge_base.render): parsed into an inert document (nothing runs),
  // scripts and frames dropped again, links open in a new tab; returns a fragment to append
  function html(markup) {
    const doc = new DOMParser().parseFromString(String(markup || ""), "text/html");
    doc.querySelectorAll("script,style,iframe,object,embed,form").forEach(n => n.remove());
    doc.querySelectorAll("a[href]").forEach(a => { a.target = "_blank"; a.rel = "noopener noreferrer nofollow"; });
    const frag = document.createDocumentFragment();
    Array.from(doc.body.childNodes).forEach(n => frag.append(document.importNode(n, true)));
    return frag;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || status));
      this.status = status; this.body = body;
    }
  }

  // api(path, {method, body (object → JSON, Blob/ArrayBuffer as is), headers, raw (return the Response)})
  async function api(path, opts) {
    opts = Object.assign({}, opts || {});
    const headers = Object.assign({}, opts.headers || {});
    if (opts.body !== undefined && !(opts.body instanceof Blob) && !(opts.body instanceof ArrayBuffer) && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      headers["Content-Type"] = "application/json";
    }
    if (token) headers.Authorization = "Bearer " + token;
    opts.headers = headers;
    const r = await fetch(path, opts);
    if (r.status === 401 && path !== "/api/desk/login") { signOut(); throw new ApiError(401, { detail: "signed out" }); }
    if (opts.raw && r.ok) return r;
    if (r.status === 204) return null;
    const body = await r.json().catch(() => ({}));
    if (r.status === 403 && body.error === "password_change_required") showChangePassword();
    if (!r.ok) throw new ApiError(r.status, body);
    return body;
  }
  const post = (path, body) => api(path, { method: "POST", body: body || {} });

  function showSignin() { $("#change-password").hidden = true; $("#signin").hidden = false; $("#app").hidden = true; $("#login-user").focus(); }
  function showChangePassword() { $("#signin").hidden = true; $("#app").hidden = true; $("#change-password").hidden = false; $("#pw-old").focus(); }
  function signOut() { store.removeItem(KEY); token = null; tier0.me = null; showSignin(); }

  $("#login").addEventListener("submit", async ev => {
    ev.preventDefault();
    $("#login-error").textContent = "";
    try {
      const r = await post("/api/desk/login", { username: $("#login-user").value, password: $("#login-pass").value });
      token = r.token; store.setItem(KEY, token); $("#login-pass").value = "";
      await start();
    } catch (e) { $("#login-error").textContent = e.message; }
  });
  $("#password-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    $("#pw-error").textContent = "";
    if ($("#pw-new").value !== $("#pw-again").value) { $("#pw-error").textContent = "The two new passwords differ."; return; }
    try {
      const r = await post("/api/desk/password", { old_password: $("#pw-old").value, new_password: $("#pw-new").value });
      token = r.token; store.setItem(KEY, token);
      ["#pw-old", "#pw-new", "#pw-again"].forEach(id => { $(id).value = ""; });
      $("#change-password").hidden = true;
      await start();
    } catch (e) { $("#pw-error").textContent = e.message; }
  });
  $("#logout").addEventListener("click", async () => { try { await post("/api/desk/logout"); } catch (e) { /* gone */ } signOut(); });

  // a panel: {title, roles: ["editor", "admin"], show(section, params), hide()} — its section is <section
  // id="panel-NAME"> in the page; its button is made here. Panels whose roles exclude the account are not shown.
  function panel(name, spec) { panels.push(Object.assign({ name, roles: null }, spec)); }

  function allowed(p) { return !p.roles || (tier0.me && p.roles.includes(tier0.me.role)); }

  async function open(name, params) {
    const p = panels.find(x => x.name === name && allowed(x));
    if (!p) return;
    if (current && current !== p && current.hide) current.hide();
    panels.forEach(x => {
      const section = document.getElementById("panel-" + x.name);
      if (section) section.hidden = x !== p;
      if (x.button) x.button.setAttribute("aria-current", x === p ? "page" : "false");
    });
    current = p;
    const section = document.getElementById("panel-" + name);
    if (history.replaceState) history.replaceState(null, "", "#" + name);
    try { await p.show(section, params || {}); } catch (e) { tier0.status(e.message, true); }
  }

  function status(text, error) {
    const s = $("#status");
    s.textContent = text || "";
    s.className = "status" + (error ? " error" : "");
  }

  async function start() {
    const me = await api("/api/desk/me");
    if (me.must_change_password) { showChangePassword(); return; }
    tier0.me = me;
    $("#me").textContent = me.display_name + " (" + me.role + ")";
    $("#signin").hidden = true; $("#app").hidden = false;
    const nav = $("#panels");
    nav.replaceChildren();
    panels.filter(allowed).forEach(p => {
      p.button = el("button", { type: "button", "aria-current": "false", onclick: () => open(p.name) }, p.title);
      nav.append(p.button);
    });
    const first = panels.filter(allowed);
    if (!first.length) { status("Your role (" + me.role + ") has nothing to do on this page.", true); return; }
    const wanted = location.hash.slice(1);
    await open(first.some(p => p.name === wanted) ? wanted : first[0].name);
  }

  window.tier0 = { el, html, api, post, panel, open, status, ApiError, me: null, $ };
  // panels register on load; start once every script of the page has run
  window.addEventListener("DOMContentLoaded", () => { if (token) start().catch(() => showSignin()); else showSignin(); });
})();
