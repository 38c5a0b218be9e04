"""The desk: tickets created by the bot's hand-offs, worked by people, kept to their SLAs.

Every change of a ticket goes through :class:`HandoffService`, which checks the ownership state machine
(:mod:`handoff.states`), records an event (actor, time, note — the audit trail), tells the customer what happens
when it concerns them, and notifies listeners (live pages, outbound webhooks) after the change is committed.
Time comes from an injected clock, so the SLA scheduler (:meth:`HandoffService.run_sla`) runs under a frozen one in
tests.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlalchemy import select

from handoff.agents import AgentView
from handoff.deskconfig import REASONS, DeskConfig
from handoff.models import Ticket, TicketEvent
from handoff.priority import PRIORITIES, bump, compute_priority
from handoff.sla import SlaClock, SlaTicket, due_actions, sla_clock, urgency_key
from handoff.states import OPEN, allowed_actions, next_status
from tier0.clock import Clock, SystemClock
from tier0.conversations import ConversationStore, validate_text
from tier0.db import Database
from tier0.errors import Conflict, Forbidden, InvalidInput, NotFound

log = logging.getLogger("tier0.handoff")

OPEN_STATUSES = OPEN
REOPEN_WINDOW = dt.timedelta(days=7)  # a customer writing within this after resolution reopens the ticket
Listener = Callable[[Dict[str, Any], Dict[str, Any]], None]
SYSTEM = "system"


@dataclass
class HandoffRequest:
    conversation_id: str
    reason: str
    confidence: Optional[float] = None
    candidates: Optional[List[Dict[str, Any]]] = None
    article_queue: Optional[str] = None  # the article's `handoff:` topic
    category: Optional[str] = None
    language: Optional[str] = None


def iso(t: Optional[dt.datetime]) -> Optional[str]:
    return t.isoformat() + "Z" if t else None


def parse_reference(ref: str) -> int:
    s = str(ref).strip().upper()
    if s.startswith("T-"):
        s = s[2:]
    if not s.isdigit() or len(s) > 12:
        raise InvalidInput(f"{ref!r} is not a ticket reference like T-12")
    return int(s)


def _pauses(t: Ticket) -> List[Tuple[dt.datetime, Optional[dt.datetime]]]:
    out = []
    for a, b in t.sla_pauses or []:
        out.append((dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b) if b else None))
    return out


def _set_pauses(t: Ticket, pauses: List[Tuple[dt.datetime, Optional[dt.datetime]]]) -> None:
    t.sla_pauses = [[a.isoformat(), b.isoformat() if b else None] for a, b in pauses]


def sla_ticket(t: Ticket) -> SlaTicket:
    return SlaTicket(
        status=t.status,
        level=t.level,
        priority=t.priority,
        level_started_at=t.level_started_at or t.created_at,
        first_response_at=t.first_response_at,
        pauses=tuple(_pauses(t)),
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


class HandoffService:
    def __init__(
        self,
        db: Database,
        conversations: ConversationStore,
        config: DeskConfig,
        clock: Optional[Clock] = None,
        agents=None,
    ):
        self.db = db
        self.conversations = conversations
        self.config = config
        self.clock = clock or SystemClock()
        self.agents = agents  # AgentDirectory, for presence (who is online)
        self.listeners: List[Listener] = []

    # -- views -------------------------------------------------------------------------------------------
    def clock_of(self, t: Ticket, now: Optional[dt.datetime] = None) -> SlaClock:
        q = self.config.queue(t.queue)
        return sla_clock(sla_ticket(t), self.config.sla, q.hours, now or self.clock.now())

    def ticket_dict(self, t: Ticket, now: Optional[dt.datetime] = None) -> Dict[str, Any]:
        q = self.config.queue(t.queue)
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
            "candidates": t.candidates or [],
            "transcript": t.transcript or [],
            "created_at": iso(t.created_at),
            "level_started_at": iso(t.level_started_at),
            "first_response_at": iso(t.first_response_at),
            "resolved_at": iso(t.resolved_at),
            "sla": self.clock_of(t, now).as_dict(),
            "actions": allowed_actions(t.status),
        }

    # -- listeners -----------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def _emit(self, pending: List[Tuple[Dict[str, Any], Dict[str, Any]]]) -> None:
        for event, ticket in pending:
            for fn in self.listeners:
                try:
                    fn(event, ticket)
                except Exception:  # noqa: BLE001 - a listener must never break the desk
                    log.exception("handoff.listener_failed kind=%s", event["kind"])

    def _event(self, s, t: Ticket, kind: str, actor: str, note: Optional[str] = None, **data: Any) -> TicketEvent:
        e = TicketEvent(ticket_id=t.id, kind=kind, actor=actor, note=note, data=data, created_at=self.clock.now())
        s.add(e)
        s.flush()
        return e

    # -- hand-off from the bot ---------------------------------------------------------------------------------
    def open(self, req: HandoffRequest) -> Tuple[Dict[str, Any], bool]:
        """``(ticket, created)``: the conversation's open ticket, or a new one — handing it to people.

        The returned ticket also says what to tell the customer: ``team``, ``position``,
        ``expected_wait_minutes`` and ``availability`` (``online``, or ``offline`` when the team is closed or
        nobody is signed in — the ticket waits and the customer is asked for an e-mail address).
        """
        if req.reason not in REASONS:
            raise InvalidInput(f"unknown hand-off reason {req.reason!r}")
        existing = self.open_ticket_for(req.conversation_id)
        if existing is not None:
            return existing, False
        conv = self.conversations.get(req.conversation_id)
        transcript = self.conversations.transcript(req.conversation_id)
        customer_texts = [m["text"] for m in transcript if m["sender"] == "customer"]
        language = req.language or conv.language
        queue = self.config.route(req.reason, req.article_queue, req.category, language)
        priority, rule = compute_priority(
            req.reason, customer_texts, (conv.customer or {}).get("tier"), req.category, self.config.category_priority
        )
        now = self.clock.now()
        with self.db.session() as s:
            t = Ticket(
                conversation_id=req.conversation_id,
                status="waiting",
                queue=queue.name,
                level=queue.level,
                priority=priority,
                priority_rule=rule,
                reason=req.reason,
                confidence=req.confidence,
                language=language,
                channel=conv.channel,
                category=req.category,
                topic=req.article_queue,
                customer=conv.customer,
                contact_email=((conv.customer or {}).get("email") or "").strip().lower() or None,
                candidates=list(req.candidates or []),
                transcript=transcript,
                created_at=now,
                level_started_at=now,
                sla_pauses=[],
                sla_flags=[],
            )
            s.add(t)
            s.flush()
            e = self._event(s, t, "created", "bot", req.reason, queue=queue.name, level=queue.level,
                            priority=priority, rule=rule)
            result = self.ticket_dict(t, now)
            result.update(self._availability(s, t, now))
            pending = [(event_dict(t, e), result)]
        self.conversations.update(req.conversation_id, status="handed_off")
        log.info(
            "handoff.created ticket=%s queue=%s level=%s priority=%s rule=%s reason=%s",
            result["id"], queue.name, queue.level, priority, rule, req.reason,
        )
        self._emit(pending)
        return result, True

    def _availability(self, s, t: Ticket, now: dt.datetime) -> Dict[str, Any]:
        """Position, expected wait from the queue's recent handling times, and whether anyone can take it now."""
        q = self.config.queue(t.queue)
        rank = PRIORITIES.index(t.priority)
        ahead = s.execute(
            select(Ticket.id).where(
                Ticket.queue == t.queue,
                Ticket.status == "waiting",
                Ticket.id != t.id,
                Ticket.priority.in_(PRIORITIES[rank:]),
            )
        ).all()
        position = len(ahead) + 1
        online = self.agents.online(q.members, now) if self.agents is not None else list(q.members)
        handling = self._recent_handling_minutes(s, t.queue) or q.handling_minutes
        open_now = q.hours.is_open(now)
        wait = max(1, round(position * handling / max(1, len(online))))
        available = open_now and bool(online)
        info: Dict[str, Any] = {
            "position": position,
            "expected_wait_minutes": wait,
            "availability": "online" if available else "offline",
            "open_now": open_now,
            "agents_online": len(online),
        }
        if not open_now:
            opens = q.hours.next_open(now)
            info["opens_at"] = iso(opens)
            local = opens.replace(tzinfo=dt.timezone.utc).astimezone(q.hours.tz)
            info["opens_at_local"] = local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")
        return info

    def _recent_handling_minutes(self, s, queue: str, last: int = 20) -> Optional[float]:
        """Median minutes from claim to resolution over the queue's last resolved tickets (None without history)."""
        ids = s.execute(
            select(Ticket.id).where(Ticket.queue == queue, Ticket.status == "resolved")
            .order_by(Ticket.resolved_at.desc()).limit(last)
        ).scalars().all()
        if len(ids) < 3:
            return None
        rows = s.execute(
            select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.created_at)
            .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind.in_(("claimed", "resolved")))
            .order_by(TicketEvent.id)
        ).all()
        claimed: Dict[int, dt.datetime] = {}
        spans = []
        for tid, kind, at in rows:
            if kind == "claimed":
                claimed.setdefault(tid, at)
            elif tid in claimed:
                spans.append((at - claimed[tid]).total_seconds() / 60)
        return statistics.median(spans) if len(spans) >= 3 else None

    # -- reading -------------------------------------------------------------------------------------------
    def _load(self, s, reference: str, lock: bool = False) -> Ticket:
        """The ticket; ``lock`` takes its row lock (PostgreSQL) so two agents or workers cannot both change it."""
        t = s.get(Ticket, parse_reference(reference), with_for_update=lock or None)
        if t is None:
            raise NotFound(f"ticket {reference} not found")
        return t

    def _check(self, t: Ticket, agent: Optional[AgentView]) -> None:
        if agent is not None and not agent.can_see_queue(t.queue):
            raise Forbidden(f"ticket {t.reference} is in queue {t.queue!r}, which is not one of yours")

    def open_ticket_for(self, conversation_id: str, availability: bool = False) -> Optional[Dict[str, Any]]:
        """The conversation's open ticket; with ``availability``, also its position, wait and who is online."""
        with self.db.session() as s:
            t = self._latest(s, conversation_id, OPEN)
            if t is None:
                return None
            d = self.ticket_dict(t)
            if availability:
                d.update(self._availability(s, t, self.clock.now()))
            return d

    def _latest(self, s, conversation_id: str, statuses) -> Optional[Ticket]:
        return s.execute(
            select(Ticket)
            .where(Ticket.conversation_id == conversation_id, Ticket.status.in_(statuses))
            .order_by(Ticket.id.desc())
        ).scalars().first()

    def get(self, reference: str, agent: Optional[AgentView] = None) -> Dict[str, Any]:
        with self.db.session() as s:
            t = self._load(s, reference)
            self._check(t, agent)
            return self.ticket_dict(t)

    def detail(self, reference: str, agent: Optional[AgentView] = None) -> Dict[str, Any]:
        """Everything an agent needs: the ticket, the live transcript, the audit trail and the SLA clock."""
        d = self.get(reference, agent)
        d["messages"] = self.conversations.transcript(d["conversation_id"])
        d["events"] = self.events(reference)
        return d

    def events(self, reference: str) -> List[Dict[str, Any]]:
        with self.db.session() as s:
            t = self._load(s, reference)
            rows = s.execute(
                select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id)
            ).scalars()
            return [event_dict(t, e) for e in rows]

    def list_tickets(
        self,
        agent: Optional[AgentView] = None,
        queue: Optional[str] = None,
        status: Optional[str] = None,
        priority: Optional[str] = None,
        assignee: Optional[str] = None,
        limit: int = 200,
    ) -> List[Dict[str, Any]]:
        """Tickets the agent may see, most urgent first (SLA breached, then soonest due, priority, age)."""
        if queue is not None and agent is not None and not agent.can_see_queue(queue):
            raise Forbidden(f"queue {queue!r} is not one of yours")
        if priority is not None and priority not in PRIORITIES:
            raise InvalidInput(f"priority must be one of {', '.join(PRIORITIES)}")
        statuses = OPEN if status in (None, "open") else (status,)
        now = self.clock.now()
        with self.db.session() as s:
            q = select(Ticket).where(Ticket.status.in_(statuses))
            if queue:
                q = q.where(Ticket.queue == queue)
            elif agent is not None and not agent.sees_all:
                q = q.where(Ticket.queue.in_(list(agent.queues) or ["-"]))
            if priority:
                q = q.where(Ticket.priority == priority)
            if assignee:
                q = q.where(Ticket.assignee == assignee)
            rows = s.execute(q.order_by(Ticket.id.desc()).limit(2000)).scalars().all()
            keyed = []
            for t in rows:
                clock = self.clock_of(t, now)
                keyed.append((urgency_key(clock, PRIORITIES.index(t.priority), t.created_at), t))
            keyed.sort(key=lambda kt: kt[0])
            out = []
            for _k, t in keyed[:limit]:
                d = self.ticket_dict(t, now)
                d.pop("transcript", None)
                d["last_customer_message"] = next(
                    (m["text"] for m in reversed(t.transcript or []) if m["sender"] == "customer"), None
                )
                out.append(d)
            return out

    def queue_stats(self, agent: Optional[AgentView] = None) -> List[Dict[str, Any]]:
        now = self.clock.now()
        out = []
        with self.db.session() as s:
            for q in self.config.queues.values():
                if agent is not None and not agent.can_see_queue(q.name):
                    continue
                rows = s.execute(select(Ticket).where(Ticket.queue == q.name, Ticket.status.in_(OPEN))).scalars().all()
                online = self.agents.online(q.members, now) if self.agents is not None else []
                breached = sum(1 for t in rows if self.clock_of(t, now).resolution_breached)
                out.append({
                    "name": q.name,
                    "team": q.display("en"),
                    "names": dict(q.names),
                    "level": q.level,
                    "open_now": q.hours.is_open(now),
                    "members": list(q.members),
                    "online": online,
                    "waiting": sum(1 for t in rows if t.status == "waiting"),
                    "with_agent": sum(1 for t in rows if t.status == "agent"),
                    "breached": breached,
                    "handling_minutes": round(self._recent_handling_minutes(s, q.name) or q.handling_minutes, 1),
                    "escalate": dict(q.escalate),
                })
        return out

    # -- transitions -----------------------------------------------------------------------------------------
    def _transition(
        self,
        reference: str,
        action: str,
        agent: Optional[AgentView],
        note: Optional[str] = None,
        apply: Optional[Callable[[Any, Ticket, dt.datetime], Dict[str, Any]]] = None,
        kind: Optional[str] = None,
        owner_only: bool = True,
    ) -> Dict[str, Any]:
        now = self.clock.now()
        actor = f"agent:{agent.username}" if agent else SYSTEM
        with self.db.session() as s:
            t = self._load(s, reference, lock=True)
            self._check(t, agent)
            if (
                owner_only
                and agent is not None
                and t.status == "agent"
                and t.assignee not in (None, agent.username)
                and not agent.sees_all
            ):
                raise Forbidden(f"ticket {t.reference} belongs to {t.assignee}; a team lead can take it over")
            before = t.status
            t.status = next_status(t.status, action)
            data = apply(s, t, now) if apply else {}
            e = self._event(s, t, kind or action, actor, note, **{"from": before, "to": t.status, **(data or {})})
            result = self.ticket_dict(t, now)
            pending = [(event_dict(t, e), result)]
        log.info("handoff.%s ticket=%s actor=%s", kind or action, reference, actor)
        self._emit(pending)
        return result

    def claim(self, reference: str, agent: AgentView) -> Dict[str, Any]:
        def apply(_s, t: Ticket, _now):
            t.assignee = agent.username
            return {"assignee": agent.username}

        return self._transition(reference, "claim", agent, apply=apply, kind="claimed")

    def release(self, reference: str, agent: AgentView, note: Optional[str] = None) -> Dict[str, Any]:
        def apply(_s, t: Ticket, _now):
            prev, t.assignee = t.assignee, None
            return {"previous_assignee": prev}

        return self._transition(reference, "release", agent, note, apply=apply, kind="released")

    def reply(self, reference: str, agent: AgentView, text: str) -> Dict[str, Any]:
        """A public reply: it reaches the customer's chat (and e-mail channel, through the webhooks)."""
        text = validate_text(text)
        now = self.clock.now()
        with self.db.session() as s:
            t = self._load(s, reference, lock=True)
            self._check(t, agent)
            if t.status not in OPEN:
                raise Conflict(f"ticket {t.reference} is {t.status}; it takes no more replies")
            if t.status == "agent" and t.assignee != agent.username and not agent.sees_all:
                raise Forbidden(f"ticket {t.reference} belongs to {t.assignee}; a team lead can take it over")
            pending = []
            if t.status == "waiting":  # replying takes the ticket
                t.status, t.assignee = "agent", agent.username
                e = self._event(s, t, "claimed", f"agent:{agent.username}", None, assignee=agent.username,
                                **{"from": "waiting", "to": "agent"})
                pending.append(e)
            elif t.assignee != agent.username:
                prev, t.assignee = t.assignee, agent.username
                pending.append(self._event(s, t, "taken_over", f"agent:{agent.username}", None, previous=prev))
            if t.first_response_at is None:
                t.first_response_at = now
            pauses = _pauses(t)
            if not pauses or pauses[-1][1] is not None:
                pauses.append((now, None))  # waiting on the customer until they write back
                _set_pauses(t, pauses)
            conversation_id = t.conversation_id
            e = self._event(s, t, "agent_reply", f"agent:{agent.username}", text, channel=t.channel)
            pending.append(e)
            result = self.ticket_dict(t, now)
            out = [(event_dict(t, ev), result) for ev in pending]
        msg = self.conversations.add_message(
            conversation_id, "agent", text, {"agent": agent.display_name, "ticket": reference}
        )
        result["message"] = msg
        self._emit(out)
        return result

    def note(self, reference: str, agent: AgentView, text: str) -> Dict[str, Any]:
        """An internal note: on the ticket's history, never shown to the customer."""
        text = validate_text(text)
        with self.db.session() as s:
            t = self._load(s, reference)
            self._check(t, agent)
            e = self._event(s, t, "note", f"agent:{agent.username}", text)
            result = self.ticket_dict(t)
            pending = [(event_dict(t, e), result)]
        self._emit(pending)
        return result

    def resolve(self, reference: str, agent: Optional[AgentView], note: Optional[str] = None) -> Dict[str, Any]:
        def apply(_s, t: Ticket, now):
            t.resolved_at = now
            pauses = _pauses(t)
            if pauses and pauses[-1][1] is None:
                pauses[-1] = (pauses[-1][0], now)
                _set_pauses(t, pauses)
            return {"assignee": t.assignee}

        result = self._transition(reference, "resolve", agent, note, apply=apply, kind="resolved")
        self._tell(result, "resolved")
        return result

    def escalate(
        self, reference: str, agent: Optional[AgentView], kind: str = "functional", note: Optional[str] = None
    ) -> Dict[str, Any]:
        """One level up: functional (a specialist team) or hierarchical (someone with authority)."""
        if kind not in ("functional", "hierarchical"):
            raise InvalidInput("escalation kind must be 'functional' or 'hierarchical'")
        if agent is not None and not (note or "").strip():
            raise InvalidInput("say why you escalate: the next level reads your note first")

        def apply(_s, t: Ticket, now):
            target = self.config.escalation_target(t.queue, kind)
            if target is None:
                raise Conflict(f"queue {t.queue!r} has no {kind} escalation (level {t.level} is as far as it goes)")
            data = {"path": kind, "from_queue": t.queue, "to_queue": target.name,
                    "from_level": t.level, "to_level": target.level}
            t.queue, t.level, t.assignee = target.name, target.level, None
            t.level_started_at, t.first_response_at = now, None
            _set_pauses(t, [])
            return data

        result = self._transition(reference, "escalate", agent, note, apply=apply, kind="escalated", owner_only=False)
        self._tell(result, "escalated")
        return result

    def return_to_bot(self, reference: str, agent: AgentView, note: Optional[str] = None) -> Dict[str, Any]:
        def apply(_s, t: Ticket, now):
            t.resolved_at = now
            return {}

        result = self._transition(reference, "return_to_bot", agent, note, apply=apply, kind="returned_to_bot")
        self.conversations.update(result["conversation_id"], status="bot", low_confidence_streak=0)
        self._tell(result, "returned")
        return result

    def flag_answer(
        self, reference: str, agent: AgentView, message_id: int, note: Optional[str] = None
    ) -> Dict[str, Any]:
        """Mark one of the bot's answers in this conversation as wrong, linked to the article it cited."""
        ticket = self.get(reference, agent)
        messages = self.conversations.transcript(ticket["conversation_id"])
        idx = next((i for i, m in enumerate(messages) if m["id"] == message_id), None)
        if idx is None or messages[idx]["sender"] != "bot":
            raise InvalidInput(f"message {message_id} is not a bot message of this conversation")
        sources = messages[idx]["data"].get("sources") or []
        outcome = messages[idx]["data"].get("outcome") or {}
        if not sources or outcome.get("type", "answer") != "answer":
            raise InvalidInput(f"message {message_id} is not an answer citing an article")
        question = next((m["text"] for m in reversed(messages[:idx]) if m["sender"] == "customer"), None)
        article_id = sources[0]["article_id"]
        with self.db.session() as s:
            t = self._load(s, reference)
            e = self._event(s, t, "flagged", f"agent:{agent.username}", note, message_id=message_id,
                            article_id=article_id, question=question)
            result = self.ticket_dict(t)
            pending = [(event_dict(t, e), result)]
        log.info("handoff.flagged ticket=%s article=%s", reference, article_id)
        self._emit(pending)
        return {"ticket": result["id"], "article_id": article_id, "question": question, "message_id": message_id}

    # -- the customer ------------------------------------------------------------------------------------------
    def customer_message(self, conversation_id: str, text: str) -> Optional[Dict[str, Any]]:
        """A customer message in a conversation a person owns (or owned): joins the open ticket, ends the
        wait-on-customer pause, and reopens a recently resolved ticket. ``None`` when the bot owns it again."""
        now = self.clock.now()
        with self.db.session() as s:
            t = s.execute(
                select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id.desc())
            ).scalars().first()
            if t is None or t.status == "returned":
                return None
            pending = []
            if t.status == "resolved":
                if t.resolved_at is None or now - t.resolved_at > REOPEN_WINDOW:
                    return None
                t.status, t.assignee = next_status(t.status, "reopen"), None
                t.level_started_at, t.first_response_at, t.resolved_at = now, None, None
                t.sla_flags = []
                _set_pauses(t, [])
                pending.append(self._event(s, t, "reopened", "customer", None, **{"from": "resolved", "to": "waiting"}))
            pauses = _pauses(t)
            if pauses and pauses[-1][1] is None:
                pauses[-1] = (pauses[-1][0], now)
                _set_pauses(t, pauses)
            pending.append(self._event(s, t, "customer_message", "customer", text))
            result = self.ticket_dict(t, now)
            out = [(event_dict(t, e), result) for e in pending]
        self._emit(out)
        return result

    def find_ticket_by_email(self, email: str) -> Optional[Dict[str, Any]]:
        """The latest open (or recently resolved) ticket of the customer with this e-mail address."""
        since = self.clock.now() - REOPEN_WINDOW
        with self.db.session() as s:
            t = s.execute(
                select(Ticket)
                .where(Ticket.contact_email == email.lower())
                .where(Ticket.status.in_(OPEN) | ((Ticket.status == "resolved") & (Ticket.resolved_at >= since)))
                .order_by(Ticket.id.desc())
            ).scalars().first()
            return self.ticket_dict(t) if t else None

    def set_contact_email(self, reference: str, email: str) -> Dict[str, Any]:
        with self.db.session() as s:
            t = self._load(s, reference)
            t.contact_email = email.strip().lower()
            customer = dict(t.customer or {})
            customer.setdefault("email", email)
            t.customer = customer
            e = self._event(s, t, "contact_email", "customer", email)
            result = self.ticket_dict(t)
            pending = [(event_dict(t, e), result)]
        self._emit(pending)
        return result

    def _tell(self, ticket: Dict[str, Any], what: str) -> None:
        """Keep the customer informed of what happens to their request, in their language."""
        from handoff.notices import notice

        text = notice(what, ticket["language"], team=ticket["team"], ticket=ticket["id"])
        self.conversations.add_message(ticket["conversation_id"], "system", text, {"ticket": ticket["id"], "notice": what})

    # -- the SLA scheduler ----------------------------------------------------------------------------------
    def run_sla(self, now: Optional[dt.datetime] = None) -> List[Dict[str, Any]]:
        """Apply what the SLA rules require now: raise priorities, record breaches, escalate. Returns the actions."""
        now = now or self.clock.now()
        done: List[Dict[str, Any]] = []
        with self.db.session() as s:
            ids = s.execute(select(Ticket.id).where(Ticket.status.in_(OPEN))).scalars().all()
        for tid in ids:
            escalate = False
            with self.db.session() as s:
                t = s.get(Ticket, tid, with_for_update=True)
                if t is None or t.status not in OPEN:
                    continue
                q = self.config.queue(t.queue)
                clock = self.clock_of(t, now)
                can_escalate = bool(q.escalate)
                pending = []
                for action in due_actions(sla_ticket(t), clock, can_escalate):
                    t.sla_flags = sorted(set(t.sla_flags or []) | {action.flag})
                    if action.kind == "raise_priority":
                        before = t.priority
                        t.priority = bump(t.priority)
                        t.priority_rule = f"{t.priority_rule}+sla_first_response" if before != t.priority else t.priority_rule
                        pending.append(self._event(s, t, "priority_raised", SYSTEM, action.note,
                                                   **{"from": before, "to": t.priority, "rule": "sla_first_response"}))
                    else:
                        pending.append(self._event(s, t, "sla_breached", SYSTEM, action.note, level=t.level,
                                                   target_minutes=clock.target.resolution_min if clock.target else None))
                        escalate = action.kind == "escalate"
                    done.append({"ticket": t.reference, "action": action.kind})
                    log.warning("sla.%s ticket=%s level=%s", action.kind, t.reference, t.level)
                result = self.ticket_dict(t, now)
                out = [(event_dict(t, e), result) for e in pending]
                queue = t.queue
            self._emit(out)
            if escalate:
                kind = "functional" if "functional" in self.config.queue(queue).escalate else "hierarchical"
                self.escalate(f"T-{tid}", None, kind, "automatic: resolution SLA breached")
        return done
