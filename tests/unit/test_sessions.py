"""Sessions and tokens against the running app, without a model (#21, finding 9): the desk's account routes, the
event streams and the customer token need no Rasa and no search, so the app runs on the real services (a SQLite
file, Argon2, the bundled desk file) minus the bot, served by uvicorn on a loopback port; time is a FrozenClock.

    an agent session ends at its absolute lifetime however it is used; tokens in URLs are refused; event streams
    open with single-use, short-lived stream tickets; signing out, being disabled or changing one's password ends
    the open desk streams at once (in another worker too, over Redis); customer tokens expire unless used; the first
    admin's password file is created private and removed once the forced change is done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest

from tests.conftest import SAMPLE_KB, change_first_admin_password
from tier0.clock import FrozenClock

pytestmark = pytest.mark.unit
MONDAY = dt.datetime(2026, 1, 5, 9, 0)
PASSWORD = "a long enough password"
REDIS = "redis://127.0.0.1:6379/13"


def desk_engine(home: Path, clock: FrozenClock, **overrides: Any):
    """The services ``bot.services.build_services`` wires, without the KB's search index and the bot (which need
    the models): what the desk's account routes, the event streams and the customer token use."""
    import handoff.webhooks  # noqa: F401  (tables)
    import knowledge_base.models  # noqa: F401
    from bot.engine import ConversationEngine
    from bot.services import Services
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from handoff.service import HandoffService
    from knowledge_base.service import KnowledgeBase
    from tier0.config import Settings
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    settings = Settings(home=home, sample_kb=SAMPLE_KB, **overrides)
    cfg = load_config(settings.desk_config)
    db = Database(settings.db_url)
    db.migrate()
    conversations = ConversationStore(db, token_hours=settings.customer_token_hours, clock=clock)
    agents = AgentDirectory(db, cfg.queues_of, clock, session_hours=settings.session_hours,
                            session_max_hours=settings.session_max_hours)
    agents.ensure_admin(settings.home / "initial-admin-password")
    desk = HandoffService(db, conversations, cfg, clock, agents)
    services = Services(settings, db, conversations, KnowledgeBase(db), None, desk, None, agents,  # type: ignore
                        clock, cfg, [], lambda: None)
    return ConversationEngine(services, agent=None, turn_threads=1)


@contextlib.contextmanager
def serve(engine) -> Iterator[str]:
    import uvicorn

    from api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(engine.services.settings, engine=engine), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("sessions")
    clock = FrozenClock(MONDAY)
    engine = desk_engine(home, clock)
    with serve(engine) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield SimpleNamespace(home=home, clock=clock, engine=engine, http=http, base=base)
    engine.close()


def agent(world, username: str, role: str = "lead") -> Dict[str, str]:
    """A new account, signed in: its Authorization header."""
    world.engine.services.agents.create(username, PASSWORD, role=role)
    r = world.http.post("/api/desk/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


class Stream:
    """An event stream read on a thread: its events as they come, and whether (when) it ended."""

    def __init__(self, url: str, headers: Optional[Dict[str, str]] = None):
        self.events: List[Dict[str, str]] = []
        self.status: Optional[int] = None
        self.ended: Optional[float] = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: Dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=20.0)) as r:
                self.status = r.status_code
                self._opened.set()
                event: Dict[str, str] = {}
                for line in r.iter_lines():
                    if not line:
                        if event:
                            self.events.append(event)
                        event = {}
                    elif not line.startswith(":"):
                        k, _, v = line.partition(": ")
                        event[k] = v
        finally:
            self.ended = time.monotonic()
            self._opened.set()

    def wait_for(self, kind: str, timeout: float = 5.0) -> Dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events if e.get("event") == kind]
            if found:
                return found[-1]
            time.sleep(0.01)
        raise AssertionError(f"no {kind!r} event in {timeout}s: {self.events} (status {self.status})")

    def wait_end(self, timeout: float) -> float:
        self._thread.join(timeout)
        assert self.ended is not None, f"the stream is still open after {timeout}s"
        return self.ended


def desk_stream(world, auth: Dict[str, str], base: Optional[str] = None) -> Stream:
    http = world.http if base is None else httpx.Client(base_url=base, timeout=10)
    r = http.post("/api/desk/stream-ticket", headers=auth)
    assert r.status_code == 200, r.text
    s = Stream(f"{base or world.base}/api/desk/stream?ticket={r.json()['ticket']}")
    s.wait_for("hello")
    return s


