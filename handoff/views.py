"""The desk's read models: a ticket as a dict (with its SLA clock and the actions allowed now), its audit trail, the
detail an agent opens, the queue sorted by urgency, and the numbers per queue. Nothing here changes a ticket.
"""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import func, select

from handoff.agents import AgentView
from handoff.availability import Availability
from handoff.context import DeskContext, iso, pauses_of
from handoff.models import Ticket, TicketEvent
from handoff.priority import PRIORITIES
from handoff.sla import SlaClock, SlaTicket, sla_clock, urgency_key
from handoff.states import REOPEN_WINDOW, allowed_actions
from tier0.conversations import TRANSCRIPT_PAGE
from tier0.errors import Forbidden, InvalidInput
from tier0.identity import reply_address, verified_email
from tier0.vocab import OPEN_TICKET_STATUSES, Language, Sender, TicketStatus

OPEN_FILTER = "open"  # ticket_page(status=...): the open tickets, waiting or with an agent
TICKET_PAGE = 50  # tickets in one page of the desk's queue, unless the caller asks another number
MAX_TICKET_PAGE = 200  # and at most
# What a ticket's SLA clock and its place in the queue need: read for every ticket of the queue (a few columns), the
# whole ticket only for the page shown.
URGENCY_COLUMNS = (
    Ticket.id, Ticket.queue, Ticket.status, Ticket.level, Ticket.priority, Ticket.level_started_at,
    Ticket.first_response_at, Ticket.resolved_at, Ticket.sla_pauses, Ticket.sla_flags, Ticket.created_at,
)


def sla_ticket(t: Any) -> SlaTicket:
    """``t``: a Ticket, or a row of :data:`URGENCY_COLUMNS`."""
    return SlaTicket(
        status=t.status,
        level=t.level,
        priority=t.priority,
        level_started_at=t.level_started_at or t.created_at,
        first_response_at=t.first_response_at,
        pauses=tuple(pauses_of(t)),
        resolved_at=t.resolved_at,
        flags=frozenset(t.sla_flags or []),
    )


def event_dict(t: Ticket, e: TicketEvent) -> Dict[str, Any]:
    return {
        "id": e.id,
        "ticket": t.reference,
        "kind": e.kind,
        "actor": e.actor,
        "note": e.note,
        "data": e.data or {},
        "at": iso(e.created_at),
    }


