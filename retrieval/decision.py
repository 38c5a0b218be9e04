"""Answer, clarify or hand off: a pure function of the search candidates and the conversation signals.

``decide(candidates, signals, policy)`` never reads a clock, a database or a model; it is tested on its own.

Order of the rules (first match wins):
  1. the customer asked for a person                -> hand off (customer_request)
     (rules 1-3 are the intent classifier's word; a *hesitant* guess — intent confidence under
     ``intent_override`` — does not overrule a confident answer to a question that is not a hand-off topic)
  2. the customer said the answer did not help      -> hand off (not_helpful)
  3. the customer is angry / threatening            -> hand off (frustration)
  4. the best article is a ``handoff:`` topic       -> hand off to its queue (needs_authority)
  5. confident, and clearly ahead of the runner-up  -> answer with the top article
  6. confident, but two articles are close          -> clarify, offering them as quick replies; likewise when the
                                                       message is a single word that other plausible articles
                                                       contain too ("colis": a subject, not yet a question)
  7. not confident, but the best guess is a         -> hand off to its queue (needs_authority): when unsure,
     ``handoff:`` topic, or one is among the           a sensitive topic goes to the people who own it
     plausible candidates
  8. not confident, and the previous turn was not   -> clarify (ask to rephrase, offer what we have)
     either
  9. not confident twice in a row                   -> hand off (repeated_failure)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from retrieval.search import Candidate

HANDOFF_INTENTS = {
    "request_human": "customer_request",
    "not_helpful": "not_helpful",
    "frustration": "frustration",
}


@dataclass(frozen=True)
class DecisionPolicy:
    answer_threshold: float = 0.62  # confidence needed to answer
    clarify_margin: float = 0.04  # runner-up within this of the top -> ask which one
    option_floor: float = 0.45  # candidates below this are not offered as options
    topic_threshold: float = 0.55  # confidence needed to recognise a ``handoff:`` topic as the top candidate
    topic_floor: float = 0.5  # a ``handoff:`` topic this plausible, among the top candidates of an unsure turn
    max_low_confidence_turns: int = 2  # this many unsure turns in a row -> hand off
    max_options: int = 3
    intent_override: float = 0.8  # intent confidence needed to hand off over a confident answer (tuned: see RESULTS)
    word_option_floor: float = 0.01  # a one-word message: other articles with the word are offered from this score


@dataclass(frozen=True)
class Signals:
    intent: Optional[str] = None
    intent_confidence: float = 0.0
    low_confidence_streak: int = 0  # unsure turns just before this one
    language: Optional[str] = None
    words: int = 0  # words in the customer's message (0: not known)


@dataclass
class Decision:
    kind: str  # answer | clarify | handoff
    confidence: float
    article: Optional[Candidate] = None
    options: List[Candidate] = field(default_factory=list)
    reason: Optional[str] = None  # hand-off reason code
    queue: Optional[str] = None  # hand-off queue named by the topic, if any
    low_confidence: bool = False  # counts towards repeated_failure

    @property
    def is_handoff(self) -> bool:
        return self.kind == "handoff"


def confidence_of(candidates: Sequence[Candidate]) -> float:
    return float(candidates[0].score) if candidates else 0.0


def _shares_the_word(c: Candidate, top: Candidate) -> bool:
    """Another article, in the top's language and not a hand-off topic, that contains the one-word query."""
    return (c.article_id != top.article_id and not c.handoff and c.lang == top.lang
            and c.features.get("lex_cov", 0.0) >= 0.99)


def decide(candidates: Sequence[Candidate], signals: Signals, policy: DecisionPolicy = DecisionPolicy()) -> Decision:
    conf = confidence_of(candidates)
    top = candidates[0] if candidates else None

    reason = HANDOFF_INTENTS.get(signals.intent or "")
    hesitant = signals.intent_confidence < policy.intent_override
    if reason and hesitant and top is not None and conf >= policy.answer_threshold and not top.handoff:
        reason = None  # a question misread as a hand-off request: answer it (rule 5 / 6 below)
    if reason:
        topic_queue = top.handoff if top is not None and top.handoff and conf >= policy.topic_threshold else None
        return Decision("handoff", conf, article=top, reason=reason, queue=topic_queue)

    if top is not None and top.handoff and conf >= policy.topic_threshold:
        return Decision("handoff", conf, article=top, reason="needs_authority", queue=top.handoff)

    if top is not None and conf >= policy.answer_threshold:
        close = [
            c
            for c in candidates[1 : policy.max_options]
            if conf - c.score < policy.clarify_margin and c.article_id != top.article_id
        ]
        if not close and signals.words == 1:
            close = [c for c in candidates[1:] if _shares_the_word(c, top) and c.score >= policy.word_option_floor]
            close = close[: policy.max_options - 1]
        if not close:
            return Decision("answer", conf, article=top)
        return Decision("clarify", conf, article=top, options=[top, *close])

    topic = top if top is not None and top.handoff else next(
        (c for c in candidates[: policy.max_options] if c.handoff and c.score >= policy.topic_floor), None
    )
    if topic is not None:
        return Decision("handoff", conf, article=topic, reason="needs_authority", queue=topic.handoff,
                        low_confidence=True)

    if signals.low_confidence_streak + 1 >= policy.max_low_confidence_turns:
        return Decision("handoff", conf, article=top, reason="repeated_failure", low_confidence=True)
    options = [c for c in candidates[: policy.max_options] if c.score >= policy.option_floor and not c.handoff]
    return Decision("clarify", conf, article=top, options=options, low_confidence=True)
