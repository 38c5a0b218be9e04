"""Limits, sign-in throttling, body size and headers against the running app (issue #21, findings 4 and 5).

No model is needed: the app serves a real engine without Rasa or embedders (a real SQLite file, the real desk,
accounts hashed with Argon2); a conversation handed off to the desk takes customer messages without the bot, so
the message limits run real turns. Each test builds its own app (fresh counters) with small limits. Time for the
rate windows and lock-outs is a frozen clock given to the `limits` library's memory storage, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

PASSWORD = "correct horse battery"
STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


class FrozenTime:
    """time.time() for the `limits` storage and api.limits: moves only when told."""

    def __init__(self) -> None:
        self.now = 1_767_600_000.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def frozen(monkeypatch):
    import limits.storage.memory

    import api.limits

    t = FrozenTime()
    monkeypatch.setattr(limits.storage.memory, "time", t)
    monkeypatch.setattr(api.limits, "time", t)
    return t


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("limits-home")


@pytest.fixture(scope="module")
def engine(home):
    """A real engine without the bot: services on a SQLite file, no embedding model, no Rasa. Passwords are hashed
    with Argon2id at its lowest cost here (the throttle does not depend on it; 64 MiB per try would make the
    sign-in tests take seconds)."""
    from argon2 import PasswordHasher

    import handoff.agents
    from bot.engine import ConversationEngine
    from bot.services import build_services
    from tier0.config import Settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(handoff.agents, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        services = build_services(Settings(home=home, classifier_extra_models=""), import_sample=False, embedder=[])
        for name in ("alice", "bob"):
            services.agents.create(name, PASSWORD)
        eng = ConversationEngine(services, None, turn_threads=2)
        yield eng
        eng.close()


def make_app(home, engine, **settings):
    from api.app import create_app
    from tier0.config import Settings

    return create_app(Settings(home=home, classifier_extra_models="", **settings), engine=engine)


def client(app, ip: str = "203.0.113.1", https: bool = False) -> TestClient:
    """A client of ``app`` calling from ``ip`` (no lifespan: the engine is given)."""
    return TestClient(app, client=(ip, 40000), base_url="https://testserver" if https else "http://testserver")


def handed_off(c: TestClient, engine) -> tuple:
    """A conversation a person owns: the customer's messages join its ticket without the bot."""
    from handoff.service import HandoffRequest
    from tier0.vocab import HandoffReason

    r = c.post("/api/conversations", json={"language": "en"})
    assert r.status_code == 201, r.text
    cid, token = r.json()["conversation_id"], r.json()["token"]
    engine.services.handoff.open(HandoffRequest(conversation_id=cid, reason=HandoffReason.CUSTOMER_REQUEST,
                                                language="en"))
    return cid, {"Authorization": f"Bearer {token}"}


def assert_limited(r, what: str) -> int:
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["error"] == "rate_limited" and what in body["detail"], body
    retry = int(r.headers["retry-after"])
    assert retry >= 1
    return retry


# -- conversations and messages --------------------------------------------------------------------------------
def test_a_flood_of_conversation_starts_from_one_ip_gets_429_while_another_ip_gets_through(home, engine, frozen):
    app = make_app(home, engine, limit_conversations_per_ip="3/minute")
    a, b = client(app, "203.0.113.1"), client(app, "203.0.113.2")
    for _ in range(3):
        assert a.post("/api/conversations", json={}).status_code == 201
    frozen.advance(20)
    retry = assert_limited(a.post("/api/conversations", json={}), "conversations opened from your address")
    assert retry == 41  # the oldest of the three leaves the window 40 s from now
    assert b.post("/api/conversations", json={}).status_code == 201
    frozen.advance(retry)
    assert a.post("/api/conversations", json={}).status_code == 201


