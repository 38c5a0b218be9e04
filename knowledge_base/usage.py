"""How articles are used, and what editors decided about the content gaps (#22 D; migration 0008).

* ``article_views``: one row per article and day (UTC) with the number of times its full text was opened (the
  customer's ``GET /api/articles/{id}``). A counter per day, not a row per view: a customer reloading the page
  cannot grow the table, and a period's views are one SUM.
* ``content_gaps``: an editor's decision about a group of unanswered questions (``bot.gaps``): dismissed, or a draft
  article started from it. The group's key (``bot.gaps.group_key``) and the customer messages it held when decided,
  so that the same topic stays hidden when its group is found again with a few more questions
  (``bot.gaps.handled``).
"""

from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional, Sequence

from sqlalchemy import JSON, Column, Date, DateTime, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.exc import IntegrityError

from tier0.db import Base, Database, utcnow


class ArticleView(Base):
    __tablename__ = "article_views"
    __table_args__ = (UniqueConstraint("article_id", "day"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    article_id = Column(String(200), nullable=False, index=True)  # no foreign key: views outlive a deleted article
    day = Column(Date, nullable=False, index=True)
    views = Column(Integer, nullable=False, default=0)


class ContentGap(Base):
    __tablename__ = "content_gaps"

    key = Column(String(64), primary_key=True)
    lang = Column(String(8), nullable=False)
    state = Column(String(16), nullable=False)  # tier0.vocab.GapState: dismissed | drafted
    question = Column(String(1000), nullable=False)  # the group's representative question when decided
    members = Column(JSON, nullable=False, default=list)  # the customer message ids of the group then
    article_id = Column(String(200), nullable=True)  # the draft started from it
    actor = Column(String(100), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


def count_view(db: Database, article_id: str, day: Optional[dt.date] = None) -> None:
    """One more opening of ``article_id`` today (UTC): an UPDATE, or the day's first row (a concurrent first
    insert loses the unique constraint and updates instead)."""
    day = day or utcnow().date()
    for _ in range(2):
        try:
            with db.session() as s:
                done = s.execute(update(ArticleView).where(ArticleView.article_id == article_id,
                                                           ArticleView.day == day)
                                 .values(views=ArticleView.views + 1)).rowcount
                if not done:
                    s.add(ArticleView(article_id=article_id, day=day, views=1))
            return
        except IntegrityError:
            continue


def views(db: Database, since: dt.date, until: dt.date, article_ids: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """article id -> times its full text was opened, days ``since`` .. ``until`` included."""
    q = (select(ArticleView.article_id, func.sum(ArticleView.views))
         .where(ArticleView.day >= since, ArticleView.day <= until).group_by(ArticleView.article_id))
    if article_ids is not None:
        q = q.where(ArticleView.article_id.in_(list(article_ids)))
    with db.session() as s:
        return {a: int(n or 0) for a, n in s.execute(q)}


def gap_decisions(db: Database) -> List[Dict]:
    with db.session() as s:
        return [{"key": g.key, "lang": g.lang, "state": g.state, "question": g.question,
                 "members": list(g.members or []), "article_id": g.article_id, "actor": g.actor,
                 "at": g.created_at.isoformat() + "Z"}
                for g in s.execute(select(ContentGap).order_by(ContentGap.created_at)).scalars()]


def decide_gap(db: Database, key: str, lang: str, state: str, question: str, members: Sequence[int], actor: str,
               article_id: Optional[str] = None) -> None:
    """Record (or replace) the decision about the group ``key``."""
    with db.session(write=True) as s:
        g = s.get(ContentGap, key)
        if g is None:
            g = ContentGap(key=key)
            s.add(g)
        g.lang, g.state, g.question, g.members = lang, state, question[:1000], sorted({int(m) for m in members})
        g.article_id, g.actor, g.created_at = article_id, actor, utcnow()
