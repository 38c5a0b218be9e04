// tier0 agent console: sign in, work the queue (most urgent first), read what the bot tried, claim, reply,
// note, resolve, escalate, hand back to the bot, flag a wrong bot answer. Live through server-sent events.
// No innerHTML with data: every text goes through textContent.
(function () {
  "use strict";
  const $ = sel => document.querySelector(sel);
  const store = window.sessionStorage;
  let token = store.getItem("tier0.desk.token");
  let me = null;
  let current = null;   // reference of the open ticket
  let stream = null;
  const PAGE = 50;      // tickets per page of the queue
  let offset = 0;       // how many of the most urgent the page skips
  let listening = 0;    // which opening of the stream is the current one
  let retry = 1000;     // ms before reopening a dropped stream (doubles up to 30 s)

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

  async function api(path, opts) {
    opts = opts || {};
    opts.headers = Object.assign({ "Content-Type": "application/json" }, opts.headers || {});
    if (token) opts.headers.Authorization = "Bearer " + token;
    const r = await fetch(path, opts);
    if (r.status === 401 && path !== "/api/desk/login") { signOut(); throw new Error("signed out"); }
    if (r.status === 204) return null;
    const body = await r.json().catch(() => ({}));
    if (r.status === 403 && body.error === "password_change_required") showChangePassword();
    if (!r.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || r.statusText));
    return opts.withHeaders ? { body, headers: r.headers } : body;
  }

  function post(path, body) { return api(path, { method: "POST", body: JSON.stringify(body || {}) }); }

  function minutes(sec) {
    const m = Math.round(Math.abs(sec) / 60);
    return m >= 120 ? Math.round(m / 60) + " h" : m + " min";
  }

  function when(iso) { return iso ? new Date(iso).toLocaleString() : (iso === null ? "answered" : "—"); }

  function slaText(sla) {
    if (!sla || sla.resolution_remaining_s === null || sla.resolution_remaining_s === undefined) return "no SLA";
    if (sla.resolution_breached) return "SLA breached " + minutes(sla.resolution_remaining_s) + " ago";
    if (sla.paused) return "paused (waiting on customer)";
    return minutes(sla.resolution_remaining_s) + " left";
  }

  // -- sign in ------------------------------------------------------------------------------------------------
  function showSignin() { $("#change-password").hidden = true; $("#signin").hidden = false; $("#app").hidden = true; $("#login-user").focus(); }
  // the first admin's generated password: nothing else answers until it is changed
  function showChangePassword() { $("#signin").hidden = true; $("#app").hidden = true; $("#change-password").hidden = false; $("#pw-old").focus(); }
  function signOut() {
    listening++;
    if (stream) { stream.close(); stream = null; }
    store.removeItem("tier0.desk.token"); token = null; me = null; current = null;
    showSignin();
  }
  $("#login").addEventListener("submit", async ev => {
    ev.preventDefault();
    $("#login-error").textContent = "";
    try {
      const r = await post("/api/desk/login", { username: $("#login-user").value, password: $("#login-pass").value });
      token = r.token; store.setItem("tier0.desk.token", token);
      $("#login-pass").value = "";
      await start();
    } catch (e) { $("#login-error").textContent = e.message; }
  });
  $("#password-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    $("#pw-error").textContent = "";
    if ($("#pw-new").value !== $("#pw-again").value) { $("#pw-error").textContent = "The two new passwords differ."; return; }
    try {
      const r = await post("/api/desk/password", { old_password: $("#pw-old").value, new_password: $("#pw-new").value });
      token = r.token; store.setItem("tier0.desk.token", token);  // every old session ended: this is the new one
      ["#pw-old", "#pw-new", "#pw-again"].forEach(id => { $(id).value = ""; });
      $("#change-password").hidden = true;
      await start();
    } catch (e) { $("#pw-error").textContent = e.message; }
  });
  $("#logout").addEventListener("click", async () => { try { await post("/api/desk/logout"); } catch (e) { /* gone */ } signOut(); });

  async function start() {
    me = await api("/api/desk/me");
    if (me.must_change_password) { showChangePassword(); return; }
    $("#me").textContent = me.display_name + " (" + me.role + ")";
    $("#signin").hidden = true; $("#app").hidden = false;
    const sel = $("#f-queue");
    while (sel.options.length > 1) sel.remove(1);
    const queues = await loadQueues();
    queues.forEach(q => sel.append(el("option", { value: q.name }, q.team + " (L" + q.level + ")")));
    await loadTickets();
    listen();
  }

  // -- the queue ------------------------------------------------------------------------------------------------
  async function loadQueues() {
    const queues = await api("/api/desk/queues");
    const box = $("#queues");
    box.replaceChildren(...queues.map(q => el("span", { class: "q" + (q.open_now ? "" : " closed"), title: q.open_now ? "open" : "closed now" },
      q.team + " · L" + q.level + " · " + q.waiting + " waiting · " + q.online.length + " online" + (q.breached ? " · " + q.breached + " breached" : ""))));
    return queues;
  }

  async function loadTickets() {
    const params = new URLSearchParams();
    if ($("#f-queue").value) params.set("queue", $("#f-queue").value);
    params.set("status", $("#f-status").value);
    if ($("#f-priority").value) params.set("priority", $("#f-priority").value);
    if ($("#f-mine").checked) params.set("mine", "true");
    params.set("limit", PAGE);
    params.set("offset", offset);
    const page = await api("/api/desk/tickets?" + params, { withHeaders: true });
    const tickets = page.body;
    const total = Number(page.headers.get("X-Total-Count") || tickets.length);
    if (!tickets.length && offset > 0) {  // the queue shrank under this page: show its last page
      offset = total > 0 ? Math.floor((total - 1) / PAGE) * PAGE : 0;
      return loadTickets();
    }
    $("#page-info").textContent = total ? (offset + 1) + "–" + (offset + tickets.length) + " of " + total : "no tickets";
    $("#page-prev").disabled = offset === 0;
    $("#page-next").disabled = !page.headers.get("Link");
    $("#tickets").replaceChildren(...tickets.map(t => el("li", {
      class: "ticket" + (t.id === current ? " current" : ""), dataset: { ref: t.id, status: t.status, priority: t.priority },
      onclick: () => openTicket(t.id),
    },
      el("div", { class: "line" }, el("strong", {}, t.id), el("span", { class: "badge p-" + t.priority }, t.priority),
        el("span", { class: "badge" }, t.team + " · L" + t.level), el("span", { class: "badge" }, t.status === "agent" ? "@" + t.assignee : t.status)),
      el("div", { class: "line" + (t.sla.resolution_breached ? " breached" : "") }, slaText(t.sla), " · ", t.reason, " · ", t.channel, " · ", t.language || ""),
      el("div", { class: "last" }, t.last_customer_message || ""),
    )));
  }
  $("#filters").addEventListener("change", () => { offset = 0; loadTickets().catch(showError); });
  $("#page-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadTickets().catch(showError); });
  $("#page-next").addEventListener("click", () => { offset += PAGE; loadTickets().catch(showError); });

  // -- one ticket --------------------------------------------------------------------------------------------------
  function showError(e) {
    const box = $("#action-error");
    if (box) box.textContent = e.message; else console.error(e);
  }

  async function act(path, body) {
    try { await post("/api/desk/tickets/" + current + path, body); await openTicket(current); await loadTickets(); }
    catch (e) { showError(e); }
  }

  function messageItem(m) {
    const li = el("li", { class: m.sender, dataset: { id: m.id, sender: m.sender } },
      el("span", { class: "who" }, m.sender === "agent" ? (m.data.agent || "agent") : m.sender), m.text);
    const sources = (m.data && m.data.sources) || [];
    const answered = m.data && m.data.outcome && m.data.outcome.type === "answer";
    if (m.sender === "bot" && answered && sources.length) {
      li.append(el("div", { class: "actions" }, "Source: " + sources.map(s => s.title).join(", ") + " ",
        el("button", { type: "button", class: "flag", onclick: () => {
          const note = window.prompt("What was wrong with this answer?") || "";
          act("/flag", { message_id: m.id, note: note || null });
        } }, "Flag as wrong")));
    }
    return li;
  }

  function eventItem(e) {
    return el("li", { dataset: { id: e.id } }, new Date(e.at).toLocaleString() + " · " + e.kind + " · " + e.actor + (e.note ? " — " + e.note : ""));
  }

  // The ticket shows the last messages and events; this button reads the page before the first one shown.
  function earlierButton(id, label, shown, path, list, key, item) {
    const ref = current;
    const button = el("button", { id, type: "button", class: "earlier", hidden: !shown, onclick: async () => {
      const first = $(list) && $(list).firstElementChild;
      try {
        const page = await api("/api/desk/tickets/" + ref + path + (first ? "?before=" + first.dataset.id : ""));
        if (current !== ref) return;
        $(list).prepend(...page[key].map(item));
        button.hidden = !page.earlier;
      } catch (e) { showError(e); }
    } }, label);
    return button;
  }

  async function openTicket(ref) {
    current = ref;
    const t = await api("/api/desk/tickets/" + ref);
    document.querySelectorAll("#tickets li").forEach(li => li.classList.toggle("current", li.dataset.ref === ref));
    const can = new Set(t.actions);
    const fact = (k, v) => el("div", {}, el("span", {}, k + ": "), v === null || v === undefined || v === "" ? "—" : String(v));
    const customer = t.customer || {};
    const tried = (t.candidates || []).map(c => el("tr", {},
      el("td", {}, el("a", { href: "/api/articles/" + c.article_id, target: "_blank", rel: "noopener" }, (c.title || c.article_id) + (c.version ? " (v" + c.version + ")" : ""))),
      el("td", {}, c.score !== undefined ? Number(c.score).toFixed(3) : "—"), el("td", {}, c.lang || "")));
    const transcript = t.messages.map(messageItem);
    const escalateKind = el("select", { id: "esc-kind", "aria-label": "Escalation kind" },
      el("option", { value: "functional" }, "functional (specialists)"), el("option", { value: "hierarchical" }, "hierarchical (authority)"));
    const reply = el("textarea", { id: "reply-text", placeholder: "Reply to the customer (they see it at once) or write an internal note", maxlength: 4000 });
    // A live refresh of the ticket being read keeps what the agent is typing (read now, not before the fetch).
    const old = $("#reply-text");
    const draft = old && $("#detail").dataset.ref === ref
      ? { value: old.value, focused: document.activeElement === old, start: old.selectionStart, end: old.selectionEnd } : null;
    $("#detail").dataset.ref = ref;
    $("#detail").replaceChildren(
      el("h2", {}, t.id + " · " + t.status + (t.assignee ? " · @" + t.assignee : "")),
      el("div", { class: "facts" },
        fact("Team", t.team + " (level " + t.level + ")"), fact("Priority", t.priority + " — " + (t.priority_rule || "")),
        fact("Reason", t.reason), fact("Bot confidence", t.confidence), fact("Category", t.category),
        fact("Language", t.language), fact("Channel", t.channel), fact("SLA", slaText(t.sla)),
        fact("First response due", when(t.first_response_at ? null : t.sla.first_response_due)), fact("Customer", [customer.name, customer.email, customer.tier].filter(Boolean).concat(
          customer.verified ? ["verified"] : customer.name || customer.email || customer.tier || customer.id ? ["unverified"] : []).join(" · ")),
        fact("Contact e-mail", t.contact_email)),
      el("div", { class: "box" }, el("h3", {}, "What the bot tried"),
        tried.length ? el("table", { class: "tried" }, el("tr", {}, el("th", {}, "Article"), el("th", {}, "Score"), el("th", {}, "Lang")), tried) : "Nothing relevant found."),
      el("div", { class: "box" }, el("h3", {}, "Conversation"),
        earlierButton("earlier-messages", "Show earlier messages", t.earlier_messages, "/messages", "#transcript", "messages", messageItem),
        el("ol", { class: "transcript", id: "transcript" }, transcript)),
      el("div", { class: "box compose" }, reply,
        el("div", { class: "actions" },
          el("button", { id: "claim-btn", type: "button", disabled: !can.has("claim"), onclick: () => act("/claim") }, "Claim"),
          el("button", { id: "reply-btn", type: "button", class: "primary", disabled: !(t.status === "waiting" || t.status === "agent"),
            onclick: () => { const text = reply.value.trim(); if (text) act("/reply", { text }).then(() => { const r = $("#reply-text"); if (r) r.value = ""; }); } }, "Send reply"),
          el("button", { id: "note-btn", type: "button", onclick: () => { const text = reply.value.trim(); if (text) act("/notes", { text }); } }, "Internal note"),
          el("button", { id: "resolve-btn", type: "button", disabled: !can.has("resolve"), onclick: () => act("/resolve", {}) }, "Resolve"),
          el("button", { id: "release-btn", type: "button", disabled: !can.has("release"), onclick: () => act("/release", {}) }, "Release"),
          escalateKind,
          el("button", { id: "escalate-btn", type: "button", disabled: !can.has("escalate"), onclick: () => {
            const note = reply.value.trim() || window.prompt("Why escalate? The next level reads this first.") || "";
            if (note) act("/escalate", { kind: escalateKind.value, note });
          } }, "Escalate"),
          el("button", { id: "return-btn", type: "button", disabled: !can.has("return_to_bot"), onclick: () => act("/return-to-bot", {}) }, "Hand back to bot")),
        el("p", { id: "action-error", class: "error", role: "alert" })),
      el("div", { class: "box" }, el("h3", {}, "History"),
        earlierButton("earlier-events", "Show earlier history", t.earlier_events, "/events", "#events", "events", eventItem),
        el("ol", { class: "events", id: "events" }, t.events.map(eventItem))),
    );
    if (draft) {
      reply.value = draft.value;
      if (draft.focused) { reply.focus(); reply.setSelectionRange(draft.start, draft.end); }
    }
    const tr = $("#transcript"); if (tr && tr.lastElementChild) tr.lastElementChild.scrollIntoView({ block: "nearest" });
  }

  // -- live ------------------------------------------------------------------------------------------------------------
  // The session token never goes in a URL: each (re)opening asks for a single-use stream ticket. A dropped
  // stream is not left to EventSource's own reconnection (its ticket is used: refused); the page reopens it.
  let refreshTimer = null;
  async function listen() {
    const gen = ++listening;
    if (stream) { stream.close(); stream = null; }
    let t;
    try { t = await post("/api/desk/stream-ticket"); }
    catch (e) {  // a 401 signed out already; otherwise try again later
      if (token && gen === listening) setTimeout(() => { if (gen === listening) listen(); }, retry);
      retry = Math.min(retry * 2, 30000);
      return;
    }
    if (gen !== listening || !token) return;
    const s = stream = new EventSource("/api/desk/stream?ticket=" + encodeURIComponent(t.ticket));
    s.addEventListener("open", () => {
      if (retry > 1000) { loadTickets().catch(() => {}); loadQueues().catch(() => {}); }  // what was missed meanwhile
      document.body.dataset.live = "on"; retry = 1000;
    });
    const reopen = delay => {
      document.body.dataset.live = "off";
      if (stream !== s) return;
      s.close(); stream = null;
      setTimeout(() => { if (gen === listening && token) listen(); }, delay);
    };
    s.addEventListener("error", () => { reopen(retry); retry = Math.min(retry * 2, 30000); });
    s.addEventListener("bye", () => reopen(0));  // the session ended (signed out elsewhere…): the ticket request says so
    s.addEventListener("ticket", ev => {
      const item = JSON.parse(ev.data);
      clearTimeout(refreshTimer);  // coalesce bursts of events into one refresh
      refreshTimer = setTimeout(() => {
        loadTickets().catch(() => {});
        loadQueues().catch(() => {});
        if (current && item.ticket.id === current) openTicket(current).catch(() => {});
      }, 100);
    });
  }
  setInterval(() => { if (me) { loadTickets().catch(() => {}); loadQueues().catch(() => {}); } }, 30000);  // SLA clocks tick

  if (token) start().catch(() => signOut()); else showSignin();
})();
