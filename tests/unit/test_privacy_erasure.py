"""Erasure requests and the retention period on a real SQLite file (handoff.erasure, bot.privacy, `tier0 privacy`):
nothing of the customer's words is left anywhere in the database — messages, tickets, their events, webhook payloads,
Rasa's tracker rows — another customer's data is untouched, and an audit line says what happened without the address.
No model is loaded."""

import hashlib
import json
import logging

import pytest
import sqlalchemy as sa

from tests.unit.privacy_world import RASA_EVENTS, age, build, customer_with_a_ticket, dump, rows_of

ADA_WORDS = ["Bonjour, ma carte 4242 4242 4242 4242 a ete debitee deux fois", "rappelez-moi au 06 12 34 56 78",
             "mon IBAN est FR76 3000 6000 0112 3456 7890 189"]
BOB_WORDS = ["my parcel 100045678 never arrived", "call me on +44 20 7946 0958"]


@pytest.fixture
def world(database_url):
    w = build(database_url)
    yield w
    w.close()


def ada_and_bob(w):
    ada = customer_with_a_ticket(w, "Adelaide", "Ada.Lovelace@example.com", ADA_WORDS)
    # a second conversation of Ada's, where she declared nothing but typed her address
    conv, _ = w.conversations.start()
    w.conversations.add_message(conv.id, "customer", "c'est encore moi, ada.lovelace@example.com, la carte "
                                                     "5555 5555 5555 4444 aussi", {"language": "fr"})
    bob = customer_with_a_ticket(w, "Bartholomew", "bob@example.org", BOB_WORDS, open_ticket=False)
    return ada, conv.id, bob


def assert_nothing_of_ada_left(w):
    text = dump(w)
    # Ada's card numbers, also masked ("[card ••••4242]" in a redacted payload); Bob typed no card
    for secret in ("4242 4242", "5555 5555", "[card", "06 12 34 56 78", "fr76", "3000 6000", "lovelace", "adelaide",
                   "debitee", "rappelez-moi"):
        assert secret not in text, f"{secret!r} is still in the database"


def test_an_erasure_by_email_leaves_nothing_of_the_customer_and_an_audit_line(world, caplog):
    w = world
    ada, typed, bob = ada_and_bob(w)
    before = dump(w)
    assert "4242 4242 4242 4242" in before and "lovelace" in before  # the desk keeps what the customer wrote
    mirror = [d for d in rows_of(w, ada["cid"])["deliveries"] if d.endpoint_name == "mirror"]
    assert mirror and all("4242 4242" not in d.payload for d in mirror), "the redacting endpoint never had it"

    with caplog.at_level(logging.INFO, logger="tier0.privacy"):
        result = w.privacy.erase(email="  ADA.lovelace@Example.com ", actor="admin")

    c = result.counts
    assert (c["conversations"], c["tickets"], c["tickets_closed"]) == (2, 1, 1)
    assert c["messages"] >= 6 and c["ticket_events"] >= 5 and c["deliveries"] >= 10 and c["tracker_events"] == 6
    assert_nothing_of_ada_left(w)
    ada_rows = rows_of(w, ada["cid"])
    assert ada_rows["trackers"] == 0 and ada_rows["conversation"].customer == {}
    assert ada_rows["conversation"].anonymised_at is not None
    assert {m.text for m in ada_rows["messages"] if m.sender != "bot"} == {"[erased]"}
    # the bot's answer (the KB's words) stays; the ticket stays for the desk's numbers, closed with a system note
    assert any(m.sender == "bot" and "Rembourser" in m.text for m in ada_rows["messages"])
    t = ada_rows["tickets"][0]
    assert (t.status, t.contact_email, t.customer, t.transcript) == ("resolved", None, {}, [])
    closing = [e for e in ada_rows["events"] if e.kind == "resolved"][-1]
    assert closing.actor == "system" and "erased" in closing.note
    assert all(d.payload == '{"erased": true}' for d in ada_rows["deliveries"])
    assert rows_of(w, typed)["messages"][0].text == "[erased]"

    # Bob is untouched: his words, his tracker, his payloads
    bob_rows = rows_of(w, bob["cid"])
    assert bob_rows["trackers"] == 4 and bob_rows["conversation"].customer["email"] == "bob@example.org"
    assert [m.text for m in bob_rows["messages"] if m.sender == "customer"][0] == BOB_WORDS[0]
    assert any("+44 20 7946 0958" in d.payload for d in bob_rows["deliveries"] if d.endpoint_name == "mailer")

    # one audit line: who, what, a hash of the address (not the address), the counts; one INFO log line
    audit = w.privacy.audit()
    assert len(audit) == 1 and audit[0]["id"] == result.audit_id
    line = audit[0]
    expected = "sha256:" + hashlib.sha256(b"email:ada.lovelace@example.com").hexdigest()
    assert (line["actor"], line["kind"], line["selector_hash"]) == ("admin", "erase_email", expected)
    assert line["counts"]["conversations"] == 2
    assert "lovelace" not in json.dumps(audit).lower()
    logged = [r for r in caplog.records if r.name == "tier0.privacy" and r.levelno == logging.INFO]
    assert len(logged) == 1 and "erase_email" in logged[0].getMessage()
    assert "lovelace" not in logged[0].getMessage().lower()


