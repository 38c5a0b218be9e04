"""Two tier0 workers, as two machines run them: two `tier0 serve` processes (each its own home, index and port)
sharing one PostgreSQL database and one Redis. Any turn of any conversation is served by either; an agent's reply
and ticket events reach the pages of the other worker; the background jobs run on exactly one, and the other takes
over when it dies; a KB change made on the command line reaches both.

Skipped when PostgreSQL or Redis does not answer on loopback (`.ci/run` starts both).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from tests.conftest import MODEL_CACHE, REPO, SAMPLE_KB, postgres_database

pytestmark = [pytest.mark.slow]
REDIS = "redis://127.0.0.1:6379/11"
START_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, path: str, body: Any = None, token: Optional[str] = None, method: Optional[str] = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data is not None else "GET"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


class Worker:
    def __init__(self, name: str, env: Dict[str, str]):
        self.name = name
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(env["TIER0_HOME"]) / "serve.log"
        Path(env["TIER0_HOME"]).mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port)], cwd=REPO,
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited: {self.log.read_text()[-3000:]}")
        try:
            return call(self.base, "/healthz")["status"] == "ok"
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, engine):
    redis = pytest.importorskip("redis")
    try:
        r = redis.Redis.from_url(REDIS)
        r.ping()
        r.flushdb()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"Redis on loopback is needed ({type(e).__name__}: {e})")
    with postgres_database("tier0_workers") as db_url:
        yield from _two_workers(tmp_path_factory, engine, db_url, r)


def _two_workers(tmp_path_factory, engine, db_url: str, r):
    root = tmp_path_factory.mktemp("workers")
    kb = root / "kb"
    shutil.copytree(SAMPLE_KB, kb)
    base_env = dict(os.environ, TIER0_DATABASE_URL=db_url,
                    TIER0_REDIS_URL=REDIS, TIER0_SAMPLE_KB=str(kb), TIER0_MODEL_CACHE=str(MODEL_CACHE),
                    TIER0_SLA_INTERVAL="1", TIER0_CALIBRATION_INTERVAL="0", RASA_TELEMETRY_ENABLED="false",
                    HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # The session's engine has indexed and calibrated the same KB with the same models: machine a starts from a copy
    # of its index (the calibration matches the KB's content, so it is loaded, not fitted again: minutes saved).
    engine.services.index.flush()
    shutil.copytree(engine.services.settings.index_dir, root / "a" / "index", ignore=shutil.ignore_patterns("*.tmp"))
    # what `tier0 serve --workers N` does first: the schema, the sample KB, the index and the model, once
    prep = subprocess.run([sys.executable, "-m", "cli", "prepare"], cwd=REPO, capture_output=True, text=True,
                          env=dict(base_env, TIER0_HOME=str(root / "a")), timeout=START_TIMEOUT_S)
    assert prep.returncode == 0, prep.stderr[-3000:]
    shutil.copytree(root / "a" / "index", root / "b" / "index")  # machine b too
    workers = [Worker(w, dict(base_env, TIER0_HOME=str(root / w))) for w in ("a", "b")]
    env_a = dict(base_env, TIER0_HOME=str(root / "a"))
    try:
        deadline = time.time() + START_TIMEOUT_S
        while not all(w.ready() for w in workers):
            assert time.time() < deadline, "the workers did not start"
            time.sleep(1)
        yield {"a": workers[0], "b": workers[1], "kb": kb, "env": env_a, "redis": r}
    finally:
        for w in workers:
            w.stop()
        r.flushdb()


def _cli(env: Dict[str, str], *args: str, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          input=stdin, timeout=600)


def _agent_token(shared, username: str = "ana") -> str:
    out = _cli(shared["env"], "agents", "add", username, "--role", "admin", "--password-stdin",
               stdin="a long enough password\n")
    assert out.returncode in (0, 2), out.stderr  # 2: the account exists already (a second call)
    return call(shared["a"].base, "/api/desk/login", {"username": username, "password": "a long enough password"})[
        "token"]


def test_a_conversation_moves_between_workers_turn_by_turn(shared):
    a, b = shared["a"], shared["b"]
    conv = call(a.base, "/api/conversations", {"language": "en"})
    cid, token = conv["conversation_id"], conv["token"]
    path = f"/api/conversations/{cid}/messages"
    first = call(a.base, path, {"text": "hello"}, token)
    assert first["messages"]
    # Rasa's tracker lives in PostgreSQL: worker b continues the conversation worker a started
    second = call(b.base, path, {"text": "I want to talk to a person"}, token)
    assert second["outcome"]["type"] == "handoff", second["outcome"]
    transcript = call(a.base, path, token=token)
    senders = [m["sender"] for m in transcript["messages"]]
    assert senders.count("customer") == 2 and transcript["status"] == "handed_off"


def _read_sse(url: str, events: List[Dict[str, Any]], stop: threading.Event, want: str) -> None:
    req = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
    with urllib.request.urlopen(req, timeout=60) as r:
        kind = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == want:
                events.append({"t": time.time(), **json.loads(line[6:])})
            if stop.is_set():
                return


def test_an_agent_reply_on_one_worker_reaches_the_chat_and_desk_streamed_by_the_other(shared):
    a, b = shared["a"], shared["b"]
    agent_token = _agent_token(shared)
    desk_events: List[Dict[str, Any]] = []
    chat_events: List[Dict[str, Any]] = []
    stop = threading.Event()
    desk_ticket = call(a.base, "/api/desk/stream-ticket", {}, agent_token)["ticket"]
    desk_thread = threading.Thread(target=_read_sse, daemon=True,
                                   args=(f"{a.base}/api/desk/stream?ticket={desk_ticket}", desk_events, stop,
                                         "ticket"))
    desk_thread.start()
    conv = call(b.base, "/api/conversations", {"language": "en"})
    cid, token = conv["conversation_id"], conv["token"]
    turn = call(b.base, f"/api/conversations/{cid}/messages", {"text": "I want to talk to a person"}, token)
    ticket = turn["ticket"]["id"]
    deadline = time.time() + 10
    while not any(e["ticket"]["id"] == ticket for e in desk_events):  # created on b, seen on a's desk stream
        assert time.time() < deadline, "the ticket event created on worker b never reached worker a's desk"
        time.sleep(0.1)
    after = max(m["id"] for m in call(a.base, f"/api/conversations/{cid}/messages", token=token)["messages"])
    chat_ticket = call(b.base, f"/api/conversations/{cid}/stream-ticket", {}, token)["ticket"]  # any worker's
    chat_thread = threading.Thread(target=_read_sse, daemon=True, args=(
        f"{a.base}/api/conversations/{cid}/stream?after={after}&ticket={chat_ticket}", chat_events, stop, "message"))
    chat_thread.start()
    time.sleep(1.5)  # the stream is open
    call(b.base, f"/api/desk/tickets/{ticket}/claim", {}, agent_token)
    sent = time.time()
    call(b.base, f"/api/desk/tickets/{ticket}/reply", {"text": "Hello, I am Ana and I can help."}, agent_token)
    deadline = time.time() + 10
    while not any(e.get("sender") == "agent" for e in chat_events):
        assert time.time() < deadline, "the agent's reply stored by worker b never reached the chat on worker a"
        time.sleep(0.05)
    reply = next(e for e in chat_events if e.get("sender") == "agent")
    assert reply["text"] == "Hello, I am Ana and I can help."
    # the wake-up crosses workers over Redis: well under the streams' one-second re-read of the database
    assert reply["t"] - sent < 0.9, f"{reply['t'] - sent:.2f}s"
    stop.set()


def test_a_kb_change_from_the_command_line_reaches_both_workers(shared):
    a, b = shared["a"], shared["b"]
    question = "Do you deliver parcels to the International Space Station?"
    article = shared["kb"] / "space-delivery.md"
    article.write_text(
        "---\nid: space-delivery\ntitle: Do you deliver to the International Space Station?\nlang: en\n"
        "questions:\n  - Can you ship my order to the space station?\n  - Delivery to the ISS\n"
        "  - Do you deliver parcels to orbit?\n---\n"
        "No. We deliver to addresses on Earth only: the International Space Station is out of our delivery "
        "area, whatever the parcel.\n", encoding="utf-8")
    out = _cli(shared["env"], "kb", "import", str(shared["kb"]))
    assert out.returncode == 0, out.stderr[-2000:]
    for w in (a, b):
        deadline = time.time() + 60
        while True:
            conv = call(w.base, "/api/conversations", {"language": "en"})
            turn = call(w.base, f"/api/conversations/{conv['conversation_id']}/messages", {"text": question},
                        conv["token"])
            cited = [s["article_id"] for m in turn["messages"] for s in m["sources"]]
            options = [btn["title"] for m in turn["messages"] for btn in m["buttons"]]
            if "space-delivery" in cited or any("Space Station" in o for o in options):
                break
            assert time.time() < deadline, f"worker {w.name} never found the new article: {turn['outcome']}"
            time.sleep(0.5)


def test_background_jobs_run_on_one_worker_and_move_when_it_dies_and_its_conversations_go_on(shared):
    import sqlalchemy

    engine = sqlalchemy.create_engine(shared["env"]["TIER0_DATABASE_URL"])

    def holder() -> Optional[str]:
        with engine.connect() as c:
            row = c.exec_driver_sql("SELECT holder, expires_at > now() at time zone 'utc' FROM leases "
                                    "WHERE name = 'tier0.background'").first()
        return row[0] if row and row[1] else None

    deadline = time.time() + 30
    while holder() is None:
        assert time.time() < deadline, "no worker took the background lease"
        time.sleep(0.5)
    first = holder()
    pids = {shared["a"].proc.pid: shared["a"], shared["b"].proc.pid: shared["b"]}
    owner = next(w for pid, w in pids.items() if f":{pid}:" in first)
    other = next(w for w in pids.values() if w is not owner)
    # conversations in the middle of their turns on the worker about to die
    talks = []
    for text in ("hello", "bonjour", "how do I reset my password?", "comment suivre ma commande ?"):
        conv = call(owner.base, "/api/conversations", {})
        call(owner.base, f"/api/conversations/{conv['conversation_id']}/messages", {"text": text}, conv["token"])
        talks.append((conv, [text]))
    owner.stop(signal.SIGKILL)  # no clean shutdown: the lease is not released, it expires
    for conv, sent in talks:  # every conversation goes on through the other worker
        for text in ("I forgot my password", "thanks"):
            turn = call(other.base, f"/api/conversations/{conv['conversation_id']}/messages", {"text": text},
                        conv["token"])
            assert turn["messages"], turn
            sent.append(text)
        transcript = call(other.base, f"/api/conversations/{conv['conversation_id']}/messages",
                          token=conv["token"])["messages"]
        assert [m["text"] for m in transcript if m["sender"] == "customer"] == sent  # nothing lost, nothing twice
        assert sum(m["sender"] == "bot" for m in transcript) >= len(sent)
    deadline = time.time() + 30
    while True:
        now = holder()
        if now is not None and f":{other.proc.pid}:" in now:
            break
        assert time.time() < deadline, f"the lease stayed with {now}"
        time.sleep(0.5)
    assert other.ready()
    engine.dispose()