def test_a_message_flood_on_one_conversation_gets_429_and_strangers_cannot_use_up_its_messages(
        home, engine, frozen):
    app = make_app(home, engine, limit_messages_per_conversation="3/minute", limit_messages_per_ip="100/minute")
    c = client(app)
    cid, auth = handed_off(c, engine)
    stranger = client(app, "198.51.100.9")
    for _ in range(5):  # without the token: refused, and not counted against the conversation
        r = stranger.post(f"/api/conversations/{cid}/messages", json={"text": "hello"},
                          headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 403
    for i in range(3):
        r = c.post(f"/api/conversations/{cid}/messages", json={"text": f"still there? {i}"}, headers=auth)
        assert r.status_code == 200, r.text
    assert_limited(c.post(f"/api/conversations/{cid}/messages", json={"text": "hello?"}, headers=auth),
                   "messages in this conversation")
    customer_texts = [m["text"] for m in c.get(f"/api/conversations/{cid}/messages", headers=auth).json()["messages"]
                      if m["sender"] == "customer"]
    assert customer_texts == [f"still there? {i}" for i in range(3)]  # the refused one was not stored
    other, other_auth = handed_off(c, engine)  # the same IP, another conversation: still fine
    assert c.post(f"/api/conversations/{other}/messages", json={"text": "hi"}, headers=other_auth).status_code == 200
    frozen.advance(61)
    assert c.post(f"/api/conversations/{cid}/messages", json={"text": "back"}, headers=auth).status_code == 200


def test_messages_per_ip_count_across_conversations(home, engine, frozen):
    app = make_app(home, engine, limit_messages_per_conversation="", limit_messages_per_ip="4/minute")
    c = client(app, "203.0.113.7")
    convs = [handed_off(c, engine) for _ in range(2)]
    for i in range(4):
        cid, auth = convs[i % 2]
        assert c.post(f"/api/conversations/{cid}/messages", json={"text": "hi"}, headers=auth).status_code == 200
    cid, auth = convs[0]
    assert_limited(c.post(f"/api/conversations/{cid}/messages", json={"text": "hi"}, headers=auth),
                   "messages from your address")
    elsewhere = client(app, "203.0.113.8")  # the same conversation from another address (its token): fine
    assert elsewhere.post(f"/api/conversations/{cid}/messages", json={"text": "hi"}, headers=auth).status_code == 200


def test_a_cap_gives_its_place_back(home, engine):
    from tier0.errors import RateLimited

    lim = make_app(home, engine).state.limits
    first = lim.acquire("streams-per-ip", "192.0.2.1", 2, "event streams")
    lim.acquire("streams-per-ip", "192.0.2.1", 2, "event streams")
    with pytest.raises(RateLimited) as e:
        lim.acquire("streams-per-ip", "192.0.2.1", 2, "event streams")
    assert e.value.retry_after >= 1
    first()
    lim.acquire("streams-per-ip", "192.0.2.1", 2, "event streams")


# -- sign-in ----------------------------------------------------------------------------------------------------
class CountingHasher:
    """The real Argon2 hasher, counting the hashes it computes."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def verify(self, *a):
        self.calls += 1
        return self.inner.verify(*a)

    def hash(self, *a):
        self.calls += 1
        return self.inner.hash(*a)

    def check_needs_rehash(self, *a):
        return self.inner.check_needs_rehash(*a)


@pytest.fixture()
def hasher(monkeypatch):
    import handoff.agents

    counting = CountingHasher(handoff.agents._hasher)
    monkeypatch.setattr(handoff.agents, "_hasher", counting)
    return counting


def login(c, username="alice", password=PASSWORD):
    return c.post("/api/desk/login", json={"username": username, "password": password})


def test_a_locked_pair_is_refused_before_any_hash_and_lifts_after_a_growing_back_off(home, engine, frozen, hasher):
    app = make_app(home, engine, login_lockout_after=3, login_lockout_s=60, login_lockout_max_s=240)
    a, b = client(app, "192.0.2.10"), client(app, "192.0.2.20")
    for _ in range(3):
        assert login(a, password="wrong password!").status_code == 401
    assert hasher.calls == 3
    assert assert_limited(login(a), "failed sign-ins of this account from your address") == 61
    assert hasher.calls == 3  # refused before the 64 MiB hash
    assert login(b).status_code == 200  # alice from another address signs in
    assert login(a, "bob").status_code == 200  # another account from the locked address too
    frozen.advance(60)  # the lock lifts; one more failure locks again, for twice as long
    assert login(a, password="wrong again!!!").status_code == 401
    assert assert_limited(login(a), "from your address") == 121
    frozen.advance(120)
    for _ in range(3):  # and again: 240 s, then at most 240 s (login_lockout_max_s)
        assert login(a, password="still wrong!!!").status_code == 401
        assert assert_limited(login(a), "from your address") == 241
        frozen.advance(240)
    assert login(a).status_code == 200  # her own password: in, and the pair is forgiven
    assert login(a, password="a typo, once").status_code == 401
    assert login(a).status_code == 200


def test_a_failed_sign_in_is_logged_at_warning_with_the_ip(home, engine, frozen, caplog):
    app = make_app(home, engine, login_lockout_after=2)
    c = client(app, "192.0.2.33")
    with caplog.at_level(logging.WARNING, logger="tier0.http"):
        assert login(c, "alice\nforged line", "wrong password!").status_code == 401
        assert login(c, "alice", "wrong password!").status_code == 401
        assert login(c, "alice", "wrong password!").status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "login_failed" in r.getMessage()]
    assert lines[0] == "desk.login_failed username=alice\\nforged line ip=192.0.2.33"  # one line, whatever is typed
    assert lines[2] == "desk.login_failed username=alice ip=192.0.2.33 locked_for_s=60"


def test_one_ip_failing_across_accounts_is_refused_other_ips_are_not(home, engine, frozen, hasher):
    app = make_app(home, engine, limit_login_failures_per_ip="4/15 minutes")
    c = client(app, "192.0.2.44")
    for name in ("alice", "bob", "carol", "dave"):
        assert login(c, name, "guessed password").status_code == 401
    calls = hasher.calls
    assert_limited(login(c, "erin", "guessed password"), "failed sign-ins from your address")
    assert_limited(login(c, "alice"), "failed sign-ins from your address")
    assert hasher.calls == calls
    assert login(client(app, "192.0.2.45")).status_code == 200
    frozen.advance(15 * 60 + 1)
    assert login(c).status_code == 200


def test_an_account_attacked_from_many_ips_is_only_slowed_down_never_locked(home, engine, frozen):
    app = make_app(home, engine, limit_login_failures_per_account="3/15 minutes", login_lockout_after=3,
                   login_slowdown_s=2.0)
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    app.state.limits.login.sleep = sleep
    for i in range(12):  # a botnet: many addresses, two guesses each
        attacker = client(app, f"198.18.0.{i}")
        assert login(attacker, "bob", "guess one......").status_code == 401
        assert login(attacker, "bob", "guess two......").status_code == 401
    assert waits and set(waits) == {2.0}  # each attempt past the third waited, 2 s at most
    waits.clear()
    assert login(client(app, "192.0.2.99"), "bob").status_code == 200  # bob, from his own address: in
    assert waits == [2.0]


# -- body size --------------------------------------------------------------------------------------------------
def asgi_post(app, path: str, body_chunks: list, headers: list) -> tuple:
    """POST through the app's ASGI interface, counting how many body chunks it read."""
    read = []

    async def receive():
        if len(read) < len(body_chunks):
            read.append(body_chunks[len(read)])
            return {"type": "http.request", "body": read[-1], "more_body": len(read) < len(body_chunks)}
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.encode(), v.encode()) for k, v in headers], "client": ("203.0.113.5", 1),
             "server": ("testserver", 80), "state": {}}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), len(read)


