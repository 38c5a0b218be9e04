"""From a resolved ticket to a draft article (#22 D): the customer's question becomes the article's alternate
question, the agent's replies its body.

**The question** is the customer's last question the KB search handled before the hand-off (a question the bot
answered, suggested articles for, or handed off on its own), else the first thing the customer wrote to the person
after it (someone who asked for a person straight away explains the problem then), else the conversation's first
customer message. **The body** is every reply the agents sent on this ticket (until it was resolved), in order.
Both are masked (tier0.privacy: card numbers, IBANs, phone numbers, e-mail addresses) — a draft is for every
customer.

Before creating anything, the question is searched in the live KB: articles the bot would already answer it from
(a score at or above the answer threshold of its language) are returned as near-duplicates and nothing is created,
unless the editor insists (``force``). The three best articles always come back with their scores.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from sqlalchemy import select

from bot.gaps import create_draft
from handoff.context import parse_reference
from handoff.models import TicketEvent
from knowledge_base.service import KnowledgeBase
from retrieval.search import SearchIndex
from tier0.conversations import ConversationStore
from tier0.db import Database
from tier0.errors import Conflict, InvalidInput
from tier0.privacy import mask
from tier0.vocab import Sender, TicketStatus

SIMILAR = 3  # articles returned with their scores
SEARCH_DECIDED_HANDOFFS = ("repeated_failure", "needs_authority")


def customer_question(messages: List[Dict[str, Any]], reference: str) -> Optional[str]:
    """The question of the ticket ``reference`` in the conversation's ``messages`` (module docstring)."""
    handoff_at = next((i for i, m in enumerate(messages) if m["sender"] == Sender.BOT
                       and (m["data"].get("outcome") or {}).get("ticket_id") == reference), None)
    limit = handoff_at if handoff_at is not None else len(messages)
    asked: Optional[str] = None
    for i, m in enumerate(messages[:limit + 1]):
        if m["sender"] != Sender.CUSTOMER:
            continue
        data = next((r["data"] for r in messages[i + 1:limit + 1]
                     if r["sender"] == Sender.BOT and r["data"].get("outcome")), None) or {}
        reply = data.get("outcome") or {}
        kind = reply.get("type")
        searched = bool(data.get("tried") or reply.get("options"))  # not "none of these" (no search)
        if (kind == "answer" and not reply.get("chosen")) or (kind == "clarify" and searched) or (
                kind == "handoff" and reply.get("reason") in SEARCH_DECIDED_HANDOFFS):
            asked = m["text"]
    if asked is None and handoff_at is not None:
        asked = next((m["text"] for m in messages[handoff_at:] if m["sender"] == Sender.CUSTOMER), None)
    if asked is None:
        asked = next((m["text"] for m in messages if m["sender"] == Sender.CUSTOMER), None)
    return asked


def agent_replies(db: Database, reference: str) -> List[str]:
    """The public replies agents sent on the ticket, in order (its ``agent_reply`` audit events)."""
    with db.session() as s:
        notes = s.execute(select(TicketEvent.note).where(TicketEvent.ticket_id == parse_reference(reference),
                                                         TicketEvent.kind == "agent_reply")
                          .order_by(TicketEvent.id)).scalars().all()
    return [n for n in notes if n and n.strip()]


def similar(index: SearchIndex, threshold: float, question: str, lang: str) -> List[Dict[str, Any]]:
    return [{"article_id": c.article_id, "title": c.title, "lang": c.lang, "score": round(float(c.score), 4),
             "duplicate": c.score >= threshold}
            for c in index.search(question, lang=lang, k=SIMILAR)]


def from_ticket(ticket: Dict[str, Any], db: Database, conversations: ConversationStore, kb: KnowledgeBase,
                index: SearchIndex, threshold_of, author: str, question: Optional[str] = None,
                title: Optional[str] = None, force: bool = False) -> Dict[str, Any]:
    """The draft made from ``ticket`` (a handoff ticket dict), or the near-duplicates that stopped it.

    ``threshold_of(lang)``: the answer threshold of a language (the bot answers at or above it)."""
    if ticket["status"] != TicketStatus.RESOLVED:
        raise Conflict(f"ticket {ticket['id']} is {ticket['status']}: only a resolved ticket becomes an article")
    messages = conversations.transcript(ticket["conversation_id"])
    replies = [mask(r) for r in agent_replies(db, ticket["id"])]
    if not replies:
        raise Conflict(f"ticket {ticket['id']} has no reply from an agent to make an article of")
    asked = mask(" ".join((question or customer_question(messages, ticket["id"]) or "").split()))
    if not asked:
        raise InvalidInput(f"ticket {ticket['id']} has no customer question: send one as 'question'")
    lang = ticket.get("language") or "en"
    found = similar(index, threshold_of(lang), asked, lang)
    out: Dict[str, Any] = {"ticket": ticket["id"], "question": asked, "similar": found, "created": False,
                           "article": None}
    if any(s["duplicate"] for s in found) and not force:
        return out
    art = create_draft(kb, title or asked, lang, [asked], "\n\n".join(replies), author,
                       f"from ticket {ticket['id']}")
    out.update(created=True, article={"id": art.id, "title": art.title, "lang": art.lang, "status": art.status,
                                      "questions": art.questions, "body": art.body})
    return out
