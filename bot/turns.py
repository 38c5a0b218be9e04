"""What the bot does on a turn, once Rasa has understood it. The custom actions call these methods and nothing else.

Each method returns a :class:`BotReply`: the messages to show (text, quick replies) and a machine-readable
``outcome`` (answer / clarify / handoff / other) that the HTTP API and ``tier0 eval`` report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional

from bot.messages import say
from handoff.service import HandoffRequest, HandoffService
from knowledge_base.service import KnowledgeBase
from retrieval.decision import HANDOFF_INTENTS, Decision, DecisionPolicy, Signals, decide
from retrieval.search import Candidate, SearchIndex
from tier0.conversations import ConversationStore
from tier0.text import normalize, tokens
from tier0.vocab import Sender

log = logging.getLogger("tier0.bot")

EXCERPT_CHARS = 700
# Decision knobs in probability space (calibrated KB): a runner-up within 0.10 of the top -> ask which one;
# options offered only above 0.15; a `handoff:` topic is recognised as the top candidate from 0.3, and on an unsure
# turn from 0.1 among the top three (a wrong hand-off costs less than a wrong answer).
CALIBRATED_CLARIFY_MARGIN = 0.10
CALIBRATED_OPTION_FLOOR = 0.15
CALIBRATED_TOPIC_THRESHOLD = 0.3
CALIBRATED_TOPIC_FLOOR = 0.1
# Where the day-one prior scores (a language the KB gave no threshold of its own), being unsure is the bot's usual
# state, and suggesting is how it helps: an article with a one-in-twenty chance of answering is worth a click
# (bench/RESULTS.md: self-service and idle suggestions at 0.15 / 0.05 / 0.02).
PRIOR_OPTION_FLOOR = 0.05


@dataclass
class BotMessage:
    text: str
    buttons: List[Dict[str, str]] = field(default_factory=list)
    sources: List[Dict[str, Any]] = field(default_factory=list)


@dataclass
class BotReply:
    messages: List[BotMessage]
    outcome: Dict[str, Any]
    tried: List[Dict[str, Any]] = field(default_factory=list)  # candidates the bot considered this turn

    def as_rasa(self) -> List[Dict[str, Any]]:
        """The messages as Rasa's collecting channel hands them over (what the custom actions send): the engine reads
        one shape whether a turn went through Rasa or not (a click on a suggested article)."""
        return [{"text": m.text, "buttons": m.buttons or None, "custom": {"tier0": payload}}
                for m, payload in zip(self.messages, self.payloads())]

    def payloads(self) -> List[Dict[str, Any]]:
        """What travels with each message: its sources, and with the last one the turn's outcome and candidates."""
        out: List[Dict[str, Any]] = [{"sources": m.sources} for m in self.messages]
        if out:
            out[-1].update(outcome=self.outcome, tried=self.tried)
        return out


@dataclass
class TurnContext:
    conversation_id: str
    text: str
    intent: Optional[str]
    intent_confidence: float
    language: str


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """The first paragraphs of an article body, cut at a paragraph or sentence end near ``limit``."""
    body = body.strip()
    if len(body) <= limit:
        return body
    cut = body.rfind("\n\n", 0, limit)
    if cut < limit // 3:
        cut = max(body.rfind(". ", 0, limit) + 1, 0) or limit
    return body[:cut].rstrip() + " …"


