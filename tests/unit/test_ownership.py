"""Who owns a conversation (tier0.conversations.OWNERSHIP_TRANSITIONS), on a real SQLite file: every move the table
allows is accepted, a move it does not allow is refused with Conflict and changes nothing, a status that is no owner
is refused with InvalidInput; and the desk's own moves (a hand-off, a return to the bot) go through the table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tier0 import conversations as conversations_module
from tier0.conversations import OWNERSHIP_TRANSITIONS, Conversation, ConversationStore
from tier0.db import Database
from tier0.errors import Conflict, InvalidInput
from tier0.vocab import Ownership, Sender

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
LEGAL = sorted((a, b) for a, targets in OWNERSHIP_TRANSITIONS.items() for b in targets)


@pytest.fixture
def store(database_url):
    db = Database(database_url)
    db.migrate()
    yield ConversationStore(db)
    db.dispose()


def owned_by(store: ConversationStore, owner: str) -> str:
    """A new conversation whose stored status is ``owner``, written past the store (as an older tier0 might have)."""
    conv, _token = store.start()
    with store.db.session() as s:
        s.get(Conversation, conv.id).status = owner
    return conv.id


def test_the_table_names_owners_only_and_leaves_none_stranded():
    assert set(OWNERSHIP_TRANSITIONS) == set(Ownership)
    for source, targets in OWNERSHIP_TRANSITIONS.items():
        assert targets and targets <= set(Ownership), source
        assert source not in targets  # staying put is no move
    assert (Ownership.BOT, Ownership.HANDED_OFF) in LEGAL  # the hand-off
    assert (Ownership.HANDED_OFF, Ownership.BOT) in LEGAL  # back to the bot


def test_a_new_conversation_is_the_bots(store):
    conv, _token = store.start()
    assert conv.status == Ownership.BOT and type(conv.status) is str


@pytest.mark.parametrize("as_member", [True, False], ids=["member", "plain"])
@pytest.mark.parametrize("source,target", LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_move_is_accepted(store, source, target, as_member):
    cid = owned_by(store, source.value)
    view = store.update(cid, status=target if as_member else target.value, low_confidence_streak=0)
    assert view.status == target.value and type(view.status) is str  # stored and returned as the plain word
    assert store.get(cid).status == target.value


def test_every_move_outside_the_table_is_refused(store):
    # none today: with two owners both moves are legal; an owner added to Ownership makes this one bite
    for source in Ownership:
        for target in Ownership:
            if source == target or target in OWNERSHIP_TRANSITIONS[source]:
                continue
            cid = owned_by(store, source.value)
            with pytest.raises(Conflict):
                store.update(cid, status=target)
            assert store.get(cid).status == source.value


def test_a_move_the_table_does_not_list_is_refused_and_changes_nothing(store, monkeypatch):
    monkeypatch.setitem(OWNERSHIP_TRANSITIONS, Ownership.HANDED_OFF, frozenset())
    cid = owned_by(store, Ownership.HANDED_OFF.value)
    with pytest.raises(Conflict) as refused:
        store.update(cid, status=Ownership.BOT, low_confidence_streak=3)
    assert refused.value.status_code == 409
    assert "from handed_off to bot" in refused.value.message
    after = store.get(cid)
    assert (after.status, after.low_confidence_streak) == (Ownership.HANDED_OFF.value, 0)


def test_a_conversation_with_a_status_outside_the_table_cannot_move(store):
    cid = owned_by(store, "closed")
    with pytest.raises(Conflict, match="cannot go from closed to bot"):
        store.update(cid, status=Ownership.BOT)
    assert store.get(cid).status == "closed"


def test_a_status_that_is_no_owner_is_refused(store):
    cid = owned_by(store, Ownership.BOT.value)
    with pytest.raises(InvalidInput, match="unknown conversation status 'closed'"):
        store.update(cid, status="closed", language="fr")
    after = store.get(cid)
    assert (after.status, after.language) == (Ownership.BOT.value, None)


@pytest.mark.parametrize("owner", list(Ownership), ids=[o.value for o in Ownership])
def test_writing_the_current_owner_again_is_no_move(store, owner):
    cid = owned_by(store, owner.value)
    assert store.update(cid, status=owner).status == owner.value


def test_updates_without_a_status_are_not_checked(store):
    cid = owned_by(store, "closed")
    assert store.update(cid, language="en", low_confidence_streak=2).language == "en"


def test_the_desks_moves_are_moves_of_the_table(store, monkeypatch):
    """A hand-off, a return to the bot and a second hand-off, through the desk service on the same database."""
    from handoff.agents import AgentView
    from handoff.deskconfig import load_config
    from handoff.service import HandoffRequest, HandoffService
    from tier0.clock import FrozenClock

    moves = []
    check = conversations_module.next_ownership

    def recording(conversation_id, current, new):
        target = check(conversation_id, current, new)
        moves.append((current, target.value))
        return target

    monkeypatch.setattr(conversations_module, "next_ownership", recording)
    desk = HandoffService(store.db, store, load_config(REPO / "data" / "desk.yml"),
                          FrozenClock(dt.datetime(2026, 1, 5, 10, 0)))
    alice = AgentView("alice", "Alice", "agent", ("tier1",))
    conv, _token = store.start()
    store.add_message(conv.id, Sender.CUSTOMER, "I want to talk to a person")
    ticket, created = desk.open(HandoffRequest(conv.id, "customer_request", language="en"))
    assert created and store.get(conv.id).status == Ownership.HANDED_OFF
    desk.claim(ticket["id"], alice)
    desk.return_to_bot(ticket["id"], alice, "answered in the FAQ")
    assert store.get(conv.id).status == Ownership.BOT
    assert desk.customer_message(conv.id, "one more question") is None  # the bot owns it again
    desk.open(HandoffRequest(conv.id, "frustration", language="en"))
    assert moves == [("bot", "handed_off"), ("handed_off", "bot"), ("bot", "handed_off")]
    assert all((Ownership(a), Ownership(b)) in LEGAL for a, b in moves)
