// #22 BC: "Try it and calibration" panel of the editor console (see console.js: tier0.panel(name, {...})).
// Try a customer's question against the live KB, optionally with a draft published beside it (POST /api/editor/try,
// nothing is stored); what the calibration knows (GET /api/editor/health) with links that open the articles
// (#article=ID, the articles panel); refit on demand with the precision-coverage curves before/after drawn as SVG
// (POST /api/editor/calibrate). No innerHTML: every text goes through tier0.el (textContent).
(function () {
  "use strict";
  const T = {
    en: {
      title: "Try it & calibration", tryHead: "Try a question", question: "Customer's question", language: "Language",
      auto: "detect", withDraft: "with a draft article", draftId: "Article id (optional: a draft of an existing article)",
      draftTitle: "Title", draftLang: "Article language", draftBody: "Body (Markdown)",
      draftQuestions: "Alternate questions, one per line", run: "Try", running: "Trying…",
      decision: "The bot would", answer: "answer", suggest: "suggest articles", clarify: "ask which one / to rephrase",
      handoff: "hand off to a person", confidence: "confidence", threshold: "threshold to answer",
      article: "Article", lang: "Lang", draft: "draft", version: "v", none: "Nothing found.",
      draftRank: "The draft comes", draftAbsent: "The draft is not among the candidates.",
      healthHead: "Calibration health", reload: "Reload", stale: "The calibration was fitted before the last changes: a refit is due.",
      fresh: "The calibration is up to date.", refitRunning: "A refit is running.", uncalibrated: "No calibration yet (the KB is too small).",
      duplicates: "Near-duplicate articles", confusions: "Phrasings that find another article",
      unreached: "Articles none of their own phrasings finds", similar: "alike", finds: "finds",
      nothing: "None.", of: "of", thresholds: "Answer thresholds",
      refitHead: "Refit the calibration", refit: "Refit now", refitting: "Refitting… (this can take a few minutes)",
      busy: "A refit is already running: try again in a minute.", before: "before", after: "after",
      coverage: "coverage (questions answered)", precision: "precision (answers right)", coverageAt: "coverage at the target",
      seconds: "s", tooSmall: "The KB is too small to calibrate.",
    },
    fr: {
      title: "Essayer & calibrage", tryHead: "Essayer une question", question: "Question d'un client", language: "Langue",
      auto: "détecter", withDraft: "avec un brouillon d'article", draftId: "Identifiant (facultatif : brouillon d'un article existant)",
      draftTitle: "Titre", draftLang: "Langue de l'article", draftBody: "Texte (Markdown)",
      draftQuestions: "Autres formulations, une par ligne", run: "Essayer", running: "Essai…",
      decision: "Le bot va", answer: "répondre", suggest: "proposer des articles", clarify: "demander lequel / de reformuler",
      handoff: "passer la main à une personne", confidence: "confiance", threshold: "seuil pour répondre",
      article: "Article", lang: "Langue", draft: "brouillon", version: "v", none: "Rien trouvé.",
      draftRank: "Le brouillon arrive", draftAbsent: "Le brouillon n'est pas parmi les candidats.",
      healthHead: "Santé du calibrage", reload: "Recharger", stale: "Le calibrage date d'avant les derniers changements : un recalibrage est dû.",
      fresh: "Le calibrage est à jour.", refitRunning: "Un recalibrage est en cours.", uncalibrated: "Pas encore de calibrage (base trop petite).",
      duplicates: "Articles quasi identiques", confusions: "Formulations qui trouvent un autre article",
      unreached: "Articles qu'aucune de leurs formulations ne trouve", similar: "de ressemblance", finds: "trouve",
      nothing: "Aucun.", of: "sur", thresholds: "Seuils de réponse",
      refitHead: "Recalibrer", refit: "Recalibrer maintenant", refitting: "Recalibrage… (quelques minutes parfois)",
      busy: "Un recalibrage est déjà en cours : réessayez dans une minute.", before: "avant", after: "après",
      coverage: "couverture (questions répondues)", precision: "précision (réponses justes)", coverageAt: "couverture à l'objectif",
      seconds: "s", tooSmall: "La base est trop petite pour être calibrée.",
    },
  };
  // the reader's language: the browser's first, then the page's
  const lang = ((navigator.language || document.documentElement.lang || "en").slice(0, 2) === "fr") ? "fr" : "en";
  const t = k => T[lang][k] || T.en[k] || k;
  const el = (...a) => tier0.el(...a);
  const SVG = "http://www.w3.org/2000/svg";

  function openArticle(id) {
    // the articles panel (#22 A) opens the article named in the hash
    Promise.resolve(tier0.open("articles", { article: id })).finally(() => { location.hash = "article=" + id; });
  }
  const articleLink = a => el("a", { href: "#article=" + encodeURIComponent(a.id), class: "article-link",
    onclick: ev => { ev.preventDefault(); openArticle(a.id); } }, a.title ? a.title + " (" + a.id + ")" : a.id);

  // -- try it --------------------------------------------------------------------------------------------------
  function tryForm(out) {
    const q = el("input", { id: "try-question", name: "question", required: true, maxlength: 4000, size: 60 });
    const ql = el("select", { id: "try-language", name: "language" },
      el("option", { value: "" }, t("auto")), el("option", { value: "en" }, "English"), el("option", { value: "fr" }, "Français"));
    const withDraft = el("input", { id: "try-with-draft", type: "checkbox" });
    const dId = el("input", { id: "try-draft-id", maxlength: 200 });
    const dTitle = el("input", { id: "try-draft-title", maxlength: 300, size: 60 });
    const dLang = el("select", { id: "try-draft-lang" }, el("option", { value: "en" }, "English"), el("option", { value: "fr" }, "Français"));
    const dBody = el("textarea", { id: "try-draft-body", rows: 6, cols: 70 });
    const dQuestions = el("textarea", { id: "try-draft-questions", rows: 3, cols: 70 });
    const draftBox = el("fieldset", { id: "try-draft", hidden: true }, el("legend", {}, t("withDraft")),
      el("label", {}, t("draftId"), " ", dId), el("label", {}, t("draftTitle"), " ", dTitle),
      el("label", {}, t("draftLang"), " ", dLang), el("label", {}, t("draftBody"), dBody),
      el("label", {}, t("draftQuestions"), dQuestions));
    withDraft.addEventListener("change", () => { draftBox.hidden = !withDraft.checked; });
    const button = el("button", { type: "submit", class: "primary", id: "try-run" }, t("run"));
    const form = el("form", { id: "try-form", class: "tryit" },
      el("label", {}, t("question"), " ", q), el("label", {}, t("language"), " ", ql),
      el("label", {}, withDraft, " ", t("withDraft")), draftBox, button);
    form.addEventListener("submit", async ev => {
      ev.preventDefault();
      const body = { question: q.value.trim() };
      if (ql.value) body.language = ql.value;
      if (withDraft.checked) {
        body.article = { title: dTitle.value.trim(), lang: dLang.value, body: dBody.value,
          questions: dQuestions.value.split("\n").map(s => s.trim()).filter(Boolean) };
        if (dId.value.trim()) body.article.id = dId.value.trim();
      }
      button.disabled = true; button.textContent = t("running");
      try { showResult(out, await tier0.post("/api/editor/try", body)); tier0.status(""); }
      catch (e) { tier0.status(e.message, true); }
      finally { button.disabled = false; button.textContent = t("run"); }
    });
    return form;
  }

  function showResult(out, r) {
    const row = c => el("tr", { class: c.draft ? "draft" : "" },
      el("td", {}, c.draft ? el("strong", {}, c.title + " (" + t("draft") + ")") : articleLink({ id: c.article_id, title: c.title })),
      el("td", {}, c.lang), el("td", {}, c.version ? t("version") + c.version : "—"),
      el("td", {}, el("meter", { min: 0, max: 1, value: c.confidence, title: String(c.confidence) }), " ", c.confidence.toFixed(3)));
    const parts = [
      el("p", { id: "try-decision", class: "decision " + r.decision, "data-decision": r.decision },
        t("decision"), " ", el("strong", {}, t(r.decision)),
        r.article ? [" — ", r.article.draft ? r.article.title + " (" + t("draft") + ")" : r.article.title] : "",
        " (", t("confidence"), " ", r.confidence.toFixed(3), ", ", t("threshold"), " ", r.threshold.toFixed(3), ")"),
    ];
    if (r.draft_rank) parts.push(el("p", { id: "try-draft-rank" }, t("draftRank"), " #", r.draft_rank));
    else if (document.getElementById("try-with-draft").checked) parts.push(el("p", { id: "try-draft-rank" }, t("draftAbsent")));
    parts.push(r.candidates.length
      ? el("table", { id: "try-candidates", class: "candidates" },
        el("tr", {}, el("th", {}, t("article")), el("th", {}, t("lang")), el("th", {}, t("version")), el("th", {}, t("confidence"))),
        r.candidates.map(row))
      : el("p", {}, t("none")));
    out.replaceChildren(...parts);
  }

  // -- health ----------------------------------------------------------------------------------------------------
  async function loadHealth(box) {
    const h = await tier0.api("/api/editor/health");
    const list = (items, render) => items.length ? el("ul", {}, items.map(i => el("li", {}, render(i)))) : el("p", {}, t("nothing"));
    const state = !h.calibrated ? t("uncalibrated") : (h.up_to_date ? t("fresh") : t("stale"));
    box.replaceChildren(
      el("p", { id: "health-state" }, state, h.refit_running ? " " + t("refitRunning") : ""),
      h.calibrated ? el("p", {}, t("thresholds"), ": ", Object.entries(h.thresholds).map(([k, v]) => k + " " + v.toFixed(3)).join(", ")) : "",
      el("h4", {}, t("duplicates"), " (", h.duplicates_total, ")"),
      list(h.duplicates, d => [articleLink(d.articles[0]), " ↔ ", articleLink(d.articles[1]),
        " — ", Math.round(d.similarity * 100), " % ", t("similar"), " (", d.part, ")"]),
      el("h4", {}, t("confusions")),
      list(h.confusions, c => ["« ", c.question, " » (", articleLink(c.article), ") ", t("finds"), " ", articleLink(c.found),
        " — ", c.confidence.toFixed(2)]),
      el("h4", {}, t("unreached"), " (", h.unreached_total, ")"),
      list(h.unreached, a => articleLink(a)));
    box.dataset.loaded = "1";
  }

  // -- refit and curves --------------------------------------------------------------------------------------------
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, String(v)));
    children.forEach(c => e.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return e;
  }

  // precision (y) against coverage (x), both 0..1; one polyline per side
  function curves(sides) {
    const W = 420, H = 260, L = 46, B = 36, R = 110, TOP = 10;
    const x = v => L + v * (W - L - R), y = v => TOP + (1 - v) * (H - TOP - B);
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", id: "refit-curves",
      "aria-label": t("precision") + " / " + t("coverage") });
    g.append(svg("line", { x1: L, y1: y(0), x2: x(1), y2: y(0), stroke: "#555" }), svg("line", { x1: L, y1: y(0), x2: L, y2: y(1), stroke: "#555" }));
    [0, 0.5, 1].forEach(v => {
      g.append(svg("text", { x: x(v), y: H - B + 14, "font-size": 10, "text-anchor": "middle" }, v.toFixed(1)));
      g.append(svg("text", { x: L - 6, y: y(v) + 3, "font-size": 10, "text-anchor": "end" }, v.toFixed(1)));
    });
    g.append(svg("text", { x: (L + W - R) / 2, y: H - 4, "font-size": 10, "text-anchor": "middle" }, t("coverage")));
    g.append(svg("text", { x: 10, y: TOP + (H - B) / 2, "font-size": 10, "text-anchor": "middle",
      transform: `rotate(-90 10 ${TOP + (H - B) / 2})` }, t("precision")));
    sides.forEach((s, i) => {
      if (!s.points.length) return;
      const pts = s.points.slice().sort((a, b) => a.coverage - b.coverage).map(p => x(p.coverage).toFixed(1) + "," + y(p.precision).toFixed(1)).join(" ");
      g.append(svg("polyline", { points: pts, fill: "none", stroke: s.color, "stroke-width": 2, "data-side": s.name, "data-points": s.points.length,
        "stroke-dasharray": i === 0 ? "5 3" : "none" }));
      g.append(svg("line", { x1: W - R + 10, y1: TOP + 12 + i * 16, x2: W - R + 30, y2: TOP + 12 + i * 16, stroke: s.color, "stroke-width": 2,
        "stroke-dasharray": i === 0 ? "5 3" : "none" }));
      g.append(svg("text", { x: W - R + 34, y: TOP + 15 + i * 16, "font-size": 11 }, t(s.name)));
    });
    return g;
  }

  function refitBox() {
    const out = el("div", { id: "refit-result" });
    const button = el("button", { type: "button", id: "refit-run" }, t("refit"));
    button.addEventListener("click", async () => {
      button.disabled = true; out.replaceChildren(el("p", {}, t("refitting")));
      try {
        const r = await tier0.post("/api/editor/calibrate");
        if (!r.after) { out.replaceChildren(el("p", {}, t("tooSmall"))); return; }
        const pct = v => v === null || v === undefined ? "—" : Math.round(v * 100) + " %";
        const sides = [];
        if (r.before) sides.push({ name: "before", color: "#888", points: r.before.curve });
        sides.push({ name: "after", color: "#1a6", points: r.after.curve });
        out.replaceChildren(curves(sides),
          el("p", {}, t("coverageAt"), " (", pct(1 - r.target), " ", t("precision").split(" ")[0], "): ",
            r.before ? [t("before"), " ", pct(r.before.coverage_at_target), ", "] : "", t("after"), " ", pct(r.after.coverage_at_target),
            " — ", r.seconds, " ", t("seconds")),
          el("p", {}, t("thresholds"), ": ", Object.entries(r.after.thresholds).map(([k, v]) => k + " " + v.toFixed(3)).join(", ")));
      } catch (e) {
        out.replaceChildren(el("p", { class: "error", role: "alert" }, e.status === 409 ? t("busy") : e.message));
      } finally { button.disabled = false; }
    });
    return el("div", {}, button, out);
  }

  tier0.panel("tryit", {
    title: t("title"),
    roles: ["editor", "lead", "admin"],
    async show(section) {
      if (!section.dataset.built) {
        const result = el("div", { id: "try-result", "aria-live": "polite" });
        const health = el("div", { id: "health" });
        const reload = el("button", { type: "button", id: "health-reload" }, t("reload"));
        reload.addEventListener("click", () => loadHealth(health).catch(e => tier0.status(e.message, true)));
        section.replaceChildren(
          el("h2", {}, t("tryHead")), tryForm(result), result,
          el("h2", {}, t("healthHead"), " ", reload), health,
          el("h2", {}, t("refitHead")), refitBox());
        section.dataset.built = "1";
      }
      await loadHealth(section.querySelector("#health"));
    },
  });
})();
