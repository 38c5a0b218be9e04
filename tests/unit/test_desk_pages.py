"""Pages of the desk and the widget through the HTTP API, without a model: the app serves the real desk services on
a SQLite file (the routes below never reach the bot). The queue pages through ``Link: rel="next"`` with
``X-Total-Count``, transcripts and ticket histories read in pages, and what used to answer 500 (a non-numeric
``Last-Event-ID``, ``PATCH`` of an unknown agent, ids beyond 64 bits) answers a 4xx with a message."""

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import insert

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 3, 2, 9, 0)  # Monday 10:00 in Paris: tier1 is open
PASSWORD = "correct horse battery"
OPEN, OVERDUE = 120, 5


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    from fastapi.testclient import TestClient

    import handoff.agents  # noqa: F401  (tables)
    import handoff.models  # noqa: F401
    from api.app import create_app
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from handoff.models import Ticket
    from handoff.service import HandoffService
    from tests.conftest import REPO
    from tier0.clock import FrozenClock
    from tier0.config import Settings
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    home = tmp_path_factory.mktemp("desk-pages")
    db = Database(f"sqlite:///{home / 'tier0.db'}")
    db.create_all()
    clock = FrozenClock(NOW)
    cfg = load_config(REPO / "data" / "desk.yml")
    conversations = ConversationStore(db)
    agents = AgentDirectory(db, cfg.queues_of, clock)
    agents.create("admin", PASSWORD, role="admin")
    agents.create("alice", PASSWORD)
    handoff = HandoffService(db, conversations, cfg, clock, agents)
    conv, token = conversations.start(customer={"name": "Pages"})
    rows = []
    for i in range(OPEN):
        at = NOW - (dt.timedelta(days=10 - i) if i < OVERDUE else dt.timedelta(seconds=i))
        rows.append({"conversation_id": conv.id, "status": "waiting", "queue": "tier1", "level": 1,
                     "priority": "normal", "reason": "customer_request", "channel": "web", "customer": {},
                     "candidates": [], "transcript": [], "level_started_at": at, "created_at": at, "updated_at": at})
    with db.session() as s:
        s.execute(insert(Ticket), rows)
    # the desk's routes need the desk's services only: no Rasa, no embedder
    engine = SimpleNamespace(services=SimpleNamespace(db=db, handoff=handoff, agents=agents,
                                                      conversations=conversations))
    client = TestClient(create_app(Settings(home=home), engine=engine))  # no `with`: no background jobs
    client.conv, client.conv_token, client.handoff = conv.id, token, handoff
    yield client
    db.dispose()


