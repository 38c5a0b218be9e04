"""What changes a ticket: the bot's hand-off that opens it, an agent's claim, release, reply, note, resolution,
escalation and return to the bot, a flagged answer, and the customer's messages and e-mail address.

Every change checks the ownership state machine (:mod:`handoff.states`), records an event (actor, time, note — the
audit trail), tells the customer what happens when it concerns them, and writes the outbound webhooks' outbox rows,
all in one unit of work (:meth:`handoff.context.DeskContext.publish`): a crash keeps all of it or none. The listeners
(live pages) are notified after the commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlalchemy import select

from handoff.agents import AgentView
from handoff.availability import Availability
from handoff.context import DeskContext, actor_of, log, pauses_of, set_pauses
from handoff.deskconfig import REASONS
from handoff.models import Ticket
from handoff.notices import notice
from handoff.priority import compute_priority
from handoff.states import REOPEN_WINDOW, next_status
from handoff.views import TicketViews, event_dict
from tier0.conversations import validate_text
from tier0.errors import Conflict, Forbidden, InvalidInput
from tier0.identity import is_verified, new_reply_token
from tier0.vocab import OPEN_TICKET_STATUSES, EscalationKind, Ownership, Sender, TicketStatus

Apply = Callable[[Any, Ticket, dt.datetime], Dict[str, Any]]
Then = Callable[[Any, Dict[str, Any]], None]  # (session, ticket dict): more of the same unit of work


@dataclass
class HandoffRequest:
    conversation_id: str
    reason: str
    confidence: Optional[float] = None
    candidates: Optional[List[Dict[str, Any]]] = None
    article_queue: Optional[str] = None  # the article's `handoff:` topic
    category: Optional[str] = None
    language: Optional[str] = None


class TicketTransitions:
    def __init__(self, ctx: DeskContext, views: TicketViews, availability: Availability):
        self.ctx = ctx
        self.views = views
        self.availability = availability

    # -- hand-off from the bot ---------------------------------------------------------------------------------
    def open(self, req: HandoffRequest) -> Tuple[Dict[str, Any], bool]:
        """``(ticket, created)``: the conversation's open ticket, or a new one — handing it to people.

        The returned ticket also says what to tell the customer: ``team``, ``position``,
        ``expected_wait_minutes`` and ``availability`` (``online``, or ``offline`` when the team is closed or
        nobody is signed in — the ticket waits and the customer is asked for an e-mail address).
        """
        if req.reason not in REASONS:
            raise InvalidInput(f"unknown hand-off reason {req.reason!r}")
        existing = self.views.open_ticket_for(req.conversation_id)
        if existing is not None:
            return existing, False
        conversations = self.ctx.conversations
        conv = conversations.get(req.conversation_id)
        transcript = conversations.transcript(req.conversation_id)
        customer_texts = [m["text"] for m in transcript if m["sender"] == Sender.CUSTOMER]
        language = req.language or conv.language
        queue = self.ctx.config.route(req.reason, req.article_queue, req.category, language)
        priority, rule = compute_priority(
            req.reason, customer_texts, (conv.customer or {}).get("tier"), req.category,
            self.ctx.config.category_priority, tier_verified=is_verified(conv.customer),
        )
        now = self.ctx.clock.now()
        with self.ctx.db.session(write=True) as s:
            # The conversation's row lock and its move to people first: of two hand-offs at once, the second waits
            # here, then finds the first one's ticket.
            conversations.update(req.conversation_id, status=Ownership.HANDED_OFF, session=s)
            raced = self.views.latest(s, req.conversation_id, OPEN_TICKET_STATUSES)
            if raced is not None:
                return self.views.ticket_dict(raced, now), False
            t = Ticket(
                conversation_id=req.conversation_id,
                status=TicketStatus.WAITING.value,
                queue=queue.name,
                level=queue.level,
                priority=priority,
                priority_rule=rule,
                reason=str(req.reason),
                confidence=req.confidence,
                language=language,
                channel=conv.channel,
                category=req.category,
                topic=req.article_queue,
                customer=conv.customer,
                contact_email=((conv.customer or {}).get("email") or "").strip().lower() or None,
                reply_token=new_reply_token(),
                candidates=list(req.candidates or []),
                transcript=transcript,
                created_at=now,
                level_started_at=now,
                sla_pauses=[],
                sla_flags=[],
            )
            s.add(t)
            s.flush()
            e = self.ctx.event(s, t, "created", Sender.BOT.value, t.reason, queue=queue.name, level=queue.level,
                               priority=priority, rule=rule)
            result = self.views.ticket_dict(t, now)
            result.update(self.availability.of_ticket(s, t, now))
            self.ctx.publish(s, [(event_dict(t, e), result)])
        log.info(
            "handoff.created ticket=%s queue=%s level=%s priority=%s rule=%s reason=%s",
            result["id"], queue.name, queue.level, priority, rule, req.reason,
        )
        return result, True

    # -- the state machine ---------------------------------------------------------------------------------
    def transition(
        self,
        reference: str,
        action: str,
        agent: Optional[AgentView],
        note: Optional[str] = None,
        apply: Optional[Apply] = None,
        kind: Optional[str] = None,
        owner_only: bool = True,
        then: Optional[Then] = None,
        session: Any = None,
    ) -> Dict[str, Any]:
        """One move of :mod:`handoff.states` under the ticket's row lock; ``apply`` changes the rest of the ticket
        and returns what the event records besides ``from`` and ``to``; ``then`` does more in the same unit of work
        (the conversation's owner, a notice to the customer); ``session``: the caller's unit of work."""
        now = self.ctx.clock.now()
        actor = actor_of(agent)
        with self.ctx.db.unit(session, write=True) as s:
            t = self.ctx.load(s, reference, lock=True)
            self.ctx.check(t, agent)
            if action == "claim" and t.status == TicketStatus.AGENT:  # two claims at once: the second one learns why
                raise Conflict(f"ticket {t.reference} was claimed by {t.assignee}; a team lead can take it over")
            if (
                owner_only
                and agent is not None
                and t.status == TicketStatus.AGENT
                and t.assignee not in (None, agent.username)
                and not agent.sees_all
            ):
                raise Forbidden(f"ticket {t.reference} belongs to {t.assignee}; a team lead can take it over")
            before = t.status
            t.status = next_status(t.status, action).value
            data = apply(s, t, now) if apply else {}
            e = self.ctx.event(s, t, kind or action, actor, note, **{"from": before, "to": t.status, **(data or {})})
            result = self.views.ticket_dict(t, now)
            if then is not None:
                then(s, result)
            self.ctx.publish(s, [(event_dict(t, e), result)])
        log.info("handoff.%s ticket=%s actor=%s", kind or action, reference, actor)
        return result

    def claim(self, reference: str, agent: AgentView) -> Dict[str, Any]:
        def apply(_s, t: Ticket, _now):
            t.assignee = agent.username
            return {"assignee": agent.username}

        return self.transition(reference, "claim", agent, apply=apply, kind="claimed")

    def release(self, reference: str, agent: AgentView, note: Optional[str] = None) -> Dict[str, Any]:
        def apply(_s, t: Ticket, _now):
            prev, t.assignee = t.assignee, None
            return {"previous_assignee": prev}

        return self.transition(reference, "release", agent, note, apply=apply, kind="released")

    def reply(self, reference: str, agent: AgentView, text: str) -> Dict[str, Any]:
        """A public reply: it reaches the customer's chat (and e-mail channel, through the webhooks)."""
        text = validate_text(text)
        now = self.ctx.clock.now()
        actor = actor_of(agent)
        with self.ctx.db.session(write=True) as s:
            t = self.ctx.load(s, reference, lock=True)
            self.ctx.check(t, agent)
            if t.status not in OPEN_TICKET_STATUSES:
                raise Conflict(f"ticket {t.reference} is {t.status}; it takes no more replies")
            if t.status == TicketStatus.AGENT and t.assignee != agent.username and not agent.sees_all:
                raise Forbidden(f"ticket {t.reference} belongs to {t.assignee}; a team lead can take it over")
            pending = []
            if t.status == TicketStatus.WAITING:  # replying takes the ticket
                before = t.status
                t.status, t.assignee = next_status(before, "claim").value, agent.username
                e = self.ctx.event(s, t, "claimed", actor, None, assignee=agent.username,
                                   **{"from": before, "to": t.status})
                pending.append(e)
            elif t.assignee != agent.username:
                prev, t.assignee = t.assignee, agent.username
                pending.append(self.ctx.event(s, t, "taken_over", actor, None, previous=prev))
            if t.first_response_at is None:
                t.first_response_at = now
            pauses = pauses_of(t)
            if not pauses or pauses[-1][1] is not None:
                pauses.append((now, None))  # waiting on the customer until they write back
                set_pauses(t, pauses)
            conversation_id = t.conversation_id
            e = self.ctx.event(s, t, "agent_reply", actor, text, channel=t.channel)
            pending.append(e)
            result = self.views.ticket_dict(t, now)
            result["message"] = self.ctx.conversations.add_message(
                conversation_id, Sender.AGENT, text, {"agent": agent.display_name, "ticket": reference}, session=s
            )
            self.ctx.publish(s, [(event_dict(t, ev), result) for ev in pending])
        return result

    def note(self, reference: str, agent: AgentView, text: str) -> Dict[str, Any]:
        """An internal note: on the ticket's history, never shown to the customer."""
        text = validate_text(text)
        with self.ctx.db.session(write=True) as s:
            t = self.ctx.load(s, reference)
            self.ctx.check(t, agent)
            e = self.ctx.event(s, t, "note", actor_of(agent), text)
            result = self.views.ticket_dict(t)
            self.ctx.publish(s, [(event_dict(t, e), result)])
        return result

    def resolve(self, reference: str, agent: Optional[AgentView], note: Optional[str] = None) -> Dict[str, Any]:
        def apply(_s, t: Ticket, now):
            t.resolved_at = now
            pauses = pauses_of(t)
            if pauses and pauses[-1][1] is None:
                pauses[-1] = (pauses[-1][0], now)
                set_pauses(t, pauses)
            return {"assignee": t.assignee}

        return self.transition(reference, "resolve", agent, note, apply=apply, kind="resolved",
                               then=lambda s, ticket: self.tell(ticket, "resolved", s))

    def escalate(
        self,
        reference: str,
        agent: Optional[AgentView],
        kind: str = EscalationKind.FUNCTIONAL.value,
        note: Optional[str] = None,
        session: Any = None,
    ) -> Dict[str, Any]:
        """One level up: functional (a specialist team) or hierarchical (someone with authority)."""
        if kind not in EscalationKind.values():
            raise InvalidInput(f"escalation kind must be {' or '.join(map(repr, EscalationKind.values()))}")
        if agent is not None and not (note or "").strip():
            raise InvalidInput("say why you escalate: the next level reads your note first")

        def apply(_s, t: Ticket, now):
            target = self.ctx.config.escalation_target(t.queue, kind)
            if target is None:
                raise Conflict(f"queue {t.queue!r} has no {kind} escalation (level {t.level} is as far as it goes)")
            data = {"path": kind, "from_queue": t.queue, "to_queue": target.name,
                    "from_level": t.level, "to_level": target.level}
            t.queue, t.level, t.assignee = target.name, target.level, None
            t.level_started_at, t.first_response_at = now, None
            set_pauses(t, [])
            return data

        return self.transition(reference, "escalate", agent, note, apply=apply, kind="escalated", owner_only=False,
                               then=lambda s, ticket: self.tell(ticket, "escalated", s), session=session)

    def return_to_bot(self, reference: str, agent: AgentView, note: Optional[str] = None) -> Dict[str, Any]:
        def apply(_s, t: Ticket, now):
            t.resolved_at = now
            return {}

        def then(s, ticket: Dict[str, Any]) -> None:
            self.ctx.conversations.update(ticket["conversation_id"], status=Ownership.BOT, low_confidence_streak=0,
                                          session=s)
            self.tell(ticket, "returned", s)

        return self.transition(reference, "return_to_bot", agent, note, apply=apply, kind="returned_to_bot", then=then)

    def flag_answer(
        self, reference: str, agent: AgentView, message_id: int, note: Optional[str] = None
    ) -> Dict[str, Any]:
        """Mark one of the bot's answers in this conversation as wrong, linked to the article it cited."""
        ticket = self.views.get(reference, agent)
        messages = self.ctx.conversations.transcript(ticket["conversation_id"])
        idx = next((i for i, m in enumerate(messages) if m["id"] == message_id), None)
        if idx is None or messages[idx]["sender"] != Sender.BOT:
            raise InvalidInput(f"message {message_id} is not a bot message of this conversation")
        sources = messages[idx]["data"].get("sources") or []
        outcome = messages[idx]["data"].get("outcome") or {}
        if not sources or outcome.get("type", "answer") != "answer":
            raise InvalidInput(f"message {message_id} is not an answer citing an article")
        question = next((m["text"] for m in reversed(messages[:idx]) if m["sender"] == Sender.CUSTOMER), None)
        article_id = sources[0]["article_id"]
        with self.ctx.db.session(write=True) as s:
            t = self.ctx.load(s, reference)
            e = self.ctx.event(s, t, "flagged", actor_of(agent), note, message_id=message_id,
                               article_id=article_id, question=question)
            e.article_id = article_id  # the flag lands on the article (#22 D)
            result = self.views.ticket_dict(t)
            self.ctx.publish(s, [(event_dict(t, e), result)])
        log.info("handoff.flagged ticket=%s article=%s", reference, article_id)
        return {"ticket": result["id"], "article_id": article_id, "question": question, "message_id": message_id}

    # -- the customer ------------------------------------------------------------------------------------------
    def customer_message(
        self, conversation_id: str, text: str, data: Optional[Dict[str, Any]] = None
    ) -> Optional[Dict[str, Any]]:
        """A customer message in a conversation a person owns (or owned): joins the open ticket, ends the
        wait-on-customer pause, and reopens a recently resolved ticket. ``None`` when the bot owns it again.
        ``data``: store the message too (with this data), in the same transaction as its ticket event; it is stored
        even when the bot owns the conversation again."""
        now = self.ctx.clock.now()
        with self.ctx.db.session(write=True) as s:
            t = s.execute(
                select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id.desc())
                .with_for_update()
            ).scalars().first()
            if data is not None:  # after the ticket's lock: every change locks the ticket before the conversation
                self.ctx.conversations.add_message(conversation_id, Sender.CUSTOMER, text, data, session=s)
            if t is None or t.status == TicketStatus.RETURNED:
                return None
            pending = []
            if t.status == TicketStatus.RESOLVED:
                if t.resolved_at is None or now - t.resolved_at > REOPEN_WINDOW:
                    return None
                before = t.status
                t.status, t.assignee = next_status(before, "reopen").value, None
                t.level_started_at, t.first_response_at, t.resolved_at = now, None, None
                t.sla_flags = []
                set_pauses(t, [])
                pending.append(self.ctx.event(s, t, "reopened", Sender.CUSTOMER.value, None,
                                              **{"from": before, "to": t.status}))
            pauses = pauses_of(t)
            if pauses and pauses[-1][1] is None:
                pauses[-1] = (pauses[-1][0], now)
                set_pauses(t, pauses)
            pending.append(self.ctx.event(s, t, "customer_message", Sender.CUSTOMER.value, text))
            result = self.views.ticket_dict(t, now)
            self.ctx.publish(s, [(event_dict(t, e), result) for e in pending])
        return result

    def set_contact_email(self, reference: str, email: str) -> Dict[str, Any]:
        with self.ctx.db.session(write=True) as s:
            t = self.ctx.load(s, reference, lock=True)
            t.contact_email = email.strip().lower()
            customer = dict(t.customer or {})
            if not is_verified(customer):  # a typed address is never verified: not into a signed identity
                customer.setdefault("email", email)
            t.customer = customer
            e = self.ctx.event(s, t, "contact_email", Sender.CUSTOMER.value, email)
            result = self.views.ticket_dict(t)
            self.ctx.publish(s, [(event_dict(t, e), result)])
        return result

    def tell(self, ticket: Dict[str, Any], what: str, session: Any = None) -> None:
        """Keep the customer informed of what happens to their request, in their language (``session``: in the
        unit of work of the change it announces)."""
        text = notice(what, ticket["language"], team=ticket["team"], ticket=ticket["id"])
        self.ctx.conversations.add_message(
            ticket["conversation_id"], Sender.SYSTEM, text, {"ticket": ticket["id"], "notice": what}, session=session
        )
