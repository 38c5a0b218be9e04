"""The SLA scheduler's run: for every open ticket, what :func:`handoff.sla.due_actions` says is due now — raise the
priority of a ticket with no first response in time, record a breached resolution target, and escalate it one
level up when its queue has somewhere to go. Each action happens once per level (the ticket's SLA flags). One ticket's
actions, their events, outbox rows and escalation are one unit of work: a crash keeps all of them or none.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional

from sqlalchemy import select

from handoff.context import SYSTEM, DeskContext, log
from handoff.models import Ticket
from handoff.priority import bump
from handoff.sla import due_actions
from handoff.transitions import TicketTransitions
from handoff.views import TicketViews, event_dict, sla_ticket
from tier0.vocab import OPEN_TICKET_STATUSES, EscalationKind


class SlaRuns:
    def __init__(self, ctx: DeskContext, views: TicketViews, transitions: TicketTransitions):
        self.ctx = ctx
        self.views = views
        self.transitions = transitions

    def run(self, now: Optional[dt.datetime] = None) -> List[Dict[str, Any]]:
        """Apply what the SLA rules require now: raise priorities, record breaches, escalate. Returns the actions."""
        now = now or self.ctx.clock.now()
        done: List[Dict[str, Any]] = []
        with self.ctx.db.session() as s:
            ids = s.execute(select(Ticket.id).where(Ticket.status.in_(OPEN_TICKET_STATUSES))).scalars().all()
        for tid in ids:
            escalate = False
            with self.ctx.db.session(write=True) as s:
                t = s.get(Ticket, tid, with_for_update=True)
                if t is None or t.status not in OPEN_TICKET_STATUSES:
                    continue
                q = self.ctx.config.queue(t.queue)
                clock = self.views.clock_of(t, now)
                can_escalate = bool(q.escalate)
                pending = []
                for action in due_actions(sla_ticket(t), clock, can_escalate):
                    t.sla_flags = sorted(set(t.sla_flags or []) | {action.flag})
                    if action.kind == "raise_priority":
                        before = t.priority
                        t.priority = bump(t.priority)
                        if before != t.priority:
                            t.priority_rule = f"{t.priority_rule}+sla_first_response"
                        pending.append(self.ctx.event(s, t, "priority_raised", SYSTEM, action.note,
                                                      **{"from": before, "to": t.priority,
                                                         "rule": "sla_first_response"}))
                    else:
                        target_minutes = clock.target.resolution_min if clock.target else None
                        pending.append(self.ctx.event(s, t, "sla_breached", SYSTEM, action.note, level=t.level,
                                                      target_minutes=target_minutes))
                        escalate = action.kind == "escalate"
                    done.append({"ticket": t.reference, "action": action.kind})
                    log.warning("sla.%s ticket=%s level=%s", action.kind, t.reference, t.level)
                result = self.views.ticket_dict(t, now)
                self.ctx.publish(s, [(event_dict(t, e), result) for e in pending])
                if escalate:
                    paths = q.escalate
                    kind = (EscalationKind.FUNCTIONAL if EscalationKind.FUNCTIONAL in paths
                            else EscalationKind.HIERARCHICAL)
                    self.transitions.escalate(t.reference, None, kind.value, "automatic: resolution SLA breached",
                                              session=s)
        return done
