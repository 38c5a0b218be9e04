"""Atomic desk changes (#21, finding 7), on a real SQLite file, without Rasa: the desk service driven directly.

- A hand-off killed (SIGKILL, in a forked process) between any two of its steps leaves either nothing (no ticket, the
  conversation still the bot's) or everything (the ticket, the conversation handed off, its event and its webhook
  outbox row); the same for a return to the bot.
- A change whose outbox write fails leaves nothing: the reply, its message and its claim roll back together.
- Two agents claiming the same waiting ticket at the same moment: exactly one wins, the others get Conflict (409);
  two hand-offs of one conversation at once make one ticket.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from sqlalchemy import select

from handoff.agents import AgentView
from handoff.context import DeskContext
from handoff.deskconfig import load_config
from handoff.models import Ticket, TicketEvent
from handoff.service import HandoffRequest, HandoffService
from handoff.webhooks import WebhookDelivery, WebhookDispatcher, WebhookEndpoint
from tier0.clock import FrozenClock
from tier0.conversations import Conversation, ConversationStore, Message
from tier0.db import Database
from tier0.errors import Conflict

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MONDAY = dt.datetime(2026, 1, 5, 10, 0)
NOWHERE = "http://127.0.0.1:9/never-sent"  # deliveries are only written here, never sent
SECRET = "s3cret-s3cret-s3cret"
ALICE = AgentView("alice", "Alice", "agent", ("tier1",))
BOB = AgentView("bob", "Bob", "agent", ("tier1",))


def desk(url: str):
    """A desk on the database at ``url``, its webhook outbox wired as the server wires it (api.app)."""
    db = Database(url)
    db.migrate()
    conversations = ConversationStore(db)
    service = HandoffService(db, conversations, load_config(REPO / "data" / "desk.yml"), FrozenClock(MONDAY))
    hooks = WebhookDispatcher(db, [WebhookEndpoint(NOWHERE, SECRET)], service.clock)
    service.subscribe_outbox(hooks.enqueue)
    return db, conversations, service


def bot_conversation(conversations: ConversationStore) -> str:
    conv, _token = conversations.start(language="en")
    conversations.add_message(conv.id, "customer", "I want to talk to a person")
    return conv.id


def state(url: str, cid: str) -> Dict[str, Any]:
    """What a fresh process finds in the database after the crash."""
    db = Database(url)
    try:
        with db.session() as s:
            tickets = s.execute(select(Ticket).where(Ticket.conversation_id == cid)).scalars().all()
            ids = [t.id for t in tickets]
            return {
                "owner": s.get(Conversation, cid).status,
                "tickets": [t.status for t in tickets],
                "events": s.execute(select(TicketEvent.kind).where(TicketEvent.ticket_id.in_(ids))
                                    .order_by(TicketEvent.id)).scalars().all(),
                "outbox": s.execute(select(WebhookDelivery.event_type).order_by(WebhookDelivery.id)).scalars().all(),
                "notices": s.execute(select(Message.text).where(Message.conversation_id == cid,
                                                                Message.sender == "system")).scalars().all(),
            }
    finally:
        db.dispose()


NOTHING = {"owner": "handed_off", "tickets": [], "events": [], "outbox": [], "notices": []}


def run_killed(target: Callable[..., None], *args: Any) -> int:
    """Run ``target`` in a forked process; return its exit code (-9: it was killed where the test said)."""
    child = multiprocessing.get_context("fork").Process(target=target, args=args)
    child.start()
    child.join(60)
    return child.exitcode


def die_after(owner: type, name: str) -> None:
    """In this (child) process only: ``owner.name`` does its work, then the process is killed on the spot."""
    original = getattr(owner, name)

    def dying(*args, **kwargs):
        original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, name, dying)


def hand_off_and_die(url: str, cid: str, owner: type, name: str) -> None:
    die_after(owner, name)  # before the desk is built: it subscribes the (patched) outbox writer
    _db, _conversations, service = desk(url)
    service.open(HandoffRequest(cid, "customer_request", language="en"))
    os._exit(3)  # the kill point was never reached


# Where a hand-off is killed: after each of the steps it used to commit one by one, and after its commit.
HANDOFF_KILL_POINTS = [
    ("conversation_moved", ConversationStore, "update", False),
    ("ticket_event_written", DeskContext, "event", False),
    ("outbox_row_written", WebhookDispatcher, "enqueue", False),
    ("listeners_told_after_commit", DeskContext, "emit", True),
]


@pytest.mark.parametrize("point,owner,name,committed", HANDOFF_KILL_POINTS, ids=[p[0] for p in HANDOFF_KILL_POINTS])
def test_a_hand_off_killed_between_its_steps_leaves_all_or_nothing(database_url, point, owner, name, committed):
    url = database_url
    db, conversations, _service = desk(url)
    cid = bot_conversation(conversations)
    db.dispose()  # the child opens its own connections

    assert run_killed(hand_off_and_die, url, cid, owner, name) == -signal.SIGKILL, point

    after = state(url, cid)
    if committed:
        assert after == {"owner": "handed_off", "tickets": ["waiting"], "events": ["created"],
                         "outbox": ["ticket.created"], "notices": []}
    else:
        assert after == {**NOTHING, "owner": "bot"}, "a crash before the commit leaves the bot's conversation"
        db, _conversations, service = desk(url)  # and the hand-off can simply happen again
        ticket, created = service.open(HandoffRequest(cid, "customer_request", language="en"))
        assert created and state(url, cid)["tickets"] == ["waiting"]
        db.dispose()


def return_and_die(url: str, reference: str, owner: type, name: str) -> None:
    die_after(owner, name)
    _db, _conversations, service = desk(url)
    service.return_to_bot(reference, ALICE, "answered by the FAQ")
    os._exit(3)


@pytest.mark.parametrize("owner,name", [(ConversationStore, "update"), (ConversationStore, "add_message"),
                                        (WebhookDispatcher, "enqueue")], ids=["owner_moved", "notice", "outbox"])
def test_a_return_to_the_bot_killed_midway_changes_nothing(database_url, owner, name):
    url = database_url
    db, conversations, service = desk(url)
    cid = bot_conversation(conversations)
    ticket, _ = service.open(HandoffRequest(cid, "customer_request", language="en"))
    service.claim(ticket["id"], ALICE)
    before = state(url, cid)
    db.dispose()

    assert run_killed(return_and_die, url, ticket["id"], owner, name) == -signal.SIGKILL

    assert state(url, cid) == before == {"owner": "handed_off", "tickets": ["agent"], "events": ["created", "claimed"],
                                         "outbox": ["ticket.created", "ticket.claimed"], "notices": []}


def test_a_failing_outbox_write_rolls_the_whole_reply_back(database_url):
    url = database_url
    db, conversations, service = desk(url)
    cid = bot_conversation(conversations)
    ticket, _ = service.open(HandoffRequest(cid, "customer_request", language="en"))
    told: List[str] = []
    service.subscribe(lambda event, _ticket: told.append(event["kind"]))

    def broken(_s, event, _ticket):
        if event["kind"] == "agent_reply":
            raise RuntimeError("the outbox table is gone")

    service.subscribe_outbox(broken)
    with pytest.raises(RuntimeError):
        service.reply(ticket["id"], ALICE, "Hello, I am looking into it")
    after = state(url, cid)
    assert after["tickets"] == ["waiting"] and after["events"] == ["created"], "the claim the reply made rolled back"
    assert after["outbox"] == ["ticket.created"] and told == [], "nothing announced for what was not committed"
    assert [m["sender"] for m in conversations.transcript(cid)] == ["customer"], "no agent message either"
    service.outbox.remove(broken)
    service.reply(ticket["id"], ALICE, "Hello, I am looking into it")
    assert state(url, cid)["outbox"] == ["ticket.created", "ticket.claimed", "ticket.agent_reply"]
    assert told == ["claimed", "agent_reply"]
    db.dispose()


def at_once(calls: List[Callable[[], Any]]) -> List[Any]:
    """Run the calls on threads released together; each result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: List[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 - collected and checked by the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def test_concurrent_claims_on_a_sqlite_file_exactly_one_wins_every_round(tmp_path):
    db, conversations, service = desk(f"sqlite:///{tmp_path / 'tier0.db'}")
    agents = [ALICE, BOB, AgentView("carol", "Carol", "agent", ("tier1",)), AgentView("dan", "Dan", "agent", ("tier1",))]
    for _round in range(20):
        ticket, _ = service.open(HandoffRequest(bot_conversation(conversations), "customer_request", language="en"))
        results = at_once([lambda a=a, ref=ticket["id"]: service.claim(ref, a) for a in agents])
        won = [r for r in results if isinstance(r, dict)]
        lost = [r for r in results if not isinstance(r, dict)]
        assert len(won) == 1 and all(isinstance(r, Conflict) for r in lost), results
        assert all(r.status_code == 409 and "was claimed by" in r.message for r in lost)
        assert service.get(ticket["id"])["assignee"] == won[0]["assignee"]
        assert [e["kind"] for e in service.events(ticket["id"])].count("claimed") == 1
    db.dispose()


def test_two_hand_offs_of_one_conversation_at_once_make_one_ticket(database_url):
    db, conversations, service = desk(database_url)
    for _round in range(10):
        cid = bot_conversation(conversations)
        results = at_once([lambda cid=cid: service.open(HandoffRequest(cid, "customer_request", language="en"))] * 3)
        assert all(isinstance(r, tuple) for r in results), results
        assert sorted(created for _t, created in results) == [False, False, True]
        assert len({t["id"] for t, _created in results}) == 1
        with db.session() as s:
            assert len(s.execute(select(Ticket.id).where(Ticket.conversation_id == cid)).all()) == 1
    db.dispose()


def write_and_die(url: str, cid: str, owner: type, name: str) -> None:
    die_after(owner, name)
    _db, _conversations, service = desk(url)
    service.customer_message(cid, "are you still there?", {"language": "en"})
    os._exit(3)


def test_a_customer_message_and_its_ticket_event_are_stored_together(database_url):
    url = database_url
    db, conversations, service = desk(url)
    cid = bot_conversation(conversations)
    ticket, _ = service.open(HandoffRequest(cid, "customer_request", language="en"))
    db.dispose()

    assert run_killed(write_and_die, url, cid, ConversationStore, "add_message") == -signal.SIGKILL
    assert state(url, cid)["events"] == ["created"]
    db, conversations, service = desk(url)
    assert [m["sender"] for m in conversations.transcript(cid)] == ["customer"], "the killed one is not stored"

    assert service.customer_message(cid, "are you still there?", {"language": "en"})["id"] == ticket["id"]
    assert state(url, cid)["events"] == ["created", "customer_message"]
    assert [m["text"] for m in conversations.transcript(cid)][-1] == "are you still there?"
    db.dispose()
