// #22 A: the articles panel of the editor console (console.js: tier0.panel). The list with its filters, the edit
// form with a live Markdown preview, save draft / publish / archive, versions with diff and rollback, the
// translation side by side. Every text goes through tier0.el (textContent); HTML only from the server's sanitised
// preview through tier0.html. Deep link: #article=ID opens that article (the try-it and feedback panels use it).
(function () {
  "use strict";
  const { el, api, post, status } = window.tier0;
  const FR = (document.documentElement.lang || navigator.language || "en").toLowerCase().startsWith("fr") ||
    (navigator.language || "").toLowerCase().startsWith("fr");
  const T = FR ? {
    panel: "Articles", search: "Rechercher", anyLang: "Toutes langues", anyStatus: "Tous statuts", category: "Catégorie",
    newArticle: "Nouvel article", title: "Titre", lang: "Langue", status: "Statut", version: "Version",
    updated: "Modifié", draft: "brouillon en cours", tags: "Étiquettes (séparées par des virgules)",
    questions: "Autres formulations (une par ligne)", handoff: "File de transfert (jamais répondu par le bot)",
    body: "Contenu (Markdown)", preview: "Aperçu", note: "Note de version", save: "Enregistrer le brouillon",
    publish: "Publier", archive: "Archiver", unarchive: "Désarchiver", versions: "Versions", author: "Auteur",
    when: "Date", diff: "Comparer", diffLive: "Comparer au publié", rollback: "Restaurer",
    rollbackAsk: "Publier de nouveau la version ", translation: "Traduction", noTranslation: "Pas encore de traduction.",
    makeTranslation: "Créer la traduction ", open: "Ouvrir", saved: "Brouillon enregistré (version ",
    published: "Publié : le bot répond maintenant avec la version ", archived: "Archivé : le bot n'en répond plus.",
    unarchived: "Désarchivé : c'est de nouveau un brouillon.", rolledBack: "Restauré et publié : version ",
    created: "Brouillon créé : ", noChange: "Aucune différence.", live: "publié", of: " sur ", none: "Aucun article.",
    choose: "Choisissez un article ou créez-en un.", close: "Fermer", id: "Identifiant (facultatif)",
  } : {
    panel: "Articles", search: "Search", anyLang: "Any language", anyStatus: "Any status", category: "Category",
    newArticle: "New article", title: "Title", lang: "Language", status: "Status", version: "Version",
    updated: "Changed", draft: "draft pending", tags: "Tags (comma-separated)",
    questions: "Alternate questions (one per line)", handoff: "Hand-off queue (never answered by the bot)",
    body: "Body (Markdown)", preview: "Preview", note: "Version note", save: "Save draft",
    publish: "Publish", archive: "Archive", unarchive: "Unarchive", versions: "Versions", author: "Author",
    when: "When", diff: "Diff", diffLive: "Diff with live", rollback: "Roll back",
    rollbackAsk: "Publish again version ", translation: "Translation", noTranslation: "No translation yet.",
    makeTranslation: "Create the translation ", open: "Open", saved: "Draft saved (version ",
    published: "Published: the bot now answers from version ", archived: "Archived: the bot no longer answers from it.",
    unarchived: "Unarchived: it is a draft again.", rolledBack: "Rolled back and published: version ",
    created: "Draft created: ", noChange: "No difference.", live: "live", of: " of ", none: "No article.",
    choose: "Choose an article or create one.", close: "Close", id: "Id (optional)",
  };
  const LANGS = ["en", "fr"];
  const STATUSES = ["draft", "published", "archived"];
  let root = null;          // the panel's section
  let current = null;       // the article detail shown (GET /api/editor/articles/{id}) or null for a new one
  let previewTimer = null;
  const q = {};             // the list's filter fields

  function field(label, input) { return el("label", { class: "field" }, el("span", {}, label), input); }
  function select(name, options, empty) {
    return el("select", { name }, empty ? el("option", { value: "" }, empty) : null,
      options.map(o => el("option", { value: o }, o)));
  }
  const when = iso => iso ? new Date(iso).toLocaleString(FR ? "fr-FR" : "en-GB") : "";
  const day = iso => iso ? new Date(iso).toLocaleDateString(FR ? "fr-FR" : "en-GB") : "";

  // -- the list ------------------------------------------------------------------------------------------------------
  function buildList() {
    q.text = el("input", { type: "search", name: "q", placeholder: T.search, "aria-label": T.search });
    q.lang = select("lang", LANGS, T.anyLang); q.lang.setAttribute("aria-label", T.lang);
    q.status = select("status", STATUSES, T.anyStatus); q.status.setAttribute("aria-label", T.status);
    q.category = el("input", { name: "category", placeholder: T.category, "aria-label": T.category });
    let timer = null;
    const later = () => { clearTimeout(timer); timer = setTimeout(loadList, 250); };
    [q.text, q.category].forEach(i => i.addEventListener("input", later));
    [q.lang, q.status].forEach(i => i.addEventListener("change", loadList));
    q.count = el("span", { class: "muted" });
    q.body = el("tbody");
    return el("div", { class: "art-list" },
      el("div", { class: "art-filters" }, q.text, q.lang, q.status, q.category,
        el("button", { type: "button", class: "primary", id: "art-new", onclick: () => edit(null) }, T.newArticle)),
      q.count,
      el("table", { class: "art-table" },
        el("thead", {}, el("tr", {}, [T.title, T.lang, T.status, T.version, T.updated].map(h => el("th", {}, h)))),
        q.body));
  }

  async function loadList() {
    const params = new URLSearchParams();
    if (q.text.value.trim()) params.set("q", q.text.value.trim());
    if (q.lang.value) params.set("lang", q.lang.value);
    if (q.status.value) params.set("status", q.status.value);
    if (q.category.value.trim()) params.set("category", q.category.value.trim());
    const r = await api("/api/editor/articles?" + params);
    q.count.textContent = r.articles.length + T.of + r.total;
    q.body.replaceChildren(...(r.articles.length ? r.articles.map(a => el("tr", {
      class: current && current.article.id === a.id ? "selected" : null, dataset: { id: a.id },
    },
      el("td", {}, el("a", { href: "#article=" + encodeURIComponent(a.id) }, a.title)),
      el("td", {}, a.lang),
      el("td", {}, el("span", { class: "badge " + a.status }, a.status), a.has_draft && a.status === "published" ?
        el("span", { class: "badge pending", title: T.draft }, "✎") : null),
      el("td", {}, String(a.version)),
      el("td", { title: when(a.updated_at) }, day(a.updated_at), a.updated_by ? el("br") : null, a.updated_by || ""))) :
      [el("tr", {}, el("td", { colspan: "5" }, T.none))]));
  }

  // -- the edit form -------------------------------------------------------------------------------------------------
  const f = {};
  function buildForm() {
    f.heading = el("h2", {}, T.choose);
    f.meta = el("p", { class: "muted" });
    f.id = el("input", { name: "id", maxlength: "200" });
    f.idField = field(T.id, f.id);
    f.title = el("input", { name: "title", maxlength: "300", required: true });
    f.lang = select("lang", LANGS);
    f.category = el("input", { name: "category", maxlength: "100" });
    f.tags = el("input", { name: "tags" });
    f.questions = el("textarea", { name: "questions", rows: "4" });
    f.handoff = el("input", { name: "handoff", maxlength: "100" });
    f.body = el("textarea", { name: "body", rows: "14", class: "md" });
    f.preview = el("div", { class: "preview", "aria-live": "polite", "aria-label": T.preview });
    f.note = el("input", { name: "note", maxlength: "500" });
    f.body.addEventListener("input", schedulePreview);
    f.save = el("button", { type: "submit", id: "art-save" }, T.save);
    f.publish = el("button", { type: "button", class: "primary", id: "art-publish", onclick: publish }, T.publish);
    f.archive = el("button", { type: "button", id: "art-archive", onclick: archive }, T.archive);
    f.form = el("form", { class: "art-form", id: "art-form" },
      f.idField, field(T.title, f.title),
      el("div", { class: "row" }, field(T.lang, f.lang), field(T.category, f.category), field(T.handoff, f.handoff)),
      field(T.tags, f.tags), field(T.questions, f.questions),
      el("div", { class: "md-pair" }, field(T.body, f.body),
        el("div", { class: "field" }, el("span", {}, T.preview), f.preview)),
      field(T.note, f.note),
      el("div", { class: "actions" }, f.save, f.publish, f.archive));
    f.form.addEventListener("submit", ev => { ev.preventDefault(); save(); });
    f.versions = el("div", { class: "versions" });
    f.diff = el("div", { class: "diff", "aria-live": "polite" });
    f.translation = el("div", { class: "translation" });
    return el("div", { class: "art-edit" },
      f.heading, f.meta,
      el("div", { class: "side-by-side" }, f.form, f.translation),
      el("h3", {}, T.versions), f.versions, f.diff);
  }

  function fill(content) {
    f.title.value = content ? content.title : "";
    f.lang.value = content ? content.lang : (FR ? "fr" : "en");
    f.category.value = (content && content.category) || "";
    f.tags.value = content ? content.tags.join(", ") : "";
    f.questions.value = content ? content.questions.join("\n") : "";
    f.handoff.value = (content && content.handoff) || "";
    f.body.value = content ? content.body : "";
    f.note.value = "";
    schedulePreview(0);
  }

  function fields() {
    const list = (text, sep) => text.split(sep).map(s => s.trim()).filter(Boolean);
    return {
      title: f.title.value, lang: f.lang.value, category: f.category.value.trim() || null,
      tags: list(f.tags.value, ","), questions: list(f.questions.value, "\n"),
      handoff: f.handoff.value.trim() || null, body: f.body.value, note: f.note.value.trim() || null,
    };
  }

  function schedulePreview(delay) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      try {
        const r = await post("/api/editor/preview", { body: f.body.value });
        f.preview.replaceChildren(window.tier0.html(r.html));
      } catch (e) { f.preview.replaceChildren(el("p", { class: "error" }, e.message)); }
    }, typeof delay === "number" ? delay : 300);
  }

  async function edit(id) {
    f.diff.replaceChildren();
    if (!id) {
      current = null;
      f.heading.textContent = T.newArticle; f.meta.textContent = "";
      f.idField.hidden = false; f.id.value = "";
      f.publish.disabled = true; f.archive.disabled = true;
      f.versions.replaceChildren(); f.translation.replaceChildren();
      fill(null); f.title.focus();
      return;
    }
    show(await api("/api/editor/articles/" + encodeURIComponent(id)));
  }

  function show(detail) {
    current = detail;
    const a = detail.article;
    f.idField.hidden = true;
    f.heading.textContent = a.title;
    f.meta.replaceChildren(el("code", {}, a.id), " · ", el("span", { class: "badge " + a.status, id: "art-status" }, a.status),
      " · " + T.version + " " + a.version, a.has_draft && a.status === "published" ? " · " + T.draft : "",
      a.updated_by ? " · " + a.updated_by : "", " · " + when(a.updated_at));
    fill(detail.draft || detail.live);
    f.publish.disabled = a.status === "published" && !a.has_draft;
    f.archive.textContent = a.status === "archived" ? T.unarchive : T.archive;
    f.archive.disabled = false;
    showVersions(detail);
    showTranslation(detail);
    Array.from(q.body.rows).forEach(r => r.classList.toggle("selected", r.dataset.id === a.id));
  }

  async function act(fn, message) {
    try {
      const r = await fn();
      status(message(r));
      await loadList();
      return r;
    } catch (e) { status(e.message, true); return null; }
  }

  async function save() {
    const body = fields();
    if (!current) {
      const id = f.id.value.trim();
      const r = await act(() => post("/api/editor/articles", Object.assign(id ? { id } : {}, body)),
        r => T.created + r.article.id);
      if (r) { location.hash = "article=" + encodeURIComponent(r.article.id); show(r); }
      return;
    }
    const id = current.article.id;
    const r = await act(() => api("/api/editor/articles/" + encodeURIComponent(id) + "/draft", { method: "PUT", body }),
      r => T.saved + r.version + ").");
    if (r) show(await api("/api/editor/articles/" + encodeURIComponent(id)));
  }

  async function publish() {
    if (!current) return;
    const id = current.article.id;
    // unsaved edits are saved as the draft first, so what is published is what the editor sees
    const pending = JSON.stringify(Object.assign(fields(), { note: null })) !==
      JSON.stringify(Object.assign(contentFields(current.draft || current.live), { note: null }));
    if (pending) {
      const saved = await act(() => api("/api/editor/articles/" + encodeURIComponent(id) + "/draft",
        { method: "PUT", body: fields() }), r => T.saved + r.version + ").");
      if (!saved) return;
    }
    const r = await act(() => post("/api/editor/articles/" + encodeURIComponent(id) + "/publish",
      { note: pending ? null : f.note.value.trim() || null }), r => T.published + r.article.version + ".");
    if (r) show(r);
  }

  function contentFields(c) {
    return c ? { title: c.title, lang: c.lang, category: c.category || null, tags: c.tags, questions: c.questions,
      handoff: c.handoff || null, body: c.body } : {};
  }

  async function archive() {
    if (!current) return;
    const id = encodeURIComponent(current.article.id);
    const back = current.article.status === "archived";
    const r = await act(() => post("/api/editor/articles/" + id + (back ? "/unarchive" : "/archive"),
      { note: f.note.value.trim() || null }), () => back ? T.unarchived : T.archived);
    if (r) show(r);
  }

  // -- versions, diff, rollback --------------------------------------------------------------------------------------
  function showVersions(detail) {
    const id = encodeURIComponent(detail.article.id);
    const rows = detail.versions.slice().reverse();
    f.versions.replaceChildren(el("table", { class: "art-versions" },
      el("thead", {}, el("tr", {}, [T.version, T.status, T.author, T.note, T.when, ""].map(h => el("th", {}, h)))),
      el("tbody", {}, rows.map((v, i) => {
        const previous = rows[i + 1];
        return el("tr", { dataset: { version: String(v.version) } },
          el("td", {}, String(v.version), v.version === detail.article.version && detail.article.status === "published" ?
            el("span", { class: "badge published" }, T.live) : null),
          el("td", {}, v.status), el("td", {}, v.author || "—"), el("td", {}, v.note || ""), el("td", {}, when(v.created_at)),
          el("td", { class: "actions" },
            previous ? el("button", { type: "button", onclick: () => showDiff(id, previous.version, v.version) }, T.diff) : null,
            detail.live ? el("button", { type: "button", onclick: () => showDiff(id, "live", v.version) }, T.diffLive) : null,
            el("button", { type: "button", class: "rollback", onclick: () => rollback(v.version) }, T.rollback)));
      }))));
  }

  async function showDiff(id, from, to) {
    try {
      const r = await api("/api/editor/articles/" + id + "/diff?from=" + from + "&to=" + to);
      const head = el("h4", {}, T.diff + " " + r.from + " → " + r.to, " ",
        el("button", { type: "button", onclick: () => f.diff.replaceChildren() }, T.close));
      if (!r.fields.length) { f.diff.replaceChildren(head, el("p", {}, T.noChange)); return; }
      f.diff.replaceChildren(head, ...r.fields.map(d => el("div", { class: "diff-field" }, el("strong", {}, d.field),
        el("pre", {}, d.diff.split("\n").filter(l => !l.startsWith("---") && !l.startsWith("+++")).map(l =>
          el("span", { class: l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : l.startsWith("@@") ? "hunk" : "" }, l + "\n"))))));
    } catch (e) { status(e.message, true); }
  }

  async function rollback(version) {
    if (!current || !window.confirm(T.rollbackAsk + version + " ?")) return;
    const r = await act(() => post("/api/editor/articles/" + encodeURIComponent(current.article.id) + "/rollback",
      { version }), r => T.rolledBack + r.article.version + ".");
    if (r) show(r);
  }

  // -- the translation, side by side ---------------------------------------------------------------------------------
  async function showTranslation(detail) {
    const a = detail.article;
    const other = detail.translations[0];
    const missing = LANGS.filter(l => l !== a.lang && !detail.translations.some(t => t.lang === l));
    const box = [el("h3", {}, T.translation)];
    if (!other) box.push(el("p", { class: "muted" }, T.noTranslation));
    f.translation.replaceChildren(...box);
    for (const t of detail.translations) {
      const sibling = await api("/api/editor/articles/" + encodeURIComponent(t.id));
      const content = sibling.draft || sibling.live;
      const rendered = await post("/api/editor/preview", { body: content.body });
      f.translation.append(el("article", { class: "sibling", lang: t.lang },
        el("h4", {}, el("span", { class: "badge" }, t.lang), " ", content.title, " ",
          el("span", { class: "badge " + t.status }, t.status)),
        el("div", { class: "preview" }, window.tier0.html(rendered.html)),
        el("a", { href: "#article=" + encodeURIComponent(t.id) }, T.open)));
    }
    missing.forEach(lang => f.translation.append(el("button", { type: "button", class: "make-translation",
      onclick: () => makeTranslation(lang) }, T.makeTranslation + "(" + lang + ")")));
  }

  async function makeTranslation(lang) {
    if (!current) return;
    const c = current.draft || current.live;
    const r = await act(() => post("/api/editor/articles", { title: c.title, lang, body: c.body, category: c.category,
      tags: c.tags, handoff: c.handoff, translation_of: current.article.id }), r => T.created + r.article.id);
    if (r) { location.hash = "article=" + encodeURIComponent(r.article.id); }
  }

  // -- the panel -----------------------------------------------------------------------------------------------------
  function fromHash() {
    const m = /^#article=(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  window.tier0.panel("articles", {
    title: T.panel,
    roles: ["editor", "lead", "admin"],
    async show(section, params) {
      if (!root) {
        root = el("div", { class: "articles" }, buildList(), buildForm());
        section.replaceChildren(root);
      }
      await loadList();
      const id = params.id || fromHash();
      if (id) await edit(id);
    },
  });
  window.addEventListener("hashchange", () => {
    const id = fromHash();
    if (id) window.tier0.open("articles", { id });
  });
})();
