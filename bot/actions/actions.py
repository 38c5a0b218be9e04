"""tier0's custom actions. Thin: they translate between the Rasa tracker and bot.turns.TurnService."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.services import current
from bot.turns import BotReply, TurnContext


def _context(tracker: Tracker) -> TurnContext:
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    return TurnContext(
        conversation_id=tracker.sender_id,
        text=latest.get("text") or "",
        intent=intent.get("name"),
        intent_confidence=float(intent.get("confidence") or 0.0),
        language=tracker.get_slot("language") or "en",
    )


def _dispatch(dispatcher: CollectingDispatcher, reply: BotReply) -> List[Dict[Text, Any]]:
    for m, payload in zip(reply.messages, reply.payloads()):  # the outcome travels once per turn, with the last
        dispatcher.utter_message(text=m.text, buttons=m.buttons or None, json_message={"tier0": payload})
    return []


class ActionAnswerQuestion(Action):
    def name(self) -> Text:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        return _dispatch(dispatcher, current().turns.answer_question(_context(tracker)))


class ActionHandOff(Action):
    def name(self) -> Text:
        return "action_hand_off"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        return _dispatch(dispatcher, current().turns.hand_off(_context(tracker)))


class ActionFeedback(Action):
    def name(self) -> Text:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]):
        return _dispatch(dispatcher, current().turns.feedback(_context(tracker)))
