"""Moving a knowledge base in and out: a zip (or folder) of Markdown articles with front matter, one folder per
language, and web pages (HTML) converted to Markdown.

Export: ``<lang>/<id>.md`` for each article (the format of :mod:`knowledge_base.markdown`), in a zip or a folder.

Import is **all or nothing**: every file of the archive is read and checked first (names, sizes, UTF-8, front
matter, duplicate ids); the plan says what would be created, updated or left unchanged and lists every error as
``file:line: reason``. A dry run stops there. Applying refuses a plan with any error (nothing is written) and
otherwise writes the changed articles through :meth:`KnowledgeBase.import_folder` (one change notice for the whole
import, so the search index re-syncs once). The archive itself is hostile until proven otherwise: entries with an
absolute path or ``..``, symbolic links, encrypted entries, more than ``max_files`` entries, an entry larger than
``max_file_bytes`` or compressed more than ``max_ratio`` to 1, more than ``max_total_bytes`` in all refuse the whole
archive (:class:`InvalidInput`, or :class:`TooLarge` for sizes) before anything is decompressed past the limits.

HTML: :func:`html_to_markdown` sanitises first (nh3, :func:`knowledge_base.render.sanitize_html`: scripts, styles,
event handlers, ``javascript:`` links gone) and converts with markdownify (links and images kept). An ``.html`` file
of an archive becomes an article: title from ``<title>`` (else the first ``<h1>``, which then leaves the body), the
language from ``<html lang>`` or else its folder (``en/``, ``fr/``), the id from the file name.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bs4 import BeautifulSoup, Tag
from markdownify import markdownify
from sqlalchemy import select

from knowledge_base.markdown import ID_RE, LANG_RE, ArticleData, parse_article
from knowledge_base.models import Article
from knowledge_base.render import sanitize_html
from knowledge_base.service import KnowledgeBase, article_data
from tier0.errors import ArticleFormatError, InvalidInput
from tier0.vocab import MAX_HTML_CHARS, ArticleStatus

MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
NOT_ARTICLES = ("readme.md", "source.md")  # a KB folder's notes, skipped unless they have front matter
MAX_NAME_CHARS = 300  # a path inside an archive
RATIO_FLOOR_BYTES = 16 * 1024  # entries smaller than this are never refused for their compression ratio


class TooLarge(InvalidInput):
    """An archive or one of its entries over a size limit (HTTP 413)."""

    status_code = 413
    code = "too_large"


@dataclass(frozen=True)
class ImportLimits:
    max_files: int = 5000
    max_file_bytes: int = 1_000_000
    max_total_bytes: int = 50_000_000
    max_ratio: int = 100

    @classmethod
    def from_settings(cls, settings: Any) -> "ImportLimits":
        return cls(settings.import_max_files, settings.import_max_file_bytes, settings.import_max_total_bytes,
                   settings.import_max_ratio)


@dataclass
class Problem:
    file: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass
class ImportPlan:
    """What an import does (dry run) or did (applied)."""

    articles: List[Tuple[str, ArticleData]] = field(default_factory=list)  # (file, article), in file order
    created: List[str] = field(default_factory=list)
    updated: List[str] = field(default_factory=list)
    unchanged: List[str] = field(default_factory=list)
    errors: List[Problem] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)  # files that are not articles (other suffixes, README.md)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.errors)} errors, {len(self.ignored)} ignored")

    def as_dict(self) -> Dict[str, Any]:
        return {"applied": self.applied, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "ignored": self.ignored,
                "errors": [{"file": p.file, "line": p.line, "message": p.message} for p in self.errors]}


Entries = List[Tuple[str, bytes]]  # (path inside the archive or folder, its bytes)


# -- reading an archive, a folder, an upload ------------------------------------------------------------------------
def check_name(name: str) -> None:
    """Refuse a path that could point outside the archive's folder (absolute, ``..``, a drive, a backslash)."""
    parts = name.split("/")
    if (not name or len(name) > MAX_NAME_CHARS or "\x00" in name or "\\" in name or name.startswith("/")
            or re.match(r"^[A-Za-z]:", name) or any(p == ".." for p in parts)):
        shown = name[:80].replace("\x00", "\\0")
        raise InvalidInput(f"{shown!r}: a path outside the archive's folder (absolute, '..' or a drive); "
                           "the archive is refused")


