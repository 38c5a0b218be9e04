"""The tier-1 desk through the HTTP API, under a frozen clock: hand-off, SLA-driven priority and escalation,
agents working the ticket, role checks, the customer kept informed, e-mail as a second channel.

Everything is real: the trained Rasa model, the embedding model, a SQLite file, the bundled data/desk.yml.
"""

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import change_first_admin_password, make_settings, seed_index
from tests.integration.chat import say
from tests.integration.chat import start as customer
from tier0.clock import FrozenClock

MONDAY_10_PARIS = dt.datetime(2026, 1, 5, 9, 0)  # 10:00 in Paris, tier1 and specialists open
PASSWORD = "correct horse battery"
INBOUND_SECRET = "inbound-test-secret"
IDENTITY_SECRET = "identity-test-secret"


@pytest.fixture(scope="module")
def clock():
    return FrozenClock(MONDAY_10_PARIS)


@pytest.fixture(scope="module")
def desk(tmp_path_factory, embedder, clock, engine):
    from bot.runtime import build_engine

    home = tmp_path_factory.mktemp("desk-home")
    seed_index(engine, home / "index")
    settings = make_settings(home, inbound_email_secret=INBOUND_SECRET, identity_secret=IDENTITY_SECRET,
                             reply_address="support+{token}@example.com")
    desk_engine = build_engine(settings, embedder=embedder, clock=clock)
    with TestClient(create_app(settings, engine=desk_engine)) as c:
        c.home = home
        yield c


def login(c, username, password=PASSWORD):
    r = c.post("/api/desk/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def staff(desk):
    admin = change_first_admin_password(desk, desk.home)  # forced at first sign-in
    for name, role in (("alice", "agent"), ("bob", "agent"), ("dave", "agent"), ("carol", "lead")):
        r = desk.post("/api/desk/agents", headers=admin, json={"username": name, "password": PASSWORD, "role": role})
        assert r.status_code == 201, r.text
    return {"admin": admin, **{n: login(desk, n) for n in ("alice", "bob", "dave", "carol")}}




def transcript(c, cid, auth):
    return c.get(f"/api/conversations/{cid}/messages", headers=auth).json()["messages"]


def events(c, ref, who):
    r = c.get(f"/api/desk/tickets/{ref}", headers=who)
    assert r.status_code == 200, r.text
    return [e["kind"] for e in r.json()["events"]]


def test_a_whole_escalation_under_a_frozen_clock(desk, staff, clock):
    clock.set(MONDAY_10_PARIS)
    cid, auth = customer(desk, customer={"name": "Ada", "email": "ada@example.com"})
    say(desk, cid, auth, "my invoice shows the wrong address")
    turn = say(desk, cid, auth, "I want to talk to a human please")
    assert turn["outcome"]["type"] == "handoff"
    ref = turn["ticket"]["id"]
    ticket = desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).json()
    assert (ticket["queue"], ticket["level"], ticket["priority"], ticket["status"]) == ("tier1", 1, "normal", "waiting")
    # the customer is told who takes over, the position and the wait (agents are signed in and tier1 is open)
    told = turn["messages"][0]["text"]
    assert "customer service" in told and ref in told and "number 1 in the queue" in told

    # the agent's queue shows it, with what the bot tried and the SLA clock
    queue = desk.get("/api/desk/tickets", headers=staff["alice"]).json()
    mine = next(t for t in queue if t["id"] == ref)
    assert mine["sla"]["first_response_target_min"] == 5 and mine["sla"]["resolution_target_min"] == 20
    detail = desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).json()
    assert [m["text"] for m in detail["messages"] if m["sender"] == "customer"] == [
        "my invoice shows the wrong address",
        "I want to talk to a human please",
    ]
    assert detail["reason"] == "customer_request" and detail["customer"]["email"] == "ada@example.com"
    assert detail["candidates"], "what the bot tried travels with the ticket"

    # 6 minutes without a first response: the scheduler raises the priority
    clock.advance(minutes=6)
    run = desk.post("/api/desk/sla/run", headers=staff["admin"]).json()["actions"]
    assert {"ticket": ref, "action": "raise_priority"} in run
    t = desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).json()
    assert t["priority"] == "high" and "sla_first_response" in t["priority_rule"]
    # running again does not raise it twice
    assert not [a for a in desk.post("/api/desk/sla/run", headers=staff["admin"]).json()["actions"] if a["ticket"] == ref]

    # 21 minutes in: resolution breached -> escalated one level up (tier1's functional path: specialists)
    clock.advance(minutes=15)
    run = desk.post("/api/desk/sla/run", headers=staff["admin"]).json()["actions"]
    assert {"ticket": ref, "action": "escalate"} in run
    t = desk.get(f"/api/desk/tickets/{ref}", headers=staff["dave"]).json()
    assert (t["queue"], t["level"], t["status"], t["assignee"]) == ("specialists", 2, "waiting", None)
    assert t["sla"]["resolution_target_min"] == 120  # level 2, high priority
    kinds = [e["kind"] for e in t["events"]]
    assert kinds[:4] == ["created", "priority_raised", "sla_breached", "escalated"]
    esc = next(e for e in t["events"] if e["kind"] == "escalated")
    assert esc["actor"] == "system" and esc["data"]["from_level"] == 1 and esc["data"]["to_level"] == 2
    # the customer is told, and the frontline agent no longer sees it
    assert any(m["sender"] == "system" and "technical support" in m["text"] for m in transcript(desk, cid, auth))
    assert desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).status_code == 403

    # level 2 picks it up with the whole history
    assert desk.post(f"/api/desk/tickets/{ref}/claim", headers=staff["dave"]).json()["status"] == "agent"
    r = desk.post(f"/api/desk/tickets/{ref}/reply", headers=staff["dave"], json={"text": "Hello Ada, I fix it now."})
    assert r.status_code == 200, r.text
    assert r.json()["first_response_at"] is not None
    desk.post(f"/api/desk/tickets/{ref}/notes", headers=staff["dave"], json={"text": "address field bug"})
    msgs = transcript(desk, cid, auth)
    assert msgs[-1]["sender"] == "agent" and msgs[-1]["text"] == "Hello Ada, I fix it now."
    assert "address field bug" not in [m["text"] for m in msgs], "internal notes never reach the customer"

    # the customer answers: the bot stays silent, the message joins the ticket
    turn = say(desk, cid, auth, "thanks, it is 12 rue de la Paix")
    assert turn["messages"] == [] and turn["ticket"]["id"] == ref
    clock.advance(minutes=3)
    r = desk.post(f"/api/desk/tickets/{ref}/resolve", headers=staff["dave"], json={"note": "address corrected"})
    assert r.json()["status"] == "resolved"
    assert events(desk, ref, staff["dave"])[-2:] == ["customer_message", "resolved"]
    assert "resolved" in transcript(desk, cid, auth)[-1]["text"]

    # writing again reopens it, in the same queue
    turn = say(desk, cid, auth, "sorry, one more thing about the invoice")
    assert turn["messages"] == [] and turn["ticket"]["status"] == "waiting"
    assert events(desk, ref, staff["dave"])[-2:] == ["reopened", "customer_message"]


