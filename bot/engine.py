"""The conversation engine: one customer turn through Rasa and back. The HTTP API and `tier0 eval` both use it."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from bot.services import Services, use
from tier0.conversations import validate_text
from tier0.text import detect_language
from tier0.vocab import (
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    SUPPORTED_LANGUAGES,
    Channel,
    HandoffReason,
    Ownership,
    Sender,
    TicketStatus,
)

log = logging.getLogger("tier0.bot")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")


@dataclass
class TurnResult:
    conversation_id: str
    language: str
    messages: List[Dict[str, Any]]
    outcome: Dict[str, Any]
    ticket: Optional[Dict[str, Any]]

    def as_dict(self) -> Dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "language": self.language,
            "messages": self.messages,
            "outcome": self.outcome,
            "ticket": self.ticket,
        }


class ConversationEngine:
    def __init__(self, services: Services, agent, turn_threads: int = 4):
        self.services = services
        self.agent = agent
        # Customer turns run here, off the server's event loop: a turn calls the database, Rasa's NLU and the
        # embedding models synchronously, and a slow one must not hold up other chats, streams or the desk. Each
        # thread runs its turns on an event loop of its own (Rasa's agent is async).
        self._turns = ThreadPoolExecutor(max_workers=max(1, turn_threads), thread_name_prefix="tier0-turn")
        self._loops = threading.local()

    async def turn(self, conversation_id: str, text: str) -> "TurnResult":
        """One customer turn (:meth:`send`), run on a turn thread; the caller's event loop stays free meanwhile."""
        return await asyncio.wrap_future(self._turns.submit(self._turn_in_thread, conversation_id, text))

    def _turn_in_thread(self, conversation_id: str, text: str) -> "TurnResult":
        loop = getattr(self._loops, "loop", None)
        if loop is None:
            loop = self._loops.loop = asyncio.new_event_loop()
        return loop.run_until_complete(self.send(conversation_id, text))

    def close(self) -> None:
        """Stop the turn threads (a turn under way finishes) and close the database's connections."""
        self._turns.shutdown(wait=True)
        self.services.db.dispose()

    def start(self, channel: str = Channel.WEB, language: Optional[str] = None, customer: Optional[dict] = None):
        if language is not None and language not in SUPPORTED_LANGUAGES:
            from tier0.errors import InvalidInput

            raise InvalidInput(f"language must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return self.services.conversations.start(channel=channel, language=language, customer=customer)

    async def send(self, conversation_id: str, text: str) -> TurnResult:
        text = validate_text(text)
        store = self.services.conversations
        conv = store.get(conversation_id)
        lang = detect_language(text, default=conv.language or "en") or "en"
        if lang != conv.language:
            store.update(conversation_id, language=lang)
        if conv.status != Ownership.HANDED_OFF:  # else stored with its event on the ticket, in one transaction
            store.add_message(conversation_id, Sender.CUSTOMER, text, {"language": lang})

        if conv.status == Ownership.HANDED_OFF:
            # A person owns (or owned) the conversation: the bot stays silent and the message joins the ticket,
            # reopening it if it was resolved recently. Only a ticket handed back, or long closed, gives the bot
            # the conversation again.
            ticket = self.services.handoff.customer_message(conversation_id, text, {"language": lang})
            if ticket is not None:
                messages, ticket = self._maybe_capture_email(ticket, text, lang)
                outcome = {"type": "handoff", **_ticket_outcome(ticket)}
                return TurnResult(conversation_id, lang, messages, outcome, ticket)
            store.update(conversation_id, status=Ownership.BOT, low_confidence_streak=0)

        t0 = time.perf_counter()
        picked = self.services.turns.picked_option(conversation_id, text, lang)
        if picked is not None:  # a click on a suggested article: answered from it, no intent to read
            messages, outcome = self._collect(conversation_id, picked.as_rasa())
            log.info("bot.turn conversation=%s outcome=picked ms=%.1f", conversation_id,
                     (time.perf_counter() - t0) * 1000)
            return TurnResult(conversation_id, lang, messages, outcome, None)

        from rasa.core.channels.channel import UserMessage

        from bot.rasa_runtime import collecting_channel

        channel = collecting_channel()
        use(self.services)
        raw = await self.agent.handle_message(  # Rasa's lock store serialises turns of one conversation
            UserMessage(rasa_text(text), channel, sender_id=conversation_id, metadata={"language": lang})
        )
        messages, outcome = self._collect(conversation_id, raw or [])
        ticket = None
        if outcome.get("type") == "handoff":
            ticket = self.services.handoff.open_ticket_for(conversation_id, availability=True)
        log.info(
            "bot.turn conversation=%s outcome=%s ms=%.1f",
            conversation_id,
            outcome.get("type"),
            (time.perf_counter() - t0) * 1000,
        )
        return TurnResult(conversation_id, lang, messages, outcome, ticket)

    def inbound_email(
        self, sender: str, name: Optional[str], subject: str, text: str, message_id: Optional[str] = None,
        recipient: str = "", quoted: str = "",
    ) -> Dict[str, Any]:
        """An e-mail from a customer. It joins a ticket only through the reply token tier0 sent with that ticket
        (found in the ``recipient`` address, the subject, or the body and its ``quoted`` text), or when the
        sender is the ticket customer's **verified** e-mail address (tier0.identity) — never by the sender address
        alone, which anyone can declare. Otherwise it opens an e-mail conversation and a ticket (reason
        ``email``) routed by the matrix."""
        from handoff.service import HandoffRequest
        from tier0.errors import InvalidInput
        from tier0.identity import VERIFIED, find_reply_tokens

        sender = sender.strip().lower()
        if not EMAIL.fullmatch(sender):
            raise InvalidInput(f"{sender!r} is not an e-mail address")
        body = validate_text(text[:MAX_MESSAGE_CHARS])
        content = f"{subject.strip()}\n\n{body}" if subject.strip() and subject.strip() not in body else body
        content = content[:MAX_MESSAGE_CHARS]
        lang = detect_language(content, default="en")
        data = {"channel": Channel.EMAIL.value, "subject": subject.strip()[:300], "message_id": message_id}
        handoff = self.services.handoff
        existing, joined_by = None, None
        for token in find_reply_tokens(recipient, subject, text, quoted):
            existing = handoff.find_ticket_by_reply_token(token)
            if existing is not None:
                joined_by = "reply_token"
                break
        if existing is None:
            existing = handoff.find_ticket_by_email(sender)
            joined_by = "verified_email" if existing is not None else None
        if existing is not None:
            self.services.conversations.add_message(existing["conversation_id"], Sender.CUSTOMER, content, data)
            ticket = handoff.customer_message(existing["conversation_id"], content)
            if ticket is not None:
                log.info("email.joined ticket=%s by=%s", ticket["id"], joined_by)
                return {"ticket": ticket["id"], "conversation_id": ticket["conversation_id"], "attached": True,
                        "joined_by": joined_by}
        customer = {"email": sender, VERIFIED: False,
                    **({"name": name.strip()[:MAX_NAME_CHARS]} if name and name.strip() else {})}
        conv, _token = self.services.conversations.start(channel=Channel.EMAIL, language=lang, customer=customer)
        self.services.conversations.add_message(conv.id, Sender.CUSTOMER, content, data)
        request = HandoffRequest(conversation_id=conv.id, reason=HandoffReason.EMAIL, language=lang)
        ticket, _created = handoff.open(request)
        return {"ticket": ticket["id"], "conversation_id": conv.id, "attached": False, "joined_by": None}

    def _maybe_capture_email(self, ticket: Dict[str, Any], text: str, lang: str):
        """When nobody was available, the bot asked for an e-mail address: keep it on the ticket and confirm."""
        if ticket.get("contact_email") or ticket["status"] != TicketStatus.WAITING:
            return [], ticket
        match = EMAIL.search(text)
        if not match:
            return [], ticket
        from handoff.notices import notice

        ticket = self.services.handoff.set_contact_email(ticket["id"], match.group(0))
        stored = self.services.conversations.add_message(
            ticket["conversation_id"],
            Sender.SYSTEM,
            notice("email_saved", lang, email=ticket["contact_email"], ticket=ticket["id"]),
            {"ticket": ticket["id"], "notice": "email_saved"},
        )
        return [{"id": stored["id"], "text": stored["text"], "buttons": [], "sources": []}], ticket

    def _collect(self, conversation_id: str, raw: List[Dict[str, Any]]):
        """Persist the bot's messages; return them in API form with the turn's outcome."""
        store = self.services.conversations
        out: List[Dict[str, Any]] = []
        outcome: Dict[str, Any] = {"type": "other"}
        for m in raw:
            payload = ((m.get("custom") or {}).get("tier0")) or {}
            if payload.get("outcome"):
                outcome = payload["outcome"]
            data: Dict[str, Any] = {}
            if m.get("buttons"):
                data["buttons"] = m["buttons"]
            if payload.get("sources"):
                data["sources"] = payload["sources"]
            if payload.get("outcome"):
                data["outcome"] = payload["outcome"]
            if payload.get("tried"):
                data["tried"] = payload["tried"]
            stored = store.add_message(conversation_id, Sender.BOT, m.get("text") or "", data)
            out.append(
                {
                    "id": stored["id"],
                    "text": stored["text"],
                    "buttons": data.get("buttons", []),
                    "sources": data.get("sources", []),
                }
            )
        return out, outcome


def rasa_text(text: str) -> str:
    """The customer's text as Rasa may read it: never a forced intent. Rasa 3.6 reads a message starting with "/"
    (after stripping spaces; rasa.shared.constants.INTENT_MESSAGE_PREFIX) as an intent and entities given by the
    sender (``/frustration``, ``/affirm{"x": 1}``: RegexMessageHandler, always in the NLU graph), so the leading
    slashes and spaces go; the NLU then classifies what is left like any text. The transcript keeps what the customer
    wrote. tier0's own buttons send their titles, never "/intent" payloads."""
    readable = _FORCED_INTENT_PREFIX.sub("", text)
    return readable or "?"


_FORCED_INTENT_PREFIX = re.compile(r"^[\s/]+")


def _ticket_outcome(ticket: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "ticket_id": ticket["id"],
        "queue": ticket["queue"],
        "priority": ticket["priority"],
        "reason": ticket["reason"],
    }