# -- the first admin -----------------------------------------------------------------------------------------------
def test_the_first_admin_password_file_is_created_private_never_chmod_after(tmp_path, monkeypatch):
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from tier0.config import Settings
    from tier0.db import Database

    def no_chmod(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the file's mode is set when it is created, never changed after")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    db = Database(f"sqlite:///{tmp_path / 'tier0.db'}")
    db.migrate()
    agents = AgentDirectory(db, load_config(Settings().desk_config).queues_of)
    path = tmp_path / "initial-admin-password"
    path.write_text("stale\n")  # left from an older database, readable by all: replaced, not reused
    old_umask = os.umask(0o022)
    try:
        password = agents.ensure_admin(path)
    finally:
        os.umask(old_umask)
    assert password and path.read_text() == password + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert agents.ensure_admin(path) is None  # once only
    token, _, view = agents.login("admin", password)
    assert view.must_change_password and view.role == "admin"
    db.dispose()


def test_the_first_admin_must_change_the_password_and_the_file_goes(world):
    http, file = world.http, world.home / "initial-admin-password"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    password = file.read_text().strip()
    r = http.post("/api/desk/login", json={"username": "admin", "password": password})
    assert r.status_code == 200 and r.json()["agent"]["must_change_password"] is True
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    assert http.get("/api/desk/me", headers=auth).json()["must_change_password"] is True
    for method, url in (("get", "/api/desk/queues"), ("get", "/api/desk/tickets"), ("get", "/api/desk/agents"),
                        ("post", "/api/desk/sla/run"), ("post", "/api/desk/stream-ticket"),
                        ("post", "/api/desk/agents"), ("get", "/api/desk/stream")):
        r = http.request(method, url, headers=auth,
                         json={"username": "x1", "password": "0123456789"} if url.endswith("agents") else None)
        assert r.status_code == 403 and r.json()["error"] == "password_change_required", (url, r.text)
    # the current password is checked; the new one must differ and be long enough
    for old, new in (("wrong password", "my own password!"), (password, password), (password, "short")):
        r = http.post("/api/desk/password", headers=auth, json={"old_password": old, "new_password": new})
        assert r.status_code == 422, r.text
    assert file.exists()
    new_auth = change_first_admin_password(http, world.home, "the admin's own password")
    assert not file.exists(), "the generated password's file is removed once it is changed"
    assert http.get("/api/desk/me", headers=auth).status_code == 401, "the old session ended"
    assert http.get("/api/desk/queues", headers=new_auth).status_code == 200
    me = http.get("/api/desk/me", headers=new_auth).json()
    assert me["must_change_password"] is False
    assert http.post("/api/desk/login", json={"username": "admin", "password": password}).status_code == 401
    assert http.post("/api/desk/logout", headers=new_auth).status_code == 204


# -- agent sessions ------------------------------------------------------------------------------------------------
def test_a_session_ends_at_its_absolute_lifetime_however_it_is_used(world):
    world.clock.set(MONDAY)
    auth = agent(world, "absolute")
    for _ in range(23):  # used every hour: the idle expiry (12 h) keeps sliding
        world.clock.advance(hours=1)
        assert world.http.get("/api/desk/me", headers=auth).status_code == 200
    world.clock.advance(minutes=59)
    assert world.http.get("/api/desk/me", headers=auth).status_code == 200
    world.clock.advance(minutes=1)  # 24 h since sign-in
    r = world.http.get("/api/desk/me", headers=auth)
    assert r.status_code == 401 and "maximum lifetime" in r.json()["detail"]
    r = world.http.post("/api/desk/login", json={"username": "absolute", "password": PASSWORD})
    assert r.status_code == 200, "signing in again opens a new one"
    world.clock.set(MONDAY)


def test_a_token_in_the_url_is_refused_even_on_a_post(world):
    auth = agent(world, "urltoken")
    token = auth["Authorization"][7:]
    conv = world.http.post("/api/conversations", json={}).json()
    for method, url in (("post", f"/api/desk/tickets/T-1/claim?access_token={token}"),
                        ("get", f"/api/desk/me?access_token={token}"),
                        ("get", f"/api/desk/stream?access_token={token}"),
                        ("get", f"/api/conversations/{conv['conversation_id']}/stream?token={conv['token']}")):
        r = world.http.request(method, url)
        assert r.status_code == 401 and "not accepted in the URL" in r.json()["detail"], (url, r.text)
    # even with the header as well: the URL has leaked the token already
    r = world.http.post(f"/api/desk/tickets/T-1/claim?access_token={token}", headers=auth)
    assert r.status_code == 401


# -- stream tickets ----------------------------------------------------------------------------------------------------
def test_a_stream_ticket_opens_one_stream_once_and_expires(world):
    world.clock.set(MONDAY)
    http = world.http
    auth = agent(world, "ticketed")
    ticket = http.post("/api/desk/stream-ticket", headers=auth).json()["ticket"]
    assert token_not_in(ticket, auth)
    with httpx.stream("GET", f"{world.base}/api/desk/stream?ticket={ticket}", timeout=10) as r:
        assert r.status_code == 200
        assert next(r.iter_lines()) == "event: hello"
    # used: an EventSource reconnecting with it is refused cleanly (the page asks for a new one)
    r = http.get(f"/api/desk/stream?ticket={ticket}")
    assert r.status_code == 401 and "stream ticket" in r.json()["detail"]
    stale = http.post("/api/desk/stream-ticket", headers=auth).json()["ticket"]
    world.clock.advance(seconds=61)
    assert http.get(f"/api/desk/stream?ticket={stale}").status_code == 401
    assert http.post("/api/desk/stream-ticket").status_code == 401  # a ticket needs the bearer token

    # the widget's: for its own conversation only, and not for the desk
    a = http.post("/api/conversations", json={}).json()
    b = http.post("/api/conversations", json={}).json()
    a_auth = {"Authorization": f"Bearer {a['token']}"}
    assert http.post(f"/api/conversations/{b['conversation_id']}/stream-ticket", headers=a_auth).status_code == 403
    t = http.post(f"/api/conversations/{a['conversation_id']}/stream-ticket", headers=a_auth).json()["ticket"]
    assert http.get(f"/api/desk/stream?ticket={t}").status_code == 401
    t = http.post(f"/api/conversations/{a['conversation_id']}/stream-ticket", headers=a_auth).json()["ticket"]
    assert http.get(f"/api/conversations/{b['conversation_id']}/stream?ticket={t}").status_code == 403
    desk_ticket = http.post("/api/desk/stream-ticket", headers=auth).json()["ticket"]
    assert http.get(f"/api/conversations/{a['conversation_id']}/stream?ticket={desk_ticket}").status_code == 401
    t = http.post(f"/api/conversations/{a['conversation_id']}/stream-ticket", headers=a_auth).json()["ticket"]
    with httpx.stream("GET", f"{world.base}/api/conversations/{a['conversation_id']}/stream?ticket={t}",
                      timeout=10) as r:
        assert r.status_code == 200
        assert next(r.iter_lines()) == "retry: 1000"
    assert http.get(f"/api/conversations/{a['conversation_id']}/stream?ticket={t}").status_code == 401


def token_not_in(ticket: str, auth: Dict[str, str]) -> bool:
    return auth["Authorization"][7:] not in ticket and len(ticket) >= 32


# -- revocation ends the streams ---------------------------------------------------------------------------------------
def test_signing_out_disabling_or_a_password_change_ends_the_open_desk_streams_at_once(world):
    from handoff.service import HandoffRequest

    http, services = world.http, world.engine.services
    world.clock.set(MONDAY)
    admin = agent(world, "streamadmin", role="admin")
    leaving, disabled, changing, staying = (agent(world, n) for n in ("leaving", "disabled", "changing", "staying"))
    streams = {name: desk_stream(world, auth) for name, auth in (
        ("leaving", leaving), ("disabled", disabled), ("changing", changing), ("staying", staying))}
    # a ticket event reaches every open console (leads see every queue)
    conv = http.post("/api/conversations", json={}).json()
    ticket, _ = services.handoff.open(HandoffRequest(conv["conversation_id"], reason="customer_request"))
    for s in streams.values():
        assert ticket["id"] in s.wait_for("ticket")["data"]

    # each ends at once: told by the revocation ("revoked"), not found at the stream's periodic re-check of the
    # session (every 5 s; it would say "session_ended")
    assert http.post("/api/desk/logout", headers=leaving).status_code == 204
    streams["leaving"].wait_end(3)
    assert http.patch("/api/desk/agents/disabled", headers=admin, json={"active": False}).status_code == 200
    streams["disabled"].wait_end(3)
    r = http.post("/api/desk/password", headers=changing,
                  json={"old_password": PASSWORD, "new_password": "another long password"})
    assert r.status_code == 200
    streams["changing"].wait_end(3)
    for name in ("leaving", "disabled", "changing"):
        assert streams[name].events[-1] == {"event": "bye", "data": '{"reason": "revoked"}'}, streams[name].events
    assert streams["staying"].ended is None, "another agent's stream stays open"
    # and the tokens behind them no longer open anything
    assert http.post("/api/desk/stream-ticket", headers=leaving).status_code == 401
    assert http.post("/api/desk/stream-ticket", headers=disabled).status_code == 401
    assert http.post("/api/desk/stream-ticket", headers=changing).status_code == 401
    assert http.post("/api/desk/logout", headers=staying).status_code == 204
    streams["staying"].wait_end(3)


def test_a_sign_out_on_one_worker_ends_the_stream_held_by_another(tmp_path, monkeypatch):
    """Two workers (two apps, each its own services and live hub) on one database and one Redis: the stream is on
    worker b, the sign-out on worker a; then the command line disables the account."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS).ping()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"Redis on loopback is needed ({type(e).__name__}: {e})")
    clock = FrozenClock(MONDAY)
    engines = [desk_engine(tmp_path, clock, redis_url=REDIS) for _ in range(2)]
    engines[0].services.agents.create("roaming", PASSWORD, role="lead")
    with serve(engines[0]) as a, serve(engines[1]) as b, httpx.Client(base_url=a, timeout=10) as http:
        r = http.post("/api/desk/login", json={"username": "roaming", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        world = SimpleNamespace(http=http, base=a)
        s = desk_stream(world, auth, base=b)  # the ticket issued by a opens b's stream: tickets live in the database
        assert http.post("/api/desk/logout", headers=auth).status_code == 204
        s.wait_end(3)
        # told by a's revocation over Redis, not found at b's periodic re-check of the session ("session_ended")
        assert s.events[-1] == {"event": "bye", "data": '{"reason": "revoked"}'}, s.events

        # `tier0 agents disable` (no server of its own) publishes the revocation too
        from cli.main import main

        r = http.post("/api/desk/login", json={"username": "roaming", "password": PASSWORD})
        s = desk_stream(world, {"Authorization": f"Bearer {r.json()['token']}"}, base=b)
        monkeypatch.setenv("TIER0_REDIS_URL", REDIS)
        assert main(["--home", str(tmp_path), "agents", "disable", "roaming"]) == 0
        s.wait_end(3)
        assert s.events[-1] == {"event": "bye", "data": '{"reason": "revoked"}'}, s.events
    for e in engines:
        e.close()


# -- customer tokens ---------------------------------------------------------------------------------------------------
def test_a_customer_token_expires_unless_used_and_renews_while_used(world):
    import sqlalchemy as sa

    http, clock = world.http, world.clock
    clock.set(MONDAY)
    conv = http.post("/api/conversations", json={}).json()
    cid, auth = conv["conversation_id"], {"Authorization": f"Bearer {conv['token']}"}
    path = f"/api/conversations/{cid}/messages"

    def expiry() -> dt.datetime:
        with world.engine.services.db.engine.connect() as c:
            return c.execute(sa.text("SELECT token_expires_at FROM conversations WHERE id = :id"), {"id": cid}).scalar()

    assert str(expiry()).startswith("2026-01-08 09:00")  # 72 h from the start
    clock.advance(hours=71)
    assert http.get(path, headers=auth).status_code == 200  # used: 72 h from now
    renewed = expiry()
    assert str(renewed).startswith("2026-01-11 08:00")
    clock.advance(minutes=3)
    assert http.post(f"/api/conversations/{cid}/stream-ticket", headers=auth).status_code == 200
    assert expiry() == renewed, "not one write per use: only once the expiry moved by 5 minutes"
    clock.advance(hours=71)
    assert http.get(path, headers=auth).status_code == 200
    clock.advance(hours=72, minutes=1)  # unused for 72 h
    for r in (http.get(path, headers=auth), http.post(f"/api/conversations/{cid}/stream-ticket", headers=auth)):
        assert r.status_code == 401 and r.json()["error"] == "token_expired", r.text
    # another token is still refused as before (nothing tells it the conversation exists but expired)
    r = http.get(path, headers={"Authorization": "Bearer someone-else"})
    assert r.status_code == 403
    # a new conversation works at once
    fresh = http.post("/api/conversations", json={}).json()
    r = http.get(f"/api/conversations/{fresh['conversation_id']}/messages",
                 headers={"Authorization": f"Bearer {fresh['token']}"})
    assert r.status_code == 200
    clock.set(MONDAY)


@pytest.mark.parametrize("setting, value", [("session_max_hours", 0), ("customer_token_hours", -1),
                                            ("stream_ticket_seconds", 0), ("webhook_timeout_s", 0),
                                            ("retention_days", -1), ("webhook_keep_failed_days", -2)])
def test_a_lifetime_setting_out_of_range_stops_the_start_with_its_name(setting, value):
    from pydantic import ValidationError

    from tier0.config import Settings

    with pytest.raises(ValidationError, match=setting):
        Settings(**{setting: value})