def test_escalation_rules(desk, staff, clock):
    clock.set(MONDAY_10_PARIS)
    cid, auth = customer(desk)
    ref = say(desk, cid, auth, "I need to speak to an agent")["ticket"]["id"]
    bob = staff["bob"]
    assert desk.post(f"/api/desk/tickets/{ref}/escalate", headers=bob, json={"kind": "functional"}).status_code == 422
    r = desk.post(f"/api/desk/tickets/{ref}/escalate", headers=bob, json={"kind": "sideways", "note": "x"})
    assert r.status_code == 422
    r = desk.post(f"/api/desk/tickets/{ref}/escalate", headers=bob,
                  json={"kind": "hierarchical", "note": "asks for a commercial gesture"})
    assert r.status_code == 200 and (r.json()["queue"], r.json()["level"]) == ("supervisors", 2)
    carol = staff["carol"]
    r = desk.post(f"/api/desk/tickets/{ref}/escalate", headers=carol, json={"kind": "hierarchical", "note": "VIP"})
    assert (r.json()["queue"], r.json()["level"]) == ("management", 3)
    r = desk.post(f"/api/desk/tickets/{ref}/escalate", headers=carol, json={"kind": "hierarchical", "note": "more"})
    assert r.status_code == 409 and "no hierarchical escalation" in r.json()["detail"]
    # not allowed from a resolved ticket either
    desk.post(f"/api/desk/tickets/{ref}/resolve", headers=carol)
    assert desk.post(f"/api/desk/tickets/{ref}/claim", headers=carol).status_code == 409


