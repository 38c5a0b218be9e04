"""The desk: tickets created by the bot's hand-offs, worked by people, kept to their SLAs.

:class:`HandoffService` is the one entry point the other packages use; each concern lives in its own module:

    handoff.transitions   what changes a ticket: hand-off, claim, release, reply, note, resolve, escalate,
                          return to the bot, flag an answer, the customer's messages and e-mail address
    handoff.views         the read models: a ticket as a dict, its detail and history, the queue, queue numbers
    handoff.sla_runs      the SLA scheduler's run: raise priorities, record breaches, escalate
    handoff.availability  who is online, opening hours, position and expected wait
    handoff.context       what they share: database, conversations, configuration, clock, presence, listeners

Time comes from an injected clock, so the SLA scheduler (:meth:`HandoffService.run_sla`) runs under a frozen one in
tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Tuple

from handoff.agents import AgentView
from handoff.availability import Availability
from handoff.context import DeskContext, Listener, OutboxWriter, iso, parse_reference
from handoff.deskconfig import DeskConfig
from handoff.models import Ticket
from handoff.sla import SlaClock
from handoff.sla_runs import SlaRuns
from handoff.states import REOPEN_WINDOW
from handoff.transitions import HandoffRequest, TicketTransitions
from handoff.views import TICKET_PAGE, TicketViews, event_dict, sla_ticket
from tier0.clock import Clock, SystemClock
from tier0.conversations import TRANSCRIPT_PAGE, ConversationStore
from tier0.db import Database
from tier0.vocab import OPEN_TICKET_STATUSES, EscalationKind

__all__ = [
    "HandoffRequest",
    "HandoffService",
    "Listener",
    "OPEN_STATUSES",
    "REOPEN_WINDOW",
    "event_dict",
    "iso",
    "parse_reference",
    "sla_ticket",
]

OPEN_STATUSES = OPEN_TICKET_STATUSES


class HandoffService:
    def __init__(
        self,
        db: Database,
        conversations: ConversationStore,
        config: DeskConfig,
        clock: Optional[Clock] = None,
        agents=None,
        reply_address: Optional[str] = None,
    ):
        self._ctx = DeskContext(db, conversations, config, clock or SystemClock(), agents, reply_address=reply_address)
        self._availability = Availability(self._ctx)
        self._views = TicketViews(self._ctx, self._availability)
        self._transitions = TicketTransitions(self._ctx, self._views, self._availability)
        self._sla = SlaRuns(self._ctx, self._views, self._transitions)

    # -- what every concern shares (settable, as before the split) --------------------------------------------
    @property
    def db(self) -> Database:
        return self._ctx.db

    @db.setter
    def db(self, value: Database) -> None:
        self._ctx.db = value

    @property
    def conversations(self) -> ConversationStore:
        return self._ctx.conversations

    @conversations.setter
    def conversations(self, value: ConversationStore) -> None:
        self._ctx.conversations = value

    @property
    def config(self) -> DeskConfig:
        return self._ctx.config

    @config.setter
    def config(self, value: DeskConfig) -> None:
        self._ctx.config = value

    @property
    def clock(self) -> Clock:
        return self._ctx.clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self._ctx.clock = value

    @property
    def agents(self):
        """The AgentDirectory, for presence (who is online); None without one."""
        return self._ctx.agents

    @agents.setter
    def agents(self, value) -> None:
        self._ctx.agents = value

    @property
    def listeners(self) -> List[Listener]:
        return self._ctx.listeners

    def subscribe(self, listener: Listener) -> None:
        """Told of each event once its change is committed (live pages): may be lost in a crash."""
        self._ctx.listeners.append(listener)

    @property
    def outbox(self) -> List[OutboxWriter]:
        return self._ctx.outbox

    def subscribe_outbox(self, writer: OutboxWriter) -> None:
        """Called with (session, event, ticket) inside the unit of work of each change: what it writes there (the
        webhook deliveries) is committed with the change or not at all."""
        self._ctx.outbox.append(writer)

    # -- views -------------------------------------------------------------------------------------------------
    def clock_of(self, t: Ticket, now: Optional[dt.datetime] = None) -> SlaClock:
        return self._views.clock_of(t, now)

    def ticket_dict(self, t: Ticket, now: Optional[dt.datetime] = None) -> Dict[str, Any]:
        return self._views.ticket_dict(t, now)

    def open_ticket_for(self, conversation_id: str, availability: bool = False) -> Optional[Dict[str, Any]]:
        """The conversation's open ticket; with ``availability``, also its position, wait and who is online."""
        return self._views.open_ticket_for(conversation_id, availability)

    def get(self, reference: str, agent: Optional[AgentView] = None) -> Dict[str, Any]:
        return self._views.get(reference, agent)

    def detail(self, reference: str, agent: Optional[AgentView] = None, limit: int = TRANSCRIPT_PAGE) -> Dict[str, Any]:
        """Everything an agent needs: the ticket, the live transcript, the audit trail and the SLA clock (of the
        transcript and the trail, the last ``limit`` entries)."""
        return self._views.detail(reference, agent, limit)

    def message_page(
        self, reference: str, agent: Optional[AgentView] = None, before: Optional[int] = None,
        limit: int = TRANSCRIPT_PAGE,
    ) -> Dict[str, Any]:
        return self._views.message_page(reference, agent, before, limit)

    def event_page(
        self, reference: str, agent: Optional[AgentView] = None, before: Optional[int] = None,
        limit: int = TRANSCRIPT_PAGE,
    ) -> Dict[str, Any]:
        events, earlier = self._views.event_page(reference, agent, before, limit)
        return {"ticket": f"T-{parse_reference(reference)}", "events": events, "earlier": earlier}

    def events(self, reference: str) -> List[Dict[str, Any]]:
        return self._views.events(reference)

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
        """One page of the queue, most urgent first across the whole backlog, and the number of tickets in it."""
        return self._views.ticket_page(agent, queue, status, priority, assignee, limit, offset)

    def queue_stats(self, agent: Optional[AgentView] = None) -> List[Dict[str, Any]]:
        return self._views.queue_stats(agent)

    def find_ticket_by_email(self, email: str) -> Optional[Dict[str, Any]]:
        """The latest open (or recently resolved) ticket of the customer with this e-mail address."""
        return self._views.find_ticket_by_email(email)

    def find_ticket_by_reply_token(self, token: str) -> Optional[Dict[str, Any]]:
        """The ticket whose reply token (tier0.identity) this is, whatever its status; None if none."""
        return self._views.find_ticket_by_reply_token(token)

    # -- transitions -------------------------------------------------------------------------------------------
    def open(self, req: HandoffRequest) -> Tuple[Dict[str, Any], bool]:
        """``(ticket, created)``: the conversation's open ticket, or a new one — handing it to people."""
        return self._transitions.open(req)

    def claim(self, reference: str, agent: AgentView) -> Dict[str, Any]:
        return self._transitions.claim(reference, agent)

    def release(self, reference: str, agent: AgentView, note: Optional[str] = None) -> Dict[str, Any]:
        return self._transitions.release(reference, agent, note)

    def reply(self, reference: str, agent: AgentView, text: str) -> Dict[str, Any]:
        """A public reply: it reaches the customer's chat (and e-mail channel, through the webhooks)."""
        return self._transitions.reply(reference, agent, text)

    def note(self, reference: str, agent: AgentView, text: str) -> Dict[str, Any]:
        """An internal note: on the ticket's history, never shown to the customer."""
        return self._transitions.note(reference, agent, text)

    def resolve(self, reference: str, agent: Optional[AgentView], note: Optional[str] = None) -> Dict[str, Any]:
        return self._transitions.resolve(reference, agent, note)

    def escalate(
        self,
        reference: str,
        agent: Optional[AgentView],
        kind: str = EscalationKind.FUNCTIONAL.value,
        note: Optional[str] = None,
    ) -> Dict[str, Any]:
        """One level up: functional (a specialist team) or hierarchical (someone with authority)."""
        return self._transitions.escalate(reference, agent, kind, note)

    def return_to_bot(self, reference: str, agent: AgentView, note: Optional[str] = None) -> Dict[str, Any]:
        return self._transitions.return_to_bot(reference, agent, note)

    def flag_answer(
        self, reference: str, agent: AgentView, message_id: int, note: Optional[str] = None
    ) -> Dict[str, Any]:
        """Mark one of the bot's answers in this conversation as wrong, linked to the article it cited."""
        return self._transitions.flag_answer(reference, agent, message_id, note)

    def customer_message(
        self, conversation_id: str, text: str, data: Optional[Dict[str, Any]] = None
    ) -> Optional[Dict[str, Any]]:
        """A customer message in a conversation a person owns (or owned); ``None`` when the bot owns it again.
        ``data``: also store the message (with this data), in the same transaction as the ticket's event."""
        return self._transitions.customer_message(conversation_id, text, data)

    def set_contact_email(self, reference: str, email: str) -> Dict[str, Any]:
        return self._transitions.set_contact_email(reference, email)

    # -- the SLA scheduler -------------------------------------------------------------------------------------
    def run_sla(self, now: Optional[dt.datetime] = None) -> List[Dict[str, Any]]:
        """Apply what the SLA rules require now: raise priorities, record breaches, escalate. Returns the actions."""
        return self._sla.run(now)
