"""Who owns a conversation: an explicit state machine with allowed transitions only.

    (bot) ──handoff──► waiting ──claim──► agent ──resolve──► resolved
                         ▲  │ ◄─release──  │                   │
                         │  └──escalate────┤ (next level, back in a queue)
                         │                 │                   │
                         │  return_to_bot ─┴─► returned        │
                         └───────────reopen (the customer writes again)─┘

``bot`` is the state of a conversation with no open ticket (before a hand-off, and after ``returned``): the bot
answers. In ``waiting`` and ``agent`` a person owns the conversation and the bot never speaks. Every transition is
recorded as a ticket event with its actor, time and note (the audit trail).
"""

from __future__ import annotations

import datetime as dt
from typing import Dict

from tier0.errors import Conflict
from tier0.vocab import OPEN_TICKET_STATUSES, TicketStatus

STATUSES = TicketStatus.values()
OPEN = OPEN_TICKET_STATUSES  # a person owns the conversation
REOPEN_WINDOW = dt.timedelta(days=7)  # a customer writing within this after resolution reopens the ticket

TRANSITIONS: Dict[str, Dict[str, TicketStatus]] = {  # action -> {from: to}
    "claim": {TicketStatus.WAITING: TicketStatus.AGENT},
    "release": {TicketStatus.AGENT: TicketStatus.WAITING},
    "escalate": {TicketStatus.WAITING: TicketStatus.WAITING, TicketStatus.AGENT: TicketStatus.WAITING},
    "resolve": {TicketStatus.WAITING: TicketStatus.RESOLVED, TicketStatus.AGENT: TicketStatus.RESOLVED},
    "return_to_bot": {TicketStatus.WAITING: TicketStatus.RETURNED, TicketStatus.AGENT: TicketStatus.RETURNED},
    "reopen": {TicketStatus.RESOLVED: TicketStatus.WAITING},
}


def next_status(status: str, action: str) -> TicketStatus:
    """The status after ``action``, or :class:`Conflict` when the action is not allowed from ``status``. A member
    of :class:`~tier0.vocab.TicketStatus`: store its ``.value``."""
    moves = TRANSITIONS.get(action)
    if moves is None:
        raise ValueError(f"unknown action {action!r}")
    if status not in moves:
        allowed = ", ".join(sorted(moves))
        raise Conflict(f"cannot {action.replace('_', ' ')} a ticket that is {status} (only when {allowed})")
    return moves[status]


def allowed_actions(status: str) -> list:
    return [a for a, moves in TRANSITIONS.items() if status in moves]
