"""SLA arithmetic: business hours, targets, pauses and what the scheduler must do. Pure functions of the ticket
and the time — no database, no ``now()`` inside — so every rule is tested with a frozen clock.

Vocabulary (the French escalation literature's "niveaux" and "délais"):
  - first response: the first public reply of a person at the ticket's current level;
  - resolution: the ticket resolved at its current level;
  - both are counted in the queue's business hours, and time spent waiting on the customer (from an agent's reply to
    the customer's next message) does not count towards resolution;
  - when a ticket changes level (escalation) or is reopened, its clock starts again under the new level's targets.

The scheduler's rules (:func:`due_actions`):
  - first response late  -> priority raised one step (once per level), rule ``sla_first_response``;
  - resolution breached  -> escalated one level up (functional path) when there is one, else recorded as breached.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from tier0.vocab import OPEN_TICKET_STATUSES, Priority, TicketStatus

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Window = Tuple[dt.time, dt.time]


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours of a team in its own time zone: per weekday a list of (start, end) windows, and holidays."""

    name: str
    timezone: str = "UTC"
    week: Tuple[Tuple[Window, ...], ...] = ()  # index 0 = Monday; empty tuple = open all week (24/7)
    holidays: FrozenSet[dt.date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.week

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _local(self, t: dt.datetime) -> dt.datetime:
        return t.replace(tzinfo=dt.timezone.utc).astimezone(self.tz)

    def _windows_utc(self, day: dt.date) -> Tuple[Tuple[dt.datetime, dt.datetime], ...]:
        """The day's opening windows as naive UTC intervals (remembered: the desk's queue computes the clocks of
        every open ticket, over the same days, at each refresh)."""
        return _day_windows(self, day)

    def _compute_windows_utc(self, day: dt.date) -> Tuple[Tuple[dt.datetime, dt.datetime], ...]:
        if day in self.holidays:
            return ()
        out = []
        for start, end in self.week[day.weekday()]:
            a = dt.datetime.combine(day, start, tzinfo=self.tz).astimezone(dt.timezone.utc).replace(tzinfo=None)
            if end == dt.time(0, 0):
                b_local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=self.tz)
            else:
                b_local = dt.datetime.combine(day, end, tzinfo=self.tz)
            b = b_local.astimezone(dt.timezone.utc).replace(tzinfo=None)
            if b > a:
                out.append((a, b))
        return tuple(out)

    def is_open(self, t: dt.datetime) -> bool:
        if self.always_open:
            return True
        day = self._local(t).date()
        return any(a <= t < b for d in (day - dt.timedelta(days=1), day) for a, b in self._windows_utc(d))

    def seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Business seconds in [start, end) (0 when end <= start)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        total = 0.0
        day = self._local(start).date() - dt.timedelta(days=1)
        last = self._local(end).date()
        whole = day + dt.timedelta(days=2)  # from here to the day before ``last``, a day's windows are all inside
        if last - whole > dt.timedelta(days=2):
            total += _whole_days_seconds(self, whole, last)
            edges = [day, day + dt.timedelta(days=1), last]
        else:
            edges = [day + dt.timedelta(days=i) for i in range((last - day).days + 1)]
        for d in edges:
            for a, b in self._windows_utc(d):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
        return total

    def add_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The instant when ``seconds`` business seconds have passed after ``start``."""
        if self.always_open:
            return start + dt.timedelta(seconds=seconds)
        remaining = seconds
        day = self._local(start).date() - dt.timedelta(days=1)
        for _ in range(800):  # two years of days is more than any SLA; guards against an empty calendar
            for a, b in self._windows_utc(day):
                lo = max(a, start)
                if b <= lo:
                    continue
                span = (b - lo).total_seconds()
                if remaining <= span:
                    return lo + dt.timedelta(seconds=remaining)
                remaining -= span
            day += dt.timedelta(days=1)
        raise ValueError(f"business hours {self.name!r} never open")

    def next_open(self, t: dt.datetime) -> dt.datetime:
        """``t`` itself when open, else the next opening instant."""
        return t if self.is_open(t) else self.add_seconds(t, 0.001) - dt.timedelta(seconds=0.001)


@functools.lru_cache(maxsize=16384)
def _day_windows(hours: BusinessHours, day: dt.date) -> Tuple[Tuple[dt.datetime, dt.datetime], ...]:
    return hours._compute_windows_utc(day)


# Per calendar: its first day and the running total of whole days' business seconds from it (cum[i] = the days
# before first + i), grown on demand: the business time between two instants months apart costs two look-ups.
_CUMULATIVE: Dict[BusinessHours, Tuple[dt.date, List[float]]] = {}
_CUMULATIVE_LOCK = threading.Lock()


def _whole_days_seconds(hours: BusinessHours, first: dt.date, stop: dt.date) -> float:
    """Business seconds of the whole days ``first`` .. ``stop`` - 1."""
    with _CUMULATIVE_LOCK:
        anchor, cum = _CUMULATIVE.get(hours) or (first, [0.0])
        if first < anchor:  # start again from the earlier day
            anchor, cum = first, [0.0]
        while (anchor + dt.timedelta(days=len(cum) - 1)) < stop:
            d = anchor + dt.timedelta(days=len(cum) - 1)
            cum.append(cum[-1] + sum((b - a).total_seconds() for a, b in _day_windows(hours, d)))
        _CUMULATIVE[hours] = (anchor, cum)
        return cum[(stop - anchor).days] - cum[(first - anchor).days]


ALWAYS = BusinessHours("24/7")


@dataclass(frozen=True)
class SlaTarget:
    first_response_min: float
    resolution_min: float


@dataclass(frozen=True)
class SlaPolicy:
    """Targets per level and priority (minutes of business time)."""

    targets: Dict[int, Dict[str, SlaTarget]]

    def target(self, level: int, priority: str) -> Optional[SlaTarget]:
        per_level = self.targets.get(level)
        if not per_level:
            return None
        return per_level.get(priority) or per_level.get(Priority.NORMAL)


_BELOW_URGENT = (Priority.LOW.value, Priority.NORMAL.value, Priority.HIGH.value)
DEFAULT_POLICY = SlaPolicy(
    {
        1: {
            Priority.LOW.value: SlaTarget(30, 240),
            Priority.NORMAL.value: SlaTarget(5, 20),
            Priority.HIGH.value: SlaTarget(5, 20),
            Priority.URGENT.value: SlaTarget(2, 10),
        },
        2: {p: SlaTarget(30, 240) for p in _BELOW_URGENT} | {Priority.URGENT.value: SlaTarget(15, 120)},
        3: {p: SlaTarget(240, 2880) for p in _BELOW_URGENT} | {Priority.URGENT.value: SlaTarget(60, 480)},
    }
)


@dataclass(frozen=True)
class SlaTicket:
    """What SLA arithmetic needs to know about a ticket."""

    status: str  # waiting | agent | resolved | returned
    level: int
    priority: str
    level_started_at: dt.datetime  # created, escalated or reopened
    first_response_at: Optional[dt.datetime] = None  # first agent reply at this level
    pauses: Sequence[Tuple[dt.datetime, Optional[dt.datetime]]] = ()  # waiting on the customer; open = None
    resolved_at: Optional[dt.datetime] = None
    flags: FrozenSet[str] = frozenset()  # what the scheduler already did at this level


@dataclass(frozen=True)
class SlaClock:
    first_response_due: Optional[dt.datetime]
    first_response_breached: bool
    resolution_due: Optional[dt.datetime]  # None while paused or without a target
    resolution_breached: bool
    paused: bool
    resolution_remaining_s: Optional[float]  # business seconds left (negative once breached)
    open_now: bool
    target: Optional[SlaTarget] = None

    def as_dict(self) -> Dict[str, object]:
        def iso(t: Optional[dt.datetime]) -> Optional[str]:
            return t.isoformat() + "Z" if t else None

        return {
            "first_response_due": iso(self.first_response_due),
            "first_response_breached": self.first_response_breached,
            "resolution_due": iso(self.resolution_due),
            "resolution_breached": self.resolution_breached,
            "paused": self.paused,
            "resolution_remaining_s": None
            if self.resolution_remaining_s is None
            else round(self.resolution_remaining_s),
            "open_now": self.open_now,
            "first_response_target_min": self.target.first_response_min if self.target else None,
            "resolution_target_min": self.target.resolution_min if self.target else None,
        }


def paused_seconds(t: SlaTicket, hours: BusinessHours, until: dt.datetime) -> float:
    total = 0.0
    for a, b in t.pauses:
        a = max(a, t.level_started_at)
        b = min(b or until, until)
        total += hours.seconds_between(a, b)
    return total


def sla_clock(t: SlaTicket, policy: SlaPolicy, hours: BusinessHours, now: dt.datetime) -> SlaClock:
    target = policy.target(t.level, t.priority)
    open_now = hours.is_open(now)
    end = t.resolved_at if t.status == TicketStatus.RESOLVED and t.resolved_at else now
    paused = any(b is None for _a, b in t.pauses) and t.status != TicketStatus.RESOLVED
    if target is None:
        return SlaClock(None, False, None, False, paused, None, open_now)
    fr_due = hours.add_seconds(t.level_started_at, target.first_response_min * 60)
    fr_at = t.first_response_at if t.first_response_at and t.first_response_at >= t.level_started_at else None
    fr_breached = fr_at > fr_due if fr_at else end >= fr_due
    elapsed = hours.seconds_between(t.level_started_at, end) - paused_seconds(t, hours, end)
    remaining = target.resolution_min * 60 - elapsed
    res_breached = remaining <= 0
    if paused or t.status == TicketStatus.RESOLVED:
        res_due = None
    elif remaining > 0:
        res_due = hours.add_seconds(now, remaining)
    else:  # overdue: an instant in the past, so the most overdue ticket sorts first
        res_due = now + dt.timedelta(seconds=remaining)
    return SlaClock(fr_due, fr_breached, res_due, res_breached, paused, remaining, open_now, target)


@dataclass(frozen=True)
class SlaAction:
    kind: str  # raise_priority | escalate | record_breach
    flag: str  # recorded on the ticket so it happens once per level
    note: str = ""
    data: Dict[str, object] = field(default_factory=dict)


def due_actions(t: SlaTicket, clock: SlaClock, can_escalate: bool) -> List[SlaAction]:
    """What the scheduler must do now for this ticket (each action at most once per level)."""
    if t.status not in OPEN_TICKET_STATUSES:
        return []
    actions: List[SlaAction] = []
    fr_flag = f"L{t.level}:first_response"
    if clock.first_response_breached and t.first_response_at is None and fr_flag not in t.flags:
        actions.append(SlaAction("raise_priority", fr_flag, "no first response within the SLA target"))
    res_flag = f"L{t.level}:resolution"
    if clock.resolution_breached and res_flag not in t.flags:
        kind = "escalate" if can_escalate else "record_breach"
        actions.append(SlaAction(kind, res_flag, "resolution SLA breached"))
    return actions


def urgency_key(clock: SlaClock, priority_rank: int, created_at: dt.datetime) -> Tuple:
    """Queue order: breached first, then by the soonest due time, then higher priority, then oldest."""
    due = clock.resolution_due or clock.first_response_due or dt.datetime.max
    if clock.first_response_due and not clock.first_response_breached and clock.first_response_due < due:
        due = clock.first_response_due
    breached = clock.resolution_breached or clock.first_response_breached
    return (0 if breached else 1, -priority_rank, due, created_at)


def parse_windows(spec: str) -> Tuple[Window, ...]:
    """``"09:00-12:30, 13:30-18:00"`` -> windows; ``"closed"`` -> none; ``"24h"`` -> the whole day."""
    spec = spec.strip().lower()
    if spec in ("closed", "", "none"):
        return ()
    if spec in ("24h", "00:00-24:00"):
        return ((dt.time(0, 0), dt.time(0, 0)),)
    out = []
    for part in spec.split(","):
        try:
            a, b = (x.strip() for x in part.split("-"))
            start = dt.time.fromisoformat(a)
            end = dt.time(0, 0) if b == "24:00" else dt.time.fromisoformat(b)
        except ValueError:
            raise ValueError(f"bad opening hours {part.strip()!r}; expected HH:MM-HH:MM") from None
        if end != dt.time(0, 0) and end <= start:
            raise ValueError(f"opening hours {part.strip()!r} end before they start")
        out.append((start, end))
    return tuple(out)


def parse_days(key: str) -> List[int]:
    """``"mon-fri"`` -> [0..4]; ``"sat"`` -> [5]; ``"mon,wed"`` -> [0, 2]."""
    days: List[int] = []
    for part in key.lower().split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in WEEKDAYS or b not in WEEKDAYS:
                raise ValueError(f"unknown day range {part!r}; use mon..sun")
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            if j < i:
                raise ValueError(f"day range {part!r} goes backwards")
            days.extend(range(i, j + 1))
        elif part in WEEKDAYS:
            days.append(WEEKDAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r}; use mon..sun")
    return days


def hours_from_spec(
    name: str, spec: object, timezone: str, holidays: FrozenSet[dt.date] = frozenset()
) -> BusinessHours:
    """Build hours from the YAML form: ``"24/7"`` or ``{mon-fri: "09:00-18:00", sat: "10:00-13:00"}``."""
    if isinstance(spec, str) and spec.strip().lower() in ("24/7", "always"):
        return BusinessHours(name, timezone)
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"business hours {name!r}: expected '24/7' or a mapping like {{mon-fri: '09:00-18:00'}}")
    week: List[Tuple[Window, ...]] = [() for _ in WEEKDAYS]
    for key, value in spec.items():
        windows = parse_windows(str(value))
        for d in parse_days(str(key)):
            week[d] = windows
    if not any(week):
        raise ValueError(f"business hours {name!r} are never open")
    return BusinessHours(name, timezone, tuple(week), holidays)
