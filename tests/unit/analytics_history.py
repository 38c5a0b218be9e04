"""A seeded history of a desk for the escalation analytics (tests/unit/test_analytics.py checks every figure on it;
tests/browser/test_analytics_dashboard.py draws it).

A real SQLite file holds three days of a desk (Monday 2 to Wednesday 4 March 2026, Paris time, UTC+1): conversations
and their messages written through the ORM at chosen times, tickets moved through the real desk
(handoff.service.HandoffService) under a FrozenClock set at each step, so their events and SLA fields are the ones
the product writes, and survey answers. Around the period: a conversation at 23:30 UTC on the evening before (00:30
in Paris: inside), one at 23:30 UTC on the last evening (outside), a ticket from the week before reopened inside,
`tier0 eval`'s conversations (never counted) and a survey answer before the period.

The history, and what each piece should count for:

    C1  en Mon 08:00  answer, "yes"                                   answered, resolved (confirmed), helpful yes
    C2  fr Sun 23:30 UTC = Mon 00:30 Paris  answer, silence            answered, resolved (assumed)
    C3  en Mon 10:00  answer, "no" -> T1 (not_helpful)                answered, handed off, helpful no
    C4  fr Tue 09:00  "a person" -> T2 (customer_request)             handed off
    C5  en Tue 14:00  answer, another question 6 h later              answered only
    C6  en Wed 20:00  answer 16 h before "now"                        answered, resolution pending
    C7  en Wed 23:30 UTC = Thu 00:30 Paris                            outside the period
    C8  eval Tue      answer                                          never counted
    C9  (no language) Wed 10:00 "hello"                               a conversation, language unknown
    C10 fr Wed 11:00  needs authority -> T3 (needs_authority)         handed off
    C11 en Fri 27 Feb -> T0, resolved then, reopened Mon 12:00        a reopening and an SLA stint, no new ticket

    T1 front (24/7, L1 normal: first response 10 min, resolution 60 min) created Mon 10:02, alice replies 10:08
       (6 min: met), the customer writes 10:20 (paused 12 min), resolved 10:40 (26 min: met)
    T2 front created Tue 09:00, alice escalates (functional) 09:30 without replying (first response breached at
       L1) -> tech (office hours 09-18 Paris = 08-17 UTC, L2 normal: 30 min / 4 h); dave replies 10:30 (60 min:
       breached), resolves 11:00 (90 min less the 30 min pause = 60 min: met)
    T3 front created Wed 11:00, bob escalates (hierarchical) 11:05 -> bosses (24/7, L2): nobody answers until
       "now" (Thu 12:00): both first response and resolution breached at L2; nothing breached at L1
    T0 reopened Mon 12:00 by the customer, alice replies 12:20 (20 min: breached), resolves 12:30 (30 - 10 paused
       = 20 min: met)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

NOW = dt.datetime(2026, 3, 5, 12, 0)  # Thursday noon UTC
PASSWORD = "correct horse battery"
DESK = {
    "timezone": "Europe/Paris",
    "business_hours": {"office": {"mon-fri": "09:00-18:00"}, "always": "24/7"},
    "queues": {
        "front": {"level": 1, "names": {"en": "front desk", "fr": "accueil"}, "hours": "always",
                  "members": ["alice", "bob"], "escalate": {"functional": "tech", "hierarchical": "bosses"}},
        "tech": {"level": 2, "names": {"en": "tech", "fr": "technique"}, "hours": "office", "members": ["dave"]},
        "bosses": {"level": 2, "names": {"en": "bosses", "fr": "direction"}, "hours": "always", "members": ["dave"]},
    },
    "routes": [{"queue": "front"}],
    "sla": {"level1": {"normal": {"first_response": "10m", "resolution": "60m"}},
            "level2": {"normal": {"first_response": "30m", "resolution": "4h"}}},
}


def t(day: int, hh: int, mm: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hh, mm)


class History:
    """Writes the history: conversations and messages through the ORM, tickets through the desk service."""

    def __init__(self, db: Any, config: Any, clock: Any, conversations: Any, agents: Any, desk: Any):
        from handoff.agents import AgentView

        self.db, self.config, self.clock = db, config, clock
        self.conversations, self.agents, self.desk = conversations, agents, desk
        self.staff = {n: AgentView(n, n.capitalize(), "lead", ()) for n in ("alice", "bob", "dave")}
        self.n = 0

    @classmethod
    def on_file(cls, home: Any, url: str = "") -> "History":
        """A desk of its own on a SQLite file in ``home`` (or the database at ``url``): DESK, a FrozenClock at NOW,
        nobody signed in."""
        import handoff.agents  # noqa: F401  (tables)
        import handoff.models  # noqa: F401
        from handoff.agents import AgentDirectory
        from handoff.deskconfig import parse_config
        from handoff.service import HandoffService
        from tier0.clock import FrozenClock
        from tier0.conversations import ConversationStore
        from tier0.db import Database

        db = Database(url or f"sqlite:///{home / 'tier0.db'}")
        db.create_all()
        clock = FrozenClock(NOW)
        config = parse_config(DESK, "test-desk")
        conversations = ConversationStore(db, clock=clock)
        agents = AgentDirectory(db, config.queues_of, clock)
        return cls(db, config, clock, conversations, agents,
                   HandoffService(db, conversations, config, clock, agents))

    @classmethod
    def of(cls, services: Any) -> "History":
        """On a running tier0's services (their desk file must be DESK, their clock a FrozenClock)."""
        return cls(services.db, services.desk_config, services.clock, services.conversations, services.agents,
                   services.handoff)

    def conversation(self, at: dt.datetime, language, channel: str = "web") -> str:
        from tier0.conversations import Conversation

        self.n += 1
        cid = f"c{self.n:02d}"
        with self.db.session() as s:
            s.add(Conversation(id=cid, token_hash="x" * 64, channel=channel, language=language, customer={},
                               created_at=at, updated_at=at))
        return cid

    def say(self, cid: str, sender: str, at: dt.datetime, text: str = "…", **data) -> None:
        from tier0.conversations import Message

        with self.db.session() as s:
            s.add(Message(conversation_id=cid, sender=sender, text=text, data=data, created_at=at))

    def answer(self, cid: str, at: dt.datetime, article: str = "returns") -> None:
        """The bot's answer as the engine stores it: the cited source, then the follow-up carrying the outcome."""
        self.say(cid, "bot", at, "Here is what I found", sources=[{"article_id": article}])
        self.say(cid, "bot", at, "Did this answer your question?",
                 outcome={"type": "answer", "article_id": article, "confidence": 0.9})

    def hand_off(self, cid: str, at: dt.datetime, reason: str, language: str) -> str:
        from handoff.transitions import HandoffRequest

        self.clock.set(at)
        self.say(cid, "bot", at, "A person will answer", outcome={"type": "handoff", "reason": reason})
        ticket, created = self.desk.open(HandoffRequest(cid, reason, language=language))
        assert created and ticket["priority"] == "normal", ticket
        return ticket["id"]

    def do(self, at: dt.datetime, action: str, ref: str, who: str = "", *args) -> None:
        self.clock.set(at)
        getattr(self.desk, action)(ref, *(([self.staff[who]] if who else []) + list(args)))

    def customer_writes(self, cid: str, at: dt.datetime, text: str = "more details") -> None:
        self.clock.set(at)
        self.desk.customer_message(cid, text, {})

    def survey(self, cid: str, at: dt.datetime, by: str, rating: int, language: str) -> None:
        from tier0.conversations import SurveyAnswer

        with self.db.session() as s:
            s.add(SurveyAnswer(conversation_id=cid, resolved_by=by, rating=rating, language=language, created_at=at))


