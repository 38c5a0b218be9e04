// #22 E: the escalation dashboard, a panel of the console (see console.js: tier0.panel(name, {title, roles, show, hide})).
// Reads GET /api/analytics/summary for a period and a language; draws its figures as tiles, tables and inline SVG
// plots (no chart library: SVG elements made with createElementNS, coloured by analytics.css — CSP forbids inline
// style); every table downloads as CSV (GET /api/analytics/{figure}.csv, fetched with the session's token).
// Interface texts in English and French (navigator language, or the picker; remembered in localStorage).
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const TEXTS = {
    en: {
      title: "Dashboard", from: "From", to: "To", language: "Language", all: "all languages", show: "Show",
      ui: "Interface", loading: "Loading…", loaded: "Figures from {from} to {to} ({tz}).", csv: "CSV",
      nodata: "Nothing in this period.",
      t_conversations: "Conversations", t_answered: "Answered by the bot", t_confirmed: "Resolved by the bot (confirmed)",
      t_assumed: "Resolved by the bot (assumed)", t_pending: "not known yet: {n}", t_handoff: "Hand-off rate",
      t_handed_sub: "{n} conversations handed off", t_tickets: "Tickets", t_escalations: "Escalations", t_esc_split: "{f} functional · {h} hierarchical",
      t_reopened: "Reopened", t_frt: "First response (median)", t_res: "Resolution (median)",
      t_breaches: "{n} SLA breaches", t_helpful: "Helpful (yes / answered yes or no)", t_csat: "Satisfaction (CSAT)",
      t_csat_sub: "{n} answers · {s} gave 4-5", min: "{n} min",
      p_daily: "Per day", s_conversations: "conversations", s_resolved: "resolved by the bot", s_handed: "handed off",
      p_reasons: "Hand-off reasons", p_sla: "SLA breaches per level", s_frt: "first response", s_res: "resolution",
      p_agents: "Escalations per agent", s_functional: "functional", s_hierarchical: "hierarchical",
      p_csat: "Satisfaction per day (mean 1-5)",
      f_languages: "Per language", f_queues: "Tickets per entry queue", f_sla: "SLA per level",
      f_escalations: "Escalations per level and path", f_agents: "Escalations per agent",
      f_satisfaction: "Satisfaction", f_reasons: "Hand-off reasons", f_daily: "Per day", f_totals: "Totals",
    },
    fr: {
      title: "Tableau de bord", from: "Du", to: "Au", language: "Langue", all: "toutes les langues", show: "Afficher",
      ui: "Interface", loading: "Chargement…", loaded: "Chiffres du {from} au {to} ({tz}).", csv: "CSV",
      nodata: "Rien sur cette période.",
      t_conversations: "Conversations", t_answered: "Réponses du bot", t_confirmed: "Résolues par le bot (confirmé)",
      t_assumed: "Résolues par le bot (supposé)", t_pending: "pas encore connu : {n}", t_handoff: "Taux de transfert",
      t_handed_sub: "{n} conversations transférées", t_tickets: "Tickets", t_escalations: "Escalades", t_esc_split: "{f} fonctionnelles · {h} hiérarchiques",
      t_reopened: "Réouverts", t_frt: "Première réponse (médiane)", t_res: "Résolution (médiane)",
      t_breaches: "{n} dépassements de SLA", t_helpful: "Utile (oui / oui ou non)", t_csat: "Satisfaction (CSAT)",
      t_csat_sub: "{n} réponses · {s} ont donné 4-5", min: "{n} min",
      p_daily: "Par jour", s_conversations: "conversations", s_resolved: "résolues par le bot", s_handed: "transférées",
      p_reasons: "Motifs de transfert", p_sla: "Dépassements de SLA par niveau", s_frt: "première réponse",
      s_res: "résolution", p_agents: "Escalades par agent", s_functional: "fonctionnelles",
      s_hierarchical: "hiérarchiques", p_csat: "Satisfaction par jour (moyenne 1-5)",
      f_languages: "Par langue", f_queues: "Tickets par file d'entrée", f_sla: "SLA par niveau",
      f_escalations: "Escalades par niveau et type", f_agents: "Escalades par agent",
      f_satisfaction: "Satisfaction", f_reasons: "Motifs de transfert", f_daily: "Par jour", f_totals: "Totaux",
    },
  };
  const UI_KEY = "tier0.analytics.lang";
  let ui = localStorage.getItem(UI_KEY) || ((navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en");
  const tr = (key, vars) => String((TEXTS[ui] || TEXTS.en)[key] || TEXTS.en[key] || key)
    .replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] !== undefined ? vars[k] : ""));

  const state = { from: null, to: null, lang: "", report: null, section: null };
  const el = (...a) => tier0.el(...a);
  const num = v => (v === null || v === undefined ? "—" : String(v));
  const pct = v => (v === null || v === undefined ? "—" : Math.round(v * 1000) / 10 + " %");
  const minutes = v => (v === null || v === undefined ? "—" : tr("min", { n: v }));

  function query() {
    const q = new URLSearchParams();
    if (state.from) q.set("from", state.from);
    if (state.to) q.set("to", state.to);
    if (state.lang) q.set("lang", state.lang);
    return q.toString();
  }

  // -- SVG --------------------------------------------------------------------------------------------------------
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== undefined && v !== null) e.setAttribute(k, v); });
    children.forEach(c => e.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return e;
  }
  const W = 560, H = 220, M = { l: 40, r: 12, t: 12, b: 46 };

  // the axis: 4 steps up to a round top (whole numbers for counts; `fixed`: a scale's own top, e.g. 5 for CSAT)
  function frame(figure, label, maxY, fixed) {
    const root = svg("svg", { class: "plot", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label,
                              "data-figure": figure });
    root.append(svg("title", {}, label));
    const top = fixed || niceMax(maxY);
    for (let i = 0; i <= 4; i++) {
      const v = top * i / 4, y = yOf(v, top);
      root.append(svg("line", { class: "grid", x1: M.l, x2: W - M.r, y1: y, y2: y }));
      root.append(svg("text", { class: "tick", x: M.l - 4, y: y + 4, "text-anchor": "end" }, fmtTick(v)));
    }
    return { root, top };
  }
  const niceMax = m => {
    if (!(m > 0)) return 4;
    const step = Math.max(1, Math.ceil(m / 4));
    const p = Math.pow(10, Math.floor(Math.log10(step)));
    return [1, 2, 2.5, 5, 10].map(k => Math.max(1, Math.ceil(k * p))).find(s => s >= step) * 4;
  };
  const fmtTick = v => (Math.round(v * 100) / 100).toString();
  const yOf = (v, top) => H - M.b - (H - M.t - M.b) * (v / top);

  function legend(root, series) {
    series.forEach((s, i) => {
      const x = M.l + i * 170;
      root.append(svg("rect", { class: "swatch " + s.cls, x, y: H - 14, width: 10, height: 10 }));
      root.append(svg("text", { class: "legend", x: x + 14, y: H - 5 }, s.label));
    });
  }

  // lines: one series per key over labelled points (the days)
  function lines(figure, label, labels, series, fixed) {
    const max = Math.max(0, ...series.flatMap(s => s.values.filter(v => v !== null)));
    const { root, top } = frame(figure, label, max, fixed);
    const step = labels.length > 1 ? (W - M.l - M.r) / (labels.length - 1) : 0;
    const xOf = i => M.l + (labels.length > 1 ? i * step : (W - M.l - M.r) / 2);
    const every = Math.max(1, Math.ceil(labels.length / 8));
    labels.forEach((l, i) => {
      if (i % every === 0) root.append(svg("text", { class: "tick", x: xOf(i), y: H - M.b + 14, "text-anchor": "middle" }, l.slice(5)));
    });
    series.forEach(s => {
      const pts = s.values.map((v, i) => (v === null ? null : [xOf(i), yOf(v, top)]));
      const d = pts.filter(Boolean).map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
      if (d) root.append(svg("path", { class: "line " + s.cls, d, "data-series": s.key }));
      pts.forEach((p, i) => {
        if (!p) return;
        root.append(svg("circle", { class: "dot " + s.cls, cx: p[0].toFixed(1), cy: p[1].toFixed(1), r: 3,
                                    "data-series": s.key, "data-label": labels[i], "data-value": s.values[i] },
                        svg("title", {}, `${labels[i]} · ${s.label}: ${s.values[i]}`)));
      });
    });
    legend(root, series);
    return root;
  }

  // bars: groups (labels) of one bar per series
  function bars(figure, label, labels, series) {
    const max = Math.max(0, ...series.flatMap(s => s.values));
    const { root, top } = frame(figure, label, max);
    const slot = (W - M.l - M.r) / Math.max(1, labels.length);
    const bw = Math.max(4, Math.min(40, slot * 0.8 / series.length));
    labels.forEach((l, i) => {
      const x0 = M.l + slot * i + (slot - bw * series.length) / 2;
      root.append(svg("text", { class: "tick", x: M.l + slot * (i + 0.5), y: H - M.b + 14, "text-anchor": "middle" },
                      String(l).slice(0, 18)));
      series.forEach((s, j) => {
        const v = s.values[i] || 0, y = yOf(v, top);
        root.append(svg("rect", { class: "bar " + s.cls, x: (x0 + j * bw).toFixed(1), y: y.toFixed(1), width: (bw - 2).toFixed(1),
                                  height: Math.max(0, H - M.b - y).toFixed(1), "data-series": s.key, "data-label": l,
                                  "data-value": v },
                        svg("title", {}, `${l} · ${s.label}: ${v}`)));
      });
    });
    if (series.length > 1) legend(root, series);
    return root;
  }

  // -- the page ---------------------------------------------------------------------------------------------------
  function tile(key, value, sub, id) {
    return el("div", { class: "tile", "data-tile": id },
      el("div", { class: "tile-label" }, tr(key)), el("div", { class: "tile-value" }, value),
      sub ? el("div", { class: "tile-sub" }, sub) : null);
  }

  function tiles(t) {
    return el("div", { class: "tiles" },
      tile("t_conversations", num(t.conversations), null, "conversations"),
      tile("t_answered", num(t.answered), null, "answered"),
      tile("t_confirmed", num(t.resolved_confirmed), null, "resolved_confirmed"),
      tile("t_assumed", num(t.resolved_assumed), tr("t_pending", { n: t.resolution_pending }), "resolved_assumed"),
      tile("t_handoff", pct(t.handoff_rate), tr("t_handed_sub", { n: t.handed_off }), "handoff_rate"),
      tile("t_tickets", num(t.tickets), null, "tickets"),
      tile("t_escalations", num(t.escalations), tr("t_esc_split", { f: t.functional_escalations, h: t.hierarchical_escalations }), "escalations"),
      tile("t_reopened", num(t.reopened), null, "reopened"),
      tile("t_frt", minutes(t.first_response_median_min), tr("t_breaches", { n: t.first_response_breaches }), "first_response"),
      tile("t_res", minutes(t.resolution_median_min), tr("t_breaches", { n: t.resolution_breaches }), "resolution"),
      tile("t_helpful", pct(t.helpful_share), `${t.helpful_yes} / ${t.helpful_yes + t.helpful_no}`, "helpful"),
      tile("t_csat", t.csat_mean === null ? "—" : `${t.csat_mean} / 5`, tr("t_csat_sub", { n: t.csat_answers, s: pct(t.csat_share_4_5) }), "csat"));
  }

  async function downloadCsv(figure) {
    try {
      const r = await tier0.api(`/api/analytics/${figure}.csv?${query()}`, { raw: true });
      const blob = await r.blob();
      const m = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
      const a = el("a", { href: URL.createObjectURL(blob), download: m ? m[1] : figure + ".csv" });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    } catch (e) { tier0.status(e.message, true); }
  }

  function figureTable(figure, rows, columns) {
    const head = el("div", { class: "fig-head" }, el("h3", {}, tr("f_" + figure)),
      el("button", { type: "button", class: "csv", "data-csv": figure, onclick: () => downloadCsv(figure) }, tr("csv")));
    if (!rows.length) return el("section", { class: "figure", "data-table": figure }, head, el("p", { class: "muted" }, tr("nodata")));
    const cols = columns || Object.keys(rows[0]);
    return el("section", { class: "figure" + (figure === "daily" ? " wide" : ""), "data-table": figure }, head,
      el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, cols.map(c => el("th", { scope: "col" }, c.replace(/_/g, " "))))),
        el("tbody", {}, rows.map(r => el("tr", {}, cols.map(c => el("td", {}, num(r[c])))))))));
  }

  function plots(rep) {
    const days = rep.daily.map(d => d.day);
    const sla = rep.sla.filter(r => r.level !== "all");
    return el("div", { class: "plots" },
      el("figure", {}, el("figcaption", {}, tr("p_daily")), lines("daily", tr("p_daily"), days, [
        { key: "conversations", label: tr("s_conversations"), cls: "s1", values: rep.daily.map(d => d.conversations) },
        { key: "resolved", label: tr("s_resolved"), cls: "s2", values: rep.daily.map(d => d.resolved_confirmed + d.resolved_assumed) },
        { key: "handed_off", label: tr("s_handed"), cls: "s3", values: rep.daily.map(d => d.handed_off) }])),
      el("figure", {}, el("figcaption", {}, tr("p_reasons")), bars("reasons", tr("p_reasons"), rep.reasons.map(r => r.reason), [
        { key: "tickets", label: tr("t_tickets"), cls: "s3", values: rep.reasons.map(r => r.tickets) }])),
      el("figure", {}, el("figcaption", {}, tr("p_sla")), bars("sla", tr("p_sla"), sla.map(r => "L" + r.level), [
        { key: "first_response_breaches", label: tr("s_frt"), cls: "s4", values: sla.map(r => r.first_response_breaches) },
        { key: "resolution_breaches", label: tr("s_res"), cls: "s3", values: sla.map(r => r.resolution_breaches) }])),
      el("figure", {}, el("figcaption", {}, tr("p_agents")), bars("agents", tr("p_agents"), rep.agents.map(r => r.agent), [
        { key: "functional", label: tr("s_functional"), cls: "s1", values: rep.agents.map(r => r.functional) },
        { key: "hierarchical", label: tr("s_hierarchical"), cls: "s4", values: rep.agents.map(r => r.hierarchical) }])),
      el("figure", {}, el("figcaption", {}, tr("p_csat")), lines("csat", tr("p_csat"), days, [
        { key: "csat_mean", label: tr("t_csat"), cls: "s2", values: rep.daily.map(d => d.csat_mean) }], 5)));
  }

  function controls() {
    const from = el("input", { type: "date", id: "an-from", value: state.from, required: true });
    const to = el("input", { type: "date", id: "an-to", value: state.to, required: true });
    const lang = el("select", { id: "an-lang" }, el("option", { value: "" }, tr("all")),
      el("option", { value: "en" }, "English"), el("option", { value: "fr" }, "Français"));
    lang.value = state.lang;
    const uiPick = el("select", { id: "an-ui" }, el("option", { value: "en" }, "English"), el("option", { value: "fr" }, "Français"));
    uiPick.value = ui;
    uiPick.addEventListener("change", () => { ui = uiPick.value; localStorage.setItem(UI_KEY, ui); render(); });
    const form = el("form", { class: "controls", id: "an-form" },
      el("label", {}, tr("from") + " ", from), el("label", {}, tr("to") + " ", to),
      el("label", {}, tr("language") + " ", lang), el("button", { type: "submit", class: "primary", id: "an-show" }, tr("show")),
      el("label", { class: "ui-lang" }, tr("ui") + " ", uiPick));
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      state.from = from.value; state.to = to.value; state.lang = lang.value;
      load();
    });
    return form;
  }

  function render() {
    const s = state.section;
    if (!s) return;
    document.documentElement.lang = ui;
    const rep = state.report;
    const parts = [el("h2", {}, tr("title")), controls()];
    if (rep) {
      parts.push(tiles(rep.totals), plots(rep),
        el("div", { class: "tables" },
          figureTable("languages", rep.languages, ["language", "conversations", "answered", "resolved_confirmed", "resolved_assumed", "handed_off", "handoff_rate", "helpful_share"]),
          figureTable("reasons", rep.reasons), figureTable("queues", rep.queues), figureTable("sla", rep.sla),
          figureTable("escalations", rep.escalations), figureTable("agents", rep.agents),
          figureTable("satisfaction", rep.satisfaction),
          figureTable("daily", rep.daily, ["day", "conversations", "answered", "resolved_confirmed", "resolved_assumed", "handed_off", "tickets", "escalations", "first_response_breaches", "resolution_breaches", "csat_mean"])));
    }
    s.replaceChildren(...parts);
    s.dataset.loaded = rep ? "yes" : "no";
  }

  async function load() {
    tier0.status(tr("loading"));
    try {
      state.report = await tier0.api("/api/analytics/summary?" + query());
      const p = state.report.period;
      state.from = p.from; state.to = p.to;
      tier0.status(tr("loaded", { from: p.from, to: p.to, tz: p.timezone }));
    } catch (e) {
      tier0.status(e.message, true);
    }
    render();
  }

  tier0.panel("dashboard", {
    title: TEXTS[ui].title,
    roles: ["lead", "admin"],
    show: async section => {
      state.section = section;
      if (!state.report) await load(); else render();
    },
  });
})();
