"""Outbound webhooks against a real HTTP receiver on loopback and a real SQLite file: signatures, filters, retries
with back-off under a frozen clock, failure after the last attempt, survival across a restart, the background worker,
and ticket events from the desk arriving in order; fairness across endpoints, redirects never followed, the time
limit of one attempt, the purge of old deliveries and the redelivery of unknown ones (#21). No model is loaded."""

import datetime as dt
import http.server
import json
import socket
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
    """A real HTTP server that records deliveries and answers 500 to the first ``fail`` of them, then ``code`` (with
    ``headers``)."""

    def __init__(self, fail=0, code=204, headers=None):
        self.requests = []
        self.fail = fail
        self.code, self.headers = code, dict(headers or {})
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.requests.append((dict(self.headers), body))
                code = 500 if len(rec.requests) <= rec.fail else rec.code
                self.send_response(code)
                for name, value in rec.headers.items():
                    self.send_header(name, value)
                self.end_headers()

            def do_GET(self):  # noqa: N802 - what a client that follows a 302 sends
                rec.requests.append((dict(self.headers), b""))
                self.send_response(204)
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


@pytest.mark.parametrize("wiring", ["outbox", "listener"])
def test_desk_events_reach_the_receiver_in_order(tmp_path, receiver, monkeypatch, wiring):
    """The desk file's webhooks wired to the real HandoffService: a hand-off, a claim, a resolution. ``outbox``: the
    deliveries written in each change's own transaction, as the server does (api.app); ``listener``: after it."""
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
    if wiring == "outbox":
        service.subscribe_outbox(hooks.enqueue)
    else:
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


def fill(hooks, url, n, kind="created"):
    """``n`` pending deliveries to the endpoint at ``url``, written in one transaction (as a ticket change does)."""
    only = WebhookDispatcher(hooks.db, [WebhookEndpoint(url, SECRET)], hooks.clock)
    with hooks.db.session() as s:
        for i in range(n):
            only.enqueue(s, event(kind, i + 1), {"id": f"T-{i + 1}"})


def test_a_failing_endpoint_with_a_backlog_does_not_starve_the_others(db, receiver):
    """#21 finding 8: 60 due rows of a failing endpoint, written first, no longer fill the run; the healthy endpoint
    gets all of its deliveries in the same run, and the failing one is tried once (its order kept)."""
    failing = Receiver(fail=10**6)
    clock = FrozenClock(T0)
    hooks = WebhookDispatcher(db, [WebhookEndpoint(failing.url, SECRET), WebhookEndpoint(receiver.url, SECRET)], clock)
    fill(hooks, failing.url, 60)
    fill(hooks, receiver.url, 3)
    assert hooks.deliver_due() == 4
    assert len(receiver.requests) == 3 and len(failing.requests) == 1
    clock.advance(seconds=30)
    assert hooks.deliver_due() == 1 and len(failing.requests) == 2, "the failing one retried, in order, alone"
    statuses = {(d["url"], d["status"]) for d in hooks.list_deliveries(limit=1000)}
    assert statuses == {(receiver.url, "delivered"), (failing.url, "pending")}
    failing.close()


def test_healthy_endpoints_take_turns_within_the_per_run_limit(db, receiver):
    other = Receiver()
    hooks = WebhookDispatcher(db, [WebhookEndpoint(other.url, SECRET), WebhookEndpoint(receiver.url, SECRET)],
                              FrozenClock(T0), max_per_run=10)
    fill(hooks, other.url, 30)  # the big backlog is the oldest
    fill(hooks, receiver.url, 3)
    assert hooks.deliver_due() == 10
    assert (len(other.requests), len(receiver.requests)) == (7, 3)
    ids = [json.loads(b)["event"]["id"] for _h, b in other.requests]
    assert ids == sorted(ids), "one endpoint's deliveries stay in order"
    assert hooks.deliver_due() == 10 and hooks.deliver_due() == 10 and hooks.deliver_due() == 3
    assert len(other.requests) == 30
    other.close()