def seed(h: "History") -> "History":
    """Write the history above; the clock is left at NOW."""
    c1 = h.conversation(t(2, 8), "en")
    h.say(c1, "customer", t(2, 8), "how do I return a parcel?")
    h.answer(c1, t(2, 8, 1))
    h.say(c1, "customer", t(2, 8, 2), "yes")
    h.say(c1, "bot", t(2, 8, 2), "Glad it helped", outcome={"type": "other", "feedback": "helpful"})

    c2 = h.conversation(t(1, 23, 30), "fr")
    h.say(c2, "customer", t(1, 23, 30), "comment retourner un colis ?")
    h.answer(c2, t(1, 23, 31))

    c3 = h.conversation(t(2, 10), "en")
    h.say(c3, "customer", t(2, 10), "where is my refund?")
    h.answer(c3, t(2, 10, 1))
    h.say(c3, "customer", t(2, 10, 2), "no")
    t1 = h.hand_off(c3, t(2, 10, 2), "not_helpful", "en")
    h.do(t(2, 10, 8), "reply", t1, "alice", "Looking into it")
    h.customer_writes(c3, t(2, 10, 20))
    h.do(t(2, 10, 40), "resolve", t1, "alice")

    c4 = h.conversation(t(3, 9), "fr")
    h.say(c4, "customer", t(3, 9), "je veux parler à quelqu'un")
    t2 = h.hand_off(c4, t(3, 9), "customer_request", "fr")
    h.do(t(3, 9, 30), "escalate", t2, "alice", "functional", "needs a technician")
    h.do(t(3, 10, 30), "reply", t2, "dave", "Bonjour")
    h.do(t(3, 11), "resolve", t2, "dave")

    c5 = h.conversation(t(3, 14), "en")
    h.say(c5, "customer", t(3, 14), "how long is delivery?")
    h.answer(c5, t(3, 14, 1))
    h.say(c5, "customer", t(3, 20), "and to Belgium?")
    h.say(c5, "bot", t(3, 20, 1), "Which one?", outcome={"type": "clarify", "options": ["a", "b"]})

    c6 = h.conversation(t(4, 20), "en")
    h.say(c6, "customer", t(4, 20), "opening hours?")
    h.answer(c6, t(4, 20))

    c7 = h.conversation(t(4, 23, 30), "en")
    h.say(c7, "customer", t(4, 23, 30), "opening hours?")
    h.answer(c7, t(4, 23, 31))

    c8 = h.conversation(t(3, 12), "en", channel="eval")
    h.say(c8, "customer", t(3, 12), "replayed")
    h.answer(c8, t(3, 12, 1))

    c9 = h.conversation(t(4, 10), None)
    h.say(c9, "customer", t(4, 10), "hello")
    h.say(c9, "bot", t(4, 10), "Hello!", outcome={"type": "other"})

    c10 = h.conversation(t(4, 11), "fr")
    h.say(c10, "customer", t(4, 11), "je veux un geste commercial")
    t3 = h.hand_off(c10, t(4, 11), "needs_authority", "fr")
    h.do(t(4, 11, 5), "escalate", t3, "bob", "hierarchical", "a commercial gesture")

    c11 = h.conversation(t(27, 10, month=2), "en")
    h.say(c11, "customer", t(27, 10, month=2), "a person please")
    t0 = h.hand_off(c11, t(27, 10, month=2), "customer_request", "en")
    h.do(t(27, 10, 30, month=2), "resolve", t0, "alice")
    h.customer_writes(c11, t(2, 12), "it broke again")
    h.do(t(2, 12, 20), "reply", t0, "alice", "Sorry, here is a fix")
    h.do(t(2, 12, 30), "resolve", t0, "alice")

    h.survey(c1, t(2, 9), "bot", 5, "en")
    h.survey(c3, t(2, 11), "agent", 4, "en")
    h.survey(c4, t(3, 12), "agent", 2, "fr")
    h.survey(c2, t(4, 12), "bot", 3, "fr")
    h.survey(c6, t(28, 12, month=2), "bot", 1, "en")  # before the period
    h.clock.set(NOW)
    return h