def login(c, username):
    r = c.post("/api/desk/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def staff(desk):
    return {name: login(desk, name) for name in ("admin", "alice")}


def test_the_queue_pages_through_link_headers(desk, staff):
    r = desk.get("/api/desk/tickets", headers=staff["alice"])
    assert r.status_code == 200 and len(r.json()) == 50
    assert r.headers["x-total-count"] == str(OPEN)
    assert [t["id"] for t in r.json()[:OVERDUE]] == [f"T-{i}" for i in range(1, OVERDUE + 1)]  # most overdue first
    seen, url = [], "/api/desk/tickets?limit=40"
    while url:
        r = desk.get(url, headers=staff["alice"])
        assert r.status_code == 200 and r.headers["x-total-count"] == str(OPEN)
        seen += [t["id"] for t in r.json()]
        link = r.headers.get("link")
        url = link[1:link.index(">")] if link else None
        assert link is None or link.endswith('>; rel="next"')
    assert len(seen) == len(set(seen)) == OPEN
    token = staff["alice"]["Authorization"][7:]
    r = desk.get(f"/api/desk/tickets?limit=10&access_token={token}")  # EventSource's way; not copied into Link
    if r.status_code == 200:  # (query-string tokens may be refused altogether)
        assert "access_token" not in r.headers["link"] and "offset=10" in r.headers["link"]
    r = desk.get("/api/desk/tickets?status=resolved", headers=staff["alice"])
    assert r.json() == [] and r.headers["x-total-count"] == "0" and "link" not in r.headers
    for bad in ("limit=0", "limit=201", "offset=-1", "limit=x"):
        r = desk.get(f"/api/desk/tickets?{bad}", headers=staff["alice"])
        assert r.status_code == 422, bad


def test_a_ticket_shows_its_last_messages_and_events_and_reads_earlier_ones(desk, staff):
    handoff = desk.handoff
    conversations = handoff._ctx.conversations
    sent = [conversations.add_message(desk.conv, "customer", f"line {i}")["id"] for i in range(25)]
    agent = handoff._ctx.agents.authenticate(staff["alice"]["Authorization"][7:])
    for i in range(5):
        handoff.note("T-1", agent, f"note {i}")
    r = desk.get("/api/desk/tickets/T-1?limit=10", headers=staff["alice"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert [m["id"] for m in d["messages"]] == sent[-10:] and d["earlier_messages"]
    assert [e["note"] for e in d["events"]] == [f"note {i}" for i in range(5)] and not d["earlier_events"]
    r = desk.get(f"/api/desk/tickets/T-1/messages?before={sent[-10]}&limit=10", headers=staff["alice"])
    assert r.status_code == 200 and r.json()["earlier"]
    assert [m["id"] for m in r.json()["messages"]] == sent[-20:-10]
    r = desk.get(f"/api/desk/tickets/T-1/messages?before={sent[-20]}&limit=10", headers=staff["alice"])
    assert [m["id"] for m in r.json()["messages"]] == sent[:5] and not r.json()["earlier"]
    r = desk.get("/api/desk/tickets/T-1/events?limit=2", headers=staff["alice"])
    events = r.json()
    assert [e["note"] for e in events["events"]] == ["note 3", "note 4"] and events["earlier"]
    r = desk.get(f"/api/desk/tickets/T-1/events?limit=2&before={events['events'][0]['id']}", headers=staff["alice"])
    assert [e["note"] for e in r.json()["events"]] == ["note 1", "note 2"]
    for url, code in (("/api/desk/tickets/T-99999/messages", 404), ("/api/desk/tickets/nope/events", 422),
                      (f"/api/desk/tickets/T-1/messages?before={2**64}", 422),
                      ("/api/desk/tickets/T-1?limit=501", 422)):
        r = desk.get(url, headers=staff["alice"])
        assert r.status_code == code, (url, r.text)
        assert r.json()["detail"]
    assert desk.get("/api/desk/tickets/T-1/messages").status_code == 401


def test_the_widget_transcript_reads_in_pages(desk):
    auth = {"Authorization": f"Bearer {desk.conv_token}"}
    got, after, more = [], 0, True
    while more:
        r = desk.get(f"/api/conversations/{desk.conv}/messages?after={after}&limit=7", headers=auth)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["messages"]) <= 7
        got += page["messages"]
        more = page["more"]
        after = page["messages"][-1]["id"] if page["messages"] else after
    assert [m["text"] for m in got][:3] == ["line 0", "line 1", "line 2"] and len(got) >= 25
    r = desk.get(f"/api/conversations/{desk.conv}/messages", headers=auth)
    assert r.json()["more"] is False and len(r.json()["messages"]) == len(got)
    for bad in (f"after={2**63}", "limit=0", "limit=501"):
        assert desk.get(f"/api/conversations/{desk.conv}/messages?{bad}", headers=auth).status_code == 422, bad


@pytest.mark.parametrize("header", ["abc", "-1", "1.5", "0x10", "9" * 25, "1 2"])
def test_a_bad_last_event_id_is_a_422_not_a_500(desk, header):
    r = desk.get(f"/api/conversations/{desk.conv}/stream",
                 headers={"Authorization": f"Bearer {desk.conv_token}", "Last-Event-ID": header})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input" and "Last-Event-ID" in r.json()["detail"]


def test_where_a_stream_resumes():
    from api.widget import resume_from
    from tier0.errors import InvalidInput

    assert resume_from(None, 7) == 7 and resume_from("", 7) == 7 and resume_from(" 12 ", 7) == 12
    with pytest.raises(InvalidInput):
        resume_from("²", 0)  # a digit to str.isdigit, not to int()


def test_patch_of_an_unknown_agent_is_a_404(desk, staff):
    for body in ({}, {"active": False}, {"password": "another long password"}):
        r = desk.patch("/api/desk/agents/nobody", headers=staff["admin"], json=body)
        assert r.status_code == 404, (body, r.text)
        assert r.json() == {"error": "not_found", "detail": "agent 'nobody' not found"}
    r = desk.patch("/api/desk/agents/alice", headers=staff["admin"], json={})
    assert r.status_code == 200 and r.json()["username"] == "alice"
    assert desk.patch("/api/desk/agents/nobody", headers=staff["alice"], json={}).status_code == 403


@pytest.mark.parametrize("reference, code", [("T-99999", 404), ("T-x", 422), ("T-" + "9" * 30, 422)])
def test_every_ticket_route_answers_an_unknown_ticket_with_a_4xx(desk, staff, reference, code):
    routes = [("get", ""), ("get", "/messages"), ("get", "/events"), ("post", "/claim"), ("post", "/release"),
              ("post", "/reply"), ("post", "/notes"), ("post", "/resolve"), ("post", "/escalate"),
              ("post", "/return-to-bot"), ("post", "/flag")]
    bodies = {"/reply": {"text": "x"}, "/notes": {"text": "x"}, "/escalate": {"kind": "functional", "note": "x"},
              "/flag": {"message_id": 1}}
    for method, path in routes:
        r = desk.request(method, f"/api/desk/tickets/{reference}{path}", headers=staff["admin"],
                         json=bodies.get(path))
        assert r.status_code == code, (method, path, r.status_code, r.text)
        assert r.json()["detail"]