def test_role_checks_refuse_every_wrong_caller(desk, staff, clock):
    clock.set(MONDAY_10_PARIS)
    cid, auth = customer(desk)
    ref = say(desk, cid, auth, "can I talk to a real person")["ticket"]["id"]
    desk_routes = [
        ("get", "/api/desk/me", None),
        ("get", "/api/desk/queues", None),
        ("get", "/api/desk/tickets", None),
        ("get", f"/api/desk/tickets/{ref}", None),
        ("post", f"/api/desk/tickets/{ref}/claim", None),
        ("post", f"/api/desk/tickets/{ref}/reply", {"text": "hi"}),
        ("post", f"/api/desk/tickets/{ref}/notes", {"text": "hi"}),
        ("post", f"/api/desk/tickets/{ref}/resolve", None),
        ("post", f"/api/desk/tickets/{ref}/escalate", {"kind": "functional", "note": "x"}),
        ("post", f"/api/desk/tickets/{ref}/return-to-bot", None),
        ("post", f"/api/desk/tickets/{ref}/flag", {"message_id": 1}),
        ("get", "/api/desk/agents", None),
        ("post", "/api/desk/agents", {"username": "mallory", "password": "0123456789", "role": "admin"}),
        ("post", "/api/desk/sla/run", None),
        ("get", "/api/desk/config", None),
        ("get", "/api/desk/stream", None),
    ]
    # nobody signed in, a bad token, and the customer's own token: 401 everywhere
    for headers in ({}, {"Authorization": "Bearer not-a-session"}, auth):
        for method, url, body in desk_routes:
            r = desk.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (method, url, r.status_code)
    # an agent outside the ticket's queue: 403 on every ticket route
    dave = staff["dave"]  # specialists + complaints, not tier1
    for method, url, body in desk_routes[3:11]:
        r = desk.request(method, url, json=body, headers=dave)
        assert r.status_code == 403, (method, url, r.status_code, r.text)
    assert desk.get("/api/desk/tickets?queue=tier1", headers=dave).status_code == 403
    assert ref not in [t["id"] for t in desk.get("/api/desk/tickets", headers=dave).json()]
    # agents cannot do lead or admin work
    alice = staff["alice"]
    for method, url, body in desk_routes[11:15]:
        assert desk.request(method, url, json=body, headers=alice).status_code == 403, url
    for headers in ({}, alice, staff["carol"]):
        assert desk.get("/api/desk/webhooks/deliveries", headers=headers).status_code in (401, 403)
    assert desk.get("/api/desk/webhooks/deliveries", headers=staff["admin"]).json() == []
    # a lead reads the matrix but may not create accounts or run the scheduler
    carol = staff["carol"]
    assert desk.get("/api/desk/config", headers=carol).status_code == 200
    assert desk.post("/api/desk/sla/run", headers=carol).status_code == 403
    assert desk.post("/api/desk/agents", headers=carol, json=desk_routes[12][2]).status_code == 403
    # a ticket an agent owns: another agent of the same queue may not reply on it, a lead may take it over
    assert desk.post(f"/api/desk/tickets/{ref}/claim", headers=alice).status_code == 200
    assert desk.post(f"/api/desk/tickets/{ref}/reply", headers=staff["bob"], json={"text": "x"}).status_code == 403
    r = desk.post(f"/api/desk/tickets/{ref}/reply", headers=carol, json={"text": "Carol here, I take over."})
    assert r.status_code == 200 and r.json()["assignee"] == "carol"
    # wrong password and unknown user get the same answer
    for user, pw in (("alice", "wrong password!"), ("nobody", PASSWORD)):
        r = desk.post("/api/desk/login", json={"username": user, "password": pw})
        assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    # sessions expire
    token = login(desk, "bob")
    clock.advance(hours=13)
    assert desk.get("/api/desk/me", headers=token).status_code == 401
    clock.set(MONDAY_10_PARIS)


