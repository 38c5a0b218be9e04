"""The period an analytics report covers: whole local days ``first`` .. ``last`` (both included) in a time zone.

Every timestamp in tier0 is naive UTC; a report's day runs from midnight to midnight in its time zone (Europe/Paris by
default, TIER0_ANALYTICS_TIMEZONE), so a conversation at 23:30 UTC on a winter evening counts on the next Paris day.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Tuple
from zoneinfo import ZoneInfo, available_timezones

from tier0.errors import InvalidInput
from tier0.vocab import DEFAULT_ANALYTICS_DAYS, MAX_ANALYTICS_DAYS

FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2999, 12, 31)  # the dates a report may name


@functools.lru_cache(maxsize=1)
def time_zones() -> FrozenSet[str]:
    """The IANA names ZoneInfo knows (a folder such as ``America`` or a path is not one)."""
    return frozenset(available_timezones())


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def days(self) -> List[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def _utc(self, day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time(0, 0), tzinfo=self.tz)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)

    @property
    def bounds(self) -> Tuple[dt.datetime, dt.datetime]:
        """``[start, end)`` as naive UTC instants: the first day's local midnight to the one after the last day."""
        return self._utc(self.first), self._utc(self.last + dt.timedelta(days=1))

    def day_of(self, t: dt.datetime) -> dt.date:
        """The local day of a naive UTC instant."""
        return t.replace(tzinfo=dt.timezone.utc).astimezone(self.tz).date()

    def contains(self, t: Optional[dt.datetime]) -> bool:
        start, end = self.bounds
        return t is not None and start <= t < end

    def as_dict(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "timezone": self.timezone,
                "days": len(self.days)}


def _date(value: str, what: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{what}: {value!r} is not a date like 2026-01-31") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{what}: {value!r} is not between {FIRST_DAY} and {LAST_DAY}")
    return day


def parse_period(first: Optional[str], last: Optional[str], timezone: str, now: dt.datetime) -> Period:
    """The period asked for: ``first`` / ``last`` as ISO dates (both included), by default the
    :data:`~tier0.vocab.DEFAULT_ANALYTICS_DAYS` days up to today (in ``timezone``, ``now`` being naive UTC).
    InvalidInput (422) for a date that is not one, an unknown time zone, a period that ends before it starts or is
    longer than :data:`~tier0.vocab.MAX_ANALYTICS_DAYS` days."""
    if timezone not in time_zones():
        raise InvalidInput(f"tz: {timezone!r} is not a time zone such as 'Europe/Paris'")
    tz = ZoneInfo(timezone)
    today = now.replace(tzinfo=dt.timezone.utc).astimezone(tz).date()
    end = _date(last, "to") if last else None
    start = _date(first, "from") if first else None
    if end is None:
        end = today if start is None else min(today, start + dt.timedelta(days=DEFAULT_ANALYTICS_DAYS - 1))
        end = max(end, start) if start is not None else end
    if start is None:
        start = end - dt.timedelta(days=DEFAULT_ANALYTICS_DAYS - 1)
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start})")
    days = (end - start).days + 1
    if days > MAX_ANALYTICS_DAYS:
        raise InvalidInput(f"the period has {days} days; at most {MAX_ANALYTICS_DAYS} in one report")
    return Period(start, end, timezone)
