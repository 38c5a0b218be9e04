"""Creating and reading tickets: a hand-off with the whole context the bot had."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import func, select

from handoff.models import Ticket, TicketEvent
from handoff.priority import PRIORITIES, compute_priority
from handoff.routing import REASONS, queue_info, route
from tier0.conversations import ConversationStore
from tier0.db import Database
from tier0.errors import InvalidInput, NotFound

log = logging.getLogger("tier0.handoff")

OPEN_STATUSES = ("waiting", "agent")


@dataclass
class HandoffRequest:
    conversation_id: str
    reason: str
    confidence: Optional[float] = None
    candidates: Optional[List[Dict[str, Any]]] = None
    article_queue: Optional[str] = None
    category: Optional[str] = None
    language: Optional[str] = None


def ticket_dict(t: Ticket, position: Optional[int] = None, wait_minutes: Optional[int] = None) -> Dict[str, Any]:
    d = {
        "id": t.reference,
        "conversation_id": t.conversation_id,
        "status": t.status,
        "queue": t.queue,
        "team": queue_info(t.queue).display(t.language),
        "level": t.level,
        "priority": t.priority,
        "priority_rule": t.priority_rule,
        "reason": t.reason,
        "confidence": t.confidence,
        "language": t.language,
        "channel": t.channel,
        "category": t.category,
        "customer": t.customer or {},
        "candidates": t.candidates or [],
        "transcript": t.transcript or [],
        "created_at": t.created_at.isoformat() + "Z",
    }
    if position is not None:
        d["position"] = position
        d["expected_wait_minutes"] = wait_minutes
    return d


def parse_reference(ref: str) -> int:
    s = str(ref).strip().upper()
    if s.startswith("T-"):
        s = s[2:]
    if not s.isdigit():
        raise InvalidInput(f"{ref!r} is not a ticket reference like T-12")
    return int(s)


class HandoffService:
    def __init__(self, db: Database, conversations: ConversationStore, default_queue: str = "tier1"):
        self.db = db
        self.conversations = conversations
        self.default_queue = default_queue

    def open(self, req: HandoffRequest) -> Tuple[Dict[str, Any], bool]:
        """``(ticket, created)``: the conversation's open ticket, or a new one — handing it to people."""
        if req.reason not in REASONS:
            raise InvalidInput(f"unknown hand-off reason {req.reason!r}")
        existing = self.open_ticket_for(req.conversation_id)
        if existing is not None:
            return existing, False
        conv = self.conversations.get(req.conversation_id)
        transcript = self.conversations.transcript(req.conversation_id)
        customer_texts = [m["text"] for m in transcript if m["sender"] == "customer"]
        priority, rule = compute_priority(req.reason, customer_texts, (conv.customer or {}).get("tier"))
        queue = route(req.reason, req.article_queue, self.default_queue)
        with self.db.session() as s:
            t = Ticket(
                conversation_id=req.conversation_id,
                status="waiting",
                queue=queue,
                level=1,
                priority=priority,
                priority_rule=rule,
                reason=req.reason,
                confidence=req.confidence,
                language=req.language or conv.language,
                channel=conv.channel,
                category=req.category,
                customer=conv.customer,
                candidates=list(req.candidates or []),
                transcript=transcript,
            )
            s.add(t)
            s.flush()
            s.add(
                TicketEvent(
                    ticket_id=t.id,
                    kind="created",
                    actor="bot",
                    note=req.reason,
                    data={"queue": queue, "priority": priority, "rule": rule},
                )
            )
            position = self._position(s, t)
            wait = round(position * queue_info(queue).minutes_per_ticket)
            result = ticket_dict(t, position, wait)
        self.conversations.update(req.conversation_id, status="handed_off")
        log.info(
            "handoff.created ticket=%s queue=%s priority=%s reason=%s", result["id"], queue, priority, req.reason
        )
        return result, True

    def _position(self, s, t: Ticket) -> int:
        """1-based place in its queue among waiting tickets (higher priority and older first)."""
        rank = PRIORITIES.index(t.priority)
        ahead = s.execute(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.queue == t.queue, Ticket.status == "waiting", Ticket.id != t.id)
            .where(Ticket.priority.in_(PRIORITIES[rank:]))
        ).scalar_one()
        return int(ahead) + 1

    def open_ticket_for(self, conversation_id: str) -> Optional[Dict[str, Any]]:
        with self.db.session() as s:
            t = s.execute(
                select(Ticket)
                .where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_STATUSES))
                .order_by(Ticket.id.desc())
            ).scalars().first()
            return ticket_dict(t) if t else None

    def get(self, reference: str) -> Dict[str, Any]:
        with self.db.session() as s:
            t = s.get(Ticket, parse_reference(reference))
            if t is None:
                raise NotFound(f"ticket {reference} not found")
            return ticket_dict(t)

    def note_customer_message(self, ticket_ref: str, text: str) -> None:
        with self.db.session() as s:
            s.add(TicketEvent(ticket_id=parse_reference(ticket_ref), kind="customer_message", actor="customer", note=text))

    def events(self, reference: str) -> List[Dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(
                select(TicketEvent).where(TicketEvent.ticket_id == parse_reference(reference)).order_by(TicketEvent.id)
            ).scalars()
            return [
                {"kind": e.kind, "actor": e.actor, "note": e.note, "data": e.data, "at": e.created_at.isoformat() + "Z"}
                for e in rows
            ]