def test_hand_back_to_the_bot_and_flag_a_wrong_answer(desk, staff, clock):
    clock.set(MONDAY_10_PARIS)
    cid, auth = customer(desk)
    answer = say(desk, cid, auth, "I forgot my password, how can I get back into my account?")
    assert answer["outcome"]["type"] == "answer"
    ref = say(desk, cid, auth, "that didn't help, I want a human")["ticket"]["id"]
    alice = staff["alice"]
    bot_msg = answer["messages"][0]["id"]
    r = desk.post(f"/api/desk/tickets/{ref}/flag", headers=alice, json={"message_id": bot_msg, "note": "old page"})
    assert r.status_code == 200 and r.json()["article_id"] == answer["outcome"]["article_id"]
    assert desk.post(f"/api/desk/tickets/{ref}/flag", headers=alice, json={"message_id": 10**9}).status_code == 422
    r = desk.post(f"/api/desk/tickets/{ref}/return-to-bot", headers=alice, json={"note": "password only"})
    assert r.json()["status"] == "returned"
    turn = say(desk, cid, auth, "hello")
    assert turn["outcome"]["type"] == "other" and turn["messages"], "the bot speaks again"
    kinds = events(desk, ref, alice)
    assert "flagged" in kinds and kinds[-1] == "returned_to_bot"


def test_nobody_online_the_bot_asks_for_an_email(desk, staff, clock):
    clock.set(dt.datetime(2026, 1, 4, 12, 0))  # Sunday: every queue is closed
    cid, auth = customer(desk, language="fr")
    turn = say(desk, cid, auth, "je veux parler à un conseiller")
    text = turn["messages"][0]["text"]
    assert "personne n'est disponible" in text and "adresse e-mail" in text and "2026-01-05 08:00" in text
    ref = turn["ticket"]["id"]
    turn = say(desk, cid, auth, "oui : jeanne.dupont@example.fr")
    assert "jeanne.dupont@example.fr" in turn["messages"][0]["text"]
    ticket = desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).json()
    assert ticket["contact_email"] == "jeanne.dupont@example.fr"
    # a typed address is where to answer, never an identity: unverified, it matches no inbound mail
    assert ticket["customer"] == {"email": "jeanne.dupont@example.fr"}
    assert desk.app.state.engine.services.handoff.find_ticket_by_email("jeanne.dupont@example.fr") is None
    clock.set(MONDAY_10_PARIS)


def test_inbound_email_joins_the_customers_open_ticket(desk, staff, clock):
    """By the verified e-mail address of the ticket's customer (the site signed it); tests/integration/
    test_desk_api.py: the reply token and the unverified addresses that must not match (below)."""
    from tier0.identity import sign

    clock.set(MONDAY_10_PARIS)
    omni = {"email": "Omni@Example.com"}
    cid, auth = customer(desk, customer={**omni, "signature": sign(IDENTITY_SECRET, omni)})
    ref = say(desk, cid, auth, "I want to talk to someone")["ticket"]["id"]
    hdr = {"X-Tier0-Secret": INBOUND_SECRET}
    mail = {"From": "Omni Customer <omni@example.com>", "Subject": "About my chat", "TextBody": "Any news?",
            "MessageID": "<1@mail>"}
    r = desk.post("/api/inbound/email", json=mail, headers=hdr)
    assert r.status_code == 202, r.text
    assert r.json() == {"ticket": ref, "conversation_id": cid, "attached": True, "joined_by": "verified_email"}
    assert events(desk, ref, staff["alice"])[-1] == "customer_message"
    msgs = transcript(desk, cid, auth)
    assert msgs[-1]["sender"] == "customer" and "Any news?" in msgs[-1]["text"]
    # a new sender opens an e-mail ticket, routed by the matrix
    r = desk.post("/api/inbound/email", headers=hdr,
                  json={"sender": "new@example.org", "subject": "Bonjour", "text": "Ma commande n'est pas arrivée"})
    new = desk.get(f"/api/desk/tickets/{r.json()['ticket']}", headers=staff["alice"]).json()
    assert (new["channel"], new["reason"], new["language"], new["queue"]) == ("email", "email", "fr", "tier1")
    # refused: wrong secret, missing fields, not an address
    assert desk.post("/api/inbound/email", json=mail, headers={"X-Tier0-Secret": "nope"}).status_code == 403
    assert desk.post("/api/inbound/email", json={"From": "a@b.co"}, headers=hdr).status_code == 422
    bad = {"from": "not-an-address", "text": "hi"}
    assert desk.post("/api/inbound/email", json=bad, headers=hdr).status_code == 422