def test_an_erasure_of_one_conversation_and_the_bad_requests(world):
    from tier0.errors import InvalidInput, NotFound

    w = world
    ada, typed, bob = ada_and_bob(w)
    result = w.privacy.erase(conversation_id=ada["cid"].upper(), actor="cli")
    assert result.counts["conversations"] == 1 and result.counts["tracker_events"] == 6
    assert w.privacy.audit()[0]["selector_hash"] == "sha256:" + hashlib.sha256(
        f"conversation:{ada['cid']}".encode()).hexdigest()
    # the other conversation of Ada's was not asked for: it stays
    assert "5555 5555 5555 4444" in rows_of(w, typed)["messages"][0].text
    for bad in ({}, {"email": "a@b.co", "conversation_id": ada["cid"]}, {"email": "not an address"},
                {"conversation_id": "../../etc/passwd"}):
        with pytest.raises(InvalidInput):
            w.privacy.erase(actor="cli", **bad)
    with pytest.raises(NotFound):
        w.privacy.erase(conversation_id="0" * 32, actor="cli")
    assert len(w.privacy.audit()) == 1, "a refused request leaves no audit line"


def test_retention_anonymises_idle_conversations_only(world):
    from bot.feedback import read

    w = world
    idle = customer_with_a_ticket(w, "Adelaide", "ada@example.com", ADA_WORDS, open_ticket=False)
    age(w, idle["cid"], 400)
    still_open = customer_with_a_ticket(w, "Oscar", "oscar@example.com", ["mon IBAN BE71 0961 2345 6769"])
    age(w, still_open["cid"], 400)  # an open ticket is never anonymised, however old
    came_back = customer_with_a_ticket(w, "Rita", "rita@example.com", ["rappel au 07 98 76 54 32"], open_ticket=False)
    age(w, came_back["cid"], 400)
    w.conversations.add_message(came_back["cid"], "customer", "je reviens vers vous", {"language": "fr"})
    recent = customer_with_a_ticket(w, "Bartholomew", "bob@example.org", BOB_WORDS, open_ticket=False)
    # before: the calibration reads the idle conversation's question (masked) when it looks that far back
    assert any("[card ••••4242]" in q.text for q in read(w.db, max_age_days=1000)[1])

    assert w.privacy.due(365) == [idle["cid"]]
    result = w.privacy.purge(365)
    assert result.counts["conversations"] == 1 and result.counts["tracker_events"] == 6
    assert_nothing_of_ada_left(w)
    for kept, word in ((still_open, "0961 2345"), (came_back, "07 98 76 54 32"), (recent, "100045678")):
        assert word in dump(w), f"{word!r} should have been kept"
        assert rows_of(w, kept["cid"])["conversation"].anonymised_at is None
    audit = w.privacy.audit()
    assert [(a["kind"], a["actor"], a["selector_hash"]) for a in audit] == [("retention", "retention", None)]
    assert audit[0]["counts"]["days"] == 365
    # an anonymised conversation is never read for learning again; a second run finds nothing and writes no line
    assert not any("[erased]" in q.text or "4242" in q.text for q in read(w.db, max_age_days=1000)[1])
    again = w.privacy.purge(365)
    assert again.counts["conversations"] == 0 and again.audit_id is None and len(w.privacy.audit()) == 1
    assert w.privacy.purge(0).counts["conversations"] == 0, "0 days: retention is off"