def _kind(name: str) -> Optional[str]:
    """'markdown', 'html', or None for a file that is not an article."""
    low = name.lower()
    parts = PurePosixPath(low).parts
    if any(p.startswith(".") for p in parts) or (parts and parts[0] == "__macosx"):
        return None
    if low.endswith(MARKDOWN_SUFFIXES):
        return "markdown"
    if low.endswith(HTML_SUFFIXES):
        return "html"
    return None


def read_zip(data: bytes, limits: ImportLimits = ImportLimits()) -> Tuple[Entries, List[str]]:
    """The article files of a zip archive and the names of the files skipped; refuses a hostile archive whole."""
    if not data:
        raise InvalidInput("the archive is empty: send a .zip of Markdown (.md) or HTML (.html) articles")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise InvalidInput("not a zip archive: send a .zip of Markdown (.md) or HTML (.html) articles") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise TooLarge(f"the archive has {len(infos)} entries, more than the limit of {limits.max_files}")
        entries: Entries = []
        ignored: List[str] = []
        seen = set()
        declared = 0
        for info in infos:
            name = info.filename
            check_name(name)
            if info.is_dir():
                continue
            if name in seen:
                raise InvalidInput(f"{name}: twice in the archive; the archive is refused")
            seen.add(name)
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise InvalidInput(f"{name}: a symbolic link; the archive is refused")
            if info.flag_bits & 0x1:
                raise InvalidInput(f"{name}: encrypted; the archive is refused")
            if info.file_size > limits.max_file_bytes:
                raise TooLarge(f"{name}: {info.file_size} bytes uncompressed, more than the limit of "
                               f"{limits.max_file_bytes} for one file")
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise TooLarge(f"{name}: compressed {info.file_size // max(info.compress_size, 1)} to 1, more than "
                               f"{limits.max_ratio} to 1 (a zip bomb?); the archive is refused")
            declared += info.file_size
            if declared > limits.max_total_bytes:
                raise TooLarge(f"the archive holds more than {limits.max_total_bytes} bytes uncompressed")
            if _kind(name) is None:
                ignored.append(name)
                continue
            try:
                with zf.open(info) as f:
                    content = f.read(limits.max_file_bytes + 1)  # never more, whatever the entry claims
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, OSError,
                    ValueError) as e:
                raise InvalidInput(f"{name}: cannot be read from the archive ({type(e).__name__}: "
                                   f"{str(e)[:100]})") from None
            if len(content) > limits.max_file_bytes:
                raise TooLarge(f"{name}: more than the limit of {limits.max_file_bytes} bytes for one file")
            entries.append((name, content))
    return entries, ignored


def read_folder(folder: Path, limits: ImportLimits = ImportLimits()) -> Tuple[Entries, List[str]]:
    """The article files below ``folder`` (paths relative to it), with the same limits as an archive; symbolic links
    are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: not a folder")
    entries: Entries = []
    ignored: List[str] = []
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        name = path.relative_to(folder).as_posix()
        if _kind(name) is None:
            ignored.append(name)
            continue
        if len(entries) >= limits.max_files:
            raise TooLarge(f"{folder}: more than the limit of {limits.max_files} files")
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise TooLarge(f"{name}: {size} bytes, more than the limit of {limits.max_file_bytes} for one file")
        total += size
        if total > limits.max_total_bytes:
            raise TooLarge(f"{folder}: more than {limits.max_total_bytes} bytes of articles")
        entries.append((name, path.read_bytes()))
    return entries, ignored


def read_upload(body: bytes, content_type: str, limits: ImportLimits = ImportLimits()) -> Tuple[Entries, List[str]]:
    """An import request's body: a zip as is (``application/zip`` or anything not below), a zip as the one file of
    a ``multipart/form-data`` form, or JSON ``{"files": [{"name": "en/a.md", "content": "..."}]}``."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        return read_zip(_multipart_file(body, content_type), limits)
    if ctype == "application/json":
        return _json_files(body, limits)
    return read_zip(body, limits)