def test_bad_input_is_a_clear_4xx(desk, staff):
    alice = staff["alice"]
    assert desk.get("/api/desk/tickets/T-abc", headers=alice).status_code == 422
    assert desk.get("/api/desk/tickets/T-999999", headers=alice).status_code == 404
    assert desk.get("/api/desk/tickets?priority=huge", headers=alice).status_code == 422
    r = desk.post("/api/desk/agents", headers=staff["admin"], json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 409
    r = desk.post("/api/desk/agents", headers=staff["admin"], json={"username": "x y", "password": PASSWORD})
    assert r.status_code == 422
    r = desk.post("/api/desk/agents", headers=staff["admin"], json={"username": "zed", "password": "short"})
    assert r.status_code == 422


def test_customers_and_agents_verdicts_become_calibration_feedback(desk, staff, clock):
    """"yes" after an answer, "that didn't help", and an agent's flag label real answers (bot.feedback); a fit
    with them counts them and keeps the flagged answer out of the helpful ones."""
    from bot.feedback import collect
    from retrieval import calibration

    clock.set(MONDAY_10_PARIS)
    services = desk.app.state.engine.services
    before = {(f.query, f.helpful) for f in collect(services.db)}

    cid, auth = customer(desk)
    helped = "how do I change my email address?"
    assert say(desk, cid, auth, helped)["outcome"]["type"] == "answer"
    assert say(desk, cid, auth, "yes")["messages"], "the bot acknowledges"

    cid, auth = customer(desk)
    unhelpful = "how much does shipping cost?"
    assert say(desk, cid, auth, unhelpful)["outcome"]["type"] == "answer"
    ref = say(desk, cid, auth, "that didn't help")["ticket"]["id"]
    assert desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).json()["reason"] == "not_helpful"

    cid, auth = customer(desk)
    flagged = "I forgot my password and I can't log in anymore"
    answer = say(desk, cid, auth, flagged)
    assert answer["outcome"]["type"] == "answer"
    assert say(desk, cid, auth, "yes")["messages"]
    ref = say(desk, cid, auth, "I want to talk to a human please")["ticket"]["id"]
    r = desk.post(f"/api/desk/tickets/{ref}/flag", headers=staff["alice"],
                  json={"message_id": answer["messages"][0]["id"], "note": "outdated"})
    assert r.status_code == 200, r.text

    feedback = collect(services.db)
    new = {(f.query, f.helpful) for f in feedback} - before
    assert new == {(helped, True), (unhelpful, False), (flagged, False)}
    assert {f.article_id for f in feedback if f.query == flagged} == {answer["outcome"]["article_id"]}
    assert all(f.lang == "en" for f in feedback if (f.query, f.helpful) in new)
    assert [f.by_agent for f in feedback if f.query in (helped, unhelpful, flagged)] == [False, False, True]

    cal = calibration.fit(services.index, feedback=feedback)
    assert cal.stats["feedback"] == len(feedback)
    assert cal.stats["feedback_rows"] >= len(feedback)
    assert cal.stats["feedback_by_agents"] >= 1  # the flag: a trusted label, weighing AGENT_FLAG_WEIGHT


def test_pages_and_what_used_to_answer_500(desk, staff, clock):
    clock.set(MONDAY_10_PARIS)
    cid, auth = customer(desk)
    say(desk, cid, auth, "my invoice shows the wrong address")
    ref = say(desk, cid, auth, "I want to talk to a human please")["ticket"]["id"]
    for url in (f"/api/desk/tickets/{ref}/messages", f"/api/desk/tickets/{ref}/events"):
        assert desk.get(url).status_code == 401
        assert desk.get(url, headers=staff["dave"]).status_code == 403  # not his queue
    alice = staff["alice"]
    d = desk.get(f"/api/desk/tickets/{ref}?limit=1", headers=alice).json()
    assert len(d["messages"]) == 1 and d["earlier_messages"] and len(d["events"]) == 1
    earlier = desk.get(f"/api/desk/tickets/{ref}/messages?before={d['messages'][0]['id']}", headers=alice).json()
    assert earlier["messages"][0]["text"] == "my invoice shows the wrong address" and not earlier["earlier"]
    r = desk.get("/api/desk/tickets?limit=1", headers=alice)
    assert r.status_code == 200 and len(r.json()) == 1
    assert int(r.headers["x-total-count"]) >= 1 and ("link" in r.headers) == (int(r.headers["x-total-count"]) > 1)
    page = desk.get(f"/api/conversations/{cid}/messages?limit=1", headers=auth).json()
    assert len(page["messages"]) == 1 and page["more"]
    # a Last-Event-ID that is no message id, and PATCH of an unknown agent: 4xx with a message, not 500
    r = desk.get(f"/api/conversations/{cid}/stream", headers={**auth, "Last-Event-ID": "abc"})
    assert r.status_code == 422 and "Last-Event-ID" in r.json()["detail"]
    r = desk.patch("/api/desk/agents/nobody", headers=staff["admin"], json={})
    assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "agent 'nobody' not found"}


