"""Outbound webhooks against a real HTTP receiver on loopback and a real SQLite file: signatures, filters, retries
with back-off under a frozen clock, failure after the last attempt, survival across a restart, the background worker,
and ticket events from the desk arriving in order."""

import datetime as dt
import http.server
import json
import threading
import time

import pytest
import yaml

from handoff.webhooks import WebhookDispatcher, WebhookEndpoint, parse_endpoints, verify_signature
from tier0.clock import FrozenClock
from tier0.errors import InvalidInput

SECRET = "s3cret-s3cret-s3cret"
T0 = dt.datetime(2026, 1, 5, 9, 0)


class Receiver:
    """A real HTTP server that records deliveries and answers 500 to the first ``fail`` of them."""

    def __init__(self, fail=0):
        self.requests = []
        self.fail = fail
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.requests.append((dict(self.headers), body))
                code = 500 if len(rec.requests) <= rec.fail else 204
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def db(tmp_path):
    import handoff.webhooks  # noqa: F401
    from tier0.db import Database

    d = Database(f"sqlite:///{tmp_path}/hooks.db")
    d.create_all()
    yield d
    d.dispose()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def event(kind="created", eid=1):
    return {"id": eid, "ticket": "T-1", "kind": kind, "actor": "bot", "note": None, "data": {}, "at": "2026-01-05T09:00:00Z"}


def test_signed_delivery_that_a_receiver_can_verify(db, receiver):
    clock = FrozenClock(T0)
    hooks = WebhookDispatcher(db, [WebhookEndpoint(receiver.url, SECRET)], clock)
    hooks.on_event(event(), {"id": "T-1", "queue": "tier1"})
    assert hooks.deliver_due() == 1
    headers, body = receiver.requests[0]
    assert headers["X-Tier0-Event"] == "ticket.created" and headers["Content-Type"] == "application/json"
    ts, sig = headers["X-Tier0-Timestamp"], headers["X-Tier0-Signature"]
    now = T0.replace(tzinfo=dt.timezone.utc).timestamp()
    assert verify_signature(SECRET, ts, body, sig, now=now)
    assert not verify_signature("another-secret-here", ts, body, sig, now=now)
    assert not verify_signature(SECRET, ts, body.replace(b"tier1", b"tier2"), sig, now=now)
    assert not verify_signature(SECRET, ts, body, sig, now=now + 3600), "stale timestamps are refused"
    payload = json.loads(body)
    assert payload["type"] == "ticket.created" and payload["ticket"]["id"] == "T-1"
    assert payload["id"] == headers["X-Tier0-Delivery"]
    assert hooks.list_deliveries()[0]["status"] == "delivered"


def test_event_filter(db, receiver):
    hooks = WebhookDispatcher(db, [WebhookEndpoint(receiver.url, SECRET, ("ticket.resolved",))], FrozenClock(T0))
    hooks.on_event(event("created"), {})
    hooks.on_event(event("resolved", 2), {})
    hooks.deliver_due()
    assert [h["X-Tier0-Event"] for h, _ in receiver.requests] == ["ticket.resolved"]


def test_retries_back_off_then_deliver_with_the_same_delivery_id(db):
    rec = Receiver(fail=2)
    clock = FrozenClock(T0)
    hooks = WebhookDispatcher(db, [WebhookEndpoint(rec.url, SECRET)], clock, base_delay_s=30)
    hooks.on_event(event(), {})
    hooks.on_event(event("claimed", 2), {})
    assert hooks.deliver_due() == 1  # the second waits behind the first: order per endpoint
    first = hooks.list_deliveries(status="pending")[-1]
    assert first["attempts"] == 1 and first["next_attempt_at"] == "2026-01-05T09:00:30Z"
    assert hooks.deliver_due() == 0, "not due yet"
    clock.advance(seconds=30)
    assert hooks.deliver_due() == 1
    assert hooks.list_deliveries(status="pending")[-1]["next_attempt_at"] == "2026-01-05T09:01:30Z"  # 60 s later
    clock.advance(seconds=60)
    assert hooks.deliver_due() == 2
    kinds = [h["X-Tier0-Event"] for h, _ in rec.requests]
    assert kinds == ["ticket.created"] * 3 + ["ticket.claimed"]
    assert len({h["X-Tier0-Delivery"] for h, _ in rec.requests[:3]}) == 1
    assert {d["status"] for d in hooks.list_deliveries()} == {"delivered"}
    rec.close()


