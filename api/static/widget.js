/*! tier0 website widget — one script tag on any site:
 *   <script src="https://support.example.com/widget.js" async data-lang="fr" data-color="#0b5cad"
 *           data-position="right" data-greeting="…" data-launcher-label="…" data-identity='{"id":…}'></script>
 * or window.tier0Settings = {lang, color, position, greeting, launcherLabel, identity, origin} before it.
 * Everything lives in a shadow DOM (the host page's CSS cannot reach it, its CSS cannot reach the page); the panel is
 * built on first open. The conversation (id + token) is kept in localStorage for the site's origin: it survives a
 * reload and navigation. Messages go through a queue with an Idempotency-Key each: retried with back-off, sent once.
 * Answers' HTML is sanitised by tier0 and parsed again here into an inert document, keeping a short list of tags.
 */
(function () {
  "use strict";
  if (window.__tier0Widget) return;
  const script = document.currentScript || Array.from(document.querySelectorAll("script[src*='widget.js']")).pop();
  const data = (script && script.dataset) || {};
  const user = window.tier0Settings || {};
  function setting(name, fallback) {
    if (user[name] !== undefined && user[name] !== null) return user[name];
    if (data[name] !== undefined && data[name] !== "") return data[name];
    return fallback;
  }
  const ORIGIN = String(setting("tier0Origin", user.origin || (script && script.src ? new URL(script.src, location.href).origin : location.origin))).replace(/\/+$/, "");

  // -- texts: one catalogue per language ------------------------------------------------------------------------
  const TEXTS = {
    en: {
      launcher: "Chat with us", title: "Customer service", close: "Close the chat", newConv: "New conversation",
      end: "End conversation", greeting: "Hello! Ask me your question, or ask to talk to a person.",
      inputLabel: "Your message", placeholder: "Type your question…", send: "Send", human: "Talk to a person",
      humanPhrase: "I want to talk to a human", helpful: "Did this help?", yes: "Yes, this helped",
      no: "No, this did not help", yesPhrase: "yes", noPhrase: "no", typing: "The assistant is writing…",
      sending: "Sending…", notSent: "Not sent.", retry: "Retry", retrying: "Not sent yet: trying again…",
      source: "Source:", back: "Back to the conversation", suggestions: "Suggested articles",
      ticket: "Request {id}", team: "Team: {team}", position: "Position in the queue: {n}",
      wait: "Expected wait: about {n} min", agent: "{name} is looking after you", you: "You", bot: "Assistant",
      agentLabel: "Agent", resolved: "Your request is resolved.",
      offline: "Nobody is available right now. Leave your e-mail address and we will answer you.",
      email: "Your e-mail address", emailSend: "Send my address", emailBad: "Please enter a valid e-mail address.",
      survey: "How would you rate this conversation?", rating: "{n} out of 5", comment: "Comment (optional)",
      surveySend: "Send my rating", surveyPick: "Please choose a rating from 1 to 5.",
      surveyThanks: "Thank you for your feedback!", ended: "This conversation has ended.",
      failed: "Something went wrong: {e}", loading: "Loading…", dialog: "Chat with customer service",
      log: "Conversation", chooseRating: "Your rating",
    },
    fr: {
      launcher: "Discuter avec nous", title: "Service client", close: "Fermer la discussion",
      newConv: "Nouvelle conversation", end: "Terminer la conversation",
      greeting: "Bonjour ! Posez-moi votre question, ou demandez à parler à un conseiller.",
      inputLabel: "Votre message", placeholder: "Écrivez votre question…", send: "Envoyer",
      human: "Parler à un conseiller", humanPhrase: "je veux parler à un conseiller", helpful: "Cela vous a-t-il aidé ?",
      yes: "Oui, cela m'a aidé", no: "Non, cela ne m'a pas aidé", yesPhrase: "oui", noPhrase: "non",
      typing: "L'assistant écrit…", sending: "Envoi…", notSent: "Non envoyé.", retry: "Réessayer",
      retrying: "Pas encore envoyé : nouvel essai…", source: "Source :", back: "Retour à la conversation",
      suggestions: "Articles suggérés", ticket: "Demande {id}", team: "Équipe : {team}",
      position: "Position dans la file : {n}", wait: "Attente estimée : environ {n} min",
      agent: "{name} s'occupe de vous", you: "Vous", bot: "Assistant", agentLabel: "Conseiller",
      resolved: "Votre demande est résolue.",
      offline: "Personne n'est disponible pour le moment. Laissez votre adresse e-mail et nous vous répondrons.",
      email: "Votre adresse e-mail", emailSend: "Envoyer mon adresse", emailBad: "Veuillez saisir une adresse e-mail valide.",
      survey: "Comment évaluez-vous cette conversation ?", rating: "{n} sur 5", comment: "Commentaire (facultatif)",
      surveySend: "Envoyer ma note", surveyPick: "Veuillez choisir une note de 1 à 5.",
      surveyThanks: "Merci pour votre avis !", ended: "Cette conversation est terminée.",
      failed: "Un problème est survenu : {e}", loading: "Chargement…", dialog: "Discussion avec le service client",
      log: "Conversation", chooseRating: "Votre note",
    },
  };
  function pickLang() {
    const wanted = [setting("lang", ""), document.documentElement.lang || ""].concat(navigator.languages || [navigator.language || ""]);
    for (const w of wanted) {
      const l = String(w).slice(0, 2).toLowerCase();
      if (TEXTS[l]) return l;
    }
    return "en";
  }
  const LANG = pickLang();
  const T = TEXTS[LANG];
  function t(key, params) {
    return String(T[key]).replace(/\{(\w+)\}/g, (_, k) => (params && params[k] !== undefined ? params[k] : ""));
  }

  // -- theme ----------------------------------------------------------------------------------------------------
  function rgb(hex) {
    const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(String(hex || "").trim());
    if (!m) return null;
    const h = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    return [0, 2, 4].map(i => parseInt(h.slice(i, i + 2), 16));
  }
  function luminance(c) {
    const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function contrast(a, b) {
    const la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  const brand = rgb(setting("color", "")) || rgb("#1d4ed8");
  const onBrand = contrast(brand, [255, 255, 255]) >= contrast(brand, [17, 17, 17]) ? "#ffffff" : "#111111";
  // the brand colour as text on white (links, outlines) only where it reads (AA, 4.5:1); else a dark blue
  const brandText = contrast(brand, [255, 255, 255]) >= 4.5 ? "rgb(" + brand.join(",") + ")" : "#1e3a8a";
  const SIDE = setting("position", "right") === "left" ? "left" : "right";

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #111827;
  --brand: rgb(${brand.join(",")}); --on-brand: ${onBrand}; --brand-text: ${brandText}; }
button, input, textarea { font: inherit; color: inherit; letter-spacing: normal; }
button { cursor: pointer; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.launcher { position: fixed; bottom: 20px; ${SIDE}: 20px; z-index: 2147483000; border: 0; border-radius: 28px;
  padding: 14px 20px; background: var(--brand); color: var(--on-brand); font-weight: 600;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); display: flex; align-items: center; gap: 8px; }
.launcher svg { width: 20px; height: 20px; fill: currentColor; }
.panel { position: fixed; bottom: 88px; ${SIDE}: 20px; z-index: 2147483001; width: 380px; height: min(620px, calc(100vh - 110px));
  background: #fff; border-radius: 14px; box-shadow: 0 10px 40px rgba(0,0,0,.3); display: flex; flex-direction: column;
  overflow: hidden; transition: opacity .15s ease, transform .15s ease; }
.panel[hidden] { display: none; }
.head { display: flex; align-items: center; gap: 6px; padding: 10px 10px 10px 16px; background: var(--brand); color: var(--on-brand); }
.head h2 { font-size: 16px; margin: 0; flex: 1; font-weight: 600; }
.head button { border: 0; background: transparent; color: inherit; border-radius: 8px; padding: 6px 8px; font-size: 13px; }
.head button:hover { background: rgba(127,127,127,.25); }
.head .x { font-size: 20px; line-height: 1; padding: 4px 10px; }
.ticket { padding: 8px 16px; background: #ecfdf5; color: #065f46; font-size: 13px; border-bottom: 1px solid #a7f3d0; }
.ticket[hidden], .article[hidden], .logbox[hidden], .extra[hidden], .suggest[hidden], .typing[hidden] { display: none; }
.ticket p { margin: 0; }
.logbox { flex: 1; min-height: 0; display: flex; flex-direction: column; }
.log { list-style: none; margin: 0; padding: 14px; flex: 1; overflow-y: auto; display: flex; flex-direction: column; gap: 10px; }
.msg { max-width: 88%; padding: 9px 12px; border-radius: 14px; word-wrap: break-word; overflow-wrap: anywhere; }
.msg.customer { align-self: flex-end; background: var(--brand); color: var(--on-brand); border-bottom-right-radius: 4px; white-space: pre-wrap; }
.msg.bot, .msg.agent { align-self: flex-start; background: #f3f4f6; border-bottom-left-radius: 4px; }
.msg.agent { background: #ecfdf5; border: 1px solid #a7f3d0; }
.msg.system { align-self: center; background: transparent; color: #374151; font-size: 13px; text-align: center; }
.msg .who { display: block; font-size: 12px; color: #4b5563; margin-bottom: 2px; }
.msg .text p { margin: 0 0 6px; } .msg .text p:last-child { margin-bottom: 0; }
.msg .text ul, .msg .text ol { margin: 4px 0; padding-left: 20px; }
.msg .text a, .article a, .sources a { color: var(--brand-text); }
.msg .plain { white-space: pre-wrap; }
.msg img, .article img { max-width: 100%; height: auto; }
.msg.pending { opacity: .85; }
.state { display: block; font-size: 12px; margin-top: 4px; }
.state button { border: 1px solid currentColor; background: #fff; color: #991b1b; border-radius: 10px; padding: 1px 8px; margin-left: 6px; font-size: 12px; }
.msg.failed { background: #fee2e2; color: #7f1d1d; }
.sources { margin-top: 6px; font-size: 13px; }
.quick { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
.quick button, .helpful button, .suggest button { border: 1px solid var(--brand-text); background: #fff; color: var(--brand-text);
  border-radius: 14px; padding: 4px 10px; font-size: 13px; }
.quick button:disabled, .helpful button:disabled { opacity: .6; cursor: default; }
.helpful { display: flex; align-items: center; gap: 6px; margin-top: 6px; font-size: 13px; }
.helpful button { display: inline-flex; align-items: center; padding: 5px 9px; }
.helpful svg { width: 16px; height: 16px; fill: currentColor; }
.helpful button[aria-pressed="true"] { background: var(--brand); color: var(--on-brand); opacity: 1; }
.typing { align-self: flex-start; padding: 10px 14px; background: #f3f4f6; border-radius: 14px; }
.typing span { display: inline-block; width: 7px; height: 7px; margin: 0 2px; border-radius: 50%; background: #4b5563; animation: blink 1.2s infinite; }
.typing span:nth-child(2) { animation-delay: .2s; } .typing span:nth-child(3) { animation-delay: .4s; }
@keyframes blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
.article { flex: 1; overflow-y: auto; padding: 14px 16px; }
.article h3 { margin: 8px 0; font-size: 17px; }
.article .backbtn { border: 1px solid #d1d5db; background: #fff; border-radius: 10px; padding: 4px 10px; font-size: 13px; }
.extra { padding: 10px 14px; border-top: 1px solid #e5e7eb; background: #fafafa; font-size: 14px; }
.extra p { margin: 0 0 6px; }
.extra label { display: block; font-size: 13px; margin: 6px 0 2px; }
.extra input[type=email], .extra textarea { width: 100%; padding: 7px 9px; border: 1px solid #6b7280; border-radius: 8px; }
.extra .row { display: flex; gap: 6px; margin-top: 6px; }
.extra .primary { border: 0; border-radius: 8px; background: var(--brand); color: var(--on-brand); padding: 7px 12px; }
.extra .error { color: #991b1b; font-size: 13px; }
.stars { display: flex; gap: 4px; border: 0; padding: 0; margin: 4px 0; }
.stars legend { font-size: 13px; padding: 0; margin-bottom: 4px; }
.stars label { display: inline-flex; align-items: center; justify-content: center; width: 38px; height: 34px; margin: 0;
  border: 1px solid #6b7280; border-radius: 8px; background: #fff; font-size: 14px; cursor: pointer; }
.stars input { position: absolute; opacity: 0; width: 1px; height: 1px; }
.stars input:checked + span { font-weight: 700; }
.stars label:has(input:checked) { background: var(--brand); color: var(--on-brand); border-color: var(--brand); }
.stars label:has(input:focus-visible) { outline: 3px solid #f59e0b; outline-offset: 2px; }
.suggest { margin: 0; padding: 6px 12px 0; list-style: none; display: flex; flex-direction: column; gap: 4px; }
.suggest .label { font-size: 12px; color: #4b5563; }
.suggest button { text-align: left; border-radius: 8px; width: 100%; }
.suggest small { display: block; color: #4b5563; }
.actions { padding: 6px 12px 0; }
.actions button { border: 1px solid #6b7280; background: #fff; color: #111827; border-radius: 14px; padding: 4px 12px; font-size: 13px; }
.composer { display: flex; gap: 8px; padding: 10px 12px 12px; }
.composer input { flex: 1; min-width: 0; padding: 9px 11px; border: 1px solid #6b7280; border-radius: 10px; }
.composer button { padding: 9px 14px; border: 0; border-radius: 10px; background: var(--brand); color: var(--on-brand); }
.composer input:disabled, .composer button:disabled { opacity: .55; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 480px) {
  .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
  .launcher { bottom: 12px; ${SIDE}: 12px; }
}
@media (prefers-reduced-motion: reduce) { *, *::before, *::after { animation: none !important; transition: none !important; } }
`;

  // -- storage: the conversation for this site's origin ------------------------------------------------------------
  const KEY = "tier0.widget:" + ORIGIN;
  let store = null;
  try { store = window.localStorage; store.getItem(KEY); } catch (e) { store = null; }  // storage off: this page only
  let saved = {};
  try { saved = JSON.parse((store && store.getItem(KEY)) || "{}") || {}; } catch (e) { saved = {}; }
  function save() { try { if (store) store.setItem(KEY, JSON.stringify(saved)); } catch (e) { /* full: keep in memory */ } }
  // saved = {conv: {id, token, renewed, ticket, ended}, open: bool, outbox: [{key, text}]}
  saved.outbox = Array.isArray(saved.outbox) ? saved.outbox : [];

  // -- the API --------------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message, retryAfter) { super(message); this.status = status; this.code = code; this.retryAfter = retryAfter; }
  }
  async function api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers || {});
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.auth !== false && saved.conv) headers.Authorization = "Bearer " + saved.conv.token;
    let r;
    try {
      r = await fetch(ORIGIN + path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), credentials: "omit", mode: "cors" });
    } catch (e) {
      throw new ApiError(0, "network", e.message || "network error");
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      let detail = body.detail;
      if (Array.isArray(detail)) detail = detail.map(d => d.msg || JSON.stringify(d)).join("; ");
      throw new ApiError(r.status, body.error || "http_" + r.status, detail || r.statusText, Number(r.headers.get("Retry-After")) || 0);
    }
    return body;
  }
  function retryable(e) { return e.status === 0 || e.status === 429 || e.status >= 500 || e.code === "conflict"; }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.from(a, b => b.toString(16).padStart(2, "0")).join("");
  }
  function identity() {
    let id = setting("identity", null);
    if (typeof id === "string") { try { id = JSON.parse(id); } catch (e) { id = null; } }
    if (!id || typeof id !== "object") return null;
    const out = {};
    ["id", "name", "email", "tier", "signature"].forEach(k => { if (id[k] !== undefined && id[k] !== null) out[k] = String(id[k]); });
    return out;
  }

  // -- DOM helpers ----------------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    (children || []).forEach(c => { if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  const ALLOWED = new Set(["P", "BR", "STRONG", "B", "EM", "I", "U", "S", "UL", "OL", "LI", "A", "CODE", "PRE",
    "BLOCKQUOTE", "H1", "H2", "H3", "H4", "H5", "H6", "HR", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "SPAN", "DIV", "IMG"]);
  const DROP = new Set(["SCRIPT", "STYLE", "IFRAME", "OBJECT", "EMBED", "TEMPLATE", "SVG", "MATH", "FORM", "INPUT",
    "BUTTON", "TEXTAREA", "SELECT", "LINK", "META", "BASE", "NOSCRIPT", "AUDIO", "VIDEO", "SOURCE", "FRAME"]);
  function safeUrl(value, images) {
    try {
      const u = new URL(value, ORIGIN + "/");
      if (u.protocol === "https:" || u.protocol === "http:" || (!images && u.protocol === "mailto:")) return u.href;
    } catch (e) { /* not a URL */ }
    return null;
  }
  // tier0 sends sanitised HTML (nh3); parsed here into an inert document (DOMParser: no script runs, nothing loads)
  // and copied again, tag by tag, keeping a short list of tags and attributes
  function safeHtml(html) {
    const parsed = new DOMParser().parseFromString(String(html || ""), "text/html");
    const out = document.createDocumentFragment();
    function copy(node, into) {
      node.childNodes.forEach(n => {
        if (n.nodeType === 3) { into.appendChild(document.createTextNode(n.nodeValue)); return; }
        if (n.nodeType !== 1) return;
        if (DROP.has(n.tagName)) return;
        if (!ALLOWED.has(n.tagName)) { copy(n, into); return; }  // unknown element: keep its text
        let tag = n.tagName.toLowerCase();
        if (/^h[1-6]$/.test(tag)) tag = "strong";
        const e = document.createElement(tag);
        if (tag === "a") {
          const href = safeUrl(n.getAttribute("href") || "", false);
          if (href) { e.href = href; e.target = "_blank"; e.rel = "noopener noreferrer"; }
        } else if (tag === "img") {
          const src = safeUrl(n.getAttribute("src") || "", true);
          if (!src) return;
          e.src = src; e.alt = n.getAttribute("alt") || ""; e.loading = "lazy";
          e.referrerPolicy = "no-referrer";
        }
        copy(n, e);
        into.appendChild(e);
        if (tag === "strong" && /^H[1-6]$/.test(n.tagName)) into.appendChild(document.createElement("br"));
      });
    }
    copy(parsed.body, out);
    return out;
  }
  // without HTML from the server: **bold**, *italic* and line breaks, everything else text
  function richText(text) {
    const div = el("div", { class: "text plain" });
    String(text || "").split(/(\*\*[^*]+\*\*|\*[^*\s][^*]*\*)/).forEach(part => {
      if (/^\*\*[^*]+\*\*$/.test(part)) div.appendChild(el("strong", { text: part.slice(2, -2) }));
      else if (/^\*[^*]+\*$/.test(part)) div.appendChild(el("em", { text: part.slice(1, -1) }));
      else if (part) div.appendChild(document.createTextNode(part));
    });
    return div;
  }

  // -- the widget ------------------------------------------------------------------------------------------------
  window.__tier0Widget = { version: 1, origin: ORIGIN, lang: LANG };
  const host = document.createElement("tier0-widget");
  const root = host.attachShadow({ mode: "open" });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);  // a constructed sheet: allowed under a strict style-src, unlike a <style> element
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    root.appendChild(el("style", { text: CSS }));
  }
  const wrap = el("div", { class: "root", lang: LANG });
  root.appendChild(wrap);
  const launcherLabel = String(setting("launcherLabel", T.launcher));
  // icons as inline SVG (an emoji needs a font the visitor may not have)
  function svgIcon(d, transform) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("aria-hidden", "true"); svg.setAttribute("focusable", "false");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", d);
    if (transform) p.setAttribute("transform", transform);
    svg.appendChild(p);
    return svg;
  }
  const THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";
  const icon = svgIcon("M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  const launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-haspopup": "dialog", onclick: () => toggle() },
    [icon, el("span", { text: launcherLabel })]);
  wrap.appendChild(launcher);

  let ui = null;  // the panel's parts, built on first open
  let lastId = 0;
  const shown = new Set();
  let stream = null, listening = 0, streamRetry = 1000, fallback = null;
  let flushing = false, retryTimer = null, backoff = 1000;
  let searchTimer = null, searchSeq = 0;
  const feedbackGroups = [];

  function build() {
    const titleId = "t0-title";
    // the live region is a box around the list (a list keeps its list semantics: role=log on the <ol> itself would
    // leave its <li> outside any list for assistive technologies)
    const log = el("ol", { class: "log" });
    const logBox = el("div", { class: "logbox", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": T.log }, [log]);
    const typing = el("li", { class: "typing", hidden: true, role: "status", "aria-label": T.typing }, [el("span"), el("span"), el("span"), el("span", { class: "sr", text: T.typing })]);
    const ticket = el("div", { class: "ticket", role: "status", "aria-live": "polite", hidden: true });
    const article = el("section", { class: "article", hidden: true, "aria-label": T.source });
    const extra = el("div", { class: "extra", hidden: true });
    const suggestLabel = el("li", { class: "label", text: T.suggestions, id: "t0-suggest-label" });
    const suggest = el("ul", { class: "suggest", hidden: true, "aria-labelledby": "t0-suggest-label" });
    const input = el("input", { type: "text", id: "t0-input", maxlength: "4000", autocomplete: "off", placeholder: T.placeholder });
    const sendBtn = el("button", { type: "submit", class: "send", text: T.send });
    const form = el("form", { class: "composer", novalidate: true }, [el("label", { for: "t0-input", class: "sr", text: T.inputLabel }), input, sendBtn]);
    const human = el("button", { type: "button", class: "human", text: T.human, onclick: () => queueSend(T.humanPhrase) });
    const newBtn = el("button", { type: "button", class: "new", text: T.newConv, onclick: () => restart() });
    const endBtn = el("button", { type: "button", class: "end", text: T.end, onclick: () => endConversation() });
    const closeBtn = el("button", { type: "button", class: "x", "aria-label": T.close, title: T.close, text: "×", onclick: () => toggle(false) });
    const panel = el("div", { class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, hidden: true, id: "t0-panel" }, [
      el("div", { class: "head" }, [el("h2", { id: titleId, text: String(T.title) }), newBtn, endBtn, closeBtn]),
      ticket, logBox, article, extra, suggest, el("div", { class: "actions" }, [human]), form,
    ]);
    launcher.setAttribute("aria-controls", "t0-panel");
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) { input.focus(); return; }
      input.value = "";
      hideSuggestions();
      queueSend(text);
    });
    input.addEventListener("input", () => {
      clearTimeout(searchTimer);
      const q = input.value.trim();
      if (q.length < 2) { hideSuggestions(); return; }
      searchTimer = setTimeout(() => suggestFor(q.slice(0, 200)), 300);
    });
    panel.addEventListener("keydown", trapFocus);
    wrap.appendChild(panel);
    ui = { panel, log, logBox, typing, ticket, article, extra, suggest, suggestLabel, input, sendBtn, human, endBtn, newBtn, closeBtn };
    greet();
    if (saved.conv) {
      showTicket(saved.conv.ticket);
      poll().then(() => { listen(); renew(); if (saved.conv && saved.conv.ended) showSurvey(); });
    }
    renderOutbox();
    if (saved.outbox.length) flush();
  }

  function greet() {
    ui.log.appendChild(el("li", { class: "msg bot greeting" }, [el("span", { class: "who", text: T.bot }), richText(String(setting("greeting", T.greeting)))]));
  }

  function toggle(open, quiet) {
    if (!ui) build();
    const willOpen = open === undefined ? ui.panel.hidden : open;
    ui.panel.hidden = !willOpen;
    launcher.setAttribute("aria-expanded", String(willOpen));
    saved.open = willOpen; save();
    if (willOpen) { if (!quiet) ui.input.focus(); scrollDown(); } else if (!quiet) launcher.focus();
  }

  function focusables() {
    return Array.from(ui.panel.querySelectorAll("button, a[href], input, textarea, [tabindex]:not([tabindex='-1'])"))
      .filter(e => !e.disabled && e.getClientRects().length > 0 && e.getAttribute("tabindex") !== "-1");
  }
  function trapFocus(ev) {
    if (ev.key === "Escape") { ev.preventDefault(); toggle(false); return; }
    if (ev.key !== "Tab") return;
    const items = focusables();
    if (!items.length) return;
    const first = items[0], last = items[items.length - 1], active = root.activeElement;
    if (ev.shiftKey && (active === first || !ui.panel.contains(active))) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && (active === last || !ui.panel.contains(active))) { ev.preventDefault(); first.focus(); }
  }
  function scrollDown() { if (ui) ui.log.scrollTop = ui.log.scrollHeight; }

  // -- rendering messages ------------------------------------------------------------------------------------------
  function render(m) {
    if (!m || (m.id && shown.has(m.id))) return;
    if (m.id) { shown.add(m.id); lastId = Math.max(lastId, m.id); }
    const d = m.data || {};
    if (m.sender === "customer") {
      adoptPending(m.text);
      feedbackGroups.forEach(g => g.forEach(b => { b.disabled = true; }));  // a later message: earlier 👍👎 mean nothing now
    }
    const li = el("li", { class: "msg " + m.sender, "data-id": m.id || null, "data-sender": m.sender });
    const who = m.sender === "agent" ? (d.agent ? d.agent + " · " + T.agentLabel : T.agentLabel)
      : m.sender === "bot" ? T.bot : m.sender === "customer" ? T.you : "";
    if (who) li.appendChild(el("span", { class: m.sender === "customer" ? "who sr" : "who", text: who }));
    const html = m.html || d.html;
    if (m.sender === "customer") li.appendChild(el("div", { class: "text", text: m.text }));
    else if (html) li.appendChild(el("div", { class: "text" }, [safeHtml(html)]));
    else li.appendChild(richText(m.text));
    const sources = (d.sources || m.sources || []).filter(s => s && s.url && s.article_id);
    const buttons = d.buttons || m.buttons || [];
    if (sources.length && !buttons.length) {
      const p = el("div", { class: "sources" }, [T.source + " "]);
      sources.forEach((s, i) => {
        if (i) p.appendChild(document.createTextNode(", "));
        p.appendChild(el("a", { href: safeUrl(s.url, false) || "#", "data-article": s.article_id, text: s.title,
          onclick: ev => { ev.preventDefault(); openArticle(s.article_id); } }));
      });
      li.appendChild(p);
    }
    if (buttons.length) {
      const q = el("div", { class: "quick", role: "group", "aria-label": T.suggestions });
      buttons.forEach(b => q.appendChild(el("button", { type: "button", text: b.title, onclick: ev => { ev.target.setAttribute("aria-pressed", "true"); queueSend(b.payload || b.title); } })));
      li.appendChild(q);
    }
    const outcome = d.outcome || {};
    if (m.sender === "bot" && outcome.type === "answer") {  // the "did this answer your question?" of an answer
      const yes = el("button", { type: "button", class: "up", "aria-label": T.yes, title: T.yes, "aria-pressed": "false" }, [svgIcon(THUMB)]);
      const no = el("button", { type: "button", class: "down", "aria-label": T.no, title: T.no, "aria-pressed": "false" }, [svgIcon(THUMB, "rotate(180 12 12)")]);
      const group = [yes, no];
      const vote = (btn, phrase) => { btn.setAttribute("aria-pressed", "true"); group.forEach(b => { b.disabled = true; }); queueSend(phrase); };
      yes.addEventListener("click", () => vote(yes, T.yesPhrase));
      no.addEventListener("click", () => vote(no, T.noPhrase));
      feedbackGroups.push(group);
      li.appendChild(el("div", { class: "helpful", role: "group", "aria-label": T.helpful }, [el("span", { text: T.helpful }), yes, no]));
    }
    if (m.sender === "agent" && d.agent && saved.conv) {
      showTicket(Object.assign({}, saved.conv.ticket || {}, { agent: d.agent, status: "agent" }));
    }
    if (d.notice === "ended") markEnded();  // ended here or in another tab: no new turn, the survey
    if (m.sender === "system" && d.notice === "resolved" && saved.conv) {
      showTicket(Object.assign({}, saved.conv.ticket || {}, { status: "resolved" }));
      showSurvey();
    }
    ui.log.insertBefore(li, ui.typing.parentNode === ui.log ? ui.typing : null);
    scrollDown();
  }

  function showTicket(tk) {
    if (!ui) return;
    if (saved.conv) {
      const before = saved.conv.ticket;  // the same request re-read (the stream's status): the address stays given
      if (tk && before && before.id === tk.id && before.contact_saved) tk = Object.assign({}, tk, { contact_saved: true });
      saved.conv.ticket = tk || null; save();
    }
    ui.ticket.textContent = "";
    if (!tk || !tk.id) { ui.ticket.hidden = true; return; }
    ui.ticket.hidden = false;
    ui.ticket.dataset.ticket = tk.id;
    ui.ticket.dataset.status = tk.status || "";
    const parts = [t("ticket", { id: tk.id })];
    if (tk.status === "resolved") parts.push(T.resolved);
    else {
      if (tk.team) parts.push(t("team", { team: tk.team }));
      if (tk.agent) parts.push(t("agent", { name: tk.agent }));
      else {
        if (tk.position) parts.push(t("position", { n: tk.position }));
        if (tk.expected_wait_minutes) parts.push(t("wait", { n: tk.expected_wait_minutes }));
      }
    }
    ui.ticket.appendChild(el("p", { text: parts.join(" · ") }));
    if (tk.status !== "resolved" && !tk.agent && (tk.offline || tk.availability === "offline") && !tk.contact_saved) showContact();
  }

  function typing(on) {
    if (!ui) return;
    if (on) { ui.log.appendChild(ui.typing); ui.typing.hidden = false; scrollDown(); }
    else ui.typing.hidden = true;
  }

  // -- sending: a queue, an Idempotency-Key per message, retried with back-off ---------------------------------------
  function queueSend(text) {
    text = String(text || "").trim().slice(0, 4000);
    if (!text) return;
    if (!ui) build();
    if (saved.conv && saved.conv.ended) restart(true);
    saved.outbox.push({ key: newKey(), text });
    save();
    renderOutbox();
    flush();
  }

  function pendingFor(key) { return ui && ui.log.querySelector("li.pending[data-key='" + key + "']"); }
  function renderOutbox() {
    if (!ui) return;
    saved.outbox.forEach(item => {
      let li = pendingFor(item.key);
      if (!li) {
        li = el("li", { class: "msg customer pending", "data-key": item.key, "data-sender": "customer" }, [el("div", { class: "text", text: item.text }), el("span", { class: "state", role: "status" })]);
        ui.log.insertBefore(li, ui.typing.parentNode === ui.log ? ui.typing : null);
      }
      const state = li.querySelector(".state");
      state.textContent = "";
      li.classList.toggle("failed", item.state === "failed");
      li.dataset.state = item.state || "sending";
      if (item.state === "failed") {
        state.appendChild(document.createTextNode(item.final ? T.notSent + " " + (item.error || "") : T.retrying));
        state.appendChild(el("button", { type: "button", class: "retry", text: T.retry, onclick: () => { item.state = "sending"; item.final = false; backoff = 1000; save(); renderOutbox(); flush(true); } }));
      } else state.textContent = T.sending;
    });
    scrollDown();
  }
  // the transcript brought the customer's message: the pending bubble with that text gives way to it
  function adoptPending(text) {
    const item = saved.outbox.find(i => i.text === String(text).trim() && i.state !== "failed");
    const li = item && pendingFor(item.key);
    if (li) li.remove();
  }

  async function ensureConversation() {
    if (saved.conv) return saved.conv;
    const body = { language: LANG };
    const who = identity();
    if (who) body.customer = who;
    const started = await api("/api/conversations", { method: "POST", body, auth: false });
    saved.conv = { id: started.conversation_id, token: started.token, renewed: Date.now(), ticket: null };
    save();
    listen();
    return saved.conv;
  }

  async function flush(now) {
    if (flushing) return;
    if (now) { clearTimeout(retryTimer); retryTimer = null; }
    if (retryTimer) return;
    flushing = true;
    try {
      while (saved.outbox.length) {
        const item = saved.outbox[0];
        if (item.state === "failed" && item.final) break;  // waits for the customer's "Retry"
        item.state = "sending"; save(); renderOutbox();
        typing(true);
        try {
          await ensureConversation();
          const conv = saved.conv;
          let turn;
          try {
            turn = await api("/api/conversations/" + conv.id + "/messages", { method: "POST", body: { text: item.text }, headers: { "Idempotency-Key": item.key } });
          } catch (e) {
            if (e.status === 409) await poll();  // ended meanwhile (its goodbye says so), or the same key still running
            if (e.status === 401 || e.status === 403 || e.status === 404 || (e.status === 409 && saved.conv && saved.conv.ended)) {
              // expired token, erased or ended conversation: the message goes to a new conversation
              restart(true); await ensureConversation();
              turn = await api("/api/conversations/" + saved.conv.id + "/messages", { method: "POST", body: { text: item.text }, headers: { "Idempotency-Key": item.key } });
            } else throw e;
          }
          saved.outbox.shift(); save();
          backoff = 1000;
          if (turn && turn.ticket) showTicket(Object.assign({}, (saved.conv && saved.conv.ticket) || {}, turn.ticket));
          await poll();
          const li = pendingFor(item.key);
          if (li) li.remove();  // shown by the transcript by now
        } catch (e) {
          typing(false);
          item.state = "failed"; item.error = e.message;
          item.final = !retryable(e);
          if (item.final) {  // refused (422, 413 …): kept visible with the reason, never retried on its own
            save(); renderOutbox();
            saved.outbox.shift(); save();
            continue;
          }
          save(); renderOutbox();
          const wait = Math.max(backoff, (e.retryAfter || 0) * 1000);
          backoff = Math.min(backoff * 2, 15000);
          retryTimer = setTimeout(() => { retryTimer = null; flush(); }, wait);
          break;
        }
      }
    } finally {
      flushing = false;
      typing(false);
    }
  }
  window.addEventListener("online", () => { backoff = 1000; flush(true); if (saved.conv && !stream) listen(); });

  async function poll() {
    if (!saved.conv || !ui) return;
    try {
      let more = true;
      while (more && saved.conv) {
        const before = lastId;
        const tr = await api("/api/conversations/" + saved.conv.id + "/messages?after=" + lastId);
        tr.messages.forEach(render);
        if (tr.ticket) showTicket(tr.ticket);
        if (tr.status === "closed" || tr.status === "ended") markEnded();
        more = tr.more && lastId > before;
      }
    } catch (e) {
      if (e.status === 401 || e.status === 403 || e.status === 404) forget();
    }
  }

  // the conversation's event stream: an agent's reply arrives at once; reopened with a new ticket when it drops
  async function listen() {
    if (!saved.conv || !ui) return;
    if (!window.EventSource) { if (!fallback) fallback = setInterval(poll, 5000); return; }
    const gen = ++listening;
    if (stream) { stream.close(); stream = null; }
    const again = () => {
      if (!fallback) fallback = setInterval(poll, 5000);
      setTimeout(() => { if (gen === listening && saved.conv) listen(); }, streamRetry);
      streamRetry = Math.min(streamRetry * 2, 30000);
    };
    let tk;
    try { tk = await api("/api/conversations/" + saved.conv.id + "/stream-ticket", { method: "POST" }); }
    catch (e) { if (saved.conv && retryable(e)) again(); return; }
    if (gen !== listening || !saved.conv) return;
    const s = stream = new EventSource(ORIGIN + "/api/conversations/" + saved.conv.id + "/stream?after=" + lastId + "&ticket=" + encodeURIComponent(tk.ticket));
    s.addEventListener("message", ev => { try { render(JSON.parse(ev.data)); } catch (e) { /* not a message */ } });
    s.addEventListener("status", ev => { try { const st = JSON.parse(ev.data); if (st.ticket) showTicket(st.ticket); if (st.status === "closed" || st.status === "ended") markEnded(); } catch (e) { /* ignore */ } });
    s.addEventListener("open", () => { host.dataset.live = "on"; streamRetry = 1000; if (fallback) { clearInterval(fallback); fallback = null; } poll(); });
    s.addEventListener("error", () => {
      host.dataset.live = "off";
      if (stream !== s) return;
      s.close(); stream = null;
      again();
    });
  }

  // a widget kept open renews its token (the old one stops working) at most once an hour
  async function renew() {
    const conv = saved.conv;
    if (!conv || conv.ended || Date.now() - (conv.renewed || 0) < 3600 * 1000) return;
    try {
      const r = await api("/api/conversations/" + conv.id + "/token", { method: "POST" });
      if (r && r.token && saved.conv === conv) { conv.token = r.token; conv.renewed = Date.now(); save(); }
    } catch (e) { if (e.status === 401 || e.status === 403) forget(); }
  }
  setInterval(() => { if (ui && !ui.panel.hidden) renew(); }, 10 * 60 * 1000);

  function forget() {
    saved.conv = null; save();
    listening++;
    if (stream) { stream.close(); stream = null; }
    if (fallback) { clearInterval(fallback); fallback = null; }
    host.dataset.live = "off";
  }

  function restart(keepOutbox) {
    forget();
    if (!keepOutbox) { saved.outbox = []; save(); }
    shown.clear(); lastId = 0; feedbackGroups.length = 0;
    if (!ui) return;
    ui.log.textContent = "";
    ui.extra.hidden = true; ui.extra.textContent = "";
    showTicket(null);
    closeArticle();
    greet();
    renderOutbox();
    ui.input.disabled = false; ui.sendBtn.disabled = false; ui.human.disabled = false; ui.endBtn.disabled = false;
    if (!keepOutbox) ui.input.focus();
  }

  // -- end, survey, contact ----------------------------------------------------------------------------------------
  function markEnded() {
    if (!saved.conv || saved.conv.ended) return;
    saved.conv.ended = true; save();
    if (ui) { ui.endBtn.disabled = true; showSurvey(); }
  }
  async function endConversation() {
    if (!saved.conv) { restart(); return; }
    try {
      await api("/api/conversations/" + saved.conv.id + "/end", { method: "POST" });
      await poll();
      markEnded();
    } catch (e) {
      if (e.status === 409) markEnded(); else notice(t("failed", { e: e.message }));
    }
  }
  function notice(text) {
    ui.log.appendChild(el("li", { class: "msg system error", text }));
    scrollDown();
  }
  function showSurvey() {
    if (!ui || !saved.conv || saved.conv.surveyed) return;
    if (ui.extra.dataset.kind === "survey" && !ui.extra.hidden) return;
    ui.extra.textContent = "";
    ui.extra.dataset.kind = "survey";
    const stars = el("fieldset", { class: "stars" }, [el("legend", { text: T.survey })]);
    for (let n = 1; n <= 5; n++) {
      stars.appendChild(el("label", { title: t("rating", { n }) }, [
        el("input", { type: "radio", name: "t0-rating", value: String(n), "aria-label": t("rating", { n }) }), el("span", { text: String(n), "aria-hidden": "true" })]));
    }
    const comment = el("textarea", { id: "t0-comment", rows: "2", maxlength: "1000" });
    const err = el("p", { class: "error", role: "alert" });
    const submit = el("button", { type: "submit", class: "primary", text: T.surveySend });
    const form = el("form", { class: "survey", novalidate: true }, [stars, el("label", { for: "t0-comment", text: T.comment }), comment, el("div", { class: "row" }, [submit]), err]);
    form.addEventListener("submit", async ev => {
      ev.preventDefault();
      const picked = form.querySelector("input[name='t0-rating']:checked");
      if (!picked) { err.textContent = T.surveyPick; return; }
      submit.disabled = true;
      const body = { rating: Number(picked.value) };
      if (comment.value.trim()) body.comment = comment.value.trim().slice(0, 1000);
      try {
        await api("/api/conversations/" + saved.conv.id + "/survey", { method: "POST", body });
        saved.conv.surveyed = true; save();
        ui.extra.textContent = "";
        ui.extra.appendChild(el("p", { class: "thanks", role: "status", text: T.surveyThanks }));
        ui.input.focus();
      } catch (e) {
        err.textContent = e.message; submit.disabled = false;
      }
    });
    ui.extra.appendChild(form);
    ui.extra.hidden = false;
  }
  const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
  function showContact() {
    if (!ui || ui.extra.dataset.kind === "contact" && !ui.extra.hidden) return;
    ui.extra.textContent = "";
    ui.extra.dataset.kind = "contact";
    const email = el("input", { type: "email", id: "t0-email", autocomplete: "email", maxlength: "320", required: true, "aria-describedby": "t0-email-error" });
    const err = el("p", { class: "error", id: "t0-email-error", role: "alert" });
    const submit = el("button", { type: "submit", class: "primary", text: T.emailSend });
    const form = el("form", { class: "contact", novalidate: true }, [el("p", { text: T.offline }), el("label", { for: "t0-email", text: T.email }), email, el("div", { class: "row" }, [submit]), err]);
    form.addEventListener("submit", async ev => {
      ev.preventDefault();
      const value = email.value.trim();
      if (!EMAIL.test(value)) { err.textContent = T.emailBad; email.setAttribute("aria-invalid", "true"); email.focus(); return; }
      email.removeAttribute("aria-invalid"); err.textContent = "";
      submit.disabled = true;
      try {
        const r = await api("/api/conversations/" + saved.conv.id + "/contact", { method: "POST", body: { email: value } });
        if (saved.conv.ticket) { saved.conv.ticket.contact_saved = true; save(); }
        ui.extra.textContent = "";
        ui.extra.appendChild(el("p", { class: "promise", role: "status", text: (r && (r.promise || r.message || r.text)) || "✓" }));
        ui.input.focus();  // the form is gone: the focus goes back to the message field, inside the panel
        poll();
      } catch (e) {
        err.textContent = e.status === 422 ? T.emailBad + " (" + e.message + ")" : t("failed", { e: e.message }); submit.disabled = false;
      }
    });
    ui.extra.appendChild(form);
    ui.extra.hidden = false;
  }

  // -- articles: the full text inside the panel; suggestions while typing --------------------------------------------
  async function openArticle(id) {
    ui.article.textContent = "";
    ui.article.appendChild(el("p", { text: T.loading }));
    ui.article.hidden = false; ui.logBox.hidden = true;
    try {
      const a = await api("/api/articles/" + encodeURIComponent(id), { auth: false });
      const heading = el("h3", { tabindex: "-1", text: a.title });
      ui.article.textContent = "";
      ui.article.dataset.article = a.id;
      ui.article.appendChild(el("button", { type: "button", class: "backbtn", text: "← " + T.back, onclick: () => closeArticle(true) }));
      ui.article.appendChild(heading);
      ui.article.appendChild(a.html ? el("div", { class: "body" }, [safeHtml(a.html)]) : richText(a.body));
      heading.focus();
    } catch (e) {
      ui.article.textContent = "";
      ui.article.appendChild(el("button", { type: "button", class: "backbtn", text: "← " + T.back, onclick: () => closeArticle(true) }));
      ui.article.appendChild(el("p", { text: t("failed", { e: e.message }) }));
    }
  }
  function closeArticle(focus) {
    if (!ui) return;
    ui.article.hidden = true; ui.logBox.hidden = false;
    delete ui.article.dataset.article;
    scrollDown();
    if (focus) ui.input.focus();
  }
  function hideSuggestions() { clearTimeout(searchTimer); searchSeq++; if (ui) { ui.suggest.hidden = true; ui.suggest.textContent = ""; } }
  async function suggestFor(q) {
    const seq = ++searchSeq;
    let r;
    try { r = await api("/api/search?q=" + encodeURIComponent(q) + "&lang=" + LANG, { auth: false }); }
    catch (e) { return; }  // a suggestion is a bonus: a refusal or an outage shows nothing
    if (seq !== searchSeq) return;  // the customer typed on
    const found = (Array.isArray(r) ? r : r.results || r.articles || []).slice(0, 3);
    ui.suggest.textContent = "";
    if (!found.length) { ui.suggest.hidden = true; return; }
    ui.suggest.appendChild(ui.suggestLabel);
    found.forEach(a => ui.suggest.appendChild(el("li", {}, [el("button", { type: "button", "data-article": a.id, onclick: () => openArticle(a.id) },
      [el("span", { text: a.title }), a.snippet ? el("small", { text: a.snippet }) : null])])));
    ui.suggest.hidden = false;
  }

  function start() {
    document.body.appendChild(host);
    if (saved.open || saved.outbox.length) toggle(true, true);  // open on the previous page: open here (no focus grab)
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
