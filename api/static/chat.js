// Minimal chat page for tier0: starts a conversation, sends messages, shows answers with their sources,
// quick replies, and hand-off tickets. A server-sent event stream brings a person's replies the moment they are
// sent (polling every 5 s only if the stream cannot be opened).
(function () {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const sendBtn = document.getElementById("send");
  const langSel = document.getElementById("lang");
  const store = window.sessionStorage;
  let conv = JSON.parse(store.getItem("tier0.conv") || "null");
  let lastId = 0;
  const shown = new Set();
  const WHO = { en: { bot: "Assistant", agent: "Agent", system: "" }, fr: { bot: "Assistant", agent: "Conseiller", system: "" } };
  langSel.value = (navigator.language || "en").slice(0, 2) === "fr" ? "fr" : "en";

  function lang() { return langSel.value; }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Minimal, safe Markdown: **bold** and *italic* become elements; everything else stays text (no innerHTML).
  function richText(text) {
    const div = el("div", "text");
    text.split(/(\*\*[^*]+\*\*|\*[^*\s][^*]*\*)/).forEach(part => {
      if (/^\*\*[^*]+\*\*$/.test(part)) div.appendChild(el("strong", null, part.slice(2, -2)));
      else if (/^\*[^*]+\*$/.test(part)) div.appendChild(el("em", null, part.slice(1, -1)));
      else if (part) div.appendChild(document.createTextNode(part));
    });
    return div;
  }

  function render(m) {
    if (m.id && shown.has(m.id)) return;
    if (m.id) { shown.add(m.id); lastId = Math.max(lastId, m.id); }
    const li = el("li", "msg " + m.sender);
    li.dataset.sender = m.sender;
    const who = m.sender === "agent" && m.data && m.data.agent ? m.data.agent + " · " + WHO[lang()].agent : WHO[lang()][m.sender];
    if (m.sender !== "customer" && who) li.appendChild(el("span", "who", who));
    li.appendChild(m.sender === "customer" ? el("div", "text", m.text) : richText(m.text));
    const data = m.data || {};
    const sources = (data.sources || m.sources || []).filter(s => s.url);
    if (sources.length) {
      const d = el("div", "sources");
      d.appendChild(document.createTextNode("Source: "));
      sources.forEach((s, i) => {
        const a = el("a", null, s.title);
        a.href = s.url; a.target = "_blank"; a.rel = "noopener";
        if (i) d.appendChild(document.createTextNode(", "));
        d.appendChild(a);
      });
      li.appendChild(d);
    }
    const buttons = data.buttons || m.buttons || [];
    if (buttons.length) {
      const q = el("div", "quick");
      buttons.forEach(b => {
        const btn = el("button", null, b.title);
        btn.type = "button";
        btn.addEventListener("click", () => send(b.payload || b.title));
        q.appendChild(btn);
      });
      li.appendChild(q);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function error(text) { log.appendChild(el("li", "error", text)); }

  async function api(path, opts) {
    opts = opts || {};
    opts.headers = Object.assign({ "Content-Type": "application/json" }, opts.headers || {});
    if (conv) opts.headers.Authorization = "Bearer " + conv.token;
    const r = await fetch(path, opts);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : r.statusText);
    return body;
  }

  async function ensureConversation() {
    if (conv) return conv;
    const started = await api("/api/conversations", { method: "POST", body: JSON.stringify({ language: lang() }) });
    conv = { id: started.conversation_id, token: started.token };
    store.setItem("tier0.conv", JSON.stringify(conv));
    listen();
    return conv;
  }

  async function send(text) {
    text = (text || "").trim();
    if (!text) return;
    sendBtn.disabled = true;
    try {
      await ensureConversation();
      const turn = await api("/api/conversations/" + conv.id + "/messages", { method: "POST", body: JSON.stringify({ text }) });
      await poll();  // shows the customer's message and the bot's reply in transcript order
      if (turn.ticket) document.body.dataset.ticket = turn.ticket.id;
    } catch (e) {
      error(e.message);
    } finally {
      sendBtn.disabled = false;
      input.focus();
    }
  }

  async function poll() {
    if (!conv) return;
    try {
      let more = true;
      while (more && conv) {  // the transcript comes in pages: read until the last
        const before = lastId;
        const t = await api("/api/conversations/" + conv.id + "/messages?after=" + lastId);
        t.messages.forEach(render);
        more = t.more && lastId > before;
      }
    } catch (e) {
      if (/another customer|not found/.test(e.message)) { store.removeItem("tier0.conv"); conv = null; }
    }
  }

  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const text = input.value;
    input.value = "";
    send(text);
  });
  let stream = null;
  let fallback = null;
  function listen() {
    if (!conv || stream || !window.EventSource) { if (!window.EventSource && !fallback) fallback = setInterval(poll, 5000); return; }
    const url = "/api/conversations/" + conv.id + "/stream?after=" + lastId + "&token=" + encodeURIComponent(conv.token);
    stream = new EventSource(url);
    stream.addEventListener("message", ev => render(JSON.parse(ev.data)));
    stream.addEventListener("open", () => { document.body.dataset.live = "on"; if (fallback) { clearInterval(fallback); fallback = null; } });
    stream.addEventListener("error", () => {
      document.body.dataset.live = "off";
      if (!fallback) fallback = setInterval(poll, 5000);  // EventSource retries by itself; poll meanwhile
    });
  }
  if (conv) poll().then(listen);
})();
