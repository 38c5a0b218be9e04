"""What the editor console needs beside storage: checking an article an editor wrote, deriving an id from a title,
and comparing two versions field by field (#22 A). Pure functions; knowledge_base.service stores."""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Any, Dict, List, Mapping, Optional

from knowledge_base.markdown import ID_RE, ArticleData
from tier0.errors import InvalidInput
from tier0.vocab import (
    MAX_ARTICLE_BODY_CHARS,
    MAX_ARTICLE_CATEGORY_CHARS,
    MAX_ARTICLE_QUESTION_CHARS,
    MAX_ARTICLE_QUESTIONS,
    MAX_ARTICLE_TAG_CHARS,
    MAX_ARTICLE_TAGS,
    MAX_ARTICLE_TITLE_CHARS,
    MAX_VERSION_NOTE_CHARS,
    SUPPORTED_LANGUAGES,
)

# the fields of an article's content, in the order a comparison lists them
CONTENT_FIELDS = ("title", "lang", "category", "tags", "questions", "handoff", "body")
QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SLUG_CHARS = 80


def slugify(title: str) -> str:
    """An article id from its title: ASCII letters and digits joined by '-', lowercase ("Réinitialiser mon mot de
    passe" -> "reinitialiser-mon-mot-de-passe"); '' when nothing usable is left."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_CHARS].rstrip("-")


def check_id(article_id: str) -> str:
    if not isinstance(article_id, str) or not ID_RE.match(article_id):
        raise InvalidInput(f"article id {article_id!r} may use only letters, digits, '.', '_' and '-' (1-200, "
                           "starting with a letter or digit)")
    return article_id


def _clean_list(values: Any, what: str, most: int, chars: int) -> List[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{what} must be a list of strings")
    out: List[str] = []
    for v in values:
        v = " ".join(v.split())
        if not v:
            continue
        if len(v) > chars:
            raise InvalidInput(f"each of the {what} may have at most {chars} characters ({v[:40]!r}… has {len(v)})")
        if v not in out:
            out.append(v)
    if len(out) > most:
        raise InvalidInput(f"at most {most} {what} (got {len(out)})")
    return out


def check_note(note: Optional[str]) -> Optional[str]:
    if note is None:
        return None
    note = " ".join(note.split())
    if len(note) > MAX_VERSION_NOTE_CHARS:
        raise InvalidInput(f"the note may have at most {MAX_VERSION_NOTE_CHARS} characters (got {len(note)})")
    return note or None


def check_article(data: ArticleData) -> ArticleData:
    """``data`` cleaned (whitespace, duplicate tags and questions), or InvalidInput saying what is wrong: an empty or
    long title, a language tier0 does not speak, a body over the limit, a bad queue name."""
    check_id(data.id)
    title = " ".join((data.title or "").split())
    if not title:
        raise InvalidInput("the title is empty")
    if len(title) > MAX_ARTICLE_TITLE_CHARS:
        raise InvalidInput(f"the title may have at most {MAX_ARTICLE_TITLE_CHARS} characters (got {len(title)})")
    lang = (data.lang or "").strip().lower()
    if lang not in SUPPORTED_LANGUAGES:
        raise InvalidInput(f"language {data.lang!r} is not one of {', '.join(SUPPORTED_LANGUAGES)}")
    body = (data.body or "").replace("\r\n", "\n").strip()
    if len(body) > MAX_ARTICLE_BODY_CHARS:
        raise InvalidInput(f"the body may have at most {MAX_ARTICLE_BODY_CHARS} characters (got {len(body)})")
    category = " ".join((data.category or "").split()) or None
    if category and len(category) > MAX_ARTICLE_CATEGORY_CHARS:
        raise InvalidInput(f"the category may have at most {MAX_ARTICLE_CATEGORY_CHARS} characters")
    handoff = (data.handoff or "").strip() or None
    if handoff and not QUEUE_RE.match(handoff):
        raise InvalidInput(f"hand-off queue {handoff!r} may use only letters, digits, '.', '_' and '-'")
    return ArticleData(
        id=data.id,
        title=title,
        lang=lang,
        body=body,
        category=category,
        tags=_clean_list(data.tags, "tags", MAX_ARTICLE_TAGS, MAX_ARTICLE_TAG_CHARS),
        questions=_clean_list(data.questions, "questions", MAX_ARTICLE_QUESTIONS, MAX_ARTICLE_QUESTION_CHARS),
        handoff=handoff,
        status=data.status,
        version=data.version,
    )


def _lines(value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value).splitlines()


def diff_snapshots(before: Mapping[str, Any], after: Mapping[str, Any], from_label: str, to_label: str) -> List[Dict]:
    """The fields whose content differs between two snapshots (ArticleData dicts), each with its values before and
    after and a unified diff of their lines (lists one item a line). Status is compared too."""
    out = []
    for name in CONTENT_FIELDS + ("status",):
        a, b = before.get(name), after.get(name)
        if (a or None) == (b or None):
            continue
        text = "\n".join(
            line.rstrip("\n")
            for line in difflib.unified_diff(_lines(a), _lines(b), f"{name}@{from_label}", f"{name}@{to_label}",
                                             lineterm="")
        )
        out.append({"field": name, "before": a, "after": b, "diff": text})
    return out
