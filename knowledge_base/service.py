"""The knowledge base: articles in SQL, imported from Markdown, versioned."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from sqlalchemy import func, select

from knowledge_base.markdown import STATUS_CHOICES, ArticleData, parse_article
from knowledge_base.models import Article, ArticleVersion
from tier0.db import Database
from tier0.errors import ArticleFormatError, InvalidInput, NotFound
from tier0.vocab import ArticleStatus

log = logging.getLogger("tier0.kb")


@dataclass
class ImportReport:
    created: List[str] = field(default_factory=list)
    updated: List[str] = field(default_factory=list)
    unchanged: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.errors)} errors"
        )


def article_data(a: Article) -> ArticleData:
    return ArticleData(
        id=a.id,
        title=a.title,
        lang=a.lang,
        body=a.body,
        category=a.category,
        tags=list(a.tags or []),
        questions=list(a.questions or []),
        handoff=a.handoff_queue,
        status=a.status,
        version=a.version,
    )


class KnowledgeBase:
    """Stores articles; notifies listeners (the search index) when published content changes."""

    def __init__(self, db: Database):
        self.db = db
        self._listeners: List[Callable[[List[str]], None]] = []

    def on_change(self, callback: Callable[[List[str]], None]) -> None:
        """``callback(ids)`` after a commit that changed what the bot may answer from: ``ids`` are the articles whose
        published content changed (created, edited, published, archived)."""
        self._listeners.append(callback)

    def _changed(self, ids: List[str]) -> None:
        for cb in self._listeners:
            cb(list(ids))

    # -- writing ---------------------------------------------------------------------------------
    def upsert(self, data: ArticleData, source: Optional[str] = None, note: Optional[str] = None) -> str:
        """Create or update one article; returns 'created', 'updated' or 'unchanged'."""
        result = self._upsert(data, source, note)
        if result != "unchanged":
            self._changed([data.id])
        return result

    def _upsert(self, data: ArticleData, source: Optional[str], note: Optional[str]) -> str:
        digest = data.content_hash()
        with self.db.session() as s:
            art = s.get(Article, data.id)
            if art is not None and art.content_hash == digest and art.status == data.status:
                return "unchanged"
            if art is None:
                art = Article(id=data.id, version=1)
                s.add(art)
                result = "created"
            else:
                art.version += 1
                result = "updated"
            art.title = data.title
            art.lang = data.lang
            art.category = data.category
            art.tags = list(data.tags)
            art.questions = list(data.questions)
            art.handoff_queue = data.handoff
            art.body = data.body
            art.status = data.status
            art.content_hash = digest
            if source:
                art.source = source
            s.flush()
            s.add(
                ArticleVersion(
                    article_id=art.id,
                    version=art.version,
                    snapshot=data.__dict__.copy(),
                    status=data.status,
                    note=note,
                )
            )
            return result

    def import_folder(self, folder: Path) -> ImportReport:
        """Import every ``*.md`` below ``folder``. Idempotent; a bad file is reported and skipped."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInput(f"{folder}: not a folder")
        report = ImportReport()
        seen: Dict[str, str] = {}
        for path in sorted(folder.rglob("*.md")):
            if path.name.lower() in ("readme.md", "source.md"):
                continue
            rel = str(path)
            try:
                text = path.read_text(encoding="utf-8")
                data = parse_article(text, rel)
                if data.id in seen:
                    raise ArticleFormatError(rel, 2, f"duplicate id {data.id!r} (also in {seen[data.id]})")
                seen[data.id] = rel
                outcome = self._upsert(data, rel, note="import")
            except UnicodeDecodeError:
                report.errors.append(f"{rel}: not UTF-8 text")
                continue
            except ArticleFormatError as e:
                report.errors.append(e.message)
                continue
            getattr(report, outcome).append(data.id)
        if report.created or report.updated:
            self._changed(report.created + report.updated)
        log.info("kb.imported %s from %s", report.summary(), folder)
        return report

    def set_status(self, article_id: str, status: str, note: Optional[str] = None) -> ArticleData:
        if status not in ArticleStatus.values():
            raise InvalidInput(f"status {status!r} is not {STATUS_CHOICES}")
        status = ArticleStatus(status).value  # a plain string in the row, the version snapshot and the Markdown
        data = self.get(article_id)
        data.status = status
        self.upsert(data, note=note or status)
        return data

    # -- reading ---------------------------------------------------------------------------------
    def get(self, article_id: str) -> ArticleData:
        with self.db.session() as s:
            art = s.get(Article, article_id)
            if art is None:
                raise NotFound(f"article {article_id} not found")
            return article_data(art)

    def published(self) -> List[ArticleData]:
        with self.db.session() as s:
            rows = s.execute(
                select(Article).where(Article.status == ArticleStatus.PUBLISHED).order_by(Article.id)
            ).scalars()
            return [article_data(a) for a in rows]

    def fingerprint(self) -> Dict[str, str]:
        """article id -> content hash, for published articles (what the search index must hold)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Article.id, Article.content_hash).where(Article.status == ArticleStatus.PUBLISHED)
            )
            return {r[0]: r[1] for r in rows}

    def revision(self) -> tuple:
        """A cheap token that changes whenever any article is created, edited, published or archived (by this
        process, another worker or the CLI): (articles, newest change, sum of versions), one aggregate query."""
        with self.db.session() as s:
            n, newest, versions = s.execute(
                select(func.count(), func.max(Article.updated_at), func.sum(Article.version)).select_from(Article)
            ).one()
            return int(n), newest.isoformat() if newest else None, int(versions or 0)

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.execute(select(func.count()).select_from(Article)).scalar_one())

    def versions(self, article_id: str) -> List[dict]:
        with self.db.session() as s:
            rows = s.execute(
                select(ArticleVersion).where(ArticleVersion.article_id == article_id).order_by(ArticleVersion.version)
            ).scalars()
            return [
                {"version": v.version, "status": v.status, "note": v.note, "created_at": v.created_at.isoformat() + "Z"}
                for v in rows
            ]
