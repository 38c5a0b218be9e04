// #22 F: import and export of the KB, and HTML to Markdown — a panel of the console (see console.js:
// tier0.panel(name, {title, roles, show, hide})). Export: a zip of Markdown files, one folder per language. Import: a
// zip checked first (dry run: created / updated / unchanged / errors with file:line), then applied, all or nothing.
// HTML pasted -> sanitised Markdown (server side). Texts in French and English; no innerHTML (tier0.el only).
(function () {
  "use strict";
  const TEXTS = {
    en: {
      title: "Import / export",
      exportH: "Export", exportHelp: "Every article as a Markdown file with its front matter, one folder per language (en/, fr/), in a zip.",
      status: "Articles", all: "all", published: "published", draft: "drafts", archived: "archived",
      download: "Download the .zip", exported: n => n + " articles exported.",
      importH: "Import", importHelp: "A .zip of Markdown (.md) or HTML (.html) articles. It is checked first; nothing is written until you apply it, and nothing at all if one file has an error.",
      file: "Archive (.zip)", check: "Check (dry run)", apply: "Apply the import", noFile: "Choose a .zip file first.",
      checking: "Checking…", applying: "Importing…",
      created: "created", updated: "updated", unchanged: "unchanged", ignored: "ignored (not articles)", errors: "errors",
      outcome: "Outcome", count: "Count", articles: "Articles", fileCol: "File", line: "Line", problem: "Problem",
      fix: "Fix these files and check again: nothing is imported while one file has an error.",
      nothing: "Nothing to import: every article is already as in the archive.",
      ready: "Ready: apply to write these changes.", applied: s => "Imported: " + s + ".",
      htmlH: "HTML to Markdown", htmlHelp: "Paste a web page or part of one: scripts and styles are dropped, links and images kept.",
      html: "HTML", convert: "Convert", markdown: "Markdown", pageTitle: "Title found:", copy: "Copy", copied: "Copied.",
      noTitle: "(none)",
    },
    fr: {
      title: "Import / export",
      exportH: "Exporter", exportHelp: "Chaque article en fichier Markdown avec son en-tête, un dossier par langue (en/, fr/), dans un zip.",
      status: "Articles", all: "tous", published: "publiés", draft: "brouillons", archived: "archivés",
      download: "Télécharger le .zip", exported: n => n + " articles exportés.",
      importH: "Importer", importHelp: "Un .zip d'articles Markdown (.md) ou HTML (.html). Il est d'abord vérifié ; rien n'est écrit avant que vous l'appliquiez, et rien du tout si un fichier a une erreur.",
      file: "Archive (.zip)", check: "Vérifier (essai à blanc)", apply: "Appliquer l'import", noFile: "Choisissez d'abord un fichier .zip.",
      checking: "Vérification…", applying: "Import en cours…",
      created: "créés", updated: "modifiés", unchanged: "inchangés", ignored: "ignorés (pas des articles)", errors: "erreurs",
      outcome: "Résultat", count: "Nombre", articles: "Articles", fileCol: "Fichier", line: "Ligne", problem: "Problème",
      fix: "Corrigez ces fichiers et vérifiez à nouveau : rien n'est importé tant qu'un fichier a une erreur.",
      nothing: "Rien à importer : chaque article est déjà tel que dans l'archive.",
      ready: "Prêt : appliquez pour écrire ces changements.", applied: s => "Importé : " + s + ".",
      htmlH: "HTML vers Markdown", htmlHelp: "Collez une page web ou une partie : scripts et styles sont retirés, liens et images gardés.",
      html: "HTML", convert: "Convertir", markdown: "Markdown", pageTitle: "Titre trouvé :", copy: "Copier", copied: "Copié.",
      noTitle: "(aucun)",
    },
  };
  const LANG = ((navigator.language || "en").slice(0, 2) === "fr") ? "fr" : "en";
  const T = TEXTS[LANG];
  let built = false;
  let checkedFile = null;  // the file the last dry run was about (apply sends the same)

  function build(section) {
    const { el } = tier0;
    const statusSel = el("select", { id: "io-status" },
      ["", "published", "draft", "archived"].map(v => el("option", { value: v }, v ? T[v] : T.all)));
    const exportBtn = el("button", { type: "button", class: "primary", id: "io-export" }, T.download);
    const fileInput = el("input", { type: "file", id: "io-file", accept: ".zip,application/zip" });
    const checkBtn = el("button", { type: "button", id: "io-check" }, T.check);
    const applyBtn = el("button", { type: "button", class: "primary", id: "io-apply", disabled: true }, T.apply);
    const report = el("div", { id: "io-report", "aria-live": "polite" });
    const htmlIn = el("textarea", { id: "io-html", rows: "8", cols: "80", spellcheck: "false" });
    const convertBtn = el("button", { type: "button", id: "io-convert" }, T.convert);
    const titleOut = el("output", { id: "io-title" });
    const mdOut = el("textarea", { id: "io-markdown", rows: "8", cols: "80", readonly: true, spellcheck: "false" });
    const copyBtn = el("button", { type: "button", id: "io-copy" }, T.copy);

    section.replaceChildren(
      el("h2", {}, T.exportH), el("p", {}, T.exportHelp),
      el("p", {}, el("label", {}, T.status + " ", statusSel), " ", exportBtn),
      el("h2", {}, T.importH), el("p", {}, T.importHelp),
      el("p", {}, el("label", {}, T.file + " ", fileInput), " ", checkBtn, " ", applyBtn),
      report,
      el("h2", {}, T.htmlH), el("p", {}, T.htmlHelp),
      el("p", {}, el("label", { for: "io-html" }, T.html)), htmlIn,
      el("p", {}, convertBtn),
      el("p", {}, T.pageTitle + " ", titleOut),
      el("p", {}, el("label", { for: "io-markdown" }, T.markdown)), mdOut,
      el("p", {}, copyBtn),
    );

    exportBtn.addEventListener("click", async () => {
      try {
        const q = statusSel.value ? "?status=" + encodeURIComponent(statusSel.value) : "";
        const r = await tier0.api("/api/editor/export" + q, { raw: true });
        const blob = await r.blob();
        const name = (/filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "") || [])[1] || "tier0-kb.zip";
        const url = URL.createObjectURL(blob);
        const a = el("a", { href: url, download: name });
        document.body.append(a); a.click(); a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        tier0.status(T.exported(r.headers.get("X-Tier0-Articles") || "?"));
      } catch (e) { tier0.status(e.message, true); }
    });

    fileInput.addEventListener("change", () => { applyBtn.disabled = true; report.replaceChildren(); checkedFile = null; });

    async function send(dryRun) {
      const file = fileInput.files && fileInput.files[0];
      if (!file) { tier0.status(T.noFile, true); return null; }
      tier0.status(dryRun ? T.checking : T.applying);
      return { file, result: await tier0.api("/api/editor/import" + (dryRun ? "?dry_run=true" : ""), {
        method: "POST", body: file, headers: { "Content-Type": "application/zip" } }) };
    }

    checkBtn.addEventListener("click", async () => {
      applyBtn.disabled = true;
      try {
        const sent = await send(true);
        if (!sent) return;
        const r = sent.result;
        show(report, r);
        const todo = r.created.length + r.updated.length;
        checkedFile = r.errors.length || !todo ? null : sent.file;
        applyBtn.disabled = !checkedFile;
        tier0.status(r.errors.length ? T.fix : (todo ? T.ready : T.nothing), r.errors.length > 0);
      } catch (e) { report.replaceChildren(); tier0.status(e.message, true); }
    });

    applyBtn.addEventListener("click", async () => {
      if (!checkedFile || fileInput.files[0] !== checkedFile) { applyBtn.disabled = true; return; }
      applyBtn.disabled = true;
      try {
        const r = (await send(false)).result;
        show(report, r);
        tier0.status(T.applied(r.created.length + " " + T.created + ", " + r.updated.length + " " + T.updated));
      } catch (e) { tier0.status(e.message, true); }
      checkedFile = null;
    });

    convertBtn.addEventListener("click", async () => {
      try {
        const r = await tier0.post("/api/editor/convert-html", { html: htmlIn.value });
        mdOut.value = r.markdown;
        titleOut.textContent = r.title || T.noTitle;
        tier0.status("");
      } catch (e) { tier0.status(e.message, true); }
    });

    copyBtn.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(mdOut.value); tier0.status(T.copied); }
      catch (e) { mdOut.select(); }
    });
  }

  function show(report, r) {
    const { el } = tier0;
    const rows = ["created", "updated", "unchanged", "ignored"].map(k =>
      el("tr", { dataset: { outcome: k } }, el("td", {}, T[k]), el("td", {}, String(r[k].length)),
        el("td", {}, r[k].slice(0, 50).join(", ") + (r[k].length > 50 ? " …" : ""))));
    const parts = [el("table", { id: "io-outcomes" },
      el("thead", {}, el("tr", {}, el("th", {}, T.outcome), el("th", {}, T.count), el("th", {}, T.articles))),
      el("tbody", {}, rows))];
    if (r.errors.length) {
      parts.push(el("h3", { class: "error" }, r.errors.length + " " + T.errors),
        el("table", { id: "io-errors" },
          el("thead", {}, el("tr", {}, el("th", {}, T.fileCol), el("th", {}, T.line), el("th", {}, T.problem))),
          el("tbody", {}, r.errors.map(p => el("tr", {}, el("td", {}, p.file), el("td", {}, p.line == null ? "" : String(p.line)),
            el("td", {}, p.message))))));
    }
    report.replaceChildren(...parts);
  }

  tier0.panel("io", {
    title: T.title,
    roles: ["editor", "lead", "admin"],
    show(section) { if (!built) { build(section); built = true; } },
  });
})();
