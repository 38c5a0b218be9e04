"""Conversations and their messages: the transcript every other part reads.

A conversation is owned by the bot until it is handed off; from then on the bot stays silent in it
(``status == "handed_off"``) and a person answers. Who owns it moves only along :data:`OWNERSHIP_TRANSITIONS`
(a ticket's own states are :mod:`handoff.states`)::

    bot ──a ticket is opened (the bot hands off, an e-mail arrives)──► handed_off
    handed_off ──the ticket is returned to the bot, or closed too long ago when the customer writes──► bot
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Session

from tier0.clock import Clock
from tier0.db import Base, Database, after_commit, utcnow
from tier0.errors import Conflict, Forbidden, InvalidInput, NotFound, TokenExpired
from tier0.vocab import MAX_MESSAGE_CHARS, Channel, Ownership, Sender

CHANNELS = Channel.values()
SENDERS = Sender.values()
TRANSCRIPT_PAGE = 200  # messages (or a ticket's events) in one page of a transcript, unless the caller asks fewer
MAX_TRANSCRIPT_PAGE = 500  # and at most
MAX_ROW_ID = 2**63 - 1  # the largest id a caller may name (64 bits): beyond it a 422, not a database overflow (500)

# Who may take a conversation over from whom: current owner -> the owners it may move to. Writing the status a
# conversation already has is no move and always accepted (two workers handing back the same conversation).
OWNERSHIP_TRANSITIONS: Dict[Ownership, FrozenSet[Ownership]] = {
    # handoff.transitions: the bot's hand-off, or an inbound e-mail, opens a ticket
    Ownership.BOT: frozenset({Ownership.HANDED_OFF}),
    # handoff.transitions: an agent returns the ticket to the bot;
    # bot.engine: the customer writes and the conversation's ticket was returned, or resolved too long ago
    Ownership.HANDED_OFF: frozenset({Ownership.BOT}),
}


def next_ownership(conversation_id: str, current: str, new: Any) -> Ownership:
    """``new`` as an :class:`Ownership`, when a conversation owned by ``current`` may move to it: InvalidInput for
    a status that is not an owner, Conflict for a move :data:`OWNERSHIP_TRANSITIONS` does not allow."""
    if new not in Ownership.values():
        raise InvalidInput(f"unknown conversation status {new!r}; expected one of {', '.join(Ownership.values())}")
    target = Ownership(new)
    if target == current:
        return target
    known = current in Ownership.values()
    allowed = OWNERSHIP_TRANSITIONS.get(Ownership(current), frozenset()) if known else frozenset()
    if target not in allowed:
        to = ", ".join(sorted(allowed)) or "nowhere"
        raise Conflict(
            f"conversation {conversation_id} cannot go from {current} to {target} (from {current} only to {to})"
        )
    return target


class Conversation(Base):
    __tablename__ = "conversations"

    id = Column(String(32), primary_key=True)
    token_hash = Column(String(64), nullable=False)
    # the customer token is refused from then on; each use moves it TIER0_CUSTOMER_TOKEN_HOURS ahead (None: a
    # conversation from before expiry existed, counted from updated_at)
    token_expires_at = Column(DateTime, nullable=True)
    channel = Column(String(16), nullable=False, default=Channel.WEB.value)
    language = Column(String(8), nullable=True)
    customer = Column(JSON, nullable=False, default=dict)
    status = Column(String(16), nullable=False, default=Ownership.BOT.value)  # tier0.vocab.Ownership
    low_confidence_streak = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # when its personal data was erased (handoff.erasure: retention or a data-subject request); never read again for
    # learning
    anonymised_at = Column(DateTime, nullable=True)
    # when the customer ended it from the widget (#23 W1, bot.widget): no new turns after it
    ended_at = Column(DateTime, nullable=True)


class Message(Base):
    __tablename__ = "messages"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(32), ForeignKey("conversations.id"), index=True, nullable=False)
    sender = Column(String(16), nullable=False)
    text = Column(Text, nullable=False, default="")
    data = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class SurveyAnswer(Base):
    """The satisfaction survey shown at the end of a conversation (resolved by the bot or by a person): one answer a
    conversation (the last one counts), read by the escalation analytics (CSAT)."""

    __tablename__ = "survey_answers"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(32), ForeignKey("conversations.id"), index=True, nullable=False)
    ticket_id = Column(Integer, nullable=True, index=True)  # the ticket that ended it, if a person did
    resolved_by = Column(String(16), nullable=False)  # tier0.vocab.Sender: "bot" or "agent"
    rating = Column(Integer, nullable=False)  # 1..5 (a thumbs-down is 1, a thumbs-up 5)
    comment = Column(Text, nullable=True)
    language = Column(String(8), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


class IdempotencyKey(Base):
    """A widget message sent with an ``Idempotency-Key`` (#23 W1, bot.widget.Idempotency): the same key again returns
    the first turn's result instead of running a second turn, whichever worker gets it. ``state`` pending while the
    first turn runs, then done with ``result`` (the message ids, outcome and public ticket: no customer text)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("conversation_id", "key", name="uq_idempotency_keys_conversation_key"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(32), ForeignKey("conversations.id"), nullable=False)
    key = Column(String(100), nullable=False)
    body_hash = Column(String(64), nullable=False)
    state = Column(String(16), nullable=False)  # pending | done
    result = Column(JSON, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)


@dataclass
class ConversationView:
    id: str
    channel: str
    language: Optional[str]
    customer: Dict[str, Any]
    status: str
    low_confidence_streak: int

    @classmethod
    def of(cls, c: Conversation) -> "ConversationView":
        return cls(c.id, c.channel, c.language, dict(c.customer or {}), c.status, c.low_confidence_streak)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def message_dict(m: Message) -> Dict[str, Any]:
    return {
        "id": m.id,
        "sender": m.sender,
        "text": m.text,
        "data": m.data or {},
        "created_at": m.created_at.isoformat() + "Z",
    }


# A customer token's expiry is written again only when it moved this much: not one write per turn.
TOKEN_RENEWAL = dt.timedelta(minutes=5)


class ConversationStore:
    """Creates conversations, checks their tokens (which expire unless used: ``token_hours``) and keeps their
    transcript."""

    def __init__(self, db: Database, token_hours: float = 72.0, clock: Optional[Clock] = None):
        self.db = db
        self.token_ttl = dt.timedelta(hours=token_hours)
        self.now: Callable[[], dt.datetime] = clock.now if clock is not None else utcnow
        # Called with (conversation_id, message) after a message is stored: live pages wake on it.
        self.listeners: List[Callable[[str, Dict[str, Any]], None]] = []

    def start(
        self,
        channel: str = Channel.WEB.value,
        language: Optional[str] = None,
        customer: Optional[Dict[str, Any]] = None,
    ) -> tuple:
        """Open a conversation; returns ``(ConversationView, token)``. The token is shown once."""
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
        token = secrets.token_urlsafe(24)
        conv = Conversation(
            id=uuid.uuid4().hex,
            token_hash=_hash_token(token),
            channel=Channel(channel).value,
            language=language,
            customer=dict(customer or {}),
            token_expires_at=self.now() + self.token_ttl,
        )
        with self.db.session() as s:
            s.add(conv)
        return ConversationView.of(conv), token

    def _get(self, s: Session, conversation_id: str, lock: bool = False) -> Conversation:
        """The conversation; ``lock`` takes its row lock (PostgreSQL) so two workers cannot both change its owner."""
        conv = s.get(Conversation, conversation_id, with_for_update=lock or None)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conv

    def get(self, conversation_id: str) -> ConversationView:
        with self.db.session() as s:
            return ConversationView.of(self._get(s, conversation_id))

    def authorize(self, conversation_id: str, token: Optional[str]) -> ConversationView:
        """Return the conversation if ``token`` is its customer token, else raise Forbidden/NotFound; TokenExpired
        (401 ``token_expired``) when it went unused too long. A use moves the expiry ahead (written at most every
        :data:`TOKEN_RENEWAL`, without touching ``updated_at``)."""
        with self.db.session() as s:
            conv = self._get(s, conversation_id)
            if not token or not hmac.compare_digest(conv.token_hash, _hash_token(token)):
                raise Forbidden("this conversation belongs to another customer token")
            now = self.now()
            expires = conv.token_expires_at or conv.updated_at + self.token_ttl
            if expires <= now:
                raise TokenExpired("this conversation's token has expired: start a new conversation")
            if now + self.token_ttl - expires >= TOKEN_RENEWAL:
                s.execute(update(Conversation).where(Conversation.id == conversation_id)
                          .values(token_expires_at=now + self.token_ttl, updated_at=Conversation.updated_at))
            return ConversationView.of(conv)

    def add_message(
        self, conversation_id: str, sender: str, text: str, data: Optional[Dict[str, Any]] = None,
        session: Optional[Session] = None,
    ) -> Dict[str, Any]:
        if sender not in SENDERS:
            raise InvalidInput(f"unknown sender {sender!r}")
        with self.db.unit(session) as s:
            self._get(s, conversation_id)
            m = Message(conversation_id=conversation_id, sender=Sender(sender).value, text=text, data=dict(data or {}))
            s.add(m)
            s.flush()
            out = message_dict(m)
            after_commit(s, lambda: self._notify(conversation_id, out))
        return out

    def _notify(self, conversation_id: str, message: Dict[str, Any]) -> None:
        for fn in self.listeners:
            try:
                fn(conversation_id, message)
            except Exception:  # noqa: BLE001 - a listener never loses a message already stored
                logging.getLogger("tier0").exception("conversation.listener_failed")

    def transcript(self, conversation_id: str, after_id: int = 0) -> List[Dict[str, Any]]:
        with self.db.session() as s:
            self._get(s, conversation_id)
            rows = s.execute(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.id > after_id)
                .order_by(Message.id)
            ).scalars()
            return [message_dict(m) for m in rows]

    def transcript_page(
        self, conversation_id: str, limit: int = TRANSCRIPT_PAGE, after_id: Optional[int] = None,
        before_id: Optional[int] = None,
    ) -> Tuple[List[Dict[str, Any]], bool]:
        """At most ``limit`` messages, oldest first, and whether more lie beyond them: with ``after_id``, the first
        ones after it (more: later ones); otherwise the last ones, before ``before_id`` if given (more: earlier)."""
        with self.db.session() as s:
            self._get(s, conversation_id)
            q = select(Message).where(Message.conversation_id == conversation_id)
            if after_id is not None:
                rows = s.execute(q.where(Message.id > after_id).order_by(Message.id).limit(limit + 1)).scalars().all()
                return [message_dict(m) for m in rows[:limit]], len(rows) > limit
            if before_id is not None:
                q = q.where(Message.id < before_id)
            rows = s.execute(q.order_by(Message.id.desc()).limit(limit + 1)).scalars().all()
            return [message_dict(m) for m in reversed(rows[:limit])], len(rows) > limit

    def last_bot_data(self, conversation_id: str, key: str) -> Any:
        """``data[key]`` of the latest bot message that carries it (what the bot last tried, its last outcome)."""
        for m in reversed(self.transcript(conversation_id)):
            if m["sender"] == Sender.BOT and m["data"].get(key):
                return m["data"][key]
        return None

    def update(self, conversation_id: str, session: Optional[Session] = None, **fields: Any) -> ConversationView:
        """Change some of a conversation's fields; a new ``status`` must be a move :data:`OWNERSHIP_TRANSITIONS`
        allows from the current one (read under the row's lock), else nothing changes. ``session``: in the
        caller's unit of work (a hand-off changes the ticket and the conversation together)."""
        allowed = {"language", "status", "low_confidence_streak", "customer"}
        unknown = set(fields) - allowed
        if unknown:
            raise InvalidInput(f"cannot update {sorted(unknown)}")
        with self.db.unit(session) as s:
            conv = self._get(s, conversation_id, lock="status" in fields)
            if "status" in fields:
                fields["status"] = next_ownership(conversation_id, conv.status, fields["status"]).value
            for k, v in fields.items():
                setattr(conv, k, v)
            s.flush()
            return ConversationView.of(conv)


def validate_text(text: Any) -> str:
    """A customer message: a non-empty string of at most MAX_MESSAGE_CHARS characters."""
    if not isinstance(text, str):
        raise InvalidInput("message text must be a string")
    text = text.strip()
    if not text:
        raise InvalidInput("message text is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"message text is longer than {MAX_MESSAGE_CHARS} characters")
    return text
