"""Markdown articles with YAML front matter (the format of shared/eval/README.md).

    ---
    id: reset-password
    title: Reset my password
    lang: en
    category: account
    tags: [login, password]
    questions:
      - I forgot my password
    handoff: billing          # optional: never answered by the bot, handed to this queue
    status: published         # optional: draft | published | archived (default published)
    ---
    Body in Markdown...
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import yaml

from tier0.errors import ArticleFormatError
from tier0.vocab import ArticleStatus

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
LANG_RE = re.compile(r"^[a-z]{2}$")
KNOWN_KEYS = {"id", "title", "lang", "category", "tags", "questions", "handoff", "status", "body"}
STATUS_CHOICES = ", ".join(ArticleStatus.values()[:-1]) + " or " + ArticleStatus.values()[-1]  # for messages


@dataclass
class ArticleData:
    id: str
    title: str
    lang: str
    body: str = ""
    category: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    questions: List[str] = field(default_factory=list)
    handoff: Optional[str] = None
    status: str = ArticleStatus.PUBLISHED.value
    # the version this content is (knowledge_base.models.ArticleVersion); None for content not stored yet
    version: Optional[int] = None

    def content_hash(self) -> str:
        d = asdict(self)
        d.pop("status")
        d.pop("version")
        return hashlib.sha256(json.dumps(d, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def to_markdown(self) -> str:
        meta: Dict[str, Any] = {"id": self.id, "title": self.title, "lang": self.lang}
        if self.category:
            meta["category"] = self.category
        if self.tags:
            meta["tags"] = self.tags
        if self.questions:
            meta["questions"] = self.questions
        if self.handoff:
            meta["handoff"] = self.handoff
        if self.status != ArticleStatus.PUBLISHED:
            meta["status"] = self.status
        head = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
        return f"---\n{head}---\n{self.body}\n"


def _str_list(value: Any, key: str, path: str, line: int) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ArticleFormatError(path, line, f"'{key}' must be a list of strings")
    return [str(v).strip() for v in value if str(v).strip()]


def _key_line(head_lines: List[str], key: str, default: int) -> int:
    for i, text in enumerate(head_lines):
        if text.startswith(f"{key}:"):
            return i + 2  # +1 for 1-based, +1 for the opening '---'
    return default


def parse_article(text: str, path: str = "<article>") -> ArticleData:
    """Parse one Markdown article; raise ArticleFormatError naming the file and line on any defect."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ArticleFormatError(path, 1, "missing front matter: the file must start with a '---' line")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise ArticleFormatError(path, 1, "front matter is not closed by a '---' line")
    head_lines = lines[1:end]
    try:
        meta = yaml.safe_load("\n".join(head_lines)) or {}
    except yaml.YAMLError as e:
        # the context mark points at where the broken construct starts (an unclosed '['), else the problem
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ArticleFormatError(path, line, f"invalid YAML front matter: {problem}") from None
    if not isinstance(meta, dict):
        raise ArticleFormatError(path, 2, "front matter must be a mapping of keys to values")

    def need(key: str) -> str:
        value = meta.get(key)
        if value is None or not str(value).strip():
            raise ArticleFormatError(path, _key_line(head_lines, key, 2), f"required key '{key}' is missing or empty")
        return str(value).strip()

    art_id = need("id")
    if not ID_RE.match(art_id):
        raise ArticleFormatError(
            path, _key_line(head_lines, "id", 2), f"id {art_id!r} may use only letters, digits, '.', '_' and '-'"
        )
    title = need("title")
    lang = need("lang").lower()
    if not LANG_RE.match(lang):
        raise ArticleFormatError(path, _key_line(head_lines, "lang", 2), f"lang {lang!r} is not an ISO 639-1 code")
    status = str(meta.get("status") or ArticleStatus.PUBLISHED.value).strip()
    if status not in ArticleStatus.values():
        raise ArticleFormatError(
            path, _key_line(head_lines, "status", 2), f"status {status!r} is not {STATUS_CHOICES}"
        )
    handoff = meta.get("handoff")
    if handoff is not None and not isinstance(handoff, str):
        raise ArticleFormatError(path, _key_line(head_lines, "handoff", 2), "'handoff' must be a queue name")
    category = meta.get("category")
    body = "\n".join(lines[end + 1 :]).strip()
    return ArticleData(
        id=art_id,
        title=title,
        lang=lang,
        body=body,
        category=str(category).strip() if category is not None else None,
        tags=_str_list(meta.get("tags"), "tags", path, _key_line(head_lines, "tags", 2)),
        questions=_str_list(meta.get("questions"), "questions", path, _key_line(head_lines, "questions", 2)),
        handoff=handoff.strip() if isinstance(handoff, str) and handoff.strip() else None,
        status=status,
    )
