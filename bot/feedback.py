"""Real feedback on the bot's answers, read back from the conversations and the desk, for the calibration.

An answer is labelled by what happened right after it:

* **helped** — the customer said yes to "did that answer your question?" (the bot's reply is marked
  ``outcome.feedback == "helpful"``);
* **did not help** — the customer's next turn handed the conversation off with reason ``not_helpful`` ("that didn't
  help", or no to the follow-up question), or an agent flagged the answer as wrong from the desk (a flag overrides a
  customer's yes).

Any other next turn (a new question, thanks, silence) says nothing about the answer and gives no label. The labelled
answers go to :func:`retrieval.calibration.fit` as :class:`retrieval.calibration.Feedback`; conversations replayed by
``tier0 eval`` (channel ``eval``) are never feedback.
"""

from __future__ import annotations

import datetime as dt
from typing import List, Optional, Tuple

from sqlalchemy import select

from handoff.models import TicketEvent
from retrieval.calibration import Feedback
from tier0.conversations import Conversation, Message
from tier0.db import Database, utcnow

MAX_FEEDBACK = 5000  # the most recent labelled answers used
MAX_AGE_DAYS = 180  # older conversations are not read (the KB has moved on, and the scan stays bounded)


def collect(db: Database, limit: int = MAX_FEEDBACK, max_age_days: float = MAX_AGE_DAYS) -> List[Feedback]:
    """Every labelled answer of the last ``max_age_days`` days, oldest first (at most the ``limit`` most recent)."""
    since = utcnow() - dt.timedelta(days=max_age_days)
    with db.session() as s:
        flagged = {
            int(d["message_id"])
            for (d,) in s.execute(select(TicketEvent.data).where(TicketEvent.kind == "flagged"))
            if d and d.get("message_id") is not None
        }
        rows = s.execute(
            select(Message.id, Message.conversation_id, Message.sender, Message.text, Message.data,
                   Message.created_at)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.channel != "eval", Message.sender.in_(("customer", "bot")), Message.created_at >= since)
            .order_by(Message.conversation_id, Message.id)
        ).all()
    # one bot turn = the bot's messages after a customer message: sources ride on the first, the outcome on the last
    turns: List[list] = []  # [conversation, (question, language), outcome, answer message id, article, answered at]
    for mid, conv_id, sender, text, data, at in rows:
        data = data or {}
        if sender == "customer":
            turns.append([conv_id, (text, data.get("language")), {}, None, None, None])
            continue
        if not turns or turns[-1][0] != conv_id:
            continue  # a bot message before any customer message (a greeting): no turn to join
        turn = turns[-1]
        if data.get("sources") and turn[3] is None:
            turn[3], turn[4], turn[5] = mid, data["sources"][0].get("article_id"), at
        turn[2] = data.get("outcome") or turn[2]

    labelled: List[Tuple[int, Feedback]] = []
    for i, (conv, q, outcome, source_mid, article, at) in enumerate(turns):
        if outcome.get("type") != "answer" or source_mid is None or not article or q is None:
            continue
        after = turns[i + 1][2] if i + 1 < len(turns) and turns[i + 1][0] == conv else {}
        if source_mid in flagged:
            helpful: Optional[bool] = False
        elif after.get("feedback") == "helpful":
            helpful = True
        elif after.get("type") == "handoff" and after.get("reason") == "not_helpful":
            helpful = False
        else:
            helpful = None
        if helpful is not None:
            labelled.append((source_mid, Feedback(q[0], q[1], article, helpful, at.isoformat() if at else None)))
    out = [fb for _, fb in sorted(labelled, key=lambda t: t[0])]
    return out[-limit:]