# -- identity that cannot be claimed (#21) ----------------------------------------------------------------------
def mail_in(c, **fields):
    r = c.post("/api/inbound/email", json=fields, headers={"X-Tier0-Secret": INBOUND_SECRET})
    assert r.status_code == 202, r.text
    return r.json()


def test_an_unsigned_email_address_cannot_take_over_the_victims_mail(desk, staff, clock):
    """The takeover of the security review: an attacker declares the victim's address (unsigned) and asks for a
    person; the victim's e-mail opens its own ticket and never reaches the attacker's chat. The victim's reply,
    carrying the reply token tier0 sent, joins the victim's ticket."""
    clock.set(MONDAY_10_PARIS)
    alice = staff["alice"]
    cid, auth = customer(desk, customer={"email": "victim@example.com", "tier": "vip"})
    attacker_ref = say(desk, cid, auth, "I want to talk to a human please")["ticket"]["id"]
    attacker = desk.get(f"/api/desk/tickets/{attacker_ref}", headers=alice).json()
    assert attacker["customer"] == {"email": "victim@example.com", "tier": "vip", "verified": False}
    assert attacker["priority"] == "normal" and "vip" not in attacker["priority_rule"]

    first = mail_in(desk, From="Victim <victim@example.com>", To="support@example.com", Subject="My order",
                    TextBody="Where is my order 4471?")
    assert (first["attached"], first["joined_by"]) == (False, None)
    assert first["ticket"] != attacker_ref and first["conversation_id"] != cid
    assert all("4471" not in m["text"] for m in transcript(desk, cid, auth))
    assert events(desk, attacker_ref, alice)[-1] == "created"

    # tier0 answers by e-mail with the victim ticket's reply address; the victim's reply carries it
    victim = desk.get(f"/api/desk/tickets/{first['ticket']}", headers=alice).json()
    token = victim["reply_token"]
    assert victim["reply_to"] == f"support+{token}@example.com" and token != attacker["reply_token"]
    r = desk.post(f"/api/desk/tickets/{victim['id']}/reply", headers=alice, json={"text": "It ships today."})
    assert r.status_code == 200 and r.json()["reply_to"] == victim["reply_to"]
    for where in ({"To": f"Support <{victim['reply_to']}>"},  # Postmark, the reply address
                  {"recipient": "support@example.com", "subject": f"Re: My order [{victim['id']} {token}]"},  # Mailgun
                  {"to": "support@example.com", "quoted": f"> It ships today.\n> ref {token}"}):
        joined = mail_in(desk, **{"from": "victim@example.com", "text": "Thanks!", **where})
        assert (joined["ticket"], joined["attached"], joined["joined_by"]) == (victim["id"], True, "reply_token")
    # the attacker's ticket token is on the desk side only; a made-up token joins nothing
    assert "reply_token" not in say(desk, cid, auth, "anyone?")["ticket"]
    stray = mail_in(desk, sender="victim@example.com", text="hello", To="support+t0aaaaaaaaaaaaaaaa@example.com")
    assert not stray["attached"] and stray["ticket"] not in (victim["id"], attacker_ref)


def test_a_signed_vip_gets_vip_priority_the_same_unsigned_does_not_a_wrong_signature_is_403(desk, staff, clock):
    from tier0.identity import sign

    clock.set(MONDAY_10_PARIS)
    vip = {"id": "c-42", "email": "vip@example.com", "tier": "vip"}
    signed = {**vip, "name": "Vera", "signature": sign(IDENTITY_SECRET, vip)}
    refs = {}
    for label, body in (("signed", signed), ("unsigned", {**vip, "name": "Vera"})):
        cid, auth = customer(desk, customer=body)
        refs[label] = say(desk, cid, auth, "I want to talk to a human please")["ticket"]["id"]
    got = {k: desk.get(f"/api/desk/tickets/{ref}", headers=staff["alice"]).json() for k, ref in refs.items()}
    assert (got["signed"]["priority"], got["signed"]["priority_rule"]) == ("high", "reason_default+vip_customer")
    assert (got["unsigned"]["priority"], got["unsigned"]["priority_rule"]) == ("normal", "reason_default")
    assert got["signed"]["customer"] == {**vip, "name": "Vera", "verified": True}
    assert got["unsigned"]["customer"]["verified"] is False
    # a signature of other values, or with another secret: the site is misconfigured, nothing is opened
    for bad in ({**vip, "tier": "gold", "signature": signed["signature"]},
                {**vip, "signature": sign("another site's secret", vip)}):
        r = desk.post("/api/conversations", json={"customer": bad})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert "signature does not match" in r.json()["detail"]
    r = desk.post("/api/conversations", json={"customer": {**vip, "signature": "x" * 129}})
    assert r.status_code == 422


