"""A data-subject erasure through the running app (POST /api/desk/privacy/erasures): admins only; real turns of the
trained Rasa model, whose SQL tracker keeps every turn in Rasa's `events` table of the same SQLite file; after the
erasure nothing the customer wrote is left there or in tier0's tables, the ticket is closed, and the audit names the
admin and a hash of the address. Reuses the session engine (no engine of its own)."""

import hashlib

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from tests.integration.chat import say, start

PASSWORD = "correct horse battery"
CARD = "4242 4242 4242 4242"


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine.services.settings, engine=engine)) as c:
        agents = engine.services.agents
        agents.create("privacy-admin", PASSWORD, role="admin")
        agents.create("privacy-agent", PASSWORD, role="agent")
        yield c


def login(c, username):
    r = c.post("/api/desk/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def everything_of(engine, cid):
    """Every text tier0 and Rasa keep of one conversation, lower-cased, and how many tracker rows Rasa has."""
    with engine.services.db.engine.connect() as conn:
        texts = [r[0] for r in conn.execute(sa.text("SELECT text FROM messages WHERE conversation_id = :c"), {"c": cid})]
        texts += [str(r) for r in conn.execute(sa.text(
            "SELECT customer, contact_email, transcript FROM tickets WHERE conversation_id = :c"), {"c": cid})]
        texts += [str(r) for r in conn.execute(sa.text(
            "SELECT e.note, e.data FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
            "WHERE t.conversation_id = :c"), {"c": cid})]
        texts += [str(r[0]) for r in conn.execute(sa.text("SELECT customer FROM conversations WHERE id = :c"),
                                                  {"c": cid})]
        tracker = [r[0] for r in conn.execute(sa.text("SELECT data FROM events WHERE sender_id = :c"), {"c": cid})]
    return "\n".join(texts + tracker).lower(), len(tracker)


def test_an_admin_erases_a_customer_and_no_one_else_may(client, engine):
    cid, auth = start(client, customer={"name": "Grace Hopper", "email": "grace.hopper@example.com"})
    say(client, cid, auth, f"my card {CARD} was charged twice, my email is grace.hopper@example.com")
    turn = say(client, cid, auth, "I want to talk to a human please")
    assert turn["outcome"]["type"] == "handoff"
    ref = turn["ticket"]["id"]
    before, tracker_rows = everything_of(engine, cid)
    assert CARD in before and tracker_rows > 0, "the desk and Rasa keep what the customer wrote"

    admin, agent = login(client, "privacy-admin"), login(client, "privacy-agent")
    url = "/api/desk/privacy/erasures"
    assert client.post(url, json={"email": "grace.hopper@example.com"}).status_code == 401
    assert client.post(url, json={"email": "grace.hopper@example.com"}, headers=auth).status_code == 401
    r = client.post(url, json={"email": "grace.hopper@example.com"}, headers=agent)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert client.get("/api/desk/privacy/audit", headers=agent).status_code == 403
    for bad in ({}, {"email": "grace.hopper@example.com", "conversation_id": cid}, {"email": "grace"},
                {"conversation_id": "not-a-conversation"}):
        r = client.post(url, json=bad, headers=admin)
        assert r.status_code == 422 and r.json()["error"] == "invalid_input" and r.json()["detail"], (bad, r.text)
    r = client.post(url, json={"conversation_id": "0" * 32}, headers=admin)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert CARD in everything_of(engine, cid)[0], "a refused request erases nothing"

    r = client.post(url, json={"email": "Grace.Hopper@example.com"}, headers=admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["kind"] == "erase_email" and out["audit_id"]
    assert out["counts"]["conversations"] == 1 and out["counts"]["tickets_closed"] == 1
    assert out["counts"]["tracker_events"] == tracker_rows

    after, rows_left = everything_of(engine, cid)
    assert rows_left == 0
    for secret in ("4242 4242", "grace", "hopper", "charged twice", "talk to a human"):
        assert secret not in after, secret
    # the desk keeps the ticket, closed, with the customer's words erased; the customer's transcript says so too
    detail = client.get(f"/api/desk/tickets/{ref}", headers=admin).json()
    assert detail["status"] == "resolved" and detail["customer"] == {} and detail["contact_email"] is None
    assert {m["text"] for m in detail["messages"] if m["sender"] == "customer"} == {"[erased]"}
    customer_view = client.get(f"/api/conversations/{cid}/messages", headers=auth).json()["messages"]
    assert "[erased]" in {m["text"] for m in customer_view}

    audit = client.get("/api/desk/privacy/audit", headers=admin).json()
    line = next(a for a in audit if a["id"] == out["audit_id"])
    assert (line["actor"], line["kind"]) == ("privacy-admin", "erase_email")
    assert line["selector_hash"] == "sha256:" + hashlib.sha256(b"email:grace.hopper@example.com").hexdigest()
    assert "grace" not in str(audit).lower()
