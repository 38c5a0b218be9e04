"""What every concern of the desk works with: the database, the conversations, the desk configuration, the clock,
presence, the outbox writers and the listeners, shared in one :class:`DeskContext`; and the small ticket helpers they
all use (load a ticket under its row lock, check the agent's queues, record an event, publish it).

Every change is one unit of work (``db.session(write=True)``): the ticket, the conversation's owner and system
messages, the ticket events and the outbox rows (webhook deliveries, written by the :attr:`DeskContext.outbox`
writers) are committed together or not at all. Only telling the listeners (live pages, in memory or over Redis)
happens after the commit, and may be lost without losing data.

The concerns themselves: :mod:`handoff.transitions` (what changes a ticket), :mod:`handoff.views` (what reads
them), :mod:`handoff.sla_runs` (the SLA scheduler) and :mod:`handoff.availability` (who can take a ticket, when);
:class:`handoff.service.HandoffService` puts them together.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from handoff.agents import AgentView
from handoff.deskconfig import DeskConfig
from handoff.models import Ticket, TicketEvent
from tier0.clock import Clock
from tier0.conversations import ConversationStore
from tier0.db import Database, after_commit
from tier0.errors import Forbidden, InvalidInput, NotFound
from tier0.vocab import Sender

log = logging.getLogger("tier0.handoff")

Listener = Callable[[Dict[str, Any], Dict[str, Any]], None]
Pending = List[Tuple[Dict[str, Any], Dict[str, Any]]]  # (event, ticket) pairs to announce after the commit
# Writes an event's outbox rows (webhook deliveries) in the session of the change: (session, event, ticket).
OutboxWriter = Callable[[Any, Dict[str, Any], Dict[str, Any]], None]
SYSTEM = Sender.SYSTEM.value  # the actor of what the SLA scheduler does


def iso(t: Optional[dt.datetime]) -> Optional[str]:
    return t.isoformat() + "Z" if t else None


def parse_reference(ref: str) -> int:
    s = str(ref).strip().upper()
    if s.startswith("T-"):
        s = s[2:]
    if not s.isdigit() or len(s) > 12:
        raise InvalidInput(f"{ref!r} is not a ticket reference like T-12")
    return int(s)


def actor_of(agent: Optional[AgentView]) -> str:
    """Who did it, as the audit trail writes it: ``agent:<username>``, or the system (the SLA scheduler)."""
    return f"{Sender.AGENT.value}:{agent.username}" if agent else SYSTEM


def pauses_of(t: Ticket) -> List[Tuple[dt.datetime, Optional[dt.datetime]]]:
    """The ticket's SLA pauses (waiting on the customer); an open pause ends with ``None``."""
    out = []
    for a, b in t.sla_pauses or []:
        out.append((dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b) if b else None))
    return out


def set_pauses(t: Ticket, pauses: List[Tuple[dt.datetime, Optional[dt.datetime]]]) -> None:
    t.sla_pauses = [[a.isoformat(), b.isoformat() if b else None] for a, b in pauses]


@dataclass
class DeskContext:
    db: Database
    conversations: ConversationStore
    config: DeskConfig
    clock: Clock
    agents: Any = None  # AgentDirectory, for presence (who is online)
    reply_address: Optional[str] = None  # TIER0_REPLY_ADDRESS: where e-mail replies go, with "{token}"
    listeners: List[Listener] = field(default_factory=list)
    outbox: List[OutboxWriter] = field(default_factory=list)

    def publish(self, s, pending: Pending) -> None:
        """Announce a change from inside its unit of work: the outbox rows are written now, in the same
        transaction (a crash loses both or neither), and the listeners are told once it is committed."""
        for event, ticket in pending:
            for write in self.outbox:
                write(s, event, ticket)
        after_commit(s, lambda: self.emit(pending))

    def emit(self, pending: Pending) -> None:
        """Tell every listener (live pages, outbound webhooks); called once the change is committed."""
        for event, ticket in pending:
            for fn in self.listeners:
                try:
                    fn(event, ticket)
                except Exception:  # noqa: BLE001 - a listener must never break the desk
                    log.exception("handoff.listener_failed kind=%s", event["kind"])

    def event(self, s, t: Ticket, kind: str, actor: str, note: Optional[str] = None, **data: Any) -> TicketEvent:
        """Record one entry of the ticket's audit trail."""
        e = TicketEvent(ticket_id=t.id, kind=kind, actor=actor, note=note, data=data, created_at=self.clock.now())
        s.add(e)
        s.flush()
        return e

    def load(self, s, reference: str, lock: bool = False) -> Ticket:
        """The ticket; ``lock`` takes its row lock (PostgreSQL) so two agents or workers cannot both change it."""
        t = s.get(Ticket, parse_reference(reference), with_for_update=lock or None)
        if t is None:
            raise NotFound(f"ticket {reference} not found")
        return t

    def check(self, t: Ticket, agent: Optional[AgentView]) -> None:
        """Forbidden unless the agent works the ticket's queue (``None``: the system, which sees every queue)."""
        if agent is not None and not agent.can_see_queue(t.queue):
            raise Forbidden(f"ticket {t.reference} is in queue {t.queue!r}, which is not one of yours")