class TurnService:
    def __init__(
        self,
        kb: KnowledgeBase,
        index: SearchIndex,
        conversations: ConversationStore,
        handoff: HandoffService,
        policy: DecisionPolicy,
    ):
        self.kb = kb
        self.index = index
        self.conversations = conversations
        self.handoff = handoff
        self.policy = policy

    # -- questions -------------------------------------------------------------------------------
    def policy_for(self, lang: Optional[str]) -> DecisionPolicy:
        """The decision policy in probability space once the KB is calibrated (threshold per language)."""
        cal = self.index.calibrator
        if cal is None:
            return self.policy
        t = cal.threshold(lang)
        return replace(
            self.policy,
            answer_threshold=t,
            clarify_margin=CALIBRATED_CLARIFY_MARGIN,
            option_floor=PRIOR_OPTION_FLOOR if cal.uses_prior(lang) else CALIBRATED_OPTION_FLOOR,
            topic_threshold=min(t, CALIBRATED_TOPIC_THRESHOLD),
            topic_floor=CALIBRATED_TOPIC_FLOOR,
        )

    def picked_option(self, conversation_id: str, text: str, language: str) -> Optional[BotReply]:
        """A click on one of the articles the bot just suggested (the widget sends the button's payload, its title):
        the answer from that article, with "did this help?". None when ``text`` is not one of the last options.

        Decided before Rasa: a title is not a customer's wording ("Contact us" would read as a request for a
        person), and the customer has already said which article they mean.
        """
        last = next((m for m in reversed(self.conversations.transcript(conversation_id))
                     if m["sender"] == Sender.BOT and m["data"].get("outcome")), None)
        if last is None or last["data"]["outcome"].get("type") != "clarify":
            return None
        wanted = normalize(text).strip(" ?!.")
        picked = next((src for src in last["data"].get("sources") or []
                       if normalize(src.get("title", "")).strip(" ?!.") == wanted), None)
        if picked is None or self.kb.get(picked["article_id"]) is None:
            return None
        self.conversations.update(conversation_id, low_confidence_streak=0)
        ctx = TurnContext(conversation_id, text, None, 1.0, language)
        return self._answer(ctx, picked, float(picked.get("score", 0.0)), [], chosen=True)

    def answer_question(self, ctx: TurnContext) -> BotReply:
        conv = self.conversations.get(ctx.conversation_id)
        candidates = self.index.search(ctx.text, lang=ctx.language, k=5)
        signals = Signals(ctx.intent, ctx.intent_confidence, conv.low_confidence_streak, ctx.language,
                          words=len(tokens(ctx.text)))
        decision = decide(candidates, signals, self.policy_for(ctx.language))
        streak = conv.low_confidence_streak + 1 if decision.low_confidence else 0
        if streak != conv.low_confidence_streak:
            self.conversations.update(ctx.conversation_id, low_confidence_streak=streak)
        return self._render(ctx, decision, candidates)

    def hand_off(self, ctx: TurnContext) -> BotReply:
        """An explicit request, 'that did not help' or frustration: the KB is still searched, for routing."""
        candidates = self.index.search(ctx.text, lang=ctx.language, k=5)
        signals = Signals(ctx.intent, ctx.intent_confidence, 0, ctx.language)
        decision = decide(candidates, signals, self.policy_for(ctx.language))
        if decision.kind == "clarify":  # an intent that is not a hand-off intent was routed here
            decision = Decision("handoff", decision.confidence, reason="customer_request")
        return self._render(ctx, decision, candidates)

    def feedback(self, ctx: TurnContext) -> BotReply:
        """yes / no after the bot's last reply. "None of these" to suggested articles asks the customer to say it
        in other words first (the next unsure turn hands off); a no to an answer, or to that request, hands off."""
        outcome = self.conversations.last_bot_data(ctx.conversation_id, "outcome") or {}
        last = outcome.get("type")
        if ctx.intent == "deny" and last == "clarify" and outcome.get("options"):
            conv = self.conversations.get(ctx.conversation_id)
            self.conversations.update(ctx.conversation_id, low_confidence_streak=max(1, conv.low_confidence_streak))
            return BotReply([BotMessage(say("clarify_none", ctx.language))],
                            {"type": "clarify", "confidence": outcome.get("confidence", 0.0), "options": []})
        if ctx.intent == "deny" and last in ("answer", "clarify"):
            reason = "not_helpful" if last == "answer" else "low_confidence"
            return self._handoff_reply(ctx, reason, confidence=None, candidates=[], queue=None, category=None)
        if ctx.intent == "affirm" and last == "answer":  # the answer helped: a label for the calibration
            return BotReply([BotMessage(say("feedback_yes", ctx.language))], {"type": "other", "feedback": "helpful"})
        return BotReply([BotMessage(say("feedback_prompt", ctx.language))], {"type": "other"})

    # -- rendering -------------------------------------------------------------------------------
    def _render(self, ctx: TurnContext, d: Decision, candidates: List[Candidate]) -> BotReply:
        lang = ctx.language
        if d.kind == "answer":
            assert d.article is not None  # an answer always names its article
            return self._answer(ctx, d.article.as_dict(), d.confidence, candidates)
        if d.kind == "clarify":
            buttons = [{"title": c.title, "payload": c.title} for c in d.options]
            if d.options:  # and a way out: "none of these" is a "no" to the clarification (a hand-off)
                none = say("none_of_these", lang)
                buttons.append({"title": none, "payload": none})
                if not d.low_confidence:
                    key = "clarify_choice"
                else:
                    key = "suggest_one" if len(d.options) == 1 else "suggest_many"
            else:
                key = "clarify_rephrase"
            return BotReply(
                [BotMessage(say(key, lang), buttons=buttons, sources=[c.as_dict() for c in d.options])],
                {
                    "type": "clarify",
                    "confidence": round(d.confidence, 4),
                    "options": [c.article_id for c in d.options],
                },
                tried=[c.as_dict() for c in candidates],
            )
        return self._handoff_reply(
            ctx,
            d.reason or "customer_request",
            confidence=d.confidence,
            candidates=candidates,
            queue=d.queue,
            category=d.article.category if d.article is not None and d.queue else None,
        )

    def _answer(self, ctx: TurnContext, source: Dict[str, Any], confidence: float, candidates: List[Candidate],
                chosen: bool = False) -> BotReply:
        lang = ctx.language
        art = self.kb.get(source["article_id"])
        # the citation names the version the customer reads (the KB's, which the index follows on every change)
        source = {**source, "url": f"/api/articles/{art.id}", "version": art.version}
        text = f"{say('answer_intro', lang)}\n\n**{art.title}**\n\n{excerpt(art.body)}"
        outcome: Dict[str, Any] = {"type": "answer", "article_id": art.id, "confidence": round(confidence, 4),
                                   "version": art.version}
        if chosen:
            outcome["chosen"] = True  # picked by the customer among suggestions, not decided by the bot
        return BotReply([BotMessage(text, sources=[source]), BotMessage(say("answer_followup", lang))], outcome,
                        tried=[c.as_dict() for c in candidates] if candidates else [source])

    def _tried(self, ctx: TurnContext, reason: str, candidates: List[Candidate]) -> List[Dict[str, Any]]:
        """What the bot tried, for the ticket: the articles of the customer's problem, with their scores.

        A hand-off question ("I want to talk to someone", "that didn't help") is about wanting a person, not a new
        problem: its own search finds at best a "how to contact us" article. Then the problem is the last question's,
        and this turn's search only adds the articles it is confident about ("... about my return"). Otherwise
        (a sensitive topic, repeated failures) this turn's search when it found something plausible, else the
        last question's.
        """
        pol = self.policy_for(ctx.language)
        this_turn = [c.as_dict() for c in candidates]
        last = self.conversations.last_bot_data(ctx.conversation_id, "tried") or []
        if reason in HANDOFF_INTENTS.values() and last:
            confident = [c for c in this_turn if c["score"] >= pol.answer_threshold]
            seen = {c["article_id"] for c in last}
            return last + [c for c in confident if c["article_id"] not in seen]
        if not candidates or candidates[0].score < pol.option_floor:
            return last or this_turn
        return this_turn

    def _handoff_reply(
        self,
        ctx: TurnContext,
        reason: str,
        confidence: Optional[float],
        candidates: List[Candidate],
        queue: Optional[str],
        category: Optional[str],
    ) -> BotReply:
        tried = self._tried(ctx, reason, candidates)
        if tried and (confidence is None or reason in HANDOFF_INTENTS.values()):
            # this turn ("a person please", "no") is not about the problem: the ticket shows how sure the bot was
            # of the articles it tried for it
            confidence = max(c["score"] for c in tried)
        ticket, created = self.handoff.open(
            HandoffRequest(
                conversation_id=ctx.conversation_id,
                reason=reason,
                confidence=round(confidence, 4) if confidence is not None else None,
                candidates=tried,
                article_queue=queue,
                category=category or (tried[0].get("category") if tried else None),
                language=ctx.language,
            )
        )
        team = ticket["team"]
        if not created:
            text = say("handoff_existing", ctx.language, team=team, ticket=ticket["id"])
        elif ticket.get("availability") == "offline":
            opens = say("opens_at", ctx.language, when=ticket["opens_at_local"]) if ticket.get("opens_at_local") else ""
            email = ticket.get("contact_email")
            key = "handoff_offline_known_email" if email else "handoff_offline"
            text = say(key, ctx.language, team=team, ticket=ticket["id"], opens=opens, email=email)
        else:
            text = say(
                "handoff",
                ctx.language,
                team=team,
                ticket=ticket["id"],
                position=ticket.get("position", 1),
                wait=max(1, ticket.get("expected_wait_minutes") or 1),
            )
        outcome = {
            "type": "handoff",
            "ticket_id": ticket["id"],
            "queue": ticket["queue"],
            "priority": ticket["priority"],
            "reason": ticket["reason"],
        }
        return BotReply([BotMessage(text)], outcome, tried=tried)
