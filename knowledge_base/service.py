"""The knowledge base: articles in SQL, imported from Markdown, versioned."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge_base.editing import CONTENT_FIELDS, SLUG_CHARS, check_article, check_note, diff_snapshots, slugify
from knowledge_base.markdown import STATUS_CHOICES, ArticleData, parse_article
from knowledge_base.models import Article, ArticleVersion
from tier0.db import Database
from tier0.errors import ArticleFormatError, Conflict, InvalidInput, NotFound
from tier0.vocab import ArticleStatus, ArticleView

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


def _next_version(s: Session, art: Article) -> int:
    """The number of the next version of ``art``: after every version stored (drafts take numbers too)."""
    newest = s.execute(
        select(func.max(ArticleVersion.version)).where(ArticleVersion.article_id == art.id)
    ).scalar_one_or_none()
    return max(int(newest or 0), int(art.version or 0)) + 1


def _write_row(art: Article, data: ArticleData, digest: Optional[str] = None) -> None:
    art.title = data.title
    art.lang = data.lang
    art.category = data.category
    art.tags = list(data.tags)
    art.questions = list(data.questions)
    art.handoff_queue = data.handoff
    art.body = data.body
    art.status = data.status
    art.content_hash = digest or data.content_hash()


def _record(s: Session, art: Article, data: ArticleData, note: Optional[str], author: Optional[str],
            version: Optional[int] = None, status: Optional[str] = None) -> ArticleVersion:
    """Store one version of ``art`` (its row's version unless ``version`` is given) with ``data`` as its content."""
    number = version if version is not None else art.version
    snapshot = data.__dict__.copy()
    snapshot["version"] = number
    snapshot["status"] = status or data.status
    row = ArticleVersion(article_id=art.id, version=number, snapshot=snapshot, status=snapshot["status"],
                         note=note, author=author)
    s.add(row)
    return row


def snapshot_data(snapshot: Dict[str, Any], version: Optional[int] = None) -> ArticleData:
    """The ArticleData a version stored (its snapshot), numbered ``version``."""
    known = {k: snapshot.get(k) for k in ("id", "title", "lang", "body", "category", "handoff", "status")}
    return ArticleData(
        id=str(known["id"]),
        title=str(known["title"] or ""),
        lang=str(known["lang"] or ""),
        body=str(known["body"] or ""),
        category=known["category"],
        tags=list(snapshot.get("tags") or []),
        questions=list(snapshot.get("questions") or []),
        handoff=known["handoff"],
        status=str(known["status"] or ArticleStatus.DRAFT.value),
        version=version if version is not None else snapshot.get("version"),
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


def _summary(a: Article) -> dict:
    """One row of the editor's list."""
    return {
        "id": a.id, "title": a.title, "lang": a.lang, "category": a.category, "status": a.status,
        "version": a.version, "updated_at": a.updated_at.isoformat() + "Z" if a.updated_at else None,
        "updated_by": a.updated_by, "has_draft": a.draft_version is not None or a.status == ArticleStatus.DRAFT,
        "draft_version": a.draft_version, "translation_of": a.translation_of,
    }


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
    def upsert(
        self, data: ArticleData, source: Optional[str] = None, note: Optional[str] = None, author: Optional[str] = None
    ) -> str:
        """Create or update one article's row (its live content when ``data.status`` is published), whatever its
        status; returns 'created', 'updated' or 'unchanged'. A pending editor's draft stays pending."""
        result, live = self._upsert(data, source, note, author)
        if result != "unchanged" and live:
            self._changed([data.id])
        return result

    def _upsert(
        self, data: ArticleData, source: Optional[str], note: Optional[str], author: Optional[str] = None
    ) -> Tuple[str, bool]:
        """(outcome, whether published content changed: it was or is published)."""
        digest = data.content_hash()
        with self.db.session(write=True) as s:
            art = s.get(Article, data.id, with_for_update=True)
            if art is not None and art.content_hash == digest and art.status == data.status:
                return "unchanged", False
            was_live = art is not None and art.status == ArticleStatus.PUBLISHED
            if art is None:
                art = Article(id=data.id, version=1)
                s.add(art)
                result = "created"
            else:
                art.version = _next_version(s, art)
                result = "updated"
            _write_row(art, data, digest)
            art.updated_by = author
            if source:
                art.source = source
            s.flush()
            _record(s, art, data, note, author)
            return result, was_live or data.status == ArticleStatus.PUBLISHED

    def import_folder(self, folder: Path) -> ImportReport:
        """Import every ``*.md`` below ``folder``. Idempotent; a bad file is reported and skipped."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInput(f"{folder}: not a folder")
        report = ImportReport()
        seen: Dict[str, str] = {}
        changed: List[str] = []
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
                outcome, live = self._upsert(data, rel, note="import")
            except UnicodeDecodeError:
                report.errors.append(f"{rel}: not UTF-8 text")
                continue
            except ArticleFormatError as e:
                report.errors.append(e.message)
                continue
            getattr(report, outcome).append(data.id)
            if live:
                changed.append(data.id)
        if changed:
            self._changed(changed)
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

    # -- the editor console (#22 A): drafts, publish, archive, rollback, translations --------------------------------
    def create(self, data: ArticleData, author: Optional[str] = None, note: Optional[str] = None,
               translation_of: Optional[str] = None) -> ArticleData:
        """A new article, as a draft (nothing live until published). ``data.id`` empty: derived from the title (a
        slug, made unique with -2, -3…); an id given that exists already: Conflict."""
        note = check_note(note)
        derived = not data.id
        if not " ".join((data.title or "").split()):
            raise InvalidInput("the title is empty")
        if derived:
            base = slugify(data.title or "")
            if not base:
                raise InvalidInput("no id can be made from this title: give an id (letters, digits, '.', '_', '-')")
            data = replace(data, id=base)
        data = check_article(replace(data, status=ArticleStatus.DRAFT.value))
        try:
            return self._create(data, derived, author, note, translation_of)
        except IntegrityError:  # the same id created at the same moment by someone else (PostgreSQL)
            raise Conflict(f"article {data.id} exists already") from None

    def _create(self, data: ArticleData, derived: bool, author: Optional[str], note: Optional[str],
                translation_of: Optional[str]) -> ArticleData:
        with self.db.session(write=True) as s:
            if derived:
                n, base = 1, data.id
                while s.get(Article, data.id) is not None:
                    n += 1
                    data = replace(data, id=f"{base[:SLUG_CHARS - 4]}-{n}")
            elif s.get(Article, data.id) is not None:
                raise Conflict(f"article {data.id} exists already")
            art = Article(id=data.id, version=1)
            _write_row(art, data)
            art.updated_by = author
            s.add(art)
            s.flush()
            _record(s, art, data, note or "created", author)
            if translation_of:
                self._link(s, art, translation_of)
        return self.get(data.id)

    def save_draft(self, article_id: str, fields: Dict[str, Any], author: Optional[str] = None,
                   note: Optional[str] = None) -> ArticleData:
        """Save the working draft: ``fields`` (any of title, lang, category, tags, questions, handoff, body) over the
        current working content. A published article keeps its live content (the draft is a version of its own,
        ``draft_version``); a draft or archived article has nothing live, so its row takes the draft (an archived
        one becomes a draft again). Saving what is already the working content stores nothing."""
        unknown = set(fields) - set(CONTENT_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown article fields: {', '.join(sorted(unknown))}")
        note = check_note(note)
        with self.db.session(write=True) as s:
            art = self._row(s, article_id, lock=True)
            working = self._working(s, art)
            data = check_article(replace(working, **fields, status=ArticleStatus.DRAFT.value))
            if data.lang != art.lang and art.translation_of:
                self._check_group_lang(s, art.translation_of, data.lang, art.id)
            if data.content_hash() == working.content_hash() and art.status != ArticleStatus.ARCHIVED:
                return working
            number = _next_version(s, art)
            if art.status == ArticleStatus.PUBLISHED:
                art.draft_version = number
            else:
                art.version = number
                _write_row(art, data)
            art.updated_by = author
            _record(s, art, data, note, author, version=number, status=ArticleStatus.DRAFT.value)
            return replace(data, version=number)

    def publish(self, article_id: str, author: Optional[str] = None, note: Optional[str] = None) -> ArticleData:
        """Make the working draft the live content (a new version, published); Conflict when there is nothing to
        publish (published already and no draft). Listeners hear of it."""
        note = check_note(note)
        with self.db.session(write=True) as s:
            art = self._row(s, article_id, lock=True)
            if art.status == ArticleStatus.PUBLISHED and art.draft_version is None:
                raise Conflict(f"article {article_id} is published and has no draft to publish")
            data = replace(self._working(s, art), status=ArticleStatus.PUBLISHED.value)
            self._make_live(s, art, data, note or "published", author)
        self._changed([article_id])
        return self.get(article_id)

    def rollback(self, article_id: str, version: int, author: Optional[str] = None,
                 note: Optional[str] = None) -> ArticleData:
        """Publish again what version ``version`` held: a new version equal to it, live. A pending draft stays."""
        note = check_note(note)
        with self.db.session(write=True) as s:
            art = self._row(s, article_id, lock=True)
            old = self._version_row(s, article_id, version)
            data = replace(snapshot_data(old.snapshot), id=art.id, status=ArticleStatus.PUBLISHED.value)
            if art.translation_of and data.lang != art.lang:
                self._check_group_lang(s, art.translation_of, data.lang, art.id)
            self._make_live(s, art, data, note or f"rollback to version {version}", author, keep_draft=True)
        self._changed([article_id])
        return self.get(article_id)

    def archive(self, article_id: str, author: Optional[str] = None, note: Optional[str] = None) -> ArticleData:
        """Nothing of it is answered any more; its row keeps the latest working content (a pending draft's)."""
        note = check_note(note)
        with self.db.session(write=True) as s:
            art = self._row(s, article_id, lock=True)
            if art.status == ArticleStatus.ARCHIVED:
                raise Conflict(f"article {article_id} is archived already")
            was_live = art.status == ArticleStatus.PUBLISHED
            data = replace(self._working(s, art), status=ArticleStatus.ARCHIVED.value)
            self._make_live(s, art, data, note or "archived", author)
        if was_live:
            self._changed([article_id])
        return self.get(article_id)

    def unarchive(self, article_id: str, author: Optional[str] = None, note: Optional[str] = None) -> ArticleData:
        """An archived article back as a draft (publish it to answer from it again)."""
        note = check_note(note)
        with self.db.session(write=True) as s:
            art = self._row(s, article_id, lock=True)
            if art.status != ArticleStatus.ARCHIVED:
                raise Conflict(f"article {article_id} is not archived")
            data = replace(article_data(art), status=ArticleStatus.DRAFT.value)
            self._make_live(s, art, data, note or "unarchived", author)
        return self.get(article_id)

    def link_translation(self, article_id: str, of: Optional[str], author: Optional[str] = None) -> List[dict]:
        """Make ``article_id`` a translation of ``of`` (joining its group: one article a language), or, with ``of``
        None, take it out of its group. Returns its translations."""
        with self.db.session(write=True) as s:
            art = self._row(s, article_id, lock=True)
            if of is None:
                art.translation_of = None
            else:
                self._link(s, art, of)
            art.updated_by = author or art.updated_by
        return self.translations(article_id)

    def _link(self, s: Session, art: Article, of: str) -> None:
        if of == art.id:
            raise InvalidInput("an article is not a translation of itself")
        other = s.get(Article, of)
        if other is None:
            raise NotFound(f"article {of} not found")
        group = other.translation_of or other.id
        self._check_group_lang(s, group, art.lang, art.id)
        other.translation_of = group
        art.translation_of = group

    def _check_group_lang(self, s: Session, group: str, lang: str, article_id: str) -> None:
        clash = s.execute(
            select(Article.id).where(
                or_(Article.translation_of == group, Article.id == group),
                Article.lang == lang,
                Article.id != article_id,
            )
        ).scalars().first()
        if clash is not None:
            raise InvalidInput(f"article {clash} is already the {lang} translation in this group")

    def _row(self, s: Session, article_id: str, lock: bool = False) -> Article:
        # ``lock``: for a write unit (a row lock on PostgreSQL; SQLite's write unit holds the database lock), so that
        # two saves of one article take version numbers one after the other
        art = s.get(Article, article_id, with_for_update=lock)
        if art is None:
            raise NotFound(f"article {article_id} not found")
        return art

    def _version_row(self, s: Session, article_id: str, version: int) -> ArticleVersion:
        row = s.execute(
            select(ArticleVersion).where(ArticleVersion.article_id == article_id, ArticleVersion.version == version)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"article {article_id} has no version {version}")
        return row

    def _working(self, s: Session, art: Article) -> ArticleData:
        """What an editor works on: the pending draft of a published article, else the row."""
        if art.draft_version is not None:
            return snapshot_data(self._version_row(s, art.id, art.draft_version).snapshot, art.draft_version)
        return article_data(art)

    def _make_live(self, s: Session, art: Article, data: ArticleData, note: Optional[str], author: Optional[str],
                   keep_draft: bool = False) -> None:
        art.version = _next_version(s, art)
        _write_row(art, data)
        if not keep_draft:
            art.draft_version = None
        art.updated_by = author
        _record(s, art, data, note, author)

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
        """Every version of an article, oldest first: number, status it had, note, author, time."""
        with self.db.session() as s:
            rows = s.execute(
                select(ArticleVersion).where(ArticleVersion.article_id == article_id).order_by(ArticleVersion.version)
            ).scalars()
            return [
                {"version": v.version, "status": v.status, "note": v.note, "author": v.author,
                 "created_at": v.created_at.isoformat() + "Z"}
                for v in rows
            ]

    def version(self, article_id: str, version: int) -> ArticleData:
        """The content version ``version`` held (NotFound if there is no such version)."""
        with self.db.session() as s:
            return snapshot_data(self._version_row(s, article_id, version).snapshot, version)

    def draft(self, article_id: str) -> Optional[ArticleData]:
        """The working draft: a published article's pending draft, a draft article's row; None otherwise."""
        with self.db.session() as s:
            art = self._row(s, article_id)
            if art.draft_version is not None or art.status == ArticleStatus.DRAFT:
                return self._working(s, art)
            return None

    def diff(self, article_id: str, before: Union[int, str], after: Union[int, str]) -> List[dict]:
        """What changed from ``before`` to ``after`` (version numbers, or 'live' / 'draft'), field by field
        (knowledge_base.editing.diff_snapshots)."""
        a, b = self._content(article_id, before), self._content(article_id, after)
        return diff_snapshots(a.__dict__, b.__dict__, str(before), str(after))

    def _content(self, article_id: str, which: Union[int, str]) -> ArticleData:
        if which == ArticleView.LIVE:
            live = self.get(article_id)
            if live.status != ArticleStatus.PUBLISHED:
                raise NotFound(f"article {article_id} has no live version")
            return live
        if which == ArticleView.DRAFT:
            draft = self.draft(article_id)
            if draft is None:
                raise NotFound(f"article {article_id} has no draft")
            return draft
        if isinstance(which, str) and not which.isdigit():
            raise InvalidInput(f"a version is a number, 'live' or 'draft' (got {which!r})")
        return self.version(article_id, int(which))

    def summary(self, article_id: str) -> dict:
        with self.db.session() as s:
            return _summary(self._row(s, article_id))

    def translations(self, article_id: str) -> List[dict]:
        """The other articles of its translation group (summaries, by language)."""
        with self.db.session() as s:
            art = self._row(s, article_id)
            if not art.translation_of:
                return []
            rows = s.execute(
                select(Article).where(
                    or_(Article.translation_of == art.translation_of, Article.id == art.translation_of),
                    Article.id != art.id,
                ).order_by(Article.lang, Article.id)
            ).scalars()
            return [_summary(r) for r in rows]

    def search(self, q: Optional[str] = None, lang: Optional[str] = None, status: Optional[str] = None,
               category: Optional[str] = None, limit: int = 200, offset: int = 0) -> Tuple[List[dict], int]:
        """The editor's list: articles whose title or body contains ``q`` (any case), of that language, status and
        category, most recently changed first; (a page of summaries, how many match in all)."""
        conds = []
        if q:
            like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(or_(func.lower(Article.title).like(like, escape="\\"),
                             func.lower(Article.body).like(like, escape="\\"),
                             func.lower(Article.id).like(like, escape="\\")))
        if lang:
            conds.append(Article.lang == lang)
        if status:
            conds.append(Article.status == status)
        if category:
            conds.append(Article.category == category)
        with self.db.session() as s:
            total = int(s.execute(select(func.count()).select_from(Article).where(*conds)).scalar_one())
            rows = s.execute(
                select(Article).where(*conds).order_by(Article.updated_at.desc(), Article.id)
                .limit(limit).offset(offset)
            ).scalars()
            return [_summary(r) for r in rows], total