def rasa_user_events(desk, cid):
    """What Rasa itself read of each customer message (its tracker), as (text, intent, extractors)."""
    import asyncio

    agent = desk.app.state.engine.agent
    tracker = asyncio.run(agent.tracker_store.retrieve(cid))
    return [(e.text, (e.intent or {}).get("name"), {x.get("extractor") for x in e.entities or []})
            for e in tracker.events if type(e).__name__ == "UserUttered"]


@pytest.mark.parametrize("forced", ["/frustration", '/affirm{"feedback":"helpful"}'])
def test_a_customer_cannot_force_an_intent_with_a_slash(desk, staff, clock, forced):
    """Rasa reads "/intent{entities}" as a forced intent; customers' text never reaches it so. The same
    conversation without the slash ends the same way, and the transcript keeps what the customer wrote."""
    clock.set(MONDAY_10_PARIS)
    runs = {}
    for text in (forced, forced.lstrip("/")):
        cid, auth = customer(desk)
        say(desk, cid, auth, "how do I change my email address?")  # an answer: "/affirm" would be feedback
        turn = say(desk, cid, auth, text)
        ticket = turn["ticket"] and desk.get(f"/api/desk/tickets/{turn['ticket']['id']}", headers=staff["alice"]).json()
        outcome = {k: v for k, v in turn["outcome"].items() if k != "ticket_id"}
        runs[text] = (outcome, ticket and (ticket["reason"], ticket["priority"], ticket["priority_rule"]))
        assert [m["text"] for m in transcript(desk, cid, auth) if m["sender"] == "customer"][-1] == text
        read = rasa_user_events(desk, cid)[-1]
        assert read[0] == forced.lstrip("/") and "RegexMessageHandler" not in read[2], read
    assert runs[forced] == runs[forced.lstrip("/")]


# -- customers see customer data only (#21) ---------------------------------------------------------------------
TURN_KEYS = {"conversation_id", "language", "messages", "outcome", "ticket"}
BOT_MESSAGE_KEYS = {"id", "text", "buttons", "sources"}
SOURCE_KEYS = {"article_id", "title", "lang", "url", "version"}  # version: #22 BC
TRANSCRIPT_KEYS = {"conversation_id", "status", "language", "messages", "more"}
MESSAGE_KEYS = {"id", "sender", "text", "data", "created_at"}


