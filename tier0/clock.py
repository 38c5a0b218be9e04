"""Time as a dependency: services ask a clock, never ``datetime.now()`` directly, so SLA tests freeze it.

Every timestamp in tier0 is naive UTC (see :func:`tier0.db.utcnow`).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol

from tier0.db import utcnow


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return utcnow()


class FrozenClock:
    """A clock that only moves when told to (tests, replaying history)."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime(2026, 1, 5, 9, 0)  # a Monday morning
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, **delta: float) -> dt.datetime:
        """``advance(minutes=6)``; returns the new time."""
        with self._lock:
            self._now = self._now + dt.timedelta(**delta)
            return self._now
