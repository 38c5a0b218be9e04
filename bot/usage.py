"""What customers did with each article, for the editors (#22 D): per-article feedback figures over a period.

Read from the stored conversations, the desk's audit trail and the views counter (knowledge_base.usage), like
bot.feedback reads its labels (the transcript and the audit trail are the record). For an article and a period:

* **views**: its full text opened by a customer (GET /api/articles/{id}), counted per day;
* **answers**: the bot's answers citing it (an article picked among suggestions counts as an answer from it);
* **helpful / not_helpful**: the customer's "yes" to "did that answer your question?" right after such an answer,
  and the "no" ("that didn't help", or no to the follow-up: a ``not_helpful`` hand-off);
* **handoffs**: the conversation was handed to a person on the turn right after such an answer (any reason: "that
  didn't help", "a person please", anger);
* **flags**: agents' "wrong answer" flags from the desk on an answer citing it (handoff.models.TicketEvent
  ``article_id``), with their notes.

:func:`turns` is the scan shared with bot.gaps (the customers' unanswered questions).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from sqlalchemy import select

from handoff.models import Ticket, TicketEvent
from knowledge_base import usage
from tier0.conversations import Conversation, Message
from tier0.db import Database
from tier0.privacy import mask
from tier0.vocab import Channel, Sender

MAX_FLAG_NOTES = 20  # the most recent flags shown with an article


@dataclass
class Turn:
    """A customer message and the bot's reply to it (``outcome`` empty when the bot did not reply: a person owned
    the conversation)."""

    conversation_id: str
    message_id: int
    text: str
    lang: Optional[str]
    at: dt.datetime
    outcome: Dict[str, Any] = field(default_factory=dict)
    answer_article: Optional[str] = None  # the article an answer cited
    searched: bool = False  # the turn's reply carries what the KB search tried (a question the search decided)


def turns(db: Database, since: dt.datetime, until: dt.datetime) -> List[Turn]:
    """Every customer turn of ``since`` .. ``until`` (UTC, naive) outside ``tier0 eval`` and erased conversations,
    in conversation order; texts masked (tier0.privacy)."""
    with db.session() as s:
        rows = s.execute(
            select(Message.id, Message.conversation_id, Message.sender, Message.text, Message.data,
                   Message.created_at)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.channel != Channel.EVAL.value, Conversation.anonymised_at.is_(None),
                   Message.sender.in_((Sender.CUSTOMER.value, Sender.BOT.value)),
                   Message.created_at >= since, Message.created_at < until)
            .order_by(Message.conversation_id, Message.id)
        ).all()
    out: List[Turn] = []
    for mid, conv, sender, text, data, at in rows:
        data = data or {}
        if sender == Sender.CUSTOMER:
            out.append(Turn(conv, mid, mask(text or ""), data.get("language"), at))
            continue
        if not out or out[-1].conversation_id != conv:
            continue  # a greeting before any customer message
        t = out[-1]
        if data.get("outcome"):
            t.outcome = data["outcome"]
            t.searched = t.searched or bool(data.get("tried"))
        if t.outcome.get("type") == "answer" and t.outcome.get("article_id"):
            t.answer_article = t.outcome["article_id"]
    return out


def next_turn(ts: List[Turn], i: int) -> Optional[Turn]:
    return ts[i + 1] if i + 1 < len(ts) and ts[i + 1].conversation_id == ts[i].conversation_id else None


@dataclass
class ArticleFigures:
    article_id: str
    views: int = 0
    answers: int = 0
    helpful: int = 0
    not_helpful: int = 0
    handoffs: int = 0
    flags: int = 0
    flag_notes: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        rated = self.helpful + self.not_helpful
        return {
            "article_id": self.article_id, "views": self.views, "answers": self.answers, "helpful": self.helpful,
            "not_helpful": self.not_helpful, "handoffs": self.handoffs, "flags": self.flags,
            # shares of the answers, None without any
            "helpful_rate": round(self.helpful / rated, 4) if rated else None,
            "handoff_rate": round(self.handoffs / self.answers, 4) if self.answers else None,
            "flag_notes": self.flag_notes,
        }


def figures(db: Database, since: dt.datetime, until: dt.datetime,
            article_ids: Optional[Iterable[str]] = None) -> Dict[str, ArticleFigures]:
    """article id -> its figures over ``since`` .. ``until`` (only articles with something to count, or those of
    ``article_ids``, which are always present)."""
    out: Dict[str, ArticleFigures] = {}
    wanted = set(article_ids) if article_ids is not None else None

    def of(a: str) -> Optional[ArticleFigures]:
        if wanted is not None and a not in wanted:
            return None
        return out.setdefault(a, ArticleFigures(a))

    for a in wanted or ():
        of(a)
    ts = turns(db, since, until)
    for i, t in enumerate(ts):
        if t.answer_article is None:
            continue
        f = of(t.answer_article)
        if f is None:
            continue
        f.answers += 1
        after = next_turn(ts, i)
        o = after.outcome if after else {}
        if o.get("feedback") == "helpful":
            f.helpful += 1
        elif o.get("type") == "handoff":
            f.handoffs += 1
            if o.get("reason") == "not_helpful":
                f.not_helpful += 1
    for a, n in usage.views(db, since.date(), (until - dt.timedelta(microseconds=1)).date(),
                            sorted(wanted) if wanted is not None else None).items():
        f = of(a)
        if f is not None:
            f.views = n
    q = (select(TicketEvent.article_id, TicketEvent.note, TicketEvent.actor, TicketEvent.data, TicketEvent.created_at,
                Ticket.id)
         .join(Ticket, Ticket.id == TicketEvent.ticket_id)
         .where(TicketEvent.kind == "flagged", TicketEvent.article_id.is_not(None),
                TicketEvent.created_at >= since, TicketEvent.created_at < until)
         .order_by(TicketEvent.id.desc()))
    if wanted is not None:
        q = q.where(TicketEvent.article_id.in_(sorted(wanted)))
    with db.session() as s:
        rows = s.execute(q).all()
    for a, note, actor, data, at, ticket_id in rows:
        f = of(a)
        if f is None:
            continue
        f.flags += 1
        if len(f.flag_notes) < MAX_FLAG_NOTES:
            f.flag_notes.append({"ticket": f"T-{ticket_id}", "actor": actor, "note": note,
                                 "question": mask((data or {}).get("question") or "") or None,
                                 "at": at.isoformat() + "Z"})
    return out