def _multipart_file(body: bytes, content_type: str) -> bytes:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise InvalidInput("a multipart form with no parts: send the .zip as its file field")
    files = [p for p in msg.iter_parts() if p.get_filename() is not None]
    if len(files) != 1:
        raise InvalidInput(f"the form has {len(files)} files: send exactly one .zip")
    payload = files[0].get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _json_files(body: bytes, limits: ImportLimits) -> Tuple[Entries, List[str]]:
    problem = 'the JSON body must be {"files": [{"name": "en/an-article.md", "content": "---\\n..."}]}'
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput(f"not JSON (or nested too deep): {problem}") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("content"), str)
            for f in files):
        raise InvalidInput(problem)
    if not files:
        raise InvalidInput("no files to import")
    if len(files) > limits.max_files:
        raise TooLarge(f"{len(files)} files, more than the limit of {limits.max_files}")
    entries: Entries = []
    ignored: List[str] = []
    names = set()
    total = 0
    for f in files:
        name, content = f["name"], f["content"].encode("utf-8", "surrogatepass")
        check_name(name)
        if name in names:
            raise InvalidInput(f"{name}: twice in the files; nothing imported")
        names.add(name)
        if len(content) > limits.max_file_bytes:
            raise TooLarge(f"{name}: more than the limit of {limits.max_file_bytes} bytes for one file")
        total += len(content)
        if total > limits.max_total_bytes:
            raise TooLarge(f"more than {limits.max_total_bytes} bytes of articles")
        if _kind(name) is None:
            ignored.append(name)
        else:
            entries.append((name, content))
    return entries, ignored


# -- parsing and planning -------------------------------------------------------------------------------------------
def parse_entries(entries: Sequence[Tuple[str, bytes]]) -> Tuple[List[Tuple[str, ArticleData]], List[Problem],
                                                                  List[str]]:
    """Each file as an article, or its problem (file, line, reason); duplicate ids are problems too. Also the files
    skipped (a README.md without front matter)."""
    articles: List[Tuple[str, ArticleData]] = []
    problems: List[Problem] = []
    skipped: List[str] = []
    seen: Dict[str, str] = {}
    for name, raw in entries:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            problems.append(Problem(name, line, "not UTF-8 text (save the file as UTF-8)"))
            continue
        if PurePosixPath(name).name.lower() in NOT_ARTICLES and not text.lstrip("\ufeff").startswith("---"):
            skipped.append(name)
            continue
        try:
            if _kind(name) == "html":
                data = html_article(name, text)
            else:
                data = parse_article(text, name)
        except ArticleFormatError as e:
            problems.append(Problem(e.path, e.line, e.reason))
            continue
        too_long = _too_long(data)
        if too_long:
            problems.append(Problem(name, None, too_long))
            continue
        if data.id in seen:
            problems.append(Problem(name, None, f"duplicate id {data.id!r} (also in {seen[data.id]})"))
            continue
        seen[data.id] = name
        articles.append((name, data))
    return articles, problems, skipped


def _too_long(data: ArticleData) -> Optional[str]:
    """What does not fit the articles table (knowledge_base.models.Article), said before the database refuses it."""
    for what, value in (("title", data.title), ("category", data.category), ("handoff", data.handoff)):
        limit = getattr(Article, "handoff_queue" if what == "handoff" else what).type.length
        if value and limit and len(value) > limit:
            return f"'{what}' is longer than {limit} characters"
    return None


