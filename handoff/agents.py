"""Desk accounts: agents, team leads and admins; sign-in sessions with expiry; presence.

Passwords are hashed with Argon2id (``argon2-cffi``); session tokens are random, stored as SHA-256 hashes, and
expire (default 12 hours, sliding while used). Which queues an agent works is the desk configuration's business
(``queues.<name>.members``); roles are stored here:

  - agent  works the tickets of the queues they are a member of;
  - lead   sees and works every queue, and may take over a ticket another agent owns;
  - admin  everything a lead does, plus accounts, the SLA scheduler and webhook deliveries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, select

from tier0.clock import Clock, SystemClock
from tier0.db import Base, Database
from tier0.errors import Conflict, InvalidInput, NotFound, Unauthorized
from tier0.vocab import Role

log = logging.getLogger("tier0.desk")

ROLES = Role.values()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD = 10
PRESENCE = dt.timedelta(minutes=5)  # seen within this long = online
_hasher = PasswordHasher()


class AgentAccount(Base):
    __tablename__ = "agents"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(64), unique=True, nullable=False)
    display_name = Column(String(200), nullable=False)
    role = Column(String(10), nullable=False, default=Role.AGENT.value)
    password_hash = Column(String(200), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False)
    last_seen_at = Column(DateTime, nullable=True)


class AgentSession(Base):
    __tablename__ = "agent_sessions"

    token_hash = Column(String(64), primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), index=True, nullable=False)
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)


@dataclass(frozen=True)
class AgentView:
    username: str
    display_name: str
    role: str
    queues: Tuple[str, ...]

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMIN)

    def can_see_queue(self, queue: str) -> bool:
        return self.sees_all or queue in self.queues

    def as_dict(self) -> dict:
        return {"username": self.username, "display_name": self.display_name, "role": self.role,
                "queues": list(self.queues)}


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1000:
        raise InvalidInput("password is longer than 1000 characters")
    return password


class AgentDirectory:
    def __init__(
        self,
        db: Database,
        queues_of: Callable[[str], Sequence[str]],
        clock: Optional[Clock] = None,
        session_hours: float = 12.0,
    ):
        self.db = db
        self.queues_of = queues_of
        self.clock = clock or SystemClock()
        self.session_ttl = dt.timedelta(hours=session_hours)

    def _view(self, a: AgentAccount) -> AgentView:
        return AgentView(a.username, a.display_name, a.role, tuple(self.queues_of(a.username)))

    # -- accounts ----------------------------------------------------------------------------------------
    def create(
        self, username: str, password: str, role: str = Role.AGENT.value, display_name: Optional[str] = None
    ) -> AgentView:
        username = (username or "").strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput("username: 2-63 characters, lower-case letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        validate_password(password)
        with self.db.session() as s:
            if s.execute(select(AgentAccount).where(AgentAccount.username == username)).scalars().first():
                raise Conflict(f"agent {username!r} already exists")
            a = AgentAccount(
                username=username,
                display_name=(display_name or username.capitalize()).strip()[:200],
                role=str(role),
                password_hash=_hasher.hash(password),
                created_at=self.clock.now(),
            )
            s.add(a)
            s.flush()
            log.info("desk.agent_created username=%s role=%s", username, role)
            return self._view(a)

    def count(self) -> int:
        with self.db.session() as s:
            return len(s.execute(select(AgentAccount.id)).all())

    def list(self) -> List[dict]:
        with self.db.session() as s:
            rows = s.execute(select(AgentAccount).order_by(AgentAccount.username)).scalars()
            now = self.clock.now()
            return [
                {
                    **self._view(a).as_dict(),
                    "active": a.active,
                    "online": bool(a.active and a.last_seen_at and now - a.last_seen_at <= PRESENCE),
                }
                for a in rows
            ]

    def set_password(self, username: str, password: str) -> None:
        validate_password(password)
        with self.db.session() as s:
            a = self._get(s, username)
            a.password_hash = _hasher.hash(password)
            s.execute(AgentSession.__table__.delete().where(AgentSession.agent_id == a.id))

    def set_active(self, username: str, active: bool) -> None:
        with self.db.session() as s:
            a = self._get(s, username)
            a.active = active
            if not active:
                s.execute(AgentSession.__table__.delete().where(AgentSession.agent_id == a.id))

    def _get(self, s, username: str) -> AgentAccount:
        a = s.execute(select(AgentAccount).where(AgentAccount.username == username)).scalars().first()
        if a is None:
            raise NotFound(f"agent {username!r} not found")
        return a

    # -- sessions ----------------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> Tuple[str, dt.datetime, AgentView]:
        """``(token, expires_at, agent)``; one generic error for unknown user, wrong password or disabled."""
        username = (username or "").strip().lower()
        with self.db.session() as s:
            a = s.execute(select(AgentAccount).where(AgentAccount.username == username)).scalars().first()
            ok = False
            if a is not None and a.active:
                try:
                    ok = _hasher.verify(a.password_hash, password or "")
                except (VerifyMismatchError, VerificationError, InvalidHashError):
                    ok = False
            else:
                _hasher.hash("timing-equaliser")  # same cost whether the account exists or not
            if not ok:
                log.info("desk.login_failed username=%s", username[:64])
                raise Unauthorized("wrong username or password")
            if _hasher.check_needs_rehash(a.password_hash):
                a.password_hash = _hasher.hash(password)
            now = self.clock.now()
            token = secrets.token_urlsafe(32)
            expires = now + self.session_ttl
            s.add(AgentSession(token_hash=_sha(token), agent_id=a.id, created_at=now, expires_at=expires))
            a.last_seen_at = now
            s.flush()
            log.info("desk.login username=%s", username)
            return token, expires, self._view(a)

    def authenticate(self, token: Optional[str]) -> AgentView:
        """The agent behind a session token; refreshes presence and slides the expiry."""
        if not token:
            raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' from POST /api/desk/login")
        now = self.clock.now()
        with self.db.session() as s:
            sess = s.get(AgentSession, _sha(token))
            if sess is None or sess.expires_at <= now:
                raise Unauthorized("session expired or unknown; sign in again")
            a = s.get(AgentAccount, sess.agent_id)
            if a is None or not a.active:
                raise Unauthorized("this account is disabled")
            if a.last_seen_at is None or now - a.last_seen_at > dt.timedelta(seconds=30):
                a.last_seen_at = now
                sess.expires_at = max(sess.expires_at, now + self.session_ttl)
            return self._view(a)

    def logout(self, token: Optional[str]) -> None:
        if not token:
            return
        with self.db.session() as s:
            sess = s.get(AgentSession, _sha(token))
            if sess is not None:
                a = s.get(AgentAccount, sess.agent_id)
                if a is not None:
                    a.last_seen_at = None  # offline at once
                s.delete(sess)

    def online(self, usernames: Sequence[str], now: Optional[dt.datetime] = None) -> List[str]:
        """Which of ``usernames`` are signed in and were seen in the last few minutes."""
        if not usernames:
            return []
        now = now or self.clock.now()
        with self.db.session() as s:
            rows = s.execute(
                select(AgentAccount.username)
                .join(AgentSession, AgentSession.agent_id == AgentAccount.id)
                .where(
                    AgentAccount.username.in_(list(usernames)),
                    AgentAccount.active.is_(True),
                    AgentAccount.last_seen_at >= now - PRESENCE,
                    AgentSession.expires_at > now,
                )
                .distinct()
            ).scalars()
            return sorted(rows)

    def ensure_admin(self, password_file) -> Optional[str]:
        """On an empty desk, create ``admin`` with a random password written (mode 600) to ``password_file``."""
        if self.count():
            return None
        password = secrets.token_urlsafe(12)
        self.create("admin", password, role=Role.ADMIN.value, display_name="Administrator")
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)
        log.warning("desk.admin_created username=admin password_file=%s", password_file)
        return password
