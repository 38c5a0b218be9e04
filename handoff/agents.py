"""Desk accounts: agents, team leads and admins; sign-in sessions with expiry; presence.

Passwords are hashed with Argon2id (``argon2-cffi``); session tokens are random, stored as SHA-256 hashes, and
expire: after TIER0_SESSION_HOURS without use (sliding while used), and at the latest TIER0_SESSION_MAX_HOURS after
sign-in, however used. Signing out, disabling an account or changing its password ends its sessions and tells the
:attr:`AgentDirectory.revocations` listeners (the live hub closes the open desk streams, in every worker). The first
admin's password is written to a file of mode 600 and must be changed at first sign-in (then the file is removed).

Which queues an agent works is the desk configuration's business (``queues.<name>.members``); roles are stored
here:

  - agent  works the tickets of the queues they are a member of;
  - lead   sees and works every queue, and may take over a ticket another agent owns;
  - admin  everything a lead does, plus accounts, the SLA scheduler and webhook deliveries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
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
    # the first admin's generated password: every desk route but /me, logout and the password change refuses (403)
    must_change_password = Column(Boolean, nullable=False, default=False, server_default="0")


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
    must_change_password: bool = False

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMIN)

    def can_see_queue(self, queue: str) -> bool:
        return self.sees_all or queue in self.queues

    def as_dict(self) -> dict:
        return {"username": self.username, "display_name": self.display_name, "role": self.role,
                "queues": list(self.queues), "must_change_password": self.must_change_password}


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_key(token: Optional[str]) -> Optional[str]:
    """How a session is named without its token (its stored hash): stream tickets and revocations carry this."""
    return _sha(token) if token else None


# Called with (username, session key or None for all of that agent's sessions) after sessions end.
Revocation = Callable[[str, Optional[str]], None]


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
        session_max_hours: float = 24.0,
    ):
        self.db = db
        self.queues_of = queues_of
        self.clock = clock or SystemClock()
        self.session_ttl = dt.timedelta(hours=session_hours)
        self.session_max = dt.timedelta(hours=session_max_hours)
        self.revocations: List[Revocation] = []
        self.initial_password_file: Optional[Path] = None  # set by ensure_admin; removed once that password changes

    def _view(self, a: AgentAccount) -> AgentView:
        return AgentView(a.username, a.display_name, a.role, tuple(self.queues_of(a.username)),
                         bool(a.must_change_password))

    def _revoked(self, username: str, session: Optional[str] = None) -> None:
        for fn in list(self.revocations):
            try:
                fn(username, session)
            except Exception:  # noqa: BLE001 - the sessions are gone from the database whatever a listener does
                log.exception("desk.revocation_listener_failed username=%s", username)

    def _password_changed(self, was_forced: bool) -> None:
        """The generated first password no longer works once changed: its file goes."""
        f = self.initial_password_file
        if was_forced and f is not None and f.exists():
            f.unlink(missing_ok=True)
            log.warning("desk.initial_password_file_removed path=%s", f)

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

    def display_name(self, username: str) -> Optional[str]:
        """The name customers see for this agent (None for an unknown one): one row, not the whole list."""
        with self.db.session() as s:
            return s.execute(select(AgentAccount.display_name).where(AgentAccount.username == username)).scalar()

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
        """An admin's (or the command line's) reset: the agent's sessions end. A forced change stays forced."""
        validate_password(password)
        with self.db.session() as s:
            a = self._get(s, username)
            a.password_hash = _hasher.hash(password)
            s.execute(AgentSession.__table__.delete().where(AgentSession.agent_id == a.id))
            forced = bool(a.must_change_password)
        self._password_changed(forced)
        self._revoked(username)

    def change_password(self, token: Optional[str], old: str, new: str) -> Tuple[str, dt.datetime, AgentView]:
        """The signed-in agent changes their own password (``old`` checked): every session of theirs ends, the
        forced change is done, and a new session is returned as from :meth:`login`."""
        agent = self.authenticate(token)
        validate_password(new)
        if new == old:
            raise InvalidInput("the new password must differ from the old one")
        with self.db.session() as s:
            a = self._get(s, agent.username)
            ok = False
            try:
                ok = _hasher.verify(a.password_hash, old or "")
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                pass
            if not ok:
                log.warning("desk.password_change_refused username=%s", a.username)
                raise InvalidInput("the current password is wrong")
            a.password_hash = _hasher.hash(new)
            s.execute(AgentSession.__table__.delete().where(AgentSession.agent_id == a.id))
            forced = bool(a.must_change_password)
            a.must_change_password = False
            log.warning("desk.password_changed username=%s", a.username)
        self._password_changed(forced)
        self._revoked(agent.username)
        return self._open_session(agent.username)

    def set_active(self, username: str, active: bool) -> None:
        with self.db.session() as s:
            a = self._get(s, username)
            a.active = active
            if not active:
                s.execute(AgentSession.__table__.delete().where(AgentSession.agent_id == a.id))
        if not active:
            self._revoked(username)

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
        log.info("desk.login username=%s", username)
        return self._open_session(username)

    def _open_session(self, username: str) -> Tuple[str, dt.datetime, AgentView]:
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        expires = min(now + self.session_ttl, now + self.session_max)
        with self.db.session() as s:
            a = self._get(s, username)
            s.add(AgentSession(token_hash=_sha(token), agent_id=a.id, created_at=now, expires_at=expires))
            a.last_seen_at = now
            s.flush()
            return token, expires, self._view(a)

    def authenticate(self, token: Optional[str]) -> AgentView:
        """The agent behind a session token; refreshes presence and slides the expiry."""
        if not token:
            raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' from POST /api/desk/login")
        return self.authenticate_session(_sha(token))

    def authenticate_session(self, key: Optional[str]) -> AgentView:
        """The agent behind a session named by its :func:`session_key`: refused once idle too long, past its
        absolute lifetime, or when the account is disabled; a use refreshes presence and slides the idle expiry
        (never past the absolute lifetime), written at most every 30 s."""
        if not key:
            raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' from POST /api/desk/login")
        now = self.clock.now()
        with self.db.session() as s:
            sess = s.get(AgentSession, key)
            ends = sess.created_at + self.session_max if sess is not None else now
            if sess is not None and ends <= now:
                raise Unauthorized("session reached its maximum lifetime; sign in again")
            if sess is None or sess.expires_at <= now:
                raise Unauthorized("session expired or unknown; sign in again")
            a = s.get(AgentAccount, sess.agent_id)
            if a is None or not a.active:
                raise Unauthorized("this account is disabled")
            if a.last_seen_at is None or now - a.last_seen_at > dt.timedelta(seconds=30):
                a.last_seen_at = now
                sess.expires_at = min(max(sess.expires_at, now + self.session_ttl), ends)
            return self._view(a)

    def logout(self, token: Optional[str]) -> None:
        if not token:
            return
        username = None
        with self.db.session() as s:
            sess = s.get(AgentSession, _sha(token))
            if sess is not None:
                a = s.get(AgentAccount, sess.agent_id)
                if a is not None:
                    a.last_seen_at = None  # offline at once
                    username = a.username
                s.delete(sess)
        if username is not None:
            self._revoked(username, _sha(token))

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
        """On an empty desk, create ``admin`` with a random password written to ``password_file``, which is created
        with mode 600 (never readable by others, not even for a moment); the account must change it at first
        sign-in, and the file is removed then."""
        password_file = Path(password_file)
        self.initial_password_file = password_file
        if self.count():
            return None
        password = secrets.token_urlsafe(12)
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.unlink(missing_ok=True)  # a stale file keeps its old mode: create anew
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(password + "\n")
        try:
            self.create("admin", password, role=Role.ADMIN.value, display_name="Administrator")
            with self.db.session() as s:
                self._get(s, "admin").must_change_password = True
        except BaseException:
            password_file.unlink(missing_ok=True)
            raise
        log.warning("desk.admin_created username=admin password_file=%s (change the password at first sign-in)",
                    password_file)
        return password
