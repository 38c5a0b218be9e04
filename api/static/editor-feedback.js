// #22 D: the feedback loop — per-article feedback (sortable table, an article's flags with their notes), the
// content-gap report (groups of unanswered questions: examples, nearest article, dismiss, start an article) and a
// resolved ticket turned into an article (near-duplicates first). Texts in English and French. No innerHTML: every
// text goes through tier0.el (textContent).
(function () {
  "use strict";
  const T = {
    en: {
      title: "Feedback and gaps", since: "From", until: "To", lang: "Language", all: "all", refresh: "Refresh",
      articles: "Articles", article: "Article", views: "Views", answers: "Answers", helpful: "Helpful",
      notHelpful: "Not helpful", handoffs: "Hand-offs", flags: "Flags", helpfulRate: "Helpful %",
      handoffRate: "Hand-off %", edit: "Edit", flagNotes: "Agents' flags", noFlags: "No flag in this period.",
      gaps: "Content gaps", minConv: "At least … conversations", showHandled: "Show dismissed and drafted",
      conversations: "conversations", questions: "questions", nearest: "Nearest article", score: "score",
      dismiss: "Dismiss", startArticle: "Start an article", noGaps: "No unanswered questions in this period.",
      dismissed: "Dismissed.", drafted: "Draft created: ", openDraft: "Open the draft",
      fromTicket: "Turn a resolved ticket into an article", ticketRef: "Ticket (e.g. T-12)",
      turnInto: "Turn into an article", similarFound: "The bot may already answer this question from:",
      createAnyway: "Create anyway", question: "Question", duplicate: "already answered", loading: "Loading…",
      unsure: "bot unsure", handed_off: "handed off after an answer", state: "state",
    },
    fr: {
      title: "Retours et lacunes", since: "Du", until: "Au", lang: "Langue", all: "toutes", refresh: "Actualiser",
      articles: "Articles", article: "Article", views: "Vues", answers: "Réponses", helpful: "Utile",
      notHelpful: "Pas utile", handoffs: "Transferts", flags: "Signalements", helpfulRate: "% utile",
      handoffRate: "% transfert", edit: "Modifier", flagNotes: "Signalements des agents",
      noFlags: "Aucun signalement sur la période.", gaps: "Lacunes du contenu", minConv: "Au moins … conversations",
      showHandled: "Afficher les groupes écartés et rédigés", conversations: "conversations", questions: "questions",
      nearest: "Article le plus proche", score: "score", dismiss: "Écarter", startArticle: "Rédiger un article",
      noGaps: "Aucune question sans réponse sur la période.", dismissed: "Écarté.", drafted: "Brouillon créé : ",
      openDraft: "Ouvrir le brouillon", fromTicket: "Transformer un ticket résolu en article",
      ticketRef: "Ticket (ex. T-12)", turnInto: "Transformer en article",
      similarFound: "Le bot répond peut-être déjà à cette question avec :", createAnyway: "Créer quand même",
      question: "Question", duplicate: "déjà couvert", loading: "Chargement…", unsure: "bot hésitant",
      handed_off: "transfert après une réponse", state: "état",
    },
  };
  const lang = (document.documentElement.lang || navigator.language || "en").slice(0, 2) === "fr" ? "fr" : "en";
  const t = key => T[lang][key] || T.en[key] || key;
  const pct = v => (v === null || v === undefined ? "—" : Math.round(v * 100) + " %");

  let root = null;
  let rows = [];
  let sortKey = "answers";
  let sortDesc = true;

  function query(extra) {
    const p = new URLSearchParams();
    const since = root.querySelector("#fb-since").value;
    const until = root.querySelector("#fb-until").value;
    const lg = root.querySelector("#fb-lang").value;
    if (since) p.set("since", since);
    if (until) p.set("until", until);
    if (lg) p.set("lang", lg);
    Object.entries(extra || {}).forEach(([k, v]) => p.set(k, v));
    return p.toString();
  }

  // the articles panel (#22 A) opens #article=ID
  function openArticle(id) { location.hash = "article=" + encodeURIComponent(id); }

  // -- per-article table ------------------------------------------------------------------------------------------
  const COLUMNS = [
    ["title", "article"], ["lang", "lang"], ["views", "views"], ["answers", "answers"], ["helpful", "helpful"],
    ["not_helpful", "notHelpful"], ["handoffs", "handoffs"], ["flags", "flags"], ["helpful_rate", "helpfulRate"],
    ["handoff_rate", "handoffRate"],
  ];

  function renderTable() {
    const box = root.querySelector("#fb-articles");
    const sorted = rows.slice().sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      const c = (x === null || x === undefined) - (y === null || y === undefined) ||
        (typeof x === "string" ? String(x).localeCompare(String(y)) : (x || 0) - (y || 0));
      return sortDesc ? -c : c;
    });
    const head = tier0.el("tr", null, COLUMNS.map(([key, label]) => tier0.el("th", {
      scope: "col", "aria-sort": key === sortKey ? (sortDesc ? "descending" : "ascending") : "none",
    }, tier0.el("button", {
      type: "button", class: "sort", onclick: () => { sortDesc = key === sortKey ? !sortDesc : true; sortKey = key; renderTable(); },
    }, t(label) + (key === sortKey ? (sortDesc ? " ▼" : " ▲") : "")))));
    const body = sorted.map(r => tier0.el("tr", { dataset: { article: r.article_id } },
      tier0.el("td", null, tier0.el("button", { type: "button", class: "link", onclick: () => details(r.article_id) },
        r.title || r.article_id)),
      tier0.el("td", null, r.lang || ""), tier0.el("td", null, r.views), tier0.el("td", null, r.answers),
      tier0.el("td", null, r.helpful), tier0.el("td", null, r.not_helpful), tier0.el("td", null, r.handoffs),
      tier0.el("td", { class: r.flags ? "warn" : null }, r.flags), tier0.el("td", null, pct(r.helpful_rate)),
      tier0.el("td", null, pct(r.handoff_rate))));
    box.replaceChildren(tier0.el("table", { class: "feedback" }, tier0.el("thead", null, head), tier0.el("tbody", null, body)));
  }

  async function details(id) {
    const box = root.querySelector("#fb-detail");
    box.replaceChildren(tier0.el("p", null, t("loading")));
    const p = new URLSearchParams(query());
    p.delete("lang");
    const f = await tier0.api("/api/editor/articles/" + encodeURIComponent(id) + "/feedback?" + p.toString());
    const notes = f.flag_notes.length ? tier0.el("ul", null, f.flag_notes.map(n => tier0.el("li", null,
      tier0.el("strong", null, n.ticket + " · " + n.actor + " · " + n.at.slice(0, 10)), " ",
      n.note || "", n.question ? tier0.el("div", { class: "muted" }, t("question") + ": " + n.question) : null)))
      : tier0.el("p", null, t("noFlags"));
    box.replaceChildren(tier0.el("h3", null, f.title || f.article_id, " ",
      tier0.el("button", { type: "button", onclick: () => openArticle(f.article_id) }, t("edit"))),
    tier0.el("p", null, [t("views") + " " + f.views, t("answers") + " " + f.answers, t("helpful") + " " + f.helpful,
      t("notHelpful") + " " + f.not_helpful, t("handoffs") + " " + f.handoffs, t("flags") + " " + f.flags].join(" · ")),
    tier0.el("h4", null, t("flagNotes")), notes);
  }

  async function loadArticles() {
    const r = await tier0.api("/api/editor/feedback?" + query());
    rows = r.articles;
    renderTable();
  }

  // -- content gaps -------------------------------------------------------------------------------------------------
  function gapCard(g) {
    const reasons = Object.entries(g.reasons).map(([k, n]) => t(k) + " " + n).join(", ");
    const nearest = g.nearest ? tier0.el("p", null, t("nearest") + ": ",
      tier0.el("button", { type: "button", class: "link", onclick: () => openArticle(g.nearest.article_id) }, g.nearest.title),
      " (" + t("score") + " " + g.nearest.score.toFixed(2) + ")") : null;
    const actions = g.state === "open" ? tier0.el("p", null,
      tier0.el("button", { type: "button", onclick: () => decide(g, "dismiss") }, t("dismiss")), " ",
      tier0.el("button", { type: "button", class: "primary", onclick: () => decide(g, "draft") }, t("startArticle")))
      : tier0.el("p", null, t("state") + ": " + g.state, g.article_id ? [" ", tier0.el("button", {
        type: "button", class: "link", onclick: () => openArticle(g.article_id) }, g.article_id)] : null);
    return tier0.el("li", { class: "gap", dataset: { key: g.key } },
      tier0.el("h4", null, g.conversations + " " + t("conversations") + " · " + g.lang.toUpperCase() + " · " + g.questions + " " + t("questions")),
      tier0.el("ul", { class: "examples" }, g.examples.map(q => tier0.el("li", null, q))),
      tier0.el("p", { class: "muted" }, reasons), nearest, actions);
  }

  async function loadGaps() {
    const box = root.querySelector("#fb-gaps");
    box.replaceChildren(tier0.el("p", null, t("loading")));
    const extra = { min: root.querySelector("#fb-min").value || "1" };
    if (root.querySelector("#fb-handled").checked) extra.all = "true";
    const r = await tier0.api("/api/editor/gaps?" + query(extra));
    box.replaceChildren(r.groups.length ? tier0.el("ol", { class: "gaps" }, r.groups.map(gapCard)) : tier0.el("p", null, t("noGaps")));
  }

  async function decide(g, action) {
    try {
      const r = await tier0.post("/api/editor/gaps/" + encodeURIComponent(g.key) + "/" + action);
      tier0.status(action === "draft" ? t("drafted") + r.article.id : t("dismissed"));
      await loadGaps();
    } catch (e) { tier0.status(e.message, true); }
  }

  // -- a resolved ticket to an article -------------------------------------------------------------------------------
  async function fromTicket(ref, force) {
    const box = root.querySelector("#fb-ticket-result");
    try {
      const r = await tier0.post("/api/editor/from-ticket/" + encodeURIComponent(ref), force ? { force: true } : {});
      if (r.created) {
        tier0.status(t("drafted") + r.article.id);
        box.replaceChildren(tier0.el("p", null, t("drafted"), tier0.el("button", {
          type: "button", class: "link", onclick: () => openArticle(r.article.id) }, r.article.title)));
        return;
      }
      box.replaceChildren(tier0.el("p", null, t("question") + ": " + r.question), tier0.el("p", null, t("similarFound")),
        tier0.el("ul", null, r.similar.map(s => tier0.el("li", null,
          tier0.el("button", { type: "button", class: "link", onclick: () => openArticle(s.article_id) }, s.title),
          " (" + t("score") + " " + s.score.toFixed(2) + (s.duplicate ? ", " + t("duplicate") : "") + ")"))),
        tier0.el("button", { type: "button", onclick: () => fromTicket(ref, true) }, t("createAnyway")));
    } catch (e) { tier0.status(e.message, true); }
  }

  async function refresh() {
    try { await Promise.all([loadArticles(), loadGaps()]); tier0.status(""); } catch (e) { tier0.status(e.message, true); }
  }

  function build(section) {
    root = section;
    const today = new Date().toISOString().slice(0, 10);
    const ticket = tier0.el("input", { id: "fb-ticket", placeholder: t("ticketRef"), "aria-label": t("ticketRef"), pattern: "T-[0-9]+" });
    section.replaceChildren(
      tier0.el("h2", null, t("title")),
      tier0.el("form", { class: "filters", onsubmit: ev => { ev.preventDefault(); refresh(); } },
        tier0.el("label", null, t("since") + " ", tier0.el("input", { id: "fb-since", type: "date" })), " ",
        tier0.el("label", null, t("until") + " ", tier0.el("input", { id: "fb-until", type: "date", max: today })), " ",
        tier0.el("label", null, t("lang") + " ", tier0.el("select", { id: "fb-lang" },
          tier0.el("option", { value: "" }, t("all")), tier0.el("option", { value: "en" }, "EN"),
          tier0.el("option", { value: "fr" }, "FR"))), " ",
        tier0.el("button", { type: "submit", class: "primary" }, t("refresh"))),
      tier0.el("h3", null, t("articles")), tier0.el("div", { id: "fb-articles" }), tier0.el("div", { id: "fb-detail" }),
      tier0.el("h3", null, t("gaps")),
      tier0.el("p", null,
        tier0.el("label", null, t("minConv") + " ", tier0.el("input", { id: "fb-min", type: "number", min: "1", value: "1", onchange: () => loadGaps() })), " ",
        tier0.el("label", null, tier0.el("input", { id: "fb-handled", type: "checkbox", onchange: () => loadGaps() }), " " + t("showHandled"))),
      tier0.el("div", { id: "fb-gaps" }),
      tier0.el("h3", null, t("fromTicket")),
      tier0.el("form", { onsubmit: ev => { ev.preventDefault(); if (ticket.value.trim()) fromTicket(ticket.value.trim(), false); } },
        ticket, " ", tier0.el("button", { type: "submit" }, t("turnInto"))),
      tier0.el("div", { id: "fb-ticket-result" }));
  }

  tier0.panel("feedback", {
    title: T[lang].title,
    roles: ["editor", "lead", "admin"],
    async show(section, params) {
      if (!root) build(section);
      // the desk's "Turn into an article" opens /editor?ticket=T-12#feedback (once)
      const ticket = (params && params.ticket) || pending;
      pending = null;
      if (ticket) root.querySelector("#fb-ticket").value = ticket;
      await refresh();
      if (ticket) await fromTicket(ticket, false);
    },
  });
  let pending = /^T-\d+$/.test(new URLSearchParams(location.search).get("ticket") || "")
    ? new URLSearchParams(location.search).get("ticket") : null;
})();
