"""The editor console's API (/api/editor/...): KB editors write, try, publish and import articles and read what the
bot failed to answer. Every route needs a signed-in account allowed to edit the KB (api.deps.Editor)."""

from __future__ import annotations

from typing import Any, Dict, Optional

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Editor, Engine
from api.schemas import (
    ArticleContent,
    ArticleDetail,
    ArticleDiff,
    ArticleFields,
    ArticleList,
    ArticleNote,
    ConvertHtmlIn,
    ConvertHtmlOut,
    ImportReportOut,
    NewArticle,
    PreviewBody,
    PreviewOut,
    RollbackBody,
    TranslationLink,
)
from knowledge_base import transfer
from knowledge_base.markdown import ArticleData
from knowledge_base.render import render_markdown
from knowledge_base.service import KnowledgeBase
from tier0.errors import InvalidInput
from tier0.vocab import MAX_ARTICLE_PAGE, ArticleStatus, Language

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
from typing import Any, Optional  # noqa: E402  (this part's imports stay in its section)

from api.deps import Editor, Engine  # noqa: E402
from api.schemas import CalibrateIn, CalibrateOut, HealthOut, TryIn, TryOut  # noqa: E402


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
