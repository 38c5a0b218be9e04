"""The conversation engine: one customer turn through Rasa and back. The HTTP API and `tier0 eval` both use it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from bot.services import Services
from tier0.conversations import validate_text
from tier0.text import detect_language

log = logging.getLogger("tier0.bot")


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
    def __init__(self, services: Services, agent):
        self.services = services
        self.agent = agent

    def start(self, channel: str = "web", language: Optional[str] = None, customer: Optional[dict] = None):
        if language is not None and language not in ("en", "fr"):
            from tier0.errors import InvalidInput

            raise InvalidInput("language must be 'en' or 'fr'")
        return self.services.conversations.start(channel=channel, language=language, customer=customer)

    async def send(self, conversation_id: str, text: str) -> TurnResult:
        text = validate_text(text)
        store = self.services.conversations
        conv = store.get(conversation_id)
        lang = detect_language(text, default=conv.language or "en")
        if lang != conv.language:
            store.update(conversation_id, language=lang)
        store.add_message(conversation_id, "customer", text, {"language": lang})

        if conv.status == "handed_off":
            # A person owns the conversation: the bot stays silent, the message joins the ticket.
            ticket = self.services.handoff.open_ticket_for(conversation_id)
            if ticket is not None:
                self.services.handoff.note_customer_message(ticket["id"], text)
                return TurnResult(conversation_id, lang, [], {"type": "handoff", **_ticket_outcome(ticket)}, ticket)
            store.update(conversation_id, status="bot")  # ticket closed since: the bot is back

        t0 = time.perf_counter()
        from rasa.core.channels.channel import UserMessage

        from bot.rasa_runtime import collecting_channel

        channel = collecting_channel()
        raw = await self.agent.handle_message(  # Rasa's lock store serialises turns of one conversation
            UserMessage(text, channel, sender_id=conversation_id, metadata={"language": lang})
        )
        messages, outcome = self._collect(conversation_id, raw or [])
        ticket = None
        if outcome.get("type") == "handoff":
            ticket = self.services.handoff.open_ticket_for(conversation_id)
        log.info(
            "bot.turn conversation=%s outcome=%s ms=%.1f",
            conversation_id,
            outcome.get("type"),
            (time.perf_counter() - t0) * 1000,
        )
        return TurnResult(conversation_id, lang, messages, outcome, ticket)

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
            stored = store.add_message(conversation_id, "bot", m.get("text") or "", data)
            out.append(
                {
                    "id": stored["id"],
                    "text": stored["text"],
                    "buttons": data.get("buttons", []),
                    "sources": data.get("sources", []),
                }
            )
        return out, outcome


def _ticket_outcome(ticket: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "ticket_id": ticket["id"],
        "queue": ticket["queue"],
        "priority": ticket["priority"],
        "reason": ticket["reason"],
    }
