"""The widget's backend without HTTP nor models (#23 W1, bot.widget), on a real SQLite file: Idempotency-Key (replay,
another body, a failed turn, a dead worker's key, two requests at once), token renewal, ending a conversation, the
survey, the offline contact (the real desk service on data/desk.yml), search snippets and query checks."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest
from sqlalchemy import select

from bot import widget
from handoff.agents import AgentView
from handoff.deskconfig import load_config
from handoff.service import HandoffRequest, HandoffService
from tier0.clock import FrozenClock
from tier0.conversations import ConversationStore, IdempotencyKey, SurveyAnswer
from tier0.db import Database
from tier0.errors import Conflict, Forbidden, InvalidInput

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MONDAY = dt.datetime(2026, 1, 5, 10, 0)  # 11:00 in Paris: tier1 is open
SATURDAY_NIGHT = dt.datetime(2026, 1, 10, 20, 0)  # 21:00 in Paris: tier1 (extended hours) is closed until Monday 8:00
ALICE = AgentView("alice", "Alice", "agent", ("tier1",))


@pytest.fixture
def world(database_url):
    db = Database(database_url)
    db.migrate()
    clock = FrozenClock(MONDAY)
    conversations = ConversationStore(db, clock=clock)
    desk = HandoffService(db, conversations, load_config(REPO / "data" / "desk.yml"), clock)
    yield db, conversations, desk, clock
    db.dispose()


def answered(conversations: ConversationStore, lang: str = "en") -> str:
    conv, _ = conversations.start(language=lang)
    conversations.add_message(conv.id, "customer", "I forgot my password")
    conversations.add_message(conv.id, "bot", "Here is what I found:\n\n**Reset your password**",
                              {"sources": [{"article_id": "reset-password-en", "title": "Reset your password"}],
                               "outcome": {"type": "answer", "article_id": "reset-password-en"}})
    return conv.id


def handed_off(conversations: ConversationStore, desk: HandoffService, lang: str = "en") -> Dict[str, Any]:
    conv, _ = conversations.start(language=lang)
    conversations.add_message(conv.id, "customer", "I want to talk to a person")
    ticket, _ = desk.open(HandoffRequest(conv.id, "customer_request", language=lang))
    return ticket


# -- idempotency ----------------------------------------------------------------------------------------------------
def keys(db, **kw) -> widget.Idempotency:
    return widget.Idempotency(db, **{"wait_s": 2.0, **kw})


def test_the_same_key_returns_the_first_result_and_another_body_is_refused(world):
    db, conversations, _, _ = world
    cid = answered(conversations)
    k = keys(db)
    first = widget.body_hash("hello")
    assert k.claim(cid, "key-1", first) is None  # ours: run the turn
    bot = conversations.add_message(cid, "bot", "Hi **there**", {"sources": [{"article_id": "a", "title": "A"}]})
    turn = {"conversation_id": cid, "language": "en", "messages": [{"id": bot["id"], "text": bot["text"]}],
            "outcome": {"type": "answer", "article_id": "a"}, "ticket": None}
    k.complete(cid, "key-1", widget.remembered(turn))
    kept = k.claim(cid, "key-1", first)
    assert kept == {"language": "en", "message_ids": [bot["id"]], "outcome": {"type": "answer", "article_id": "a"},
                    "ticket": None}
    again = widget.replayed(db, cid, kept)
    assert again["messages"] == [{"id": bot["id"], "text": "Hi **there**", "buttons": [],
                                  "sources": [{"article_id": "a", "title": "A"}]}]
    with pytest.raises(InvalidInput, match="another message"):
        k.claim(cid, "key-1", widget.body_hash("something else"))
    assert k.claim(cid, "key-2", widget.body_hash("something else")) is None  # a new key is a new message
    other = answered(conversations)
    assert k.claim(other, "key-1", first) is None  # keys belong to their conversation


def test_a_failed_turn_gives_its_key_back_and_a_dead_workers_key_is_taken_over(world):
    db, conversations, _, clock = world
    cid = answered(conversations)
    k = keys(db, wait_s=0.3, stale_s=60, now=clock.now)
    h = widget.body_hash("hello")
    assert k.claim(cid, "k", h) is None
    k.release(cid, "k")
    assert k.claim(cid, "k", h) is None  # the retry runs the turn
    with pytest.raises(Conflict, match="still being answered"):
        k.claim(cid, "k", h)  # pending, not yet stale: the second waits, then 409
    clock.advance(seconds=61)
    assert k.claim(cid, "k", h) is None  # its worker died: taken over


def test_keys_are_forgotten_after_their_time(world):
    db, conversations, _, clock = world
    cid = answered(conversations)
    k = keys(db, keep_hours=1, now=clock.now)
    assert k.claim(cid, "old", widget.body_hash("a")) is None
    k.complete(cid, "old", {"language": "en", "message_ids": [], "outcome": {"type": "other"}, "ticket": None})
    clock.advance(hours=2)
    assert k.claim(cid, "new", widget.body_hash("b")) is None
    with db.session() as s:
        assert s.execute(select(IdempotencyKey.key)).scalars().all() == ["new"]


def test_two_requests_with_one_key_at_once_run_one_turn(world):
    db, conversations, _, _ = world
    cid = answered(conversations)
    k = keys(db, wait_s=10)
    h = widget.body_hash("hello")
    turns: List[int] = []
    results: List[Any] = []
    barrier = threading.Barrier(4)

    def request() -> None:
        barrier.wait()
        kept = k.claim(cid, "same", h)
        if kept is None:
            turns.append(1)
            m = conversations.add_message(cid, "bot", "the one reply")
            k.complete(cid, "same", {"language": "en", "message_ids": [m["id"]], "outcome": {"type": "other"},
                                     "ticket": None})
            results.append([m["id"]])
        else:
            results.append(kept["message_ids"])

    threads = [threading.Thread(target=request) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(turns) == 1 and len(results) == 4 and len({tuple(r) for r in results}) == 1


# -- token, end ---------------------------------------------------------------------------------------------------
def test_a_renewed_token_replaces_the_old_one(world):
    db, conversations, _, clock = world
    conv, old = conversations.start(language="fr")
    new = widget.renew_token(db, conv.id, old, 72, now=clock.now)
    assert new != old and conversations.authorize(conv.id, new).id == conv.id
    with pytest.raises(Forbidden):
        conversations.authorize(conv.id, old)
    with pytest.raises(Forbidden, match="already renewed"):
        widget.renew_token(db, conv.id, old, 72, now=clock.now)


def test_ending_says_goodbye_once_in_the_customers_language(world):
    db, conversations, _, clock = world
    conv, _ = conversations.start(language="fr")
    widget.refuse_if_ended(db, conv.id)  # open: nothing refused
    out = widget.end(db, conversations, conv.id, now=clock.now)
    assert out["ended_at"] == MONDAY.isoformat() + "Z"
    assert out["messages"][0]["text"].startswith("Merci de votre visite")
    with pytest.raises(Conflict, match="ended"):
        widget.refuse_if_ended(db, conv.id)
    assert widget.end(db, conversations, conv.id)["messages"] == []  # again: nothing new
    transcript = conversations.transcript(conv.id)
    assert [(m["sender"], m["data"]) for m in transcript] == [("bot", {"notice": "ended"})]


# -- survey ---------------------------------------------------------------------------------------------------------
def test_survey_rates_the_bot_or_the_person_and_replaces_the_first_answer(world):
    db, conversations, desk, clock = world
    conv, _ = conversations.start(language="en")
    with pytest.raises(Conflict, match="nothing to rate"):
        widget.survey(db, conv.id, 4, None)
    cid = answered(conversations)
    assert widget.survey(db, cid, 4, "  quick  ", now=clock.now) == {
        "conversation_id": cid, "rating": 4, "resolved_by": "bot", "replaced": False}
    assert widget.survey(db, cid, 2, None)["replaced"] is True
    with db.session() as s:
        rows = s.execute(select(SurveyAnswer).where(SurveyAnswer.conversation_id == cid)).scalars().all()
        assert [(r.rating, r.comment, r.resolved_by, r.language) for r in rows] == [(2, None, "bot", "en")]

    ticket = handed_off(conversations, desk)
    with pytest.raises(Conflict):
        widget.survey(db, ticket["conversation_id"], 5, None)  # waiting for a person: nothing to rate yet
    desk.claim(ticket["id"], ALICE)
    desk.resolve(ticket["id"], ALICE, "done")
    out = widget.survey(db, ticket["conversation_id"], 5, "Alice was great")
    assert out["resolved_by"] == "agent"
    with db.session() as s:
        row = s.execute(select(SurveyAnswer).where(SurveyAnswer.conversation_id == ticket["conversation_id"])
                        ).scalars().one()
        assert f"T-{row.ticket_id}" == ticket["id"] and row.comment == "Alice was great"
    for bad in (0, 6):
        with pytest.raises(InvalidInput):
            widget.survey(db, cid, bad, None)
    with pytest.raises(InvalidInput, match="longer"):
        widget.survey(db, cid, 3, "x" * 1001)


# -- contact -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["ada@example.com", "Ada.Lovelace+tier0@mail.example.co.uk"])
def test_valid_addresses(address):
    assert widget.valid_email(address) == address.lower()


@pytest.mark.parametrize("address", ["", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com",
                                     "ada@exa mple.com", "Ada <ada@example.com>", "ada@[127.0.0.1]", ".ada@example.com",
                                     "ada..b@example.com", "ada@-example.com", "a" * 65 + "@example.com",
                                     "ada@exam\nple.com", "ada@example.com,bob@example.com", 42])
def test_invalid_addresses_are_refused(address):
    with pytest.raises(InvalidInput):
        widget.valid_email(address)


def test_contact_when_the_team_is_closed_promises_its_next_opening(world):
    db, conversations, desk, clock = world
    clock.set(SATURDAY_NIGHT)
    ticket = handed_off(conversations, desk, lang="fr")
    out = widget.contact(desk, conversations, ticket["conversation_id"], " Ada@Example.com ")
    assert out["ticket"] == ticket["id"] and out["email"] == "ada@example.com" and out["open_now"] is False
    assert out["opens_at"] == "2026-01-12T07:00:00Z"  # Monday 08:00 in Paris
    assert "ada@example.com" in out["promise"] and "2026-01-12 08:00" in out["promise"]
    assert out["promise"].startswith("Nous répondrons")
    assert desk.get(ticket["id"])["contact_email"] == "ada@example.com"
    assert conversations.transcript(ticket["conversation_id"])[-1]["text"] == out["promise"]


def test_contact_needs_a_request_waiting_for_a_person(world):
    db, conversations, desk, _ = world
    cid = answered(conversations)
    with pytest.raises(Conflict, match="no request"):
        widget.contact(desk, conversations, cid, "ada@example.com")
    ticket = handed_off(conversations, desk)
    out = widget.contact(desk, conversations, ticket["conversation_id"], "ada@example.com")
    assert out["open_now"] is True and "opens_at" not in out and "as soon as" in out["promise"]
    with pytest.raises(InvalidInput):
        widget.contact(desk, conversations, ticket["conversation_id"], "not an address")


# -- search helpers ------------------------------------------------------------------------------------------------
def test_snippets_are_plain_text_cut_at_a_word():
    md = "## Steps\n\nOpen **Settings** and click [Reset](https://example.com/r) <b>now</b>.\n\n- one\n- two"
    assert widget.plain_text(md) == "Steps Open Settings and click Reset now . one two"
    long = "word " * 100
    s = widget.snippet(long, 40)
    assert len(s) <= 40 and s.endswith("word…")


@pytest.mark.parametrize("q", ["", " ", "a", "  b  ", "x" * 201])
def test_search_queries_out_of_bounds_are_refused(q):
    with pytest.raises(InvalidInput):
        widget.search_query(q)


def test_search_queries_are_stripped():
    assert widget.search_query("  reset   my\npassword ") == "reset my password"


def test_messages_citing_an_article_carry_safe_html():
    html = widget.message_html("Here:\n\n**Title** <script>alert(1)</script> [x](javascript:alert(1))",
                               [{"article_id": "a"}])
    assert html is not None and "<strong>Title</strong>" in html and "<script" not in html
    assert "href=\"javascript" not in html
    assert widget.message_html("Hello", []) is None
