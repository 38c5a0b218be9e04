"""Real feedback on the bot's answers, read back from the conversations and the desk, for the calibration.

An answer is labelled by what happened right after it:

* **helped** — the customer said yes to "did that answer your question?" (the bot's reply is marked
  ``outcome.feedback == "helpful"``); an article the customer picked among the bot's suggestions is labelled the
  same way, for the question those suggestions answered;
* **did not help** — the customer's next turn handed the conversation off with reason ``not_helpful`` ("that didn't
  help", or no to the follow-up question), or an agent flagged the answer as wrong from the desk (a flag overrides a
  customer's yes).

Any other next turn (a new question, thanks, silence) says nothing about the answer and gives no label. A customer's
label is anonymous: one per answer (the turn right after it), the same question answered again in a conversation
counts once (its latest label), and a conversation gives at most ``per_conversation`` of them (its latest); agents'
flags are all kept, marked ``by_agent`` (the calibration trusts them). The labelled answers go to
:func:`retrieval.calibration.fit` as :class:`retrieval.calibration.Feedback`; conversations replayed by
``tier0 eval`` (channel ``eval``) are never feedback.

:func:`questions` reads the customers' questions themselves, unlabelled (every turn the KB search decided: an answer,
a clarifying question, or a hand-off for low confidence or a sensitive topic), from which the calibration learns the
share of questions the KB does not cover (:func:`retrieval.calibration.estimate_share`): the first
``questions_per_conversation`` distinct ones of each conversation, so that no conversation weighs more than a few
customers' questions.
"""

from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional, Set, Tuple

from sqlalchemy import select

from handoff.models import TicketEvent
from retrieval.calibration import MAX_TRAFFIC, Feedback, Question
from tier0.conversations import Conversation, Message
from tier0.db import Database, utcnow
from tier0.privacy import mask
from tier0.text import normalize
from tier0.vocab import Channel, Sender

MAX_FEEDBACK = 5000  # the most recent labelled answers used
MAX_AGE_DAYS = 180  # older conversations are not read (the KB has moved on, and the scan stays bounded)
# A conversation's say (the settings TIER0_FEEDBACK_PER_CONVERSATION, TIER0_FEEDBACK_QUESTIONS_PER_CONVERSATION):
# the customer labels and the questions counted from each, whatever a script sends in it.
PER_CONVERSATION = 3
QUESTIONS_PER_CONVERSATION = 3


# hand-offs that the KB search decided (the others follow what the customer said: a request, "that didn't help", anger)
SEARCH_HANDOFFS = ("needs_authority", "repeated_failure")


def _turns(s, since) -> List[list]:
    """The customer turns since ``since``, outside ``tier0 eval``, in order: one bot turn = the bot's messages after a
    customer message, sources riding on the first and the outcome on the last.

    Each is [conversation, (question, language), outcome, answer message id, article, answered at, asked at].
    """
    rows = s.execute(
        select(Message.id, Message.conversation_id, Message.sender, Message.text, Message.data, Message.created_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.channel != Channel.EVAL.value, Conversation.anonymised_at.is_(None),
               Message.sender.in_((Sender.CUSTOMER.value, Sender.BOT.value)), Message.created_at >= since)
        .order_by(Message.conversation_id, Message.id)
    ).all()
    turns: List[list] = []
    for mid, conv_id, sender, text, data, at in rows:
        data = data or {}
        if sender == Sender.CUSTOMER:
            turns.append([conv_id, (mask(text), data.get("language")), {}, None, None, None, at])  # tier0.privacy
            continue
        if not turns or turns[-1][0] != conv_id:
            continue  # a bot message before any customer message (a greeting): no turn to join
        turn = turns[-1]
        if data.get("sources") and turn[3] is None:
            turn[3], turn[4], turn[5] = mid, data["sources"][0].get("article_id"), at
        turn[2] = data.get("outcome") or turn[2]
    return turns


def _same(text: str) -> str:
    """What makes two questions of a conversation the same one (case, accents, spacing, end punctuation aside)."""
    return " ".join(normalize(text or "").strip(" ?!.").split())


