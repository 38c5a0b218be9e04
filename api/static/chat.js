// Minimal chat page for tier0: starts a conversation, sends messages, shows answers with their sources,
// quick replies, and hand-off tickets. A server-sent event stream brings a person's replies the moment they are
// sent (polling every 5 s only if the stream cannot be opened). The customer token never goes in a URL: the stream
// opens with a single-use ticket. A token unused for days expires: the page then starts a new conversation.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const sendBtn = document.getElementById("send");
  const langSel = document.getElementById("lang");
  const store = window.sessionStorage;
  let conv = JSON.parse(store.getItem("tier0.conv") || "null");
  let stream = null;
  let listening = 0;    // which opening of the stream is the current one
  let retry = 1000;     // ms before reopening a dropped stream (doubles up to 30 s)
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
    if (!r.ok) {
      if (r.status === 401 && body.error === "token_expired") forget();
      const e = new Error(body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : r.statusText);
      e.code = body.error;
      throw e;
    }
    return body;
  }

  function forget() {
    store.removeItem("tier0.conv"); conv = null;
    listening++;
    if (stream) { stream.close(); stream = null; }
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
      const say = async () => {
        await ensureConversation();
        return api("/api/conversations/" + conv.id + "/messages", { method: "POST", body: JSON.stringify({ text }) });
      };
      let turn;
      try { turn = await say(); }
      catch (e) { if (e.code !== "token_expired") throw e; turn = await say(); }  // it expired: a new conversation
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
      if (e.code === "forbidden" || e.code === "not_found") forget();
    }
  }

  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const text = input.value;
    input.value = "";
    send(text);
  });
  let fallback = null;
  // Each (re)opening asks for a new stream ticket: a dropped stream is reopened by the page, not left to
  // EventSource's own reconnection (its ticket is used: refused). Polling meanwhile.
  async function listen() {
    if (!conv || !window.EventSource) { if (!window.EventSource && !fallback) fallback = setInterval(poll, 5000); return; }
    const gen = ++listening;
    if (stream) { stream.close(); stream = null; }
    const again = () => {
      if (!fallback) fallback = setInterval(poll, 5000);
      setTimeout(() => { if (gen === listening && conv) listen(); }, retry);
      retry = Math.min(retry * 2, 30000);
    };
    let t;
    try { t = await api("/api/conversations/" + conv.id + "/stream-ticket", { method: "POST" }); }
    catch (e) { if (conv) again(); return; }
    if (gen !== listening || !conv) return;
    const s = stream = new EventSource("/api/conversations/" + conv.id + "/stream?after=" + lastId + "&ticket=" + encodeURIComponent(t.ticket));
    s.addEventListener("message", ev => render(JSON.parse(ev.data)));
    s.addEventListener("open", () => { document.body.dataset.live = "on"; retry = 1000; if (fallback) { clearInterval(fallback); fallback = null; } });
    s.addEventListener("error", () => {
      document.body.dataset.live = "off";
      if (stream !== s) return;
      s.close(); stream = null;
      again();
    });
  }
  if (conv) poll().then(listen);
})();
