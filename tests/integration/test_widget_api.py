"""The widget's backend through the app (#23 W1), on the session engine (trained Rasa model, real embeddings, real
SQLite): search while typing and its rate, Idempotency-Key (a replay, another body, two at once), token renewal,
ending, the survey, the offline contact, safe HTML on answers and articles, CORS for allowed and other origins."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import make_settings
from tests.integration.chat import say, start

SHOP = "https://shop.example"


@pytest.fixture(scope="module")
def client(engine, tmp_path_factory):
    """The app on the session engine, for a site at SHOP (TIER0_WIDGET_ORIGINS)."""
    settings = make_settings(tmp_path_factory.mktemp("widget-app"), widget_origins=SHOP)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def transcript(client, cid, auth):
    r = client.get(f"/api/conversations/{cid}/messages", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["messages"]


# -- search ---------------------------------------------------------------------------------------------------------
def test_search_suggests_published_articles_while_typing(client):
    r = client.get("/api/search", params={"q": "  forgot my   password ", "lang": "en"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "forgot my password" and 1 <= len(body["results"]) <= 3
    first = body["results"][0]
    assert first["id"] == "reset-password-en" and first["url"] == "/api/articles/reset-password-en"
    assert first["snippet"] and len(first["snippet"]) <= 160 and "**" not in first["snippet"]
    assert all(hit["lang"] == "en" for hit in body["results"])
    fr = client.get("/api/search", params={"q": "mot de passe oublié", "lang": "fr"}).json()["results"]
    assert fr[0]["id"] == "reset-password-fr" and all(hit["lang"] == "fr" for hit in fr)
    for bad in ({"q": "a"}, {"q": "   "}, {"q": "x" * 201}, {"q": "password", "lang": "de"}, {}):
        r = client.get("/api/search", params=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"]


def test_search_has_its_own_rate_per_address(engine, tmp_path):
    settings = make_settings(tmp_path, limit_search_per_ip="2/minute")
    with TestClient(create_app(settings, engine=engine)) as c:
        assert [c.get("/api/search", params={"q": "delivery"}).status_code for _ in range(2)] == [200, 200]
        r = c.get("/api/search", params={"q": "delivery"})
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        cid, auth = start(c)  # the chat itself is not limited by the searches
        assert c.get(f"/api/conversations/{cid}/messages", headers=auth).status_code == 200


# -- answers carry safe HTML ----------------------------------------------------------------------------------------
def test_answers_and_articles_carry_sanitised_html(client):
    cid, auth = start(client)
    turn = say(client, cid, auth, "I forgot my password, how can I get back into my account?")
    answer = turn["messages"][0]
    assert answer["sources"] and "<strong>" in answer["html"] and "<script" not in answer["html"]
    assert all("html" not in m for m in turn["messages"] if not m["sources"])
    stored = [m for m in transcript(client, cid, auth) if m["data"].get("sources")]
    assert stored and stored[0]["html"] == answer["html"]
    article = client.get(answer["sources"][0]["url"]).json()
    assert article["html"].startswith("<") and article["title"] in answer["text"]


# -- Idempotency-Key ------------------------------------------------------------------------------------------------
def post(client, cid, auth, text, key):
    return client.post(f"/api/conversations/{cid}/messages", json={"text": text},
                       headers={**auth, "Idempotency-Key": key})


def test_the_same_key_again_returns_the_first_turn_and_runs_no_second(client):
    cid, auth = start(client)
    first = post(client, cid, auth, "how long does delivery take?", "msg-1")
    assert first.status_code == 200, first.text
    again = post(client, cid, auth, "how long does delivery take?", "msg-1")
    assert again.status_code == 200 and again.json() == first.json()
    customer = [m["text"] for m in transcript(client, cid, auth) if m["sender"] == "customer"]
    assert customer == ["how long does delivery take?"]
    r = post(client, cid, auth, "something else entirely", "msg-1")
    assert r.status_code == 422 and "another message" in r.json()["detail"]
    for bad in ("", "k" * 101):
        assert post(client, cid, auth, "hello", bad).status_code == 422


def test_two_posts_with_one_key_at_once_make_one_turn(client):
    cid, auth = start(client)
    results = []
    barrier = threading.Barrier(2)

    def send() -> None:
        barrier.wait()
        results.append(post(client, cid, auth, "do you deliver to Belgium?", "same-key"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert results[0].json() == results[1].json()
    customer = [m for m in transcript(client, cid, auth) if m["sender"] == "customer"]
    assert len(customer) == 1


# -- token, end, survey --------------------------------------------------------------------------------------------
def test_a_renewed_token_keeps_the_conversation_and_retires_the_old_one(client):
    cid, auth = start(client)
    say(client, cid, auth, "hello")
    r = client.post(f"/api/conversations/{cid}/token", headers=auth)
    assert r.status_code == 200 and r.json()["conversation_id"] == cid
    new = {"Authorization": f"Bearer {r.json()['token']}"}
    assert [m["text"] for m in transcript(client, cid, new)][0] == "hello"
    assert client.get(f"/api/conversations/{cid}/messages", headers=auth).status_code == 403
    assert client.post(f"/api/conversations/{cid}/token", headers=auth).status_code == 403


def test_end_then_survey(client):
    cid, auth = start(client, language="fr")
    r = client.post(f"/api/conversations/{cid}/survey", headers=auth, json={"rating": 5})
    assert r.status_code == 409 and "nothing to rate" in r.json()["detail"]
    say(client, cid, auth, "j'ai oublié mon mot de passe")
    r = client.post(f"/api/conversations/{cid}/end", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["messages"][0]["text"].startswith("Merci de votre visite")
    assert client.post(f"/api/conversations/{cid}/end", headers=auth).json()["messages"] == []
    read = client.get(f"/api/conversations/{cid}/messages", headers=auth).json()
    assert read["ended_at"] == r.json()["ended_at"] and read["messages"][-1]["data"] == {"notice": "ended"}
    r = client.post(f"/api/conversations/{cid}/messages", headers=auth, json={"text": "encore une question"})
    assert r.status_code == 409 and "ended" in r.json()["detail"]
    r = client.post(f"/api/conversations/{cid}/survey", headers=auth, json={"rating": 4, "comment": "rapide"})
    assert r.status_code == 200 and r.json() == {"conversation_id": cid, "rating": 4, "resolved_by": "bot",
                                                 "replaced": False}
    r = client.post(f"/api/conversations/{cid}/survey", headers=auth, json={"rating": 2})
    assert r.json()["replaced"] is True
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 3, "comment": "x" * 1001}, {}):
        assert client.post(f"/api/conversations/{cid}/survey", headers=auth, json=bad).status_code == 422, bad


# -- contact when nobody is online -------------------------------------------------------------------------------
def test_the_offline_hand_off_says_so_and_takes_an_address(client):
    cid, auth = start(client)
    r = client.post(f"/api/conversations/{cid}/contact", headers=auth, json={"email": "ada@example.com"})
    assert r.status_code == 409  # no request waiting for a person yet
    turn = say(client, cid, auth, "I want to talk to a human please")
    ref = turn["ticket"]["id"]
    desk = client.app.state.engine.services.handoff
    nobody = desk.open_ticket_for(cid, availability=True)["availability"] == "offline"
    assert turn["ticket"].get("offline", False) is nobody  # the turn's ticket says whether anyone can take it
    for bad in ("ada", "ada@example", "Ada <ada@example.com>", "a@b.c\nBcc: x@y.z"):
        r = client.post(f"/api/conversations/{cid}/contact", headers=auth, json={"email": bad})
        assert r.status_code == 422 and r.json()["detail"], bad
    r = client.post(f"/api/conversations/{cid}/contact", headers=auth, json={"email": "Ada@Example.com"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ticket"] == ref and out["email"] == "ada@example.com" and "ada@example.com" in out["promise"]
    assert ("opens_at" in out) is (not out["open_now"])
    assert desk.get(ref)["contact_email"] == "ada@example.com"
    assert transcript(client, cid, auth)[-1]["text"] == out["promise"]


# -- the wait, as it moves -------------------------------------------------------------------------------------------
def test_the_waiting_customer_sees_the_queue_move_and_who_takes_over(client):
    """The transcript (what a reloaded or polling widget reads; the stream's ``status`` event says the same) carries
    the open request as of now: its place drops when a ticket ahead is claimed, then the agent's name appears."""
    from handoff.agents import AgentView
    from tier0.errors import Conflict

    agents = client.app.state.engine.services.agents
    try:
        agents.create("alice", "a long enough password 1", role="agent", display_name="Alice")
    except Conflict:  # another test made her first
        pass
    alice = AgentView("alice", "Alice", "agent", ("tier1",))  # a member of tier1 (data/desk.yml)
    desk = client.app.state.engine.services.handoff
    first, auth1 = start(client)
    ahead = say(client, first, auth1, "I want to talk to a human please")["ticket"]
    cid, auth = start(client)
    mine = say(client, cid, auth, "I want to talk to a human please")["ticket"]
    r = client.get(f"/api/conversations/{cid}/messages", headers=auth)
    assert r.status_code == 200, r.text
    now = r.json()["ticket"]
    assert now["id"] == mine["id"] and now["position"] == mine["position"] >= 2 and "agent" not in now
    desk.claim(ahead["id"], alice)  # the ticket ahead is taken: one place up
    now = client.get(f"/api/conversations/{cid}/messages", headers=auth).json()["ticket"]
    assert now["position"] == mine["position"] - 1
    desk.claim(mine["id"], alice)
    now = client.get(f"/api/conversations/{cid}/messages", headers=auth).json()["ticket"]
    assert now["agent"] == agents.display_name("alice") and now["id"] == mine["id"] and "position" not in now
    for ref in (ahead["id"], mine["id"]):
        desk.resolve(ref, alice, "Done.")


# -- CORS ---------------------------------------------------------------------------------------------------------
def preflight(client, origin, path="/api/conversations/x/messages"):
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})


def test_cors_lets_the_sites_origin_in_and_no_other(client, engine, tmp_path):
    r = preflight(client, SHOP)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == SHOP
    assert "idempotency-key" in r.headers["access-control-allow-headers"].lower()
    r = client.get("/api/search", params={"q": "delivery"}, headers={"Origin": SHOP})
    assert r.headers["access-control-allow-origin"] == SHOP
    r = preflight(client, "https://evil.example")
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = client.get("/api/search", params={"q": "delivery"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers  # the browser keeps the answer from that page
    r = preflight(client, SHOP, "/api/desk/login")
    assert "access-control-allow-origin" not in r.headers  # the desk is never called cross-origin
    with TestClient(create_app(make_settings(tmp_path), engine=engine)) as closed:  # TIER0_WIDGET_ORIGINS empty
        r = preflight(closed, SHOP)
        assert r.status_code >= 400 and "access-control-allow-origin" not in r.headers
        r = closed.get("/api/search", params={"q": "delivery"}, headers={"Origin": SHOP})
        assert "access-control-allow-origin" not in r.headers
