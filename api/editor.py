"""The editor console's API (/api/editor/...): KB editors write, try, publish and import articles and read what the
bot failed to answer. Every route needs a signed-in account allowed to edit the KB (api.deps.Editor)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import Editor, Engine
from api.schemas import ConvertHtmlIn, ConvertHtmlOut, ImportReportOut
from knowledge_base import transfer
from tier0.vocab import ArticleStatus

router = APIRouter(prefix="/api/editor", tags=["editor"])

# -- articles, versions, publish (#22 A) --------------------------------------------------------------------------


# -- try it, calibration health, refit (#22 C) --------------------------------------------------------------------


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
