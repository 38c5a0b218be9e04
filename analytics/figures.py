"""The escalation figures of the team leads' dashboard: pure reads of the conversations, messages, tickets, ticket
events and survey answers over a :class:`~analytics.period.Period`, optionally for one language.

docs/analytics.md defines each figure; in short, what is attributed to which day:

* conversation figures (conversations, answered, resolved by the bot confirmed / assumed, handed off, helpfulness)
  to the local day the conversation started;
* tickets, their reasons and entry queues to the day the ticket was created;
* SLA figures to the day a ticket's level started (created, escalated or reopened: each is one *stint* at a level,
  timed with :func:`handoff.sla.sla_clock` in its queue's business hours and the desk file's targets);
* escalations and reopenings to the day they happened; satisfaction to the day of the survey answer.

Conversations replayed by ``tier0 eval`` (channel ``eval``) are never counted.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from sqlalchemy import or_, select

from analytics.period import Period
from handoff.deskconfig import DeskConfig
from handoff.models import Ticket, TicketEvent
from handoff.sla import SlaTicket, paused_seconds, sla_clock
from tier0.conversations import Conversation, Message, SurveyAnswer
from tier0.db import Database
from tier0.vocab import ASSUMED_RESOLVED_HOURS, Channel, Figure, HandoffReason, Sender, TicketStatus

UNKNOWN = "unknown"  # a conversation whose language was never detected
SYSTEM_ACTOR = "system"  # escalations the SLA scheduler made
Row = Dict[str, Any]


def ratio(part: float, whole: float, digits: int = 4) -> Optional[float]:
    return round(part / whole, digits) if whole else None


def _minutes(seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else round(seconds / 60.0, 1)


def _median(values: List[float]) -> Optional[float]:
    return round(statistics.median(values), 1) if values else None


# -- conversations ------------------------------------------------------------------------------------------------
@dataclass
class ConversationFacts:
    id: str
    day: dt.date
    language: str
    answered: bool = False
    confirmed: bool = False  # a "yes, that helped" and no ticket
    assumed: bool = False  # an answer, then no customer message and no ticket within ASSUMED_RESOLVED_HOURS
    pending: bool = False  # like assumed, but the last answer is younger than that: not known yet
    handed_off: bool = False  # a ticket was opened for it
    helpful_yes: int = 0
    helpful_no: int = 0


def conversation_facts(db: Database, period: Period, now: dt.datetime,
                       language: Optional[str] = None) -> List[ConversationFacts]:
    start, end = period.bounds
    window = dt.timedelta(hours=ASSUMED_RESOLVED_HOURS)
    with db.session() as s:
        q = select(Conversation.id, Conversation.created_at, Conversation.language).where(
            Conversation.channel != Channel.EVAL.value, Conversation.created_at >= start, Conversation.created_at < end)
        if language:
            q = q.where(Conversation.language == language)
        convs = s.execute(q).all()
        ids = [c.id for c in convs]
        messages: Dict[str, List[Tuple[str, Dict[str, Any], dt.datetime]]] = defaultdict(list)
        ticketed: Set[str] = set()
        for chunk in _chunks(ids):
            for cid, sender, data, at in s.execute(
                select(Message.conversation_id, Message.sender, Message.data, Message.created_at)
                .where(Message.conversation_id.in_(chunk),
                       Message.sender.in_((Sender.CUSTOMER.value, Sender.BOT.value)))
                .order_by(Message.conversation_id, Message.id)
            ):
                messages[cid].append((sender, data or {}, at))
            ticketed.update(s.execute(select(Ticket.conversation_id).where(Ticket.conversation_id.in_(chunk)))
                            .scalars())
    out = []
    for cid, created, lang in convs:
        f = ConversationFacts(cid, period.day_of(created), lang or UNKNOWN, handed_off=cid in ticketed)
        last_answer: Optional[dt.datetime] = None
        customer_times: List[dt.datetime] = []
        for sender, data, at in messages.get(cid, ()):
            if sender == Sender.CUSTOMER:
                customer_times.append(at)
                continue
            outcome = data.get("outcome") or {}
            if outcome.get("type") == "answer":
                f.answered, last_answer = True, at
            if outcome.get("feedback") == "helpful":
                f.helpful_yes += 1
            if outcome.get("type") == "handoff" and outcome.get("reason") == HandoffReason.NOT_HELPFUL:
                f.helpful_no += 1
        if not f.handed_off:
            f.confirmed = f.helpful_yes > 0
            if not f.confirmed and last_answer is not None:
                answered_at = last_answer
                if any(answered_at < t <= answered_at + window for t in customer_times):
                    pass
                elif now >= answered_at + window:
                    f.assumed = True
                else:
                    f.pending = True
        out.append(f)
    return out


def _chunks(ids: List[Any], size: int = 500) -> Iterable[List[Any]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _conversation_row(facts: List[ConversationFacts]) -> Row:
    n = len(facts)
    handed = sum(f.handed_off for f in facts)
    yes, no = sum(f.helpful_yes for f in facts), sum(f.helpful_no for f in facts)
    return {
        "conversations": n,
        "answered": sum(f.answered for f in facts),
        "resolved_confirmed": sum(f.confirmed for f in facts),
        "resolved_assumed": sum(f.assumed for f in facts),
        "resolution_pending": sum(f.pending for f in facts),
        "handed_off": handed,
        "handoff_rate": ratio(handed, n),
        "helpful_yes": yes,
        "helpful_no": no,
        "helpful_share": ratio(yes, yes + no),
    }


# -- tickets and their stints at a level --------------------------------------------------------------------------
@dataclass
class Stint:
    """A ticket's time at one level: from its creation, escalation or reopening to its resolution, escalation or
    return to the bot (or now, still open)."""

    ticket_id: int
    level: int
    queue: str
    priority: str
    start: dt.datetime
    first_response: Optional[dt.datetime] = None
    end: Optional[dt.datetime] = None
    ended_by: Optional[str] = None  # resolved | escalated | returned_to_bot
    pauses: List[List[Optional[dt.datetime]]] = field(default_factory=list)
    first_response_s: Optional[float] = None
    resolution_s: Optional[float] = None
    has_target: bool = False
    first_response_breached: bool = False
    resolution_breached: bool = False


def stints(ticket: Ticket, events: List[TicketEvent]) -> List[Stint]:
    """Replay a ticket's audit trail (events in order) into its stints, the way :mod:`handoff.transitions` moves the
    SLA clock: an agent's reply starts a pause (waiting on the customer) unless one is open, the customer's message
    ends it, a resolution ends it and the stint; an escalation or a reopening starts a new stint with no pauses."""
    out: List[Stint] = []
    priority = ticket.priority
    cur: Optional[Stint] = None

    def close(at: dt.datetime, how: str) -> None:
        if cur is not None and cur.end is None:
            if cur.pauses and cur.pauses[-1][1] is None:
                cur.pauses[-1][1] = at
            cur.end, cur.ended_by = at, how

    for e in events:
        data = e.data or {}
        if e.kind == "created":
            priority = str(data.get("priority") or ticket.priority)
            cur = Stint(ticket.id, int(data.get("level") or ticket.level), str(data.get("queue") or ticket.queue),
                        priority, e.created_at)
            out.append(cur)
        elif e.kind == "escalated" and cur is not None:
            close(e.created_at, "escalated")
            cur = Stint(ticket.id, int(data.get("to_level") or cur.level + 1), str(data.get("to_queue") or cur.queue),
                        priority, e.created_at)
            out.append(cur)
        elif e.kind == "reopened" and cur is not None:
            cur = Stint(ticket.id, cur.level, cur.queue, priority, e.created_at)
            out.append(cur)
        elif e.kind == "priority_raised":
            priority = str(data.get("to") or priority)
        elif cur is None or cur.end is not None:
            continue
        elif e.kind == "agent_reply":
            if cur.first_response is None:
                cur.first_response = e.created_at
            if not cur.pauses or cur.pauses[-1][1] is not None:
                cur.pauses.append([e.created_at, None])
        elif e.kind == "customer_message":
            if cur.pauses and cur.pauses[-1][1] is None:
                cur.pauses[-1][1] = e.created_at
        elif e.kind in ("resolved", "returned_to_bot"):
            close(e.created_at, e.kind)
    return out


def time_stint(st: Stint, config: DeskConfig, now: dt.datetime) -> Stint:
    """The stint's first-response and resolution times (business seconds in its queue's hours, pauses left out of
    resolution) and whether each broke its SLA target, read off :func:`handoff.sla.sla_clock` at the stint's end (or
    ``now`` for a stint still open)."""
    hours = config.queue(st.queue).hours
    at = st.end or now
    resolved = st.ended_by == "resolved"
    sla_t = SlaTicket(
        status=TicketStatus.RESOLVED.value if resolved else TicketStatus.AGENT.value,
        level=st.level, priority=st.priority, level_started_at=st.start, first_response_at=st.first_response,
        pauses=tuple((a, b) for a, b in st.pauses if a is not None), resolved_at=st.end if resolved else None,
    )
    clock = sla_clock(sla_t, config.sla, hours, at)
    if st.first_response is not None:
        st.first_response_s = hours.seconds_between(st.start, st.first_response)
    if resolved and st.end is not None:
        st.resolution_s = hours.seconds_between(st.start, st.end) - paused_seconds(sla_t, hours, st.end)
    st.has_target = clock.target is not None
    st.first_response_breached = clock.first_response_breached
    st.resolution_breached = clock.resolution_breached
    return st


def _sla_row(group: List[Stint]) -> Row:
    fr = [s.first_response_s / 60.0 for s in group if s.first_response_s is not None]
    res = [s.resolution_s / 60.0 for s in group if s.resolution_s is not None]
    return {
        "stints": len(group),
        "responded": len(fr),
        "first_response_median_min": _median(fr),
        "first_response_mean_min": round(sum(fr) / len(fr), 1) if fr else None,
        "first_response_met": sum(1 for s in group if s.first_response_s is not None and not s.first_response_breached),
        "first_response_breaches": sum(s.first_response_breached for s in group),
        "resolved": len(res),
        "resolution_median_min": _median(res),
        "resolution_mean_min": round(sum(res) / len(res), 1) if res else None,
        "resolution_met": sum(1 for s in group if s.resolution_s is not None and not s.resolution_breached),
        "resolution_breaches": sum(s.resolution_breached for s in group),
    }


@dataclass
class TicketFacts:
    tickets: List[Ticket]  # created in the period
    entry: Dict[int, Tuple[str, int]]  # ticket id -> (queue, level) where it entered
    stints: List[Stint]  # started in the period, timed
    escalations: List[TicketEvent]  # in the period
    reopenings: List[TicketEvent]  # in the period


def ticket_facts(db: Database, config: DeskConfig, period: Period, now: dt.datetime,
                 language: Optional[str] = None) -> TicketFacts:
    start, end = period.bounds
    with db.session() as s:
        busy = select(TicketEvent.ticket_id).where(TicketEvent.created_at >= start, TicketEvent.created_at < end)
        q = select(Ticket).where(or_(Ticket.id.in_(busy), (Ticket.created_at >= start) & (Ticket.created_at < end)))
        q = q.join(Conversation, Conversation.id == Ticket.conversation_id).where(
            Conversation.channel != Channel.EVAL.value)
        if language:
            q = q.where(Ticket.language == language)
        tickets = list(s.execute(q.order_by(Ticket.id)).scalars())
        s.expunge_all()
        events: Dict[int, List[TicketEvent]] = defaultdict(list)
        for chunk in _chunks([t.id for t in tickets]):
            for e in s.execute(select(TicketEvent).where(TicketEvent.ticket_id.in_(chunk))
                               .order_by(TicketEvent.ticket_id, TicketEvent.id)).scalars():
                events[e.ticket_id].append(e)
        s.expunge_all()
    created, entry, timed, escalations, reopenings = [], {}, [], [], []
    for t in tickets:
        mine = events.get(t.id, [])
        first = next((e for e in mine if e.kind == "created"), None)
        data = (first.data or {}) if first is not None else {}
        entry[t.id] = (str(data.get("queue") or t.queue), int(data.get("level") or t.level))
        if period.contains(t.created_at):
            created.append(t)
        timed += [time_stint(st, config, now) for st in stints(t, mine) if period.contains(st.start)]
        escalations += [e for e in mine if e.kind == "escalated" and period.contains(e.created_at)]
        reopenings += [e for e in mine if e.kind == "reopened" and period.contains(e.created_at)]
    return TicketFacts(created, entry, timed, escalations, reopenings)


def agent_of(actor: str) -> str:
    """The audit trail's ``agent:<username>`` as the username; the scheduler as ``system``."""
    return actor.split(":", 1)[1] if actor.startswith(f"{Sender.AGENT.value}:") else SYSTEM_ACTOR


