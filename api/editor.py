"""The editor console's API (/api/editor/...): KB editors write, try, publish and import articles and read what the
bot failed to answer. Every route needs a signed-in account allowed to edit the KB (api.deps.Editor)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, Optional, Tuple

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Editor, Engine
from api.schemas import (
    ArticleContent,
    ArticleDetail,
    ArticleDiff,
    ArticleFeedback,
    ArticleFields,
    ArticleList,
    ArticleNote,
    CalibrateIn,
    CalibrateOut,
    ConvertHtmlIn,
    ConvertHtmlOut,
    FeedbackList,
    FromTicketBody,
    FromTicketOut,
    GapDecisionOut,
    GapReport,
    HealthOut,
    ImportReportOut,
    NewArticle,
    PreviewBody,
    PreviewOut,
    RollbackBody,
    TranslationLink,
    TryIn,
    TryOut,
)
from bot import gaps as content_gaps
from bot import usage as article_usage
from bot.ticket_article import from_ticket
from knowledge_base import transfer
from knowledge_base.markdown import ArticleData
from knowledge_base.render import render_markdown
from knowledge_base.service import KnowledgeBase
from tier0.db import utcnow
from tier0.errors import InvalidInput, NotFound
from tier0.vocab import MAX_ARTICLE_PAGE, MAX_FEEDBACK_DAYS, ArticleStatus, Language

router = APIRouter(prefix="/api/editor", tags=["editor"])

# -- articles, versions, publish (#22 A) --------------------------------------------------------------------------
ARTICLE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
VERSION_REF = r"^([0-9]{1,9}|live|draft)$"


def _kb(engine: Any) -> KnowledgeBase:
    return engine.services.kb


def _check_queue(engine: Any, queue: Optional[str]) -> None:
    """A hand-off queue an editor names must be one of the desk file's."""
    queues = engine.services.desk_config.queues
    if queue and queue.strip() and queue.strip() not in queues:
        raise InvalidInput(f"hand-off queue {queue!r} is not one of the desk's: {', '.join(sorted(queues))}")


def _detail(kb: KnowledgeBase, article_id: str) -> Dict[str, Any]:
    row = kb.summary(article_id)
    live = kb.get(article_id)
    return {
        "article": row,
        "live": live.__dict__ if live.status == ArticleStatus.PUBLISHED else None,
        "draft": d.__dict__ if (d := kb.draft(article_id)) is not None else None,
        "versions": kb.versions(article_id),
        "translations": kb.translations(article_id),
    }


@router.get("/articles", response_model=ArticleList)
def list_articles(
    engine: Engine,
    editor: Editor,
    q: Optional[str] = Query(None, max_length=200, description="in the title, body or id, any case"),
    lang: Optional[str] = Query(None, regex=Language.pattern()),
    status: Optional[str] = Query(None, regex=ArticleStatus.pattern()),
    category: Optional[str] = Query(None, max_length=100),
    limit: int = Query(200, ge=1, le=MAX_ARTICLE_PAGE),
    offset: int = Query(0, ge=0, le=10**9),
) -> Any:
    """Articles, most recently changed first: each with its status, live version, whether a draft is pending, who
    changed it last."""
    rows, total = _kb(engine).search(q=q or None, lang=lang, status=status, category=category or None,
                                     limit=limit, offset=offset)
    return {"total": total, "articles": rows}


@router.post("/articles", response_model=ArticleDetail, status_code=201)
def create_article(body: NewArticle, engine: Engine, editor: Editor) -> Any:
    """A new article, as a draft (publish it to answer from it). 409 if the id exists; no id: made from the title."""
    _check_queue(engine, body.handoff)
    kb = _kb(engine)
    art = kb.create(
        ArticleData(id=body.id or "", title=body.title, lang=body.lang, body=body.body or "", category=body.category,
                    tags=list(body.tags or []), questions=list(body.questions or []), handoff=body.handoff),
        author=editor.username, note=body.note, translation_of=body.translation_of)
    return _detail(kb, art.id)


