"""Who can take a ticket, and when: the queue's members signed in now, its opening hours, the ticket's place in the
queue and the wait that follows from the queue's recent handling times. What the bot tells a customer it hands off
(``online``, or ``offline`` when the team is closed or nobody is signed in) comes from here.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import select

from handoff.context import DeskContext, iso
from handoff.models import Ticket, TicketEvent
from handoff.priority import PRIORITIES
from tier0.vocab import TicketStatus


class Availability:
    def __init__(self, ctx: DeskContext):
        self.ctx = ctx

    def online(self, members: Sequence[str], now: dt.datetime, unknown: Sequence[str] = ()) -> List[str]:
        """Which of ``members`` are signed in now; ``unknown`` when the desk has no agent directory (no presence)."""
        if self.ctx.agents is None:
            return list(unknown)
        return self.ctx.agents.online(members, now)

    def of_ticket(self, s, t: Ticket, now: dt.datetime) -> Dict[str, Any]:
        """Position, expected wait from the queue's recent handling times, and whether anyone can take it now."""
        q = self.ctx.config.queue(t.queue)
        rank = PRIORITIES.index(t.priority)
        ahead = s.execute(
            select(Ticket.id).where(
                Ticket.queue == t.queue,
                Ticket.status == TicketStatus.WAITING,
                Ticket.id != t.id,
                Ticket.priority.in_(PRIORITIES[rank:]),
            )
        ).all()
        position = len(ahead) + 1
        online = self.online(q.members, now, unknown=q.members)  # without presence, every member may take it
        handling = self.recent_handling_minutes(s, t.queue) or q.handling_minutes
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

    def recent_handling_minutes(self, s, queue: str, last: int = 20) -> Optional[float]:
        """Median minutes from claim to resolution over the queue's last resolved tickets (None without history)."""
        ids = s.execute(
            select(Ticket.id).where(Ticket.queue == queue, Ticket.status == TicketStatus.RESOLVED)
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