def _questions(turns: List[list], limit: int, per_conversation: int = QUESTIONS_PER_CONVERSATION) -> List[Question]:
    counted: Dict[int, Set[str]] = {}
    kept = []
    for t in turns:  # in conversation order: each conversation's first distinct questions
        if t[1][0] and not t[2].get("chosen") and (t[2].get("type") in ("answer", "clarify")
                                                   or (t[2].get("type") == "handoff"
                                                       and t[2].get("reason") in SEARCH_HANDOFFS)):
            seen = counted.setdefault(t[0], set())
            if len(seen) < per_conversation and _same(t[1][0]) not in seen:
                seen.add(_same(t[1][0]))
                kept.append(t)
    asked = sorted(((t[6], t[1]) for t in kept), key=lambda pair: pair[0])
    return [Question(text, lang, at.isoformat()) for at, (text, lang) in asked[-limit:]]


def _flagged(s) -> Dict[int, Optional[str]]:
    """Bot messages an agent flagged as a wrong answer from the desk -> the article the flag landed on
    (``TicketEvent.article_id``, #22 D): the flagged (question, article) pair is a negative example."""
    return {
        int(d["message_id"]): article or d.get("article_id")
        for d, article in s.execute(select(TicketEvent.data, TicketEvent.article_id)
                                    .where(TicketEvent.kind == "flagged"))
        if d and d.get("message_id") is not None
    }


def _labelled(turns: List[list], flagged: Dict[int, Optional[str]], limit: int,
              per_conversation: int = PER_CONVERSATION) -> List[Feedback]:
    labelled: List[Tuple[int, Feedback]] = []
    votes: Dict[int, Dict[str, Tuple[int, Feedback]]] = {}  # conversation -> question -> its customers' label
    for i, (conv, q, outcome, source_mid, article, at, _) in enumerate(turns):
        if outcome.get("type") != "answer" or source_mid is None or not article or q is None:
            continue
        if outcome.get("chosen"):  # picked among suggestions: the question is the one the suggestions answered
            before = turns[i - 1] if i and turns[i - 1][0] == conv else None
            if before is None or before[2].get("type") != "clarify":
                continue
            q = before[1]
        after = turns[i + 1][2] if i + 1 < len(turns) and turns[i + 1][0] == conv else {}
        if source_mid in flagged:
            helpful: Optional[bool] = False
            article = flagged[source_mid] or article  # the article the agent's flag names
        elif after.get("feedback") == "helpful":
            helpful = True
        elif after.get("type") == "handoff" and after.get("reason") == "not_helpful":
            helpful = False
        else:
            helpful = None
        if helpful is None:
            continue
        fb = Feedback(q[0], q[1], article, helpful, at.isoformat() if at else None, by_agent=source_mid in flagged)
        if fb.by_agent:
            labelled.append((source_mid, fb))
        else:  # the same question answered again in this conversation: its latest label replaces the earlier one
            mine = votes.setdefault(conv, {})
            mine.pop(_same(q[0]), None)
            mine[_same(q[0])] = (source_mid, fb)
    for mine in votes.values():
        labelled.extend(list(mine.values())[-per_conversation:])  # a conversation's latest labels
    out = [fb for _, fb in sorted(labelled, key=lambda t: t[0])]
    return out[-limit:]


def read(db: Database, max_age_days: float = MAX_AGE_DAYS, feedback_limit: int = MAX_FEEDBACK,
         question_limit: int = MAX_TRAFFIC, per_conversation: int = PER_CONVERSATION,
         questions_per_conversation: int = QUESTIONS_PER_CONVERSATION) -> Tuple[List[Feedback], List[Question]]:
    """:func:`collect` and :func:`questions` from one scan of the conversations (what each refit check needs)."""
    since = utcnow() - dt.timedelta(days=max_age_days)
    with db.session() as s:
        flagged = _flagged(s)
        turns = _turns(s, since)
    return (_labelled(turns, flagged, feedback_limit, per_conversation),
            _questions(turns, question_limit, questions_per_conversation))


def questions(db: Database, limit: int = MAX_TRAFFIC, max_age_days: float = MAX_AGE_DAYS) -> List[Question]:
    """The customers' questions the KB search decided, of the last ``max_age_days`` days, oldest first (at most the
    ``limit`` most recent)."""
    return read(db, max_age_days, question_limit=limit)[1]


def collect(db: Database, limit: int = MAX_FEEDBACK, max_age_days: float = MAX_AGE_DAYS) -> List[Feedback]:
    """Every labelled answer of the last ``max_age_days`` days, oldest first (at most the ``limit`` most recent)."""
    return read(db, max_age_days, feedback_limit=limit)[0]