@router.get("/articles/{article_id}", response_model=ArticleDetail)
def read_article(engine: Engine, editor: Editor, article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """The article: its live content (if published), its working draft (if any), its versions and translations."""
    return _detail(_kb(engine), article_id)


@router.put("/articles/{article_id}/draft", response_model=ArticleContent)
def save_draft(body: ArticleFields, engine: Engine, editor: Editor,
               article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """Save the working draft (the fields sent over the current draft); the live content does not change."""
    fields = body.dict(exclude_unset=True)
    note = fields.pop("note", None)
    if "handoff" in fields:
        _check_queue(engine, fields["handoff"])
    for name in ("tags", "questions"):
        if name in fields and fields[name] is None:
            fields[name] = []
    return _kb(engine).save_draft(article_id, fields, author=editor.username, note=note).__dict__


@router.post("/articles/{article_id}/publish", response_model=ArticleDetail)
def publish_article(engine: Engine, editor: Editor, body: Optional[ArticleNote] = None,
                    article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """The draft becomes the live content (a new version): the bot answers from it. 409 if there is no draft."""
    kb = _kb(engine)
    kb.publish(article_id, author=editor.username, note=body.note if body else None)
    return _detail(kb, article_id)


@router.post("/articles/{article_id}/archive", response_model=ArticleDetail)
def archive_article(engine: Engine, editor: Editor, body: Optional[ArticleNote] = None,
                    article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """No longer answered from (409 if archived already); unarchive brings it back as a draft."""
    kb = _kb(engine)
    kb.archive(article_id, author=editor.username, note=body.note if body else None)
    return _detail(kb, article_id)


@router.post("/articles/{article_id}/unarchive", response_model=ArticleDetail)
def unarchive_article(engine: Engine, editor: Editor, body: Optional[ArticleNote] = None,
                      article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """An archived article back as a draft (409 if it is not archived)."""
    kb = _kb(engine)
    kb.unarchive(article_id, author=editor.username, note=body.note if body else None)
    return _detail(kb, article_id)


@router.get("/articles/{article_id}/versions", response_model=ArticleDetail)
def article_versions(engine: Engine, editor: Editor, article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """Every version, oldest first, with its author, note and status (with the article, as GET articles/{id})."""
    return _detail(_kb(engine), article_id)


@router.get("/articles/{article_id}/diff", response_model=ArticleDiff)
def article_diff(
    engine: Engine,
    editor: Editor,
    article_id: str = Path(..., regex=ARTICLE_ID),
    from_: Optional[str] = Query(None, alias="from", regex=VERSION_REF,
                                 description="a version number, 'live' or 'draft'; default: live (if published, "
                                             "else version 1)"),
    to: Optional[str] = Query(None, regex=VERSION_REF,
                              description="a version number, 'live' or 'draft'; default: the draft if any, else live"),
) -> Any:
    """What changed between two versions, field by field (a unified diff of each changed field)."""
    kb = _kb(engine)
    row = kb.summary(article_id)
    if from_ is None:
        from_ = "live" if row["status"] == ArticleStatus.PUBLISHED else "1"
    if to is None:
        to = "draft" if row["has_draft"] else "live"
    return {"from": from_, "to": to, "fields": kb.diff(article_id, from_, to)}


@router.post("/articles/{article_id}/rollback", response_model=ArticleDetail)
def rollback_article(body: RollbackBody, engine: Engine, editor: Editor,
                     article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """Publish an old version again: a new version equal to it, live at once. A pending draft stays pending."""
    kb = _kb(engine)
    kb.rollback(article_id, body.version, author=editor.username, note=body.note)
    return _detail(kb, article_id)


@router.post("/articles/{article_id}/translation", response_model=ArticleDetail)
def link_translation(body: TranslationLink, engine: Engine, editor: Editor,
                     article_id: str = Path(..., regex=ARTICLE_ID)) -> Any:
    """Make it the translation of another article (one article a language in a group), or of none (null)."""
    kb = _kb(engine)
    kb.link_translation(article_id, body.of, author=editor.username)
    return _detail(kb, article_id)


@router.post("/preview", response_model=PreviewOut)
def preview(body: PreviewBody, editor: Editor) -> Any:
    """Markdown rendered and sanitised as the widget will show it (the editor's live preview)."""
    return {"html": render_markdown(body.body)}



# -- try it, calibration health, refit (#22 C) --------------------------------------------------------------------


@router.post("/try", response_model=TryOut)
def try_it(body: TryIn, engine: Engine, _editor: Editor) -> Any:
    """What the bot would do with a customer's question, with a draft (``article``, its fields as in the editor)
    published beside the live articles: the decision, the candidates with their confidence, the draft's rank.
    Nothing is stored, the live index and calibration are not changed."""
    from bot.tryit import try_question

    draft = None
    if body.article is not None:
        draft = body.article.dict()
        draft["lang"] = str(body.article.lang)
    return try_question(engine.services, body.question, str(body.language) if body.language else None, draft)


@router.get("/health", response_model=HealthOut)
def calibration_health(engine: Engine, _editor: Editor) -> Any:
    """What the calibration knows about the KB: near-duplicate articles, phrasings that find another article
    (confusions), articles none of their own phrasings finds (unreached), each with the articles' ids."""
    from bot.tryit import health

    return health(engine.services)


@router.post("/calibrate", response_model=CalibrateOut, response_model_exclude_none=True)
def calibrate(engine: Engine, _editor: Editor, body: Optional[CalibrateIn] = None) -> Any:
    """Refit the calibration now, with the customers' and agents' feedback gathered; returns the precision-coverage
    curves before and after (measured on the same questions). It takes as long as a fit (a minute or two on the
    sample KB). ``dry_run``: no fit, the current curve and whether a refit is due. 409 while another refit runs."""
    from bot.tryit import recalibrate

    return recalibrate(engine.services, dry_run=bool(body and body.dry_run))



# -- article feedback, content gaps, ticket to article (#22 D) ----------------------------------------------------
def _period(engine: Any, since: Optional[dt.date], until: Optional[dt.date]) -> Tuple[dt.datetime, dt.datetime]:
    """[since 00:00, the day after until 00:00) in UTC; by default the last TIER0_GAPS_DEFAULT_DAYS days."""
    try:
        until = until or utcnow().date()  # the messages' clock (tier0.db), which the figures mostly read
        since = since or until - dt.timedelta(days=engine.services.settings.gaps_default_days - 1)
        end = dt.datetime.combine(until, dt.time()) + dt.timedelta(days=1)
    except OverflowError:
        raise InvalidInput("the period must lie between the years 1 and 9999") from None
    if since > until:
        raise InvalidInput(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_FEEDBACK_DAYS:
        raise InvalidInput(f"a period of at most {MAX_FEEDBACK_DAYS} days, please (got {(until - since).days + 1})")
    return dt.datetime.combine(since, dt.time()), end


SINCE = Query(None, description="first day (YYYY-MM-DD, UTC); default: TIER0_GAPS_DEFAULT_DAYS days before until")
UNTIL = Query(None, description="last day included (YYYY-MM-DD, UTC); default: today")
GAP_KEY = Path(..., regex=content_gaps.KEY_PATTERN, description="a group's key, as the report gives it")


def _article_rows(engine: Any, figures: Dict[str, article_usage.ArticleFigures],
                  lang: Optional[str]) -> list:
    kb = engine.services.kb
    known = {a.id: a for a in kb.published()}
    rows = []
    for a in sorted(set(known) | set(figures)):
        art = known.get(a)
        if art is None:
            try:
                art = kb.get(a)
            except NotFound:
                art = None
        if lang and (art is None or art.lang != lang):
            continue
        f = figures.get(a) or article_usage.ArticleFigures(a)
        rows.append({**f.as_dict(), "title": art.title if art else None, "lang": art.lang if art else None,
                     "status": art.status if art else None})
    rows.sort(key=lambda r: (-r["answers"], -r["views"], r["article_id"]))
    return rows


@router.get("/feedback", response_model=FeedbackList)
def feedback_list(engine: Engine, editor: Editor, since: Optional[dt.date] = SINCE, until: Optional[dt.date] = UNTIL,
                  lang: Optional[Language] = None) -> Any:
    """Every published article (and any other with figures) with its views, answers, "did this help?" yes/no,
    hand-offs after its answers and agents' flags over the period, most answers first."""
    start, end = _period(engine, since, until)
    figures = article_usage.figures(engine.services.db, start, end)
    return {"since": start.date().isoformat(), "until": (end - dt.timedelta(days=1)).date().isoformat(),
            "articles": _article_rows(engine, figures, str(lang) if lang else None)}


@router.get("/articles/{article_id}/feedback", response_model=ArticleFeedback)
def article_feedback(article_id: str, engine: Engine, editor: Editor, since: Optional[dt.date] = SINCE,
                     until: Optional[dt.date] = UNTIL) -> Any:
    """One article's figures over the period, with the agents' flags and their notes (newest first)."""
    art = engine.services.kb.get(article_id)  # 404 when it does not exist
    start, end = _period(engine, since, until)
    f = article_usage.figures(engine.services.db, start, end, [art.id])[art.id]
    return {**f.as_dict(), "title": art.title, "lang": art.lang, "status": art.status}


def _gap_report(engine: Any, since: Optional[dt.date] = None, until: Optional[dt.date] = None,
                lang: Optional[str] = None, min_conversations: int = 1, include_handled: bool = False) -> Dict:
    s = engine.services
    start, end = _period(engine, since, until)
    groups = content_gaps.report(s.db, s.index, start, end, lang=lang, distance=s.settings.gaps_distance,
                                 max_questions=s.settings.gaps_max_questions, min_conversations=min_conversations,
                                 include_handled=include_handled)
    return {"since": start.date().isoformat(), "until": (end - dt.timedelta(days=1)).date().isoformat(),
            "distance": s.settings.gaps_distance, "questions": sum(g.questions for g in groups),
            "groups": groups}


@router.get("/gaps", response_model=GapReport)
def gaps_report(engine: Engine, editor: Editor, since: Optional[dt.date] = SINCE, until: Optional[dt.date] = UNTIL,
                lang: Optional[Language] = None,
                min: int = Query(1, ge=1, le=1000, description="groups of at least this many conversations"),
                all: bool = Query(False, description="also the groups dismissed or drafted already")) -> Any:
    """Customers' questions the bot did not answer (or answered, then handed off), grouped by meaning per language,
    the groups that would have saved the most conversations first (bot.gaps; docs/editor.md)."""
    out = _gap_report(engine, since, until, str(lang) if lang else None, min, all)
    out["groups"] = [g.as_dict() for g in out["groups"]]
    return out


def _find_gap(engine: Any, key: str) -> content_gaps.Gap:
    return content_gaps.find(key, lambda: _gap_report(engine, include_handled=True)["groups"])


@router.post("/gaps/{key}/dismiss", response_model=GapDecisionOut)
def dismiss_gap(engine: Engine, editor: Editor, key: str = GAP_KEY) -> Any:
    """Not worth an article: the group leaves the report (and stays out when found again with more questions)."""
    g = _find_gap(engine, key)
    content_gaps.dismiss(engine.services.db, g, editor.username)
    return {"key": g.key, "state": g.state}


def _draft_out(art: Any) -> Dict[str, Any]:
    return {"id": art.id, "title": art.title, "lang": art.lang, "status": art.status, "questions": art.questions,
            "body": art.body}


@router.post("/gaps/{key}/draft", response_model=GapDecisionOut, status_code=201)
def draft_from_gap(engine: Engine, editor: Editor, key: str = GAP_KEY) -> Any:
    """A draft article prefilled from the group: its representative question as title, the examples as alternate
    questions (not answered from until published)."""
    g = _find_gap(engine, key)
    art = content_gaps.draft(engine.services.db, engine.services.kb, g, editor.username)
    return {"key": g.key, "state": g.state, "article": _draft_out(art)}


@router.post("/from-ticket/{reference}", response_model=FromTicketOut)
def article_from_ticket(reference: str, engine: Engine, editor: Editor, body: Optional[FromTicketBody] = None) -> Any:
    """A resolved ticket made a draft: the customer's question as alternate question, the agents' replies as body.
    First the question is searched: articles the bot would already answer it from stop it (created: false) unless
    ``force``."""
    s = engine.services
    body = body or FromTicketBody()
    ticket = s.handoff.get(reference)
    return from_ticket(ticket, s.db, s.conversations, s.kb, s.index, lambda lg: s.turns.policy_for(lg).answer_threshold,
                       editor.username, question=body.question, title=body.title, force=body.force)



# -- import, export, rendering (#22 F) ----------------------------------------------------------------------------
_ZIP = {"schema": {"type": "string", "format": "binary"}}
_IMPORT_BODY = {"required": True, "content": {
    "application/zip": _ZIP,
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": {"type": "object", "required": ["files"], "properties": {"files": {
        "type": "array", "items": {"type": "object", "required": ["name", "content"], "properties": {
            "name": {"type": "string", "description": "path inside the KB: en/an-article.md, fr/page.html"},
            "content": {"type": "string", "description": "the file's text"}}}}}}},
}}


@router.get("/export", response_class=Response,
            responses={200: {"content": {"application/zip": _ZIP},
                             "description": "a zip of Markdown articles with front matter, <lang>/<id>.md"}})
def export_kb(editor: Editor, engine: Engine,
              status: Optional[ArticleStatus] = Query(None, description="only articles of this status (default: all)")
              ) -> Response:
    """The knowledge base as a zip of Markdown files (one folder per language), re-importable as it is."""
    data, count = transfer.export_zip(engine.services.kb, status.value if status else None)
    name = f"tier0-kb-{status.value}.zip" if status else "tier0-kb.zip"
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        "X-Tier0-Articles": str(count)})


@router.post("/import", response_model=ImportReportOut, openapi_extra={"requestBody": _IMPORT_BODY})
async def import_kb(request: Request, editor: Editor, engine: Engine,
                    dry_run: bool = Query(False, description="only say what the import would do")) -> ImportReportOut:
    """Import a zip of Markdown (.md) and HTML (.html) articles — the body itself, or the one file of a multipart
    form, or JSON files — all or nothing: with any file in error nothing is written (422 naming them); the dry run
    reports created / updated / unchanged / errors (file:line) and writes nothing."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    kb = engine.services.kb
    limits = transfer.ImportLimits.from_settings(engine.services.settings)

    def work() -> transfer.ImportPlan:
        entries, ignored = transfer.read_upload(body, content_type, limits)
        plan = transfer.plan_import(kb, entries, ignored)
        return plan if dry_run else transfer.apply_import(kb, plan)

    plan = await run_in_threadpool(work)
    return ImportReportOut(dry_run=dry_run, **plan.as_dict())


@router.post("/convert-html", response_model=ConvertHtmlOut)
def convert_html(body: ConvertHtmlIn, editor: Editor) -> ConvertHtmlOut:
    """HTML (a page or a fragment) to Markdown for an article's body: sanitised first, links and images kept,
    scripts and styles dropped."""
    return ConvertHtmlOut(markdown=transfer.html_to_markdown(body.html), title=transfer.html_title(body.html))