def test_fails_after_the_last_attempt_and_can_be_redelivered(db, receiver):
    clock = FrozenClock(T0)
    dead = "http://127.0.0.1:9/nobody-listens"
    hooks = WebhookDispatcher(db, [WebhookEndpoint(dead, SECRET)], clock, max_attempts=3, base_delay_s=1, timeout_s=1)
    hooks.on_event(event(), {})
    for _ in range(3):
        hooks.deliver_due()
        clock.advance(hours=1)
    d = hooks.list_deliveries()[0]
    assert d["status"] == "failed" and d["attempts"] == 3 and d["last_error"]
    # the operator fixes the endpoint (same URL now answers) and redelivers
    hooks2 = WebhookDispatcher(db, [WebhookEndpoint(dead, SECRET)], clock,
                               sender=lambda url, body, headers, timeout: (200, ""))
    assert hooks2.redeliver(d["id"])["status"] == "pending"
    assert hooks2.deliver_due() == 1 and hooks2.list_deliveries()[0]["status"] == "delivered"


def test_pending_deliveries_survive_a_restart(db, receiver):
    clock = FrozenClock(T0)
    WebhookDispatcher(db, [WebhookEndpoint(receiver.url, SECRET)], clock).on_event(event(), {})
    restarted = WebhookDispatcher(db, [WebhookEndpoint(receiver.url, SECRET)], clock)
    assert restarted.deliver_due() == 1 and len(receiver.requests) == 1


def test_the_background_worker_delivers_by_itself(db, receiver):
    hooks = WebhookDispatcher(db, [WebhookEndpoint(receiver.url, SECRET)], FrozenClock(T0), poll_s=0.2)
    hooks.start()
    try:
        hooks.on_event(event(), {})
        deadline = time.monotonic() + 5
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hooks.stop()
    assert len(receiver.requests) == 1


def test_desk_events_reach_the_receiver_in_order(tmp_path, receiver, monkeypatch):
    """The desk file's webhooks wired to the real HandoffService: a hand-off, a claim, a resolution."""
    import handoff.agents  # noqa: F401
    import handoff.models  # noqa: F401
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import parse_config
    from handoff.service import HandoffRequest, HandoffService
    from tests.conftest import REPO
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    raw = yaml.safe_load((REPO / "data" / "desk.yml").read_text())
    raw["webhooks"] = [{"name": "mirror", "url": receiver.url, "secret_env": "TEST_HOOK_SECRET"}]
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    cfg = parse_config(raw, "desk.yml")
    import os

    endpoints = parse_endpoints(cfg.webhooks, os.environ)
    db = Database(f"sqlite:///{tmp_path}/desk.db")
    db.create_all()
    clock = FrozenClock(T0)
    agents = AgentDirectory(db, cfg.queues_of, clock)
    alice = agents.create("alice", "a long enough password")
    conversations = ConversationStore(db)
    service = HandoffService(db, conversations, cfg, clock, agents)
    hooks = WebhookDispatcher(db, endpoints, clock)
    service.subscribe(hooks.on_event)
    conv, _ = conversations.start(customer={"email": "hook@example.com"})
    conversations.add_message(conv.id, "customer", "a person please")
    ticket, _ = service.open(HandoffRequest(conv.id, "customer_request", language="en"))
    service.claim(ticket["id"], alice)
    service.reply(ticket["id"], alice, "Hello!")
    service.resolve(ticket["id"], alice, "done")
    hooks.deliver_due()
    bodies = [json.loads(b) for _h, b in receiver.requests]
    assert [b["type"] for b in bodies] == ["ticket.created", "ticket.claimed", "ticket.agent_reply", "ticket.resolved"]
    assert bodies[2]["event"]["note"] == "Hello!" and bodies[-1]["ticket"]["status"] == "resolved"
    # how an e-mail reply leaves: with the ticket's reply token, the only way the customer's answer joins the ticket
    assert bodies[2]["ticket"]["reply_token"] == ticket["reply_token"] and ticket["reply_token"].startswith("t0")
    assert all(verify_signature(SECRET, h["X-Tier0-Timestamp"], b, h["X-Tier0-Signature"]) for h, b in receiver.requests)
    db.dispose()


@pytest.mark.parametrize(
    "raw, message",
    [
        ([{"url": "ftp://x", "secret": SECRET}], "webhooks[0].url"),
        ([{"url": "https://x.example"}], "secret of at least 16"),
        ([{"url": "https://x.example", "secret": SECRET, "colour": 1}], "unknown key(s) colour"),
        ([{"url": "https://x.example", "secret_env": "NOT_SET_ANYWHERE"}], "NOT_SET_ANYWHERE is not set"),
        ([{"url": "https://x.example", "secret": SECRET, "events": ["created"]}], "not '*' or a ticket event"),
        (["https://x.example"], "expected a mapping"),
    ],
)
def test_bad_endpoint_configuration(raw, message):
    with pytest.raises(InvalidInput) as e:
        parse_endpoints(raw, {})
    assert message in str(e.value)