def test_retention_batches_and_spares_what_was_never_a_ticket(world):
    w = world
    ids = []
    for i in range(5):
        conv, _ = w.conversations.start(customer={"email": f"c{i}@example.com"})
        w.conversations.add_message(conv.id, "customer", f"mon numéro 06 12 34 56 7{i}", {"language": "fr"})
        age(w, conv.id, 40)
        ids.append(conv.id)
    result = w.privacy.purge(30, batch=2)
    assert result.counts["conversations"] == 5 and result.counts["tickets"] == 0
    assert "06 12 34 56" not in dump(w)
    assert w.privacy.purge(30, batch=2, max_batches=1).counts["conversations"] == 0


def test_the_tracker_of_a_conversation_goes_with_it_on_sql_only_its_own_rows(world):
    from bot.privacy import sql_trackers

    w = world
    with w.db.session() as s:
        assert sql_trackers(s, []) == 0
    conv, _ = w.conversations.start()
    other, _ = w.conversations.start()
    from tests.unit.privacy_world import tracker_turns

    tracker_turns(w, conv.id, "a", "b")
    tracker_turns(w, other.id, "c")
    with w.db.session() as s:
        assert sql_trackers(s, [conv.id]) == 4
    with w.db.engine.connect() as c:
        assert c.execute(sa.select(RASA_EVENTS.c.sender_id)).scalars().all() == [other.id, other.id]


def test_sql_trackers_expire_after_the_ttl_and_a_turn_landing_meanwhile_keeps_its_events(world):
    """What Redis does to a tracker key after TIER0_TRACKER_TTL_S, done to Rasa's ``events`` rows: a conversation
    silent for longer loses Rasa's working memory (not its transcript); a recent one keeps everything."""
    from bot.privacy import expire_sql_trackers
    from tests.unit.privacy_world import tracker_turns

    w = world
    silent = [w.conversations.start()[0].id for _ in range(5)]
    recent, _ = w.conversations.start()
    for cid in silent:
        tracker_turns(w, cid, "a", "b")  # events at t = 1.0 .. 2.5
    w.conversations.add_message(silent[0], "customer", "where is my parcel?", {"language": "en"})
    tracker_turns(w, recent.id, "c")
    with w.db.engine.begin() as c:  # the recent conversation's last event at t = 100
        c.execute(RASA_EVENTS.insert(), [{"sender_id": recent.id, "type_name": "user", "timestamp": 100.0,
                                          "data": "{}"}])
    assert expire_sql_trackers(w.db, 0, now=1000.0) == 0, "a TTL of 0 never expires"
    # at t = 50 with a TTL of 10: every silent conversation goes (2 a batch, every batch), the recent one stays
    # whole, even its events older than the cutoff (its last turn is recent)
    assert expire_sql_trackers(w.db, 10, now=50.0, batch=2) == 5 * 4
    with w.db.engine.connect() as c:
        left = c.execute(sa.select(RASA_EVENTS.c.sender_id)).scalars().all()
    assert left == [recent.id] * 3
    # tier0's own transcript is not Rasa's memory: it stays (until the retention)
    assert [m["text"] for m in w.conversations.transcript(silent[0])] == ["where is my parcel?"]
    assert expire_sql_trackers(w.db, 10, now=50.0) == 0  # nothing left to do


