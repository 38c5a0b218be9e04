"""A desk with personal data in every place tier0 keeps it, on a real database (a SQLite file or PostgreSQL): for the
erasure and retention tests. No model: conversations, tickets, events and webhook deliveries are written through
the same services the bot and the desk use, and Rasa's tracker rows into a table of Rasa's own shape."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cret-s3cret-s3cret"

# Rasa's SQLTrackerStore table (rasa.core.tracker_store.SQLTrackerStore.SQLEvent), in its own metadata
RASA = sa.MetaData()
RASA_EVENTS = sa.Table(
    "events", RASA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


@dataclass
class World:
    db: Any
    conversations: Any
    desk: Any
    hooks: Any
    privacy: Any
    clock: Any
    lead: Any
    sent: List[Dict[str, Any]] = field(default_factory=list)

    def close(self) -> None:
        self.db.dispose()


def build(url: str) -> World:
    import handoff.agents  # noqa: F401  (tables)
    import handoff.erasure  # noqa: F401
    import handoff.models  # noqa: F401
    from bot.privacy import sql_trackers
    from handoff.agents import AgentView
    from handoff.deskconfig import load_config
    from handoff.erasure import PrivacyService
    from handoff.service import HandoffService
    from handoff.webhooks import WebhookDispatcher, WebhookEndpoint
    from tier0.clock import FrozenClock
    from tier0.conversations import ConversationStore
    from tier0.db import Database, utcnow

    db = Database(url)
    db.migrate()
    RASA.create_all(db.engine)
    clock = FrozenClock(utcnow())
    conversations = ConversationStore(db)
    desk = HandoffService(db, conversations, load_config(REPO / "data" / "desk.yml"), clock)
    hooks = WebhookDispatcher(db, [WebhookEndpoint("http://127.0.0.1:9/mirror", SECRET, name="mirror"),
                                   WebhookEndpoint("http://127.0.0.1:9/mailer", SECRET, name="mailer", redact=False)],
                              clock)
    desk.subscribe(hooks.on_event)
    privacy = PrivacyService(db, clock, handoff=desk, trackers=sql_trackers)
    lead = AgentView("lena", "Lena", "lead", ())  # a value: no account, no password hashing
    return World(db, conversations, desk, hooks, privacy, clock, lead)


def tracker_turns(w: World, cid: str, *texts: str) -> None:
    """What Rasa's SQLTrackerStore writes for a turn: a ``user`` event carrying the text, then the bot's."""
    with w.db.engine.begin() as conn:
        for i, t in enumerate(texts):
            conn.execute(RASA_EVENTS.insert(), [
                {"sender_id": cid, "type_name": "user", "timestamp": 1.0 + i, "intent_name": "ask",
                 "action_name": None, "data": json.dumps({"event": "user", "text": t, "parse_data": {"text": t}})},
                {"sender_id": cid, "type_name": "bot", "timestamp": 1.5 + i, "intent_name": None,
                 "action_name": "action_answer", "data": json.dumps({"event": "bot", "text": "Voici ce que j'ai trouvé"})},
            ])


def customer_with_a_ticket(w: World, name: str, email: str, words: List[str], open_ticket: bool = True) -> Dict:
    """A web conversation: the customer declares an address and writes ``words`` (personal data among them), the bot
    answers, the customer asks for a person, a ticket opens; the customer writes again, gives an address for the
    answer, a lead replies and writes a note (resolving the ticket unless ``open_ticket``). Tracker rows too."""
    from handoff.service import HandoffRequest

    conv, _token = w.conversations.start(customer={"name": name, "email": email, "tier": "standard"})
    cid = conv.id
    w.conversations.add_message(cid, "customer", words[0], {"language": "fr"})
    w.conversations.add_message(cid, "bot", "Voici ce que j'ai trouvé : Rembourser un paiement",
                                {"sources": [{"article_id": "refund-fr"}], "outcome": {"type": "answer"}})
    w.conversations.add_message(cid, "customer", "je veux parler à quelqu'un", {"language": "fr"})
    ticket, _ = w.desk.open(HandoffRequest(cid, "customer_request", 0.4, [{"article_id": "refund-fr", "score": 0.4}]))
    ref = ticket["id"]
    for text in words[1:]:
        w.conversations.add_message(cid, "customer", text, {"language": "fr"})
        w.desk.customer_message(cid, text)
    w.desk.set_contact_email(ref, email)
    w.desk.reply(ref, w.lead, f"Bonjour {name}, je m'en occupe : {words[0]}")
    w.desk.note(ref, w.lead, f"{name} a appelé, {words[-1]}")
    if not open_ticket:
        w.desk.resolve(ref, w.lead, f"réglé avec {name}")
    tracker_turns(w, cid, *words)
    return {"cid": cid, "ref": ref}


def dump(w: World, exclude=("privacy_audit",)) -> str:
    """Every row of every table, as text (JSON columns as the database keeps them), lower-cased."""
    insp = sa.inspect(w.db.engine)
    out = []
    with w.db.engine.connect() as conn:
        for table in insp.get_table_names():
            if table in exclude:
                continue
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: " + " | ".join(str(v) for v in row))
    return "\n".join(out).lower()


def rows_of(w: World, cid: str) -> Dict[str, Any]:
    """What the database holds of one conversation."""
    from handoff.models import Ticket, TicketEvent
    from handoff.webhooks import WebhookDelivery
    from tier0.conversations import Conversation, Message

    with w.db.session() as s:
        conv = s.get(Conversation, cid)
        messages = list(s.execute(sa.select(Message).where(Message.conversation_id == cid)).scalars())
        tickets = list(s.execute(sa.select(Ticket).where(Ticket.conversation_id == cid)).scalars())
        events = list(s.execute(sa.select(TicketEvent).where(
            TicketEvent.ticket_id.in_([t.id for t in tickets] or [-1]))).scalars())
        deliveries = list(s.execute(sa.select(WebhookDelivery).where(
            WebhookDelivery.event_id.in_([e.id for e in events] or [-1]))).scalars())
        trackers = s.execute(sa.select(sa.func.count()).select_from(RASA_EVENTS).where(
            RASA_EVENTS.c.sender_id == cid)).scalar()
    return {"conversation": conv, "messages": messages, "tickets": tickets, "events": events,
            "deliveries": deliveries, "trackers": trackers}


def age(w: World, cid: str, days: float) -> None:
    """Move everything of one conversation ``days`` into the past (as if it had happened then)."""
    from handoff.models import Ticket, TicketEvent
    from tier0.conversations import Conversation, Message
    from tier0.db import utcnow

    then = utcnow() - dt.timedelta(days=days)
    with w.db.session() as s:
        ticket_ids = list(s.execute(sa.select(Ticket.id).where(Ticket.conversation_id == cid)).scalars())
        s.execute(sa.update(Conversation).where(Conversation.id == cid).values(created_at=then, updated_at=then))
        s.execute(sa.update(Message).where(Message.conversation_id == cid).values(created_at=then))
        s.execute(sa.update(Ticket).where(Ticket.conversation_id == cid).values(created_at=then, updated_at=then))
        if ticket_ids:
            s.execute(sa.update(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids)).values(created_at=then))