def _current(kb: KnowledgeBase, ids: Sequence[str]) -> Dict[str, Tuple[str, str]]:
    """id -> (content hash, status) of the stored articles among ``ids``."""
    found: Dict[str, Tuple[str, str]] = {}
    wanted = list(ids)
    with kb.db.session() as s:
        for i in range(0, len(wanted), 500):
            rows = s.execute(select(Article.id, Article.content_hash, Article.status)
                             .where(Article.id.in_(wanted[i:i + 500])))
            found.update({r[0]: (r[1], r[2]) for r in rows})
    return found


def plan_import(kb: KnowledgeBase, entries: Sequence[Tuple[str, bytes]], ignored: Sequence[str] = ()) -> ImportPlan:
    """What importing ``entries`` would do; writes nothing (the dry run)."""
    articles, problems, skipped = parse_entries(entries)
    plan = ImportPlan(articles=articles, errors=problems, ignored=list(ignored) + skipped)
    current = _current(kb, [a.id for _, a in articles])
    for _, data in articles:
        now = current.get(data.id)
        if now is None:
            plan.created.append(data.id)
        elif now == (data.content_hash(), data.status):
            plan.unchanged.append(data.id)
        else:
            plan.updated.append(data.id)
    return plan


def apply_import(kb: KnowledgeBase, plan: ImportPlan) -> ImportPlan:
    """Write a plan with no error: the created and updated articles, in one import (one change notice). A plan with
    errors writes nothing and raises InvalidInput naming them."""
    if plan.errors:
        shown = "; ".join(str(p) for p in plan.errors[:5])
        more = f" (and {len(plan.errors) - 5} more)" if len(plan.errors) > 5 else ""
        raise InvalidInput(f"{len(plan.errors)} file(s) with errors, nothing imported: {shown}{more}")
    changed = set(plan.created) | set(plan.updated)
    if changed:
        with tempfile.TemporaryDirectory(prefix="tier0-import-") as tmp:
            for _, data in plan.articles:
                if data.id in changed:
                    _write(Path(tmp), data)
            report = kb.import_folder(Path(tmp))
        if report.errors:  # pragma: no cover - every file was checked above
            raise InvalidInput("import failed: " + "; ".join(report.errors[:5]))
        plan.created, plan.updated = report.created, report.updated
        plan.unchanged = sorted(set(plan.unchanged) | set(report.unchanged))
    plan.applied = True
    return plan


# -- export ---------------------------------------------------------------------------------------------------------
def export_articles(kb: KnowledgeBase, status: Optional[str] = None) -> List[ArticleData]:
    """The stored articles (of one status, or all), by language then id."""
    if status is not None and status not in ArticleStatus.values():
        raise InvalidInput(f"status {status!r} is not one of {', '.join(ArticleStatus.values())}")
    with kb.db.session() as s:
        q = select(Article).order_by(Article.lang, Article.id)
        if status is not None:
            q = q.where(Article.status == status)
        return [article_data(a) for a in s.execute(q).scalars()]


def article_path(data: ArticleData) -> str:
    """``<lang>/<id>.md``; an id that import_folder would take for a KB folder's notes gets ``.article.md``."""
    stem = data.id + (".article" if f"{data.id.lower()}.md" in NOT_ARTICLES else "")
    return f"{data.lang}/{stem}.md"


def _write(folder: Path, data: ArticleData) -> Path:
    path = folder / article_path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data.to_markdown(), encoding="utf-8")
    return path


def export_zip(kb: KnowledgeBase, status: Optional[str] = None) -> Tuple[bytes, int]:
    """A zip of the articles (``<lang>/<id>.md``) and how many it holds."""
    articles = export_articles(kb, status)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for data in articles:
            info = zipfile.ZipInfo(article_path(data), date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.to_markdown().encode("utf-8"))
    return buf.getvalue(), len(articles)


def export_folder(kb: KnowledgeBase, folder: Path, status: Optional[str] = None) -> int:
    """Write the articles below ``folder`` (made if missing; files of the same names are replaced)."""
    articles = export_articles(kb, status)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder}: not a folder")
    for data in articles:
        _write(folder, data)
    return len(articles)