def read_stream(app, cid, token, count):
    """The first ``count`` message events of the conversation's event stream, from a real server on loopback (an
    event stream never ends, which the test client cannot read)."""
    import json
    import socket
    import threading
    import time
    import urllib.request

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    events = []
    try:
        base = f"http://127.0.0.1:{port}/api/conversations/{cid}"
        ask = urllib.request.Request(f"{base}/stream-ticket", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(ask, timeout=30) as r:
            ticket = json.loads(r.read())["ticket"]
        with urllib.request.urlopen(f"{base}/stream?ticket={ticket}", timeout=30) as r:
            kind = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "message":
                    events.append(json.loads(line[6:]))
                    if len(events) == count:
                        break
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return events


def test_the_widget_receives_exactly_the_public_fields(desk, staff, clock):
    """Field by field, what a customer receives in an answer, a hand-off turn, a turn with an agent on the
    ticket, the transcript and the event stream: no desk field (candidates, actions, sla, priority, queue,
    assignee login, availability, reply token), so a field the desk adds later fails here until it is made public."""
    clock.set(MONDAY_10_PARIS)
    cid, auth = customer(desk, customer={"name": "Pia", "email": "pia@example.com"})
    answer = say(desk, cid, auth, "I forgot my password, how can I get back into my account?")
    assert set(answer) == TURN_KEYS and answer["ticket"] is None
    assert set(answer["outcome"]) == {"type", "article_id", "confidence", "version"}  # the version answered from
    # a message citing an article carries its safe HTML too (#23 W1)
    assert all(set(m) == BOT_MESSAGE_KEYS | ({"html"} if m["sources"] else set()) for m in answer["messages"])
    assert set(answer["messages"][0]["sources"][0]) == SOURCE_KEYS

    handoff = say(desk, cid, auth, "I want to talk to a human please")
    ref = handoff["ticket"]["id"]
    assert set(handoff) == TURN_KEYS and all(set(m) == BOT_MESSAGE_KEYS for m in handoff["messages"])
    assert handoff["outcome"] == {"type": "handoff", "ticket_id": ref}
    assert set(handoff["ticket"]) == {"id", "status", "team", "position", "expected_wait_minutes"}
    assert (handoff["ticket"]["status"], handoff["ticket"]["team"]) == ("waiting", "customer service")

    r = desk.post(f"/api/desk/tickets/{ref}/reply", headers=staff["alice"], json={"text": "Hi Pia, Alice here."})
    assert r.status_code == 200
    later = say(desk, cid, auth, "thanks Alice")
    assert later == {"conversation_id": cid, "language": "en", "messages": [],
                     "outcome": {"type": "handoff", "ticket_id": ref},
                     "ticket": {"id": ref, "status": "agent", "team": "customer service", "agent": "Alice"}}
    desk.post(f"/api/desk/tickets/{ref}/resolve", headers=staff["alice"], json={"note": "done"})

    body = desk.get(f"/api/conversations/{cid}/messages", headers=auth).json()
    assert set(body) == TRANSCRIPT_KEYS
    messages = body["messages"]
    assert all(set(m) == MESSAGE_KEYS | ({"html"} if m["data"].get("sources") else set()) for m in messages)
    data = [(m["sender"], m["data"]) for m in messages]
    assert [d for s, d in data if s == "customer"] == [{}, {}, {}]
    assert [d for s, d in data if s in ("agent", "system")] == [{"agent": "Alice"}, {"notice": "resolved"}]
    bot = [d for s, d in data if s == "bot"]
    assert bot[0] == {"sources": answer["messages"][0]["sources"]}
    assert bot[1] == {"outcome": answer["outcome"]}
    assert bot[-1] == {"outcome": {"type": "handoff", "ticket_id": ref}}
    assert all(set(d) <= {"sources", "outcome", "buttons"} for d in bot)

    streamed = read_stream(desk.app, cid, auth["Authorization"].split()[1], len(messages))
    assert streamed == messages


def test_redelivering_an_old_unknown_or_orphaned_delivery_answers_4xx_with_a_message(desk, staff):
    """#21 finding 10: a delivery older than the 1000 newest was a 500; an unknown or out-of-range id is 404, one whose
    endpoint is no longer configured 409 — each with a message. A real dispatcher on this app's database."""
    from sqlalchemy import delete

    from handoff.webhooks import WebhookDelivery, WebhookDispatcher, WebhookEndpoint

    services = desk.app.state.engine.services
    secret = "s3cret-s3cret-s3cret"
    hooks = WebhookDispatcher(services.db, [WebhookEndpoint("http://127.0.0.1:9/hook", secret)], services.clock)
    with services.db.session() as s:
        for i in range(1003):
            hooks.enqueue(s, {"id": i, "kind": "note"}, {"id": "T-0"})
    oldest = min(d["id"] for d in hooks.list_deliveries(limit=1000)) - 3
    saved = desk.app.state.webhooks
    desk.app.state.webhooks = hooks
    try:
        r = desk.post(f"/api/desk/webhooks/deliveries/{oldest}/redeliver", headers=staff["admin"])
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        for missing in (10**9, -1, 2**63, 10**30):
            r = desk.post(f"/api/desk/webhooks/deliveries/{missing}/redeliver", headers=staff["admin"])
            assert r.status_code == 404 and r.json()["error"] == "not_found", (missing, r.text)
            assert "not found" in r.json()["detail"]
        moved = WebhookEndpoint("http://127.0.0.1:9/moved", secret)
        desk.app.state.webhooks = WebhookDispatcher(services.db, [moved], services.clock)
        r = desk.post(f"/api/desk/webhooks/deliveries/{oldest}/redeliver", headers=staff["admin"])
        assert r.status_code == 409 and "no longer configured" in r.json()["detail"], r.text
    finally:
        desk.app.state.webhooks = saved
        with services.db.session() as s:
            s.execute(delete(WebhookDelivery))
