"""Leases: a named job runs on one process at a time, across workers and machines that share the database.

A lease is a row (name, holder, expires_at). :meth:`Lease.acquire` takes it when it is free or expired and renews it
when this holder has it, in one conditional UPDATE (or INSERT for a new name), so two processes never both hold it:
the database serialises the writes. A holder that dies stops renewing; another takes over after ``ttl_s``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from typing import Callable

from sqlalchemy import Column, DateTime, String, insert, update
from sqlalchemy.exc import IntegrityError

from tier0.db import Base, Database, utcnow

log = logging.getLogger("tier0.lease")


class LeaseRow(Base):
    __tablename__ = "leases"

    name = Column(String(100), primary_key=True)
    holder = Column(String(200), nullable=False)
    expires_at = Column(DateTime, nullable=False)


def process_holder() -> str:
    """This process's name as a lease holder: host, pid and a random part (a restarted pid is a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, db: Database, name: str, holder: str, ttl_s: float = 15.0,
                 now: Callable[[], dt.datetime] = utcnow):
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = dt.timedelta(seconds=ttl_s)
        self._now = now
        self.held = False

    def acquire(self) -> bool:
        """Take or renew the lease; True when this holder has it until ``now + ttl``."""
        now = self._now()
        table = LeaseRow.__table__
        with self.db.engine.begin() as conn:
            got = conn.execute(
                update(table)
                .where(table.c.name == self.name)
                .where((table.c.holder == self.holder) | (table.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.ttl)
            ).rowcount
        if not got:
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(insert(table).values(name=self.name, holder=self.holder, expires_at=now + self.ttl))
                got = 1
            except IntegrityError:  # someone holds it (or took it a moment ago)
                got = 0
        if bool(got) != self.held:
            log.warning("lease.%s name=%s holder=%s", "acquired" if got else "lost", self.name, self.holder)
        self.held = bool(got)
        return self.held

    def release(self) -> None:
        """Give the lease up now (a clean shutdown), so another process takes over at its next try."""
        table = LeaseRow.__table__
        with self.db.engine.begin() as conn:
            conn.execute(update(table).where(table.c.name == self.name, table.c.holder == self.holder)
                         .values(expires_at=dt.datetime(1970, 1, 1)))
        self.held = False