@pytest.mark.parametrize("code", [302, 307])
def test_a_redirect_is_a_failed_delivery_and_its_location_is_never_fetched(db, code):
    internal = Receiver()  # stands for an internal address the receiver would like tier0 to post to
    redirecting = Receiver(code=code, headers={"Location": internal.url})
    hooks = WebhookDispatcher(db, [WebhookEndpoint(redirecting.url, SECRET)], FrozenClock(T0), max_attempts=1)
    hooks.on_event(event(), {})
    assert hooks.deliver_due() == 1
    d = hooks.list_deliveries()[0]
    assert (d["status"], d["last_status_code"]) == ("failed", code) and "redirects are not followed" in d["last_error"]
    assert len(redirecting.requests) == 1 and internal.requests == []
    for r in (internal, redirecting):
        r.close()


class SlowReceiver:
    """A raw TCP receiver that reads the request, then answers one byte every ``gap`` seconds: every single read of
    the dispatcher gets data in time; only a limit on the whole attempt stops it."""

    def __init__(self, gap=0.25):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.gap = gap
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n":
                if self.done.wait(self.gap):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self):
        self.done.set()
        self.sock.close()


def test_one_attempt_has_a_total_time_limit(db):
    """46 bytes at 0.25 s each would take 11 s; every read gets a byte well within the 1 s limit, so only a limit on
    the whole attempt ends it: the delivery is not delivered and says why."""
    slow = SlowReceiver()
    hooks = WebhookDispatcher(db, [WebhookEndpoint(slow.url, SECRET)], FrozenClock(T0), timeout_s=1)
    hooks.on_event(event(), {})
    assert hooks.deliver_due() == 1
    d = hooks.list_deliveries()[0]
    assert d["status"] == "pending" and d["last_status_code"] is None and d["attempts"] == 1
    assert d["last_error"] == "no answer within 1 s"
    slow.close()
    with pytest.raises(ValueError, match="TIER0_WEBHOOK_TIMEOUT_S"):
        WebhookDispatcher(db, [], FrozenClock(T0), timeout_s=0)


def test_old_deliveries_are_purged_pending_ones_kept(db):
    ok, dead, later = "http://ok.invalid/hook", "http://dead.invalid/hook", "http://later.invalid/hook"
    answers = {ok: (204, ""), dead: (500, "HTTP 500"), later: (0, "connection refused")}
    clock = FrozenClock(T0)
    hooks = WebhookDispatcher(db, [WebhookEndpoint(u, SECRET) for u in answers], clock, max_attempts=1,
                              keep_delivered_days=7, keep_failed_days=30,
                              sender=lambda url, body, headers, timeout: answers[url])
    hooks.on_event(event(), {})
    hooks.deliver_due()  # ok: delivered at T0; dead: failed at T0; later: failed at T0 too
    clock.advance(days=6)
    hooks.on_event(event("claimed", 2), {})
    hooks.max_attempts = 8
    hooks.deliver_due()  # at T0+6d: ok delivered, dead and later pending (retrying)
    assert hooks.purge() == 0
    clock.advance(days=2)  # T0+8d: the first delivered row is 8 days old
    assert hooks.purge() == 1
    clock.advance(days=23)  # T0+31d: the rows that failed at T0 are 31 days old; the second delivered one 25 days
    assert hooks.purge() == 3
    left = sorted((d["event_type"], d["url"], d["status"]) for d in hooks.list_deliveries())
    assert left == [("ticket.claimed", dead, "pending"), ("ticket.claimed", later, "pending")]
    keep_all = WebhookDispatcher(db, [], clock, keep_delivered_days=0, keep_failed_days=0)
    assert keep_all.purge(T0 + dt.timedelta(days=3650)) == 0


def test_redeliver_an_unknown_purged_or_orphaned_delivery_says_why(db, receiver):
    from tier0.errors import Conflict, NotFound

    clock = FrozenClock(T0)
    hooks = WebhookDispatcher(db, [WebhookEndpoint(receiver.url, SECRET)], clock)
    fill(hooks, receiver.url, 1005)
    oldest = min(d["id"] for d in hooks.list_deliveries(limit=1000)) - 5  # older than the 1000 newest
    assert hooks.redeliver(oldest)["status"] == "pending"  # was a 500 (StopIteration) before #21
    for missing in (0, -1, 10**6, 2**63, 10**30):
        with pytest.raises(NotFound, match="not found"):
            hooks.redeliver(missing)
    moved = WebhookDispatcher(db, [WebhookEndpoint("http://127.0.0.1:9/new", SECRET)], clock)
    with pytest.raises(Conflict, match="no longer configured") as refused:
        moved.redeliver(oldest)
    assert refused.value.status_code == 409


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