# -- satisfaction -------------------------------------------------------------------------------------------------
def survey_answers(db: Database, period: Period, language: Optional[str] = None) -> List[Tuple[dt.date, str, int]]:
    start, end = period.bounds
    with db.session() as s:
        q = select(SurveyAnswer.created_at, SurveyAnswer.resolved_by, SurveyAnswer.rating).where(
            SurveyAnswer.created_at >= start, SurveyAnswer.created_at < end)
        if language:
            q = q.where(SurveyAnswer.language == language)
        return [(period.day_of(at), by, int(r)) for at, by, r in s.execute(q)]


def _csat(ratings: List[int]) -> Row:
    return {"answers": len(ratings), "mean": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "share_4_5": ratio(sum(1 for r in ratings if r >= 4), len(ratings))}


# -- the report ---------------------------------------------------------------------------------------------------
def report(db: Database, config: DeskConfig, period: Period, now: dt.datetime,
           language: Optional[str] = None) -> Dict[str, Any]:
    """Every figure of the period: ``totals`` (one row) and the tables of :class:`tier0.vocab.Figure`."""
    convs = conversation_facts(db, period, now, language)
    tf = ticket_facts(db, config, period, now, language)
    surveys = survey_answers(db, period, language)

    by_day: Dict[dt.date, List[ConversationFacts]] = defaultdict(list)
    for f in convs:
        by_day[f.day].append(f)
    tickets_day = Counter(period.day_of(t.created_at) for t in tf.tickets)
    esc_day = Counter(period.day_of(e.created_at) for e in tf.escalations)
    reopen_day = Counter(period.day_of(e.created_at) for e in tf.reopenings)
    stints_day: Dict[dt.date, List[Stint]] = defaultdict(list)
    for st in tf.stints:
        stints_day[period.day_of(st.start)].append(st)
    csat_day: Dict[dt.date, List[int]] = defaultdict(list)
    for day, _by, rating in surveys:
        csat_day[day].append(rating)

    daily = []
    for day in period.days:
        c = _conversation_row(by_day.get(day, []))
        sl = stints_day.get(day, [])
        cs = _csat(csat_day.get(day, []))
        daily.append({
            "day": day.isoformat(), **{k: c[k] for k in ("conversations", "answered", "resolved_confirmed",
                                                         "resolved_assumed", "handed_off", "handoff_rate",
                                                         "helpful_yes", "helpful_no")},
            "tickets": tickets_day.get(day, 0), "escalations": esc_day.get(day, 0),
            "reopened": reopen_day.get(day, 0),
            "first_response_breaches": sum(s.first_response_breached for s in sl),
            "resolution_breaches": sum(s.resolution_breached for s in sl),
            "csat_answers": cs["answers"], "csat_mean": cs["mean"],
        })

    per_lang: Dict[str, List[ConversationFacts]] = defaultdict(list)
    for f in convs:
        per_lang[f.language].append(f)
    languages = [{"language": lang, **_conversation_row(fs)} for lang, fs in sorted(per_lang.items())]

    reasons_n = Counter(t.reason for t in tf.tickets)
    reasons = [{"reason": r, "tickets": n, "share": ratio(n, len(tf.tickets))}
               for r, n in sorted(reasons_n.items(), key=lambda kv: (-kv[1], kv[0]))]

    queues_n = Counter(tf.entry[t.id] for t in tf.tickets)
    queues = [{"queue": q, "level": lvl, "tickets": n}
              for (q, lvl), n in sorted(queues_n.items(), key=lambda kv: (kv[0][1], -kv[1], kv[0][0]))]

    per_level: Dict[int, List[Stint]] = defaultdict(list)
    for st in tf.stints:
        per_level[st.level].append(st)
    sla = [{"level": str(lvl), **_sla_row(g)} for lvl, g in sorted(per_level.items())]
    sla.append({"level": "all", **_sla_row(tf.stints)})

    esc_n: Counter = Counter()
    agents_n: Dict[str, Counter] = defaultdict(Counter)
    for e in tf.escalations:
        d = e.data or {}
        path = str(d.get("path") or "")
        esc_n[(int(d.get("from_level") or 0), int(d.get("to_level") or 0), path)] += 1
        agents_n[agent_of(e.actor)][path] += 1
    escalations = [{"from_level": a, "to_level": b, "path": p, "escalations": n}
                   for (a, b, p), n in sorted(esc_n.items())]
    agents = [{"agent": who, "functional": c.get("functional", 0), "hierarchical": c.get("hierarchical", 0),
               "escalations": sum(c.values())}
              for who, c in sorted(agents_n.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))]

    satisfaction = [{"resolved_by": "all", **_csat([r for _d, _b, r in surveys])}]
    for by in sorted({b for _d, b, _r in surveys}):
        satisfaction.append({"resolved_by": by, **_csat([r for _d, b, r in surveys if b == by])})

    c_all = _conversation_row(convs)
    s_all = sla[-1]
    totals = {
        **c_all,
        "tickets": len(tf.tickets),
        "escalations": len(tf.escalations),
        "functional_escalations": sum(1 for e in tf.escalations if (e.data or {}).get("path") == "functional"),
        "hierarchical_escalations": sum(1 for e in tf.escalations if (e.data or {}).get("path") == "hierarchical"),
        "reopened": len(tf.reopenings),
        "reopened_tickets": len({e.ticket_id for e in tf.reopenings}),
        "first_response_median_min": s_all["first_response_median_min"],
        "first_response_breaches": s_all["first_response_breaches"],
        "resolution_median_min": s_all["resolution_median_min"],
        "resolution_breaches": s_all["resolution_breaches"],
        "csat_answers": satisfaction[0]["answers"],
        "csat_mean": satisfaction[0]["mean"],
        "csat_share_4_5": satisfaction[0]["share_4_5"],
    }
    return {
        "period": period.as_dict(),
        "language": language,
        Figure.TOTALS.value: totals,
        Figure.DAILY.value: daily,
        Figure.LANGUAGES.value: languages,
        Figure.REASONS.value: reasons,
        Figure.QUEUES.value: queues,
        Figure.SLA.value: sla,
        Figure.ESCALATIONS.value: escalations,
        Figure.AGENTS.value: agents,
        Figure.SATISFACTION.value: satisfaction,
    }


def table(rep: Dict[str, Any], figure: str) -> List[Row]:
    """One figure of a report as rows (``totals`` as a single row)."""
    value = rep[Figure(figure).value]
    return [value] if isinstance(value, dict) else list(value)