@pytest.mark.parametrize("declared", [True, False], ids=["with-content-length", "chunked"])
def test_a_5_mb_body_is_refused_with_413_without_being_read_whole(home, engine, declared):
    app = make_app(home, engine)
    chunk = b"x" * 65536
    chunks = [chunk] * (5 * 1024 * 1024 // len(chunk))
    headers = [("content-type", "application/json")]
    headers.append(("content-length", str(5 * 1024 * 1024)) if declared else ("transfer-encoding", "chunked"))
    status, body, read = asgi_post(app, "/api/conversations/x/messages", chunks, headers)
    assert status == 413 and body["error"] == "too_large"
    limit = app.state.max_request_bytes
    assert read == (0 if declared else limit // len(chunk) + 1)  # stopped at the limit: 5 of 80 chunks


def test_the_body_limit_is_a_setting(home, engine):
    c = client(make_app(home, engine, max_request_bytes=1000))
    r = c.post("/api/desk/login", json={"username": "alice", "password": "p" * 990})
    assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]
    assert login(c).status_code == 200


# -- headers, CORS, docs ----------------------------------------------------------------------------------------
def test_the_pages_have_no_inline_script_style_or_handler():
    for page in STATIC.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name
        assert not re.search(r"<style\b|\sstyle\s*=|\son[a-z]+\s*=", html, re.I), page.name
    for script in STATIC.glob("*.js"):
        js = script.read_text()
        assert not re.search(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|setAttribute\(\s*['\"](on|style)"
                             r"|\beval\(|new Function\(", js), script.name


def test_headers_on_pages_and_api_and_the_chat_framed_only_by_the_widgets_origins(home, engine):
    c = client(make_app(home, engine, widget_origins="https://shop.example, https://www.shop.example/"))
    chat, desk, api = c.get("/"), c.get("/desk"), c.post("/api/conversations", json={})
    for r in (chat, desk, api, c.get("/static/chat.js"), c.get("/healthz")):
        assert r.headers["x-content-type-options"] == "nosniff"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
        assert "strict-transport-security" not in r.headers  # plain HTTP
    assert chat.headers["content-security-policy"].endswith(
        "frame-ancestors 'self' https://shop.example https://www.shop.example")
    assert "x-frame-options" not in chat.headers
    for r in (desk, api):
        assert r.headers["content-security-policy"].endswith("frame-ancestors 'none'")
        assert r.headers["x-frame-options"] == "DENY"
    nobody = client(make_app(home, engine)).get("/")  # no widget origins: the chat page is not framed either
    assert nobody.headers["content-security-policy"].endswith("frame-ancestors 'none'")
    assert nobody.headers["x-frame-options"] == "DENY"


def test_hsts_over_https_only(home, engine):
    app = make_app(home, engine, hsts_seconds=600)
    assert client(app, https=True).get("/desk").headers["strict-transport-security"] == "max-age=600"
    assert "strict-transport-security" not in client(app).get("/desk").headers
    off = make_app(home, engine, hsts_seconds=0)
    assert "strict-transport-security" not in client(off, https=True).get("/desk").headers


def test_cors_for_the_widget_api_and_its_origins_only(home, engine):
    c = client(make_app(home, engine, widget_origins="https://shop.example"))
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    ok = c.options("/api/conversations", headers={"Origin": "https://shop.example", **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://shop.example"
    r = c.post("/api/conversations", json={}, headers={"Origin": "https://shop.example"})
    assert r.status_code == 201 and r.headers["access-control-allow-origin"] == "https://shop.example"
    evil = c.options("/api/conversations", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in evil.headers
    desk = c.options("/api/desk/login", headers={"Origin": "https://shop.example", **pre})
    assert "access-control-allow-origin" not in desk.headers
    r = c.post("/api/desk/login", json={"username": "alice", "password": PASSWORD},
               headers={"Origin": "https://shop.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_the_openapi_docs_can_be_turned_off(home, engine):
    on = client(make_app(home, engine))
    assert on.get("/openapi.json").status_code == 200
    docs = on.get("/docs")
    assert docs.status_code == 200 and "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    off = client(make_app(home, engine, openapi_docs=False))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert off.get(path).status_code == 404, path
    assert off.post("/api/conversations", json={}).status_code == 201


# -- event streams, on a real server (the caps hold while a stream is open) ------------------------------------
@contextlib.contextmanager
def serving(app, settings_proxies):
    """``app`` under uvicorn on a loopback port, with tier0 serve's proxy options; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **settings_proxies))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_too_many_event_streams_per_conversation_and_per_ip(home, engine):
    import httpx

    from api.limits import proxy_options

    app = make_app(home, engine, max_streams_per_conversation=2, max_streams_per_ip=3)
    settings = app.state.limits.settings
    with serving(app, proxy_options(settings)) as base, httpx.Client(base_url=base, timeout=10) as http, \
            contextlib.ExitStack() as streams:

        def start(ip):
            r = http.post("/api/conversations", json={}, headers={"X-Forwarded-For": ip})
            return r.json()["conversation_id"], r.json()["token"]

        def stream(cid, token, ip):
            r = streams.enter_context(http.stream("GET", f"/api/conversations/{cid}/stream",
                                                  headers={"Authorization": f"Bearer {token}",
                                                           "X-Forwarded-For": ip}))
            if r.status_code == 200:
                r.lines = r.iter_text()  # kept: dropping the iterator would close the stream
                assert next(r.lines).startswith("retry:")  # the stream is open
            else:
                r.read()
            return r

        a, b = "198.51.100.1", "198.51.100.2"  # told by a trusted proxy (this machine)
        one, two, three = start(a), start(a), start(b)
        first = stream(*one, a)
        assert first.status_code == 200 and stream(*one, a).status_code == 200
        assert_limited(stream(*one, b), "event streams on this conversation")
        assert stream(*two, a).status_code == 200
        assert_limited(stream(*three, a), "event streams from your address")
        assert stream(*three, b).status_code == 200  # another address
        assert stream(*two, a, ).status_code == 429
        first.close()  # a stream ends: its places come back
        deadline = time.monotonic() + 10
        while (r := stream(*two, a)).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.status_code == 200


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(home, engine):
    import httpx

    from api.limits import proxy_options

    app = make_app(home, engine, limit_conversations_per_ip="2/minute", trusted_proxies="")
    assert proxy_options(app.state.limits.settings) == {"proxy_headers": False, "forwarded_allow_ips": None}
    with serving(app, proxy_options(app.state.limits.settings)) as base, httpx.Client(base_url=base) as http:
        codes = [http.post("/api/conversations", json={}, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                 for i in range(3)]
    assert codes == [201, 201, 429]  # a forged address does not escape the limit


# -- several workers ----------------------------------------------------------------------------------------------
def test_two_app_instances_share_a_limit_on_redis(home, engine):
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({type(e).__name__})")
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    one, two = (client(make_app(home, engine, redis_url=url, limit_conversations_per_ip="3/minute"), ip)
                for _ in range(2))
    try:
        assert [c.post("/api/conversations", json={}).status_code for c in (one, two, one)] == [201, 201, 201]
        assert_limited(two.post("/api/conversations", json={}), "conversations opened from your address")
        assert_limited(one.post("/api/conversations", json={}), "conversations opened from your address")
    finally:
        r = redis.Redis.from_url(url)
        for key in r.scan_iter(f"*{ip}*"):
            r.delete(key)


@pytest.mark.parametrize("setting, value", [("limit_messages_per_ip", "lots"), ("widget_origins", "*"),
                                            ("login_slowdown_s", 60), ("max_streams_per_ip", 0)])
def test_a_bad_limit_setting_stops_the_start_with_its_name(setting, value):
    from pydantic import ValidationError

    from tier0.config import Settings

    with pytest.raises(ValidationError, match=setting):
        Settings(**{setting: value})


def test_an_ipv6_subscriber_is_one_client_across_its_64(home, engine):
    app = make_app(home, engine, limit_conversations_per_ip="2/minute")
    ips = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::abcd"]
    codes = [client(app, ip).post("/api/conversations", json={}).status_code for ip in ips]
    assert codes == [201, 201, 429]
    assert client(app, "2001:db8:1:3::1").post("/api/conversations", json={}).status_code == 201


def test_redis_not_answering_is_a_503_with_a_retry_not_a_500(home, engine):
    """Limits (and live events) on a Redis that does not answer: a clear 503 with Retry-After, never a 500."""
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client(make_app(home, engine, redis_url=f"redis://127.0.0.1:{port}/0"))
    r = c.post("/api/conversations", json={})
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    assert r.json()["error"] == "unavailable" and "Redis" in r.json()["detail"]