class TicketViews:
    def __init__(self, ctx: DeskContext, availability: Availability):
        self.ctx = ctx
        self.availability = availability

    def clock_of(self, t: Any, now: Optional[dt.datetime] = None) -> SlaClock:
        q = self.ctx.config.queue(t.queue)
        return sla_clock(sla_ticket(t), self.ctx.config.sla, q.hours, now or self.ctx.clock.now())

    def ticket_dict(self, t: Ticket, now: Optional[dt.datetime] = None) -> Dict[str, Any]:
        q = self.ctx.config.queue(t.queue)
        return {
            "id": t.reference,
            "conversation_id": t.conversation_id,
            "status": t.status,
            "assignee": t.assignee,
            "queue": t.queue,
            "team": q.display(t.language),
            "level": t.level,
            "priority": t.priority,
            "priority_rule": t.priority_rule,
            "reason": t.reason,
            "confidence": t.confidence,
            "language": t.language,
            "channel": t.channel,
            "category": t.category,
            "topic": t.topic,
            "customer": t.customer or {},
            "contact_email": t.contact_email,
            "reply_token": t.reply_token,
            "reply_to": reply_address(self.ctx.reply_address, t.reply_token),
            "candidates": t.candidates or [],
            "transcript": t.transcript or [],
            "created_at": iso(t.created_at),
            "level_started_at": iso(t.level_started_at),
            "first_response_at": iso(t.first_response_at),
            "resolved_at": iso(t.resolved_at),
            "sla": self.clock_of(t, now).as_dict(),
            "actions": allowed_actions(t.status),
        }

    # -- one ticket ------------------------------------------------------------------------------------------
    def latest(self, s, conversation_id: str, statuses) -> Optional[Ticket]:
        """The conversation's newest ticket in one of ``statuses``."""
        return s.execute(
            select(Ticket)
            .where(Ticket.conversation_id == conversation_id, Ticket.status.in_(statuses))
            .order_by(Ticket.id.desc())
        ).scalars().first()

    def open_ticket_for(self, conversation_id: str, availability: bool = False) -> Optional[Dict[str, Any]]:
        """The conversation's open ticket; with ``availability``, also its position, wait and who is online."""
        with self.ctx.db.session() as s:
            t = self.latest(s, conversation_id, OPEN_TICKET_STATUSES)
            if t is None:
                return None
            d = self.ticket_dict(t)
            if availability:
                d.update(self.availability.of_ticket(s, t, self.ctx.clock.now()))
            return d

    def get(self, reference: str, agent: Optional[AgentView] = None) -> Dict[str, Any]:
        with self.ctx.db.session() as s:
            t = self.ctx.load(s, reference)
            self.ctx.check(t, agent)
            return self.ticket_dict(t)

    def detail(self, reference: str, agent: Optional[AgentView] = None, limit: int = TRANSCRIPT_PAGE) -> Dict[str, Any]:
        """Everything an agent needs: the ticket, the live transcript, the audit trail and the SLA clock; of the
        transcript and the trail, the last ``limit`` entries, and whether earlier ones exist (:meth:`message_page`,
        :meth:`event_page` read them)."""
        d = self.get(reference, agent)
        d["messages"], d["earlier_messages"] = self.ctx.conversations.transcript_page(d["conversation_id"], limit)
        d["events"], d["earlier_events"] = self.event_page(reference, None, limit=limit)
        return d

    def message_page(
        self, reference: str, agent: Optional[AgentView] = None, before: Optional[int] = None,
        limit: int = TRANSCRIPT_PAGE,
    ) -> Dict[str, Any]:
        """The last ``limit`` messages of the ticket's conversation before message ``before``, oldest first."""
        t = self.get(reference, agent)
        messages, earlier = self.ctx.conversations.transcript_page(t["conversation_id"], limit, before_id=before)
        return {"ticket": t["id"], "messages": messages, "earlier": earlier}

    def event_page(
        self, reference: str, agent: Optional[AgentView] = None, before: Optional[int] = None,
        limit: int = TRANSCRIPT_PAGE,
    ) -> Tuple[List[Dict[str, Any]], bool]:
        """The last ``limit`` events of the ticket's audit trail before event ``before``, oldest first, and whether
        earlier ones exist."""
        with self.ctx.db.session() as s:
            t = self.ctx.load(s, reference)
            self.ctx.check(t, agent)
            q = select(TicketEvent).where(TicketEvent.ticket_id == t.id)
            if before is not None:
                q = q.where(TicketEvent.id < before)
            rows = s.execute(q.order_by(TicketEvent.id.desc()).limit(limit + 1)).scalars().all()
            return [event_dict(t, e) for e in reversed(rows[:limit])], len(rows) > limit

    def events(self, reference: str) -> List[Dict[str, Any]]:
        with self.ctx.db.session() as s:
            t = self.ctx.load(s, reference)
            rows = s.execute(
                select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id)
            ).scalars()
            return [event_dict(t, e) for e in rows]

    def find_ticket_by_email(self, email: str) -> Optional[Dict[str, Any]]:
        """The latest open (or recently resolved) ticket whose customer's e-mail address is this one **and was
        signed by the site** (tier0.identity); an address the customer only declared or typed never matches."""
        since = self.ctx.clock.now() - REOPEN_WINDOW
        email = email.strip().lower()
        with self.ctx.db.session() as s:
            rows = s.execute(
                select(Ticket)
                .where(Ticket.contact_email == email)
                .where(
                    Ticket.status.in_(OPEN_TICKET_STATUSES)
                    | ((Ticket.status == TicketStatus.RESOLVED) & (Ticket.resolved_at >= since))
                )
                .order_by(Ticket.id.desc())
            ).scalars()
            t = next((t for t in rows if verified_email(t.customer) == email), None)
            return self.ticket_dict(t) if t else None

    def find_ticket_by_reply_token(self, token: str) -> Optional[Dict[str, Any]]:
        """The ticket whose reply token this is (any status), or None."""
        with self.ctx.db.session() as s:
            t = s.execute(select(Ticket).where(Ticket.reply_token == token.strip().lower())).scalars().first()
            return self.ticket_dict(t) if t else None

    # -- queues ----------------------------------------------------------------------------------------------
    def ticket_page(
        self,
        agent: Optional[AgentView] = None,
        queue: Optional[str] = None,
        status: Optional[str] = None,
        priority: Optional[str] = None,
        assignee: Optional[str] = None,
        limit: int = TICKET_PAGE,
        offset: int = 0,
    ) -> Tuple[List[Dict[str, Any]], int]:
        """One page of the tickets the agent may see, most urgent first across all of them (SLA breached, then
        priority, then soonest due, then age), and how many there are.

        The order depends on the time, the queue's business hours and the pauses, which SQL does not compute: every
        matching ticket's clock is computed from :data:`URGENCY_COLUMNS` (no transcript, no JSON of the bot's
        candidates), and only the page's tickets are read whole. The ticket's id breaks ties, so that pages read at
        the same instant cover every ticket once. Closed tickets (resolved, returned) have no running clock: they
        come newest first, ordered and paged by the database."""
        if queue is not None and agent is not None and not agent.can_see_queue(queue):
            raise Forbidden(f"queue {queue!r} is not one of yours")
        if priority is not None and priority not in PRIORITIES:
            raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
        if limit < 1 or offset < 0:
            raise InvalidInput("limit must be at least 1 and offset at least 0")
        statuses = OPEN_TICKET_STATUSES if status in (None, OPEN_FILTER) else (status,)
        now = self.ctx.clock.now()
        with self.ctx.db.session() as s:
            q = select(*URGENCY_COLUMNS).where(Ticket.status.in_(statuses))
            if queue:
                q = q.where(Ticket.queue == queue)
            elif agent is not None and not agent.sees_all:
                q = q.where(Ticket.queue.in_(list(agent.queues) or ["-"]))
            if priority:
                q = q.where(Ticket.priority == priority)
            if assignee:
                q = q.where(Ticket.assignee == assignee)
            if not set(statuses) & set(OPEN_TICKET_STATUSES):
                total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
                ids = [r.id for r in s.execute(q.order_by(Ticket.id.desc()).offset(offset).limit(limit))]
            else:
                rows = s.execute(q).all()
                total = len(rows)

                def key(r: Any) -> Tuple:
                    return (*urgency_key(self.clock_of(r, now), PRIORITIES.index(r.priority), r.created_at), r.id)

                ids = [r.id for r in heapq.nsmallest(offset + limit, rows, key=key)[offset:]]
            whole = {t.id: t for t in s.execute(select(Ticket).where(Ticket.id.in_(ids))).scalars()} if ids else {}
            out = []
            for i in ids:
                t = whole.get(i)
                if t is None:  # gone since the first read (an erasure)
                    continue
                d = self.ticket_dict(t, now)
                d.pop("transcript", None)
                d["last_customer_message"] = next(
                    (m["text"] for m in reversed(t.transcript or []) if m["sender"] == Sender.CUSTOMER), None
                )
                out.append(d)
            return out, total

    def queue_stats(self, agent: Optional[AgentView] = None) -> List[Dict[str, Any]]:
        now = self.ctx.clock.now()
        out = []
        with self.ctx.db.session() as s:
            for q in self.ctx.config.queues.values():
                if agent is not None and not agent.can_see_queue(q.name):
                    continue
                rows = s.execute(
                    select(*URGENCY_COLUMNS).where(Ticket.queue == q.name, Ticket.status.in_(OPEN_TICKET_STATUSES))
                ).all()
                online = self.availability.online(q.members, now)
                breached = sum(1 for t in rows if self.clock_of(t, now).resolution_breached)
                handling = self.availability.recent_handling_minutes(s, q.name) or q.handling_minutes
                out.append({
                    "name": q.name,
                    "team": q.display(Language.EN),
                    "names": dict(q.names),
                    "level": q.level,
                    "open_now": q.hours.is_open(now),
                    "members": list(q.members),
                    "online": online,
                    "waiting": sum(1 for t in rows if t.status == TicketStatus.WAITING),
                    "with_agent": sum(1 for t in rows if t.status == TicketStatus.AGENT),
                    "breached": breached,
                    "handling_minutes": round(handling, 1),
                    "escalate": dict(q.escalate),
                })
        return out
