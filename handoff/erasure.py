"""Erasing customers' personal data: a data-subject request (by e-mail address or conversation) and the retention
period after which idle conversations are anonymised. Every run leaves a line in ``privacy_audit``.

What one conversation loses (:meth:`PrivacyService._anonymise`, one transaction):

    messages          the customer's, the agents' and the system's texts become ``[erased]`` (their data too: an
                      e-mail's subject, its message id); the bot's answers are kept (they are the KB's words), masked
                      (:func:`tier0.privacy.mask`: an offline hand-off repeats the customer's address)
    conversation      its customer attributes ({}), and ``anonymised_at`` is set: the calibration no longer reads it
    tickets           customer attributes, contact address, the transcript copied at the hand-off, the summary;
                      the ticket itself stays (queue, priority, SLA times: the desk's numbers do not change)
    ticket events     the notes people wrote (replies, notes, escalation reasons, the customer's messages and address)
                      and a flagged answer's question; the system's own notes stay
    webhook rows      the payloads of those events' deliveries; a pending one is not sent any more (failed)
    Rasa's tracker    every turn Rasa kept of the conversation (the ``trackers`` callable given by bot.privacy: the
                      rows of Rasa's ``events`` table, or the Redis key)

An erasure request closes the customer's open tickets first (resolved with a system note, through the desk so live
pages see it): the customer asked to be forgotten, and a person cannot go on answering a conversation without its
words. The retention run never touches a conversation with an open ticket or any activity within the period.

The audit line says when, who (an admin's username, ``cli`` or ``retention``), what kind, a SHA-256 of the selector
(``email:<address>`` or ``conversation:<id>``: whether an address was erased can be checked by hashing it again; the
address itself is not kept) and the counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from sqlalchemy import JSON, Column, DateTime, Integer, String, func, or_, select, update
from sqlalchemy.orm import Session

from handoff.context import SYSTEM, parse_reference
from handoff.models import Ticket, TicketEvent
from handoff.states import next_status
from handoff.webhooks import WebhookDelivery
from tier0.conversations import Conversation, Message
from tier0.db import Base, Database
from tier0.errors import InvalidInput, NotFound
from tier0.privacy import EMAIL, mask
from tier0.vocab import MAX_EMAIL_ADDRESS_CHARS, OPEN_TICKET_STATUSES, DeliveryStatus, Sender

log = logging.getLogger("tier0.privacy")
ERASED = "[erased]"
ERASED_PAYLOAD = json.dumps({"erased": True})
CLOSING_NOTE = "personal data erased at the customer's request"
RETENTION_ACTOR = "retention"
CONVERSATION_ID = re.compile(r"[0-9a-f]{32}")
# erases Rasa's trackers of these conversations (inside the transaction for a tracker in this database); returns how
# many tracker rows or keys it removed
TrackerEraser = Callable[[Session, Sequence[str]], int]


class PrivacyAudit(Base):
    __tablename__ = "privacy_audit"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False)
    actor = Column(String(100), nullable=False)  # an admin's username, "cli" or "retention"
    kind = Column(String(32), nullable=False)  # erase_email | erase_conversation | retention
    selector_hash = Column(String(71), nullable=True)  # "sha256:<hex>" of the selector; none for retention
    counts = Column(JSON, nullable=False, default=dict)


@dataclass
class Erasure:
    """What one run erased; ``audit_id`` is its line in ``privacy_audit`` (None: a retention run with nothing to do)."""

    kind: str
    counts: Dict[str, int] = field(default_factory=dict)
    audit_id: Optional[int] = None

    def summary(self) -> str:
        c = self.counts
        parts = [f"{c.get(k, 0)} {k.replace('_', ' ')}" for k in COUNTS]
        closed = f"; closed {c['tickets_closed']} open tickets" if c.get("tickets_closed") else ""
        audit = f"; audit #{self.audit_id}" if self.audit_id is not None else ""
        return f"{self.kind}: {', '.join(parts)}{closed}{audit}"

    def as_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "counts": dict(self.counts), "audit_id": self.audit_id}


COUNTS = ("conversations", "messages", "tickets", "ticket_events", "deliveries", "tracker_events")


def selector_hash(kind: str, value: str) -> str:
    return "sha256:" + hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def normalise_email(email: Any) -> str:
    addr = str(email or "").strip().lower()
    if not addr or len(addr) > MAX_EMAIL_ADDRESS_CHARS or not EMAIL.fullmatch(addr):
        raise InvalidInput(f"{str(email)[:80]!r} is not an e-mail address")
    return addr


def check_conversation_id(conversation_id: Any) -> str:
    cid = str(conversation_id or "").strip().lower()
    if not CONVERSATION_ID.fullmatch(cid):
        raise InvalidInput(f"{str(conversation_id)[:80]!r} is not a conversation id (32 hexadecimal characters)")
    return cid


class PrivacyService:
    def __init__(self, db: Database, clock: Any, *, handoff: Any = None, trackers: Optional[TrackerEraser] = None):
        """``handoff``: the HandoffService that closes an erased customer's open tickets (without one they are closed
        here, with the same event, but live pages are not told); ``trackers``: erases Rasa's trackers."""
        self.db = db
        self.clock = clock
        self.handoff = handoff
        self.trackers = trackers

    # -- data-subject requests -------------------------------------------------------------------------------
    def erase(self, *, email: Optional[str] = None, conversation_id: Optional[str] = None,
              actor: str = "cli") -> Erasure:
        """Erase one customer's data, by e-mail address or by conversation (exactly one of them)."""
        if (email is None) == (conversation_id is None):
            raise InvalidInput("give an e-mail address or a conversation id (one of them)")
        if email is not None:
            return self.erase_email(email, actor)
        return self.erase_conversation(str(conversation_id), actor)

    def erase_email(self, email: str, actor: str) -> Erasure:
        """Every conversation of the customer with this address: declared at the start, given for an answer by
        e-mail, the sender of an inbound e-mail, or typed in one of the customer's own messages."""
        addr = normalise_email(email)
        return self._erase("erase_email", selector_hash("email", addr), self.conversations_of(addr), actor)

    def erase_conversation(self, conversation_id: str, actor: str) -> Erasure:
        cid = check_conversation_id(conversation_id)
        with self.db.session() as s:
            if s.get(Conversation, cid) is None:
                raise NotFound(f"conversation {cid} not found")
        return self._erase("erase_conversation", selector_hash("conversation", cid), [cid], actor)

    def conversations_of(self, email: str) -> List[str]:
        addr = normalise_email(email)
        with self.db.session() as s:
            declared = select(Conversation.id).where(
                func.lower(Conversation.customer["email"].as_string()) == addr)
            contact = select(Ticket.conversation_id).where(Ticket.contact_email == addr)
            typed = select(Message.conversation_id, Message.text).where(
                Message.sender == Sender.CUSTOMER.value, func.lower(Message.text).contains(addr, autoescape=True))
            ids = set(s.execute(declared).scalars()) | set(s.execute(contact).scalars())
            # the text contains it; it is that address, not a longer one around it (la_ada@example.community)
            ids |= {cid for cid, text in s.execute(typed) if addr in {a.lower() for a in EMAIL.findall(text)}}
        return sorted(ids)

    def _erase(self, kind: str, selector: str, ids: List[str], actor: str) -> Erasure:
        closed = self._close_open_tickets(ids)
        now = self.clock.now()
        with self.db.session() as s:
            counts = self._anonymise(s, ids, now, reason="request")
            counts["tickets_closed"] = closed
            audit = PrivacyAudit(at=now, actor=str(actor)[:100], kind=kind, selector_hash=selector, counts=counts)
            s.add(audit)
            s.flush()
            result = Erasure(kind, counts, audit.id)
        log.info("privacy.erased kind=%s actor=%s selector=%s audit=%s %s", kind, actor, selector[:23], result.audit_id,
                 " ".join(f"{k}={v}" for k, v in counts.items()))
        return result

    def _close_open_tickets(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self.db.session() as s:
            refs = [t.reference for t in s.execute(
                select(Ticket).where(Ticket.conversation_id.in_(ids), Ticket.status.in_(OPEN_TICKET_STATUSES))
            ).scalars()]
        for ref in refs:
            if self.handoff is not None:
                self.handoff.resolve(ref, None, CLOSING_NOTE)
            else:
                self._resolve_here(ref)
        return len(refs)

    def _resolve_here(self, reference: str) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            t = s.get(Ticket, parse_reference(reference), with_for_update=True)
            if t is None or t.status not in OPEN_TICKET_STATUSES:
                return
            before = t.status
            t.status, t.resolved_at = next_status(before, "resolve").value, now
            s.add(TicketEvent(ticket_id=t.id, kind="resolved", actor=SYSTEM, note=CLOSING_NOTE,
                              data={"from": before, "to": t.status, "assignee": t.assignee}, created_at=now))

    # -- retention -------------------------------------------------------------------------------------------
    def due(self, days: float, now: Optional[dt.datetime] = None, limit: int = 200) -> List[str]:
        """Conversations idle for ``days`` (no message, no ticket change since) with no open ticket, not yet
        anonymised; the oldest first, at most ``limit``."""
        cutoff = (now or self.clock.now()) - dt.timedelta(days=days)
        with self.db.session() as s:
            recent = select(Message.conversation_id).where(Message.created_at >= cutoff)
            busy = select(Ticket.conversation_id).where(
                or_(Ticket.status.in_(OPEN_TICKET_STATUSES), Ticket.updated_at >= cutoff))
            q = (select(Conversation.id)
                 .where(Conversation.anonymised_at.is_(None), Conversation.created_at < cutoff,
                        Conversation.updated_at < cutoff, Conversation.id.not_in(recent), Conversation.id.not_in(busy))
                 .order_by(Conversation.created_at, Conversation.id)
                 .limit(limit))
            return list(s.execute(q).scalars())

    def purge(self, days: float, now: Optional[dt.datetime] = None, actor: str = RETENTION_ACTOR,
              batch: int = 200, max_batches: Optional[int] = None) -> Erasure:
        """Anonymise every conversation idle for ``days`` (:meth:`due`), ``batch`` conversations a transaction;
        one audit line for the run when it anonymised anything. ``days <= 0``: retention is off, nothing happens."""
        total: Dict[str, int] = {k: 0 for k in COUNTS}
        if days <= 0:
            return Erasure("retention", total)
        now = now or self.clock.now()
        runs = 0
        while max_batches is None or runs < max_batches:
            ids = self.due(days, now, batch)
            if not ids:
                break
            with self.db.session() as s:
                counts = self._anonymise(s, ids, now, reason="retention")
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
            runs += 1
            if len(ids) < batch:
                break
        result = Erasure("retention", total)
        if total["conversations"]:
            with self.db.session() as s:
                audit = PrivacyAudit(at=now, actor=actor, kind="retention", selector_hash=None,
                                     counts={**total, "days": days})
                s.add(audit)
                s.flush()
                result.audit_id = audit.id
            log.info("privacy.retention days=%s audit=%s %s", days, result.audit_id,
                     " ".join(f"{k}={v}" for k, v in total.items()))
        return result

    def audit(self, limit: int = 100) -> List[Dict[str, Any]]:
        """The newest audit lines first."""
        with self.db.session() as s:
            rows = s.execute(select(PrivacyAudit).order_by(PrivacyAudit.id.desc()).limit(limit)).scalars()
            return [{"id": a.id, "at": a.at.isoformat() + "Z", "actor": a.actor, "kind": a.kind,
                     "selector_hash": a.selector_hash, "counts": dict(a.counts or {})} for a in rows]

    # -- the erasing itself ----------------------------------------------------------------------------------
    def _anonymise(self, s: Session, ids: Sequence[str], now: dt.datetime, reason: str) -> Dict[str, int]:
        counts = {k: 0 for k in COUNTS}
        if not ids:
            return counts
        ids = list(ids)
        counts["messages"] = s.execute(
            update(Message)
            .where(Message.conversation_id.in_(ids), Message.sender != Sender.BOT.value)
            .values(text=ERASED, data={"erased": reason})
            .execution_options(synchronize_session=False)
        ).rowcount or 0
        for m in s.execute(select(Message).where(Message.conversation_id.in_(ids),
                                                 Message.sender == Sender.BOT.value)).scalars():
            masked = mask(m.text or "")
            if masked != m.text:
                m.text = masked
        for c in s.execute(select(Conversation).where(Conversation.id.in_(ids))).scalars():
            c.customer = {}
            c.anonymised_at = now
            counts["conversations"] += 1
        tickets = list(s.execute(select(Ticket).where(Ticket.conversation_id.in_(ids))).scalars())
        for t in tickets:
            t.customer, t.contact_email, t.transcript, t.summary = {}, None, [], None
        counts["tickets"] = len(tickets)
        event_ids: List[int] = []
        if tickets:
            for e in s.execute(select(TicketEvent).where(TicketEvent.ticket_id.in_([t.id for t in tickets]))).scalars():
                event_ids.append(e.id)
                changed = False
                if e.note is not None and e.actor != Sender.SYSTEM.value:
                    e.note, changed = ERASED, True
                if e.data and "question" in e.data:
                    e.data = {k: v for k, v in e.data.items() if k != "question"}
                    changed = True
                counts["ticket_events"] += int(changed)
        for chunk in _chunks(event_ids, 500):
            for d in s.execute(select(WebhookDelivery).where(WebhookDelivery.event_id.in_(chunk))).scalars():
                d.payload = ERASED_PAYLOAD
                if d.status == DeliveryStatus.PENDING.value:
                    d.status, d.last_error = DeliveryStatus.FAILED.value, "not sent: personal data erased"
                counts["deliveries"] += 1
        s.flush()
        if self.trackers is not None:
            counts["tracker_events"] = int(self.trackers(s, ids) or 0)
        return counts


def _chunks(items: List[int], size: int) -> List[List[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