def test_cli_privacy_commands(tmp_path, capsys):
    from cli.main import main

    w = build(f"sqlite:///{tmp_path / 'tier0.db'}")
    ada, _typed, _bob = ada_and_bob(w)
    w.close()
    home = ["--home", str(tmp_path)]

    assert main(home + ["privacy", "erase", "--email", "ada.lovelace@example.com"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tier0 privacy: erase_email: 2 conversations"), out
    assert "audit #1" in lines[0]
    w = build(f"sqlite:///{tmp_path / 'tier0.db'}")
    assert_nothing_of_ada_left(w)
    assert w.privacy.audit()[0]["actor"] == "cli"
    w.close()

    for bad in (["privacy", "erase"], ["privacy", "erase", "--email", "nobody"],
                ["privacy", "erase", "--email", "a@b.co", "--conversation", ada["cid"]],
                ["privacy", "erase", "--conversation", "xyz"], ["privacy", "erase", "--conversation", "f" * 32],
                ["privacy", "purge", "--days", "-3"]):
        assert main(home + bad) == 2, bad
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("tier0: error: "), (bad, err)

    assert main(home + ["privacy", "purge", "--days", "30"]) == 0
    out, _ = capsys.readouterr()
    expired, retention = out.strip().splitlines()
    # Bob's tracker rows were written in 1970 (tracker_turns): past TIER0_TRACKER_TTL_S, Rasa's memory of it goes
    assert expired == ("tier0 privacy: 4 tracker events of conversations silent for more than 604800 s deleted "
                       "(TIER0_TRACKER_TTL_S)")
    assert retention == ("tier0 privacy: retention: 0 conversations, 0 messages, 0 tickets, 0 ticket events, "
                         "0 deliveries, 0 tracker events")


def test_a_customer_is_found_by_the_address_declared_given_or_typed_and_by_nothing_else(world):
    w = world
    declared, _ = w.conversations.start(customer={"email": "Ada@Example.com"})
    typed, _ = w.conversations.start()
    w.conversations.add_message(typed.id, "customer", "mon adresse : ADA@example.com", {"language": "fr"})
    given = customer_with_a_ticket(w, "X", "someone.else@example.com", ["bonjour"])
    w.desk.set_contact_email(given["ref"], "ada@example.com")  # the address given for an answer by e-mail
    other, _ = w.conversations.start(customer={"email": "ada@example.com.evil"})
    w.conversations.add_message(other.id, "customer", "je suis la_ada@example.community", {"language": "fr"})
    wildcard, _ = w.conversations.start()
    w.conversations.add_message(wildcard.id, "customer", "adaXexample.com", {"language": "fr"})
    assert w.privacy.conversations_of("ada@example.com") == sorted([declared.id, typed.id, given["cid"]])
    assert w.privacy.conversations_of("a_a@example.com") == [], "a LIKE wildcard in the address matches itself only"


def test_the_background_jobs_apply_the_retention_period_and_expire_trackers_under_the_lease(world, tmp_path):
    """api.background's leased jobs, on the world's database: the first tick anonymises what is due."""
    import asyncio
    from types import SimpleNamespace

    from api.background import Background
    from tier0.config import Settings

    w = world
    idle = customer_with_a_ticket(w, "Adelaide", "ada@example.com", ADA_WORDS, open_ticket=False)
    age(w, idle["cid"], 40)
    from tests.unit.privacy_world import tracker_turns

    lively, _ = w.conversations.start()
    tracker_turns(w, lively.id, "still here")  # a tracker written in 1970: Rasa's memory of it expires too
    settings = Settings(home=tmp_path, retention_days=30, sla_interval=0)
    services = SimpleNamespace(db=w.db, settings=settings, clock=w.clock, handoff=w.desk)
    background = Background(SimpleNamespace(services=services, agent=None), settings, scheduler=True)

    async def first_ticks():
        task = asyncio.create_task(background._once_across_workers())
        try:
            for _ in range(50):
                await asyncio.sleep(0.1)
                if w.privacy.audit() and not rows_of(w, lively.id)["trackers"]:
                    break
        finally:
            task.cancel()
            await background.stop()

    asyncio.run(first_ticks())
    assert [(a["kind"], a["actor"]) for a in w.privacy.audit()] == [("retention", "retention")]
    assert_nothing_of_ada_left(w)
    assert rows_of(w, lively.id)["trackers"] == 0 and rows_of(w, lively.id)["conversation"].anonymised_at is None
