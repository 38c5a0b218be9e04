"""Stream tickets: what a browser's EventSource sends instead of a bearer token, which it cannot put in a header.

A page holding a token (an agent's session, a customer's conversation token) asks for a ticket with that token in
the ``Authorization`` header, then opens the event stream with ``?ticket=``. A ticket is random, stored as its
SHA-256 hash in the database (so any worker redeems what another issued), bound to what it opens (the agent's
session, or the conversation), valid a short while (TIER0_STREAM_TICKET_SECONDS) and once: a URL that leaks (logs,
history, a Referer) opens nothing. A reconnecting page asks for a new one.

    desk          subject = the agent session's token hash   (GET /api/desk/stream)
    conversation  subject = the conversation id              (GET /api/conversations/{id}/stream)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Optional, Tuple

from sqlalchemy import Column, DateTime, String, delete, select

from tier0.clock import Clock, SystemClock
from tier0.db import Base, Database
from tier0.errors import Unauthorized

DESK = "desk"
CONVERSATION = "conversation"
KINDS = (DESK, CONVERSATION)


class StreamTicket(Base):
    __tablename__ = "stream_tickets"

    ticket_hash = Column(String(64), primary_key=True)
    kind = Column(String(16), nullable=False)
    subject = Column(String(64), nullable=False)
    expires_at = Column(DateTime, nullable=False, index=True)


def _sha(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class StreamTickets:
    def __init__(self, db: Database, clock: Optional[Clock] = None, seconds: float = 60.0):
        self.db = db
        self.clock = clock or SystemClock()
        self.ttl = dt.timedelta(seconds=seconds)

    def issue(self, kind: str, subject: str) -> Tuple[str, dt.datetime]:
        """``(ticket, expires_at)`` for opening the ``kind`` stream of ``subject`` once; expired tickets are purged."""
        if kind not in KINDS:
            raise ValueError(f"unknown stream kind {kind!r}")
        ticket = secrets.token_urlsafe(24)
        now = self.clock.now()
        expires = now + self.ttl
        with self.db.session() as s:
            s.execute(delete(StreamTicket).where(StreamTicket.expires_at <= now))
            s.add(StreamTicket(ticket_hash=_sha(ticket), kind=kind, subject=subject, expires_at=expires))
        return ticket, expires

    def redeem(self, kind: str, ticket: Optional[str]) -> str:
        """The subject of a valid ``kind`` ticket, which is used up; Unauthorized when it is unknown, of another
        kind, expired or used already (two workers redeeming one ticket: one wins, by the delete's row count)."""
        refused = Unauthorized("stream ticket unknown, used or expired: ask for a new one (POST …/stream-ticket)")
        if not ticket or len(ticket) > 200:
            raise refused
        key = _sha(ticket)
        now = self.clock.now()
        with self.db.session() as s:
            row = s.execute(select(StreamTicket.kind, StreamTicket.subject, StreamTicket.expires_at)
                            .where(StreamTicket.ticket_hash == key)).first()
            if row is None or row.kind != kind or row.expires_at <= now:
                raise refused
            subject = str(row.subject)
            if s.execute(delete(StreamTicket).where(StreamTicket.ticket_hash == key)).rowcount != 1:
                raise refused
        return subject
