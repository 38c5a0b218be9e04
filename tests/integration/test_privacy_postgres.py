"""Erasure and retention on PostgreSQL (the JSON look-up of a declared address, Rasa's `events` rows deleted in the
same transaction), and Rasa's Redis tracker key removed. Real servers on this machine; each test is skipped when its
server does not answer. No model is loaded."""

import uuid

import pytest

from tests.conftest import postgres_database
from tests.unit.privacy_world import age, build, customer_with_a_ticket, dump, rows_of

WORDS = ["ma carte 4242 4242 4242 4242 a ete debitee", "rappelez-moi au 06 12 34 56 78"]


def test_erasure_and_retention_on_postgresql():
    with postgres_database("tier0_privacy") as url:
        w = build(url)
        try:
            ada = customer_with_a_ticket(w, "Adelaide", "Ada@Example.com", WORDS)
            declared, _ = w.conversations.start(customer={"email": "ADA@example.com"})  # found by its JSON only
            w.conversations.add_message(declared.id, "customer", "bonjour, une autre question", {"language": "fr"})
            assert w.privacy.conversations_of("ada@example.com") == sorted([ada["cid"], declared.id])
            old = customer_with_a_ticket(w, "Oswald", "oswald@example.com", ["mon IBAN FR76 3000 6000 0112 3456 7890 189"],
                                         open_ticket=False)
            age(w, old["cid"], 400)
            bob = customer_with_a_ticket(w, "Bartholomew", "bob@example.org", ["call me on +44 20 7946 0958"])

            result = w.privacy.erase(email="ada@example.com", actor="admin")
            assert (result.counts["conversations"], result.counts["tickets_closed"]) == (2, 1)
            assert result.counts["tracker_events"] == 4
            purged = w.privacy.purge(365)
            assert purged.counts["conversations"] == 1 and purged.counts["tracker_events"] == 2

            text = dump(w)
            for secret in ("4242 4242", "06 12 34 56 78", "adelaide", "ada@example.com", "debitee", "3000 6000",
                           "oswald", "une autre question"):
                assert secret not in text, secret
            assert "+44 20 7946 0958" in text and rows_of(w, bob["cid"])["trackers"] == 2
            assert rows_of(w, ada["cid"])["trackers"] == rows_of(w, old["cid"])["trackers"] == 0
            assert [a["kind"] for a in w.privacy.audit()] == ["retention", "erase_email"]
            # Rasa's memory of Bob's conversation (written in 1970 by the world) expires; his transcript stays
            from bot.privacy import expire_sql_trackers

            assert expire_sql_trackers(w.db, 7 * 24 * 3600, batch=1) == 2
            assert rows_of(w, bob["cid"])["trackers"] == 0 and "+44 20 7946 0958" in dump(w)
        finally:
            w.close()


def test_a_redis_tracker_is_removed_with_its_conversation():
    redis = pytest.importorskip("redis")
    from bot.privacy import REDIS_TRACKER_PREFIX, redis_trackers

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    mine, other = uuid.uuid4().hex, uuid.uuid4().hex
    # what Rasa's RedisTrackerStore (key_prefix "tier0", bot.rasa_runtime.stores) keeps: the whole tracker as JSON
    for cid in (mine, other):
        client.set(REDIS_TRACKER_PREFIX + cid, '{"events": [{"event": "user", "text": "06 12 34 56 78"}]}', ex=60)
    try:
        erase = redis_trackers("redis://127.0.0.1:6379/0")
        assert erase(None, [mine]) == 1
        assert client.get(REDIS_TRACKER_PREFIX + mine) is None
        assert client.get(REDIS_TRACKER_PREFIX + other) is not None
        assert erase(None, []) == 0
    finally:
        client.delete(REDIS_TRACKER_PREFIX + mine, REDIS_TRACKER_PREFIX + other)
