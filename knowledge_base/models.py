"""Articles and their version history."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint

from tier0.db import Base, utcnow
from tier0.vocab import ArticleStatus

STATUSES = ArticleStatus.values()


class Article(Base):
    __tablename__ = "articles"

    id = Column(String(200), primary_key=True)
    title = Column(String(500), nullable=False)
    lang = Column(String(8), nullable=False)
    category = Column(String(100), nullable=True)
    tags = Column(JSON, nullable=False, default=list)
    questions = Column(JSON, nullable=False, default=list)
    handoff_queue = Column(String(100), nullable=True)
    body = Column(Text, nullable=False, default="")
    status = Column(String(16), nullable=False, default=ArticleStatus.PUBLISHED.value, index=True)
    version = Column(Integer, nullable=False, default=1)
    content_hash = Column(String(64), nullable=False)
    source = Column(String(1000), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # the editor console (#22 A). The row is the LIVE content while status is published (what the bot answers from);
    # an editor's working draft of a published article is the ArticleVersion numbered draft_version (None: no draft).
    # A draft or archived article has nothing live: its row is its working content and draft_version stays None.
    draft_version = Column(Integer, nullable=True)
    updated_by = Column(String(100), nullable=True)  # who saved last (a draft or the live content)
    # translations: articles sharing this group key (the id of the group's first article) translate each other
    translation_of = Column(String(200), nullable=True, index=True)


class ArticleVersion(Base):
    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    article_id = Column(String(200), ForeignKey("articles.id"), index=True, nullable=False)
    version = Column(Integer, nullable=False)
    snapshot = Column(JSON, nullable=False)
    status = Column(String(16), nullable=False)
    note = Column(String(500), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    author = Column(String(100), nullable=True)  # the desk account that saved it (None: an import or the CLI)