# -- HTML -----------------------------------------------------------------------------------------------------------
DROPPED_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "head", "form")
MAX_HTML_DEPTH = 200  # elements nested deeper than this refuse the page (the converter recurses once a level)


class HtmlTooDeep(InvalidInput):
    pass


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html or "", "html.parser")


def _depth(soup: BeautifulSoup) -> int:
    """How deep elements nest (iteratively: a hostile page must not exhaust the stack here either)."""
    deepest = 0
    stack: List[Tuple[Tag, int]] = [(soup, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tag))
    return deepest


def html_to_markdown(html: str) -> str:
    """An HTML page or fragment as Markdown: sanitised first (nh3), links and images kept, scripts and styles gone.
    InvalidInput for a page over MAX_HTML_CHARS or nested deeper than MAX_HTML_DEPTH."""
    if len(html or "") > MAX_HTML_CHARS:
        raise InvalidInput(f"the HTML is longer than {MAX_HTML_CHARS} characters: convert it in parts")
    return _convert(_soup(html))


def _convert(soup: BeautifulSoup) -> str:
    if _depth(soup) > MAX_HTML_DEPTH:
        raise HtmlTooDeep(f"the HTML nests elements more than {MAX_HTML_DEPTH} levels deep")
    for tag in soup.find_all(DROPPED_TAGS):
        tag.decompose()
    root = soup.body or soup
    clean = _soup(sanitize_html(root.decode_contents() if root is soup.body else str(root)))
    for img in clean.find_all("img"):
        if not img.get("src"):  # its URL was not allowed (data:, javascript:): nothing left to show
            img.decompose()
    try:
        md = markdownify(str(clean), heading_style="ATX", bullets="-", escape_underscores=False,
                         escape_asterisks=True)
    except RecursionError:  # pragma: no cover - the depth check comes first; a thread with a smaller stack?
        raise HtmlTooDeep("the HTML nests elements too deep to convert") from None
    md = re.sub(r"[ \t]+\n", "\n", md)
    return re.sub(r"\n{3,}", "\n\n", md).strip()


def html_title(html: str) -> Optional[str]:
    soup = _soup(html)
    title = _text(soup.title) or _text(soup.find("h1"))
    return title or None


def _text(tag: Any) -> str:
    return re.sub(r"\s+", " ", tag.get_text(" ", strip=True)).strip() if tag is not None else ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:200]


def html_article(name: str, text: str) -> ArticleData:
    """An ``.html`` file as an article (see the module's doc); ArticleFormatError(file, line) on a defect."""
    if len(text) > MAX_HTML_CHARS:
        raise ArticleFormatError(name, None, f"an HTML page of more than {MAX_HTML_CHARS} characters: split it")
    soup = _soup(text)
    h1 = soup.find("h1")
    title = _text(soup.title) or _text(h1)
    if not title:
        raise ArticleFormatError(name, 1, "no title: give the page a <title> or an <h1>")
    if h1 is not None and _text(h1) == title:
        h1.decompose()  # the title is the article's own, not a heading of its body
    html_tag = soup.find("html")
    lang_attr = html_tag.get("lang") if html_tag is not None else None
    path = PurePosixPath(name)
    if isinstance(lang_attr, str) and lang_attr.strip():
        lang = lang_attr.strip().lower()[:2]
        line = getattr(html_tag, "sourceline", None) or 1
    else:
        lang = path.parent.name.lower() if len(path.parts) > 1 else ""
        line = 1
    if not LANG_RE.match(lang):
        raise ArticleFormatError(name, line, "no language: give <html lang=\"en\"> or put the file in a folder "
                                             "named after its language (en/, fr/)")
    art_id = slug(path.stem)
    if not ID_RE.match(art_id):
        raise ArticleFormatError(name, 1, f"no article id can be made of the file name {path.name!r}: rename it "
                                          "with letters, digits, '.', '_' or '-'")
    try:
        body = _convert(soup)
    except HtmlTooDeep as e:
        raise ArticleFormatError(name, None, e.message) from None
    return ArticleData(id=art_id, title=title[:500], lang=lang, body=body)
