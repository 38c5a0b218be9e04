"""Who may call what, and whether the OpenAPI schema tells the truth — against one running tier0 (uvicorn on a free
loopback port, in a thread of this process, on the session engine's KB and trained model) under a frozen clock.

1. The authorisation matrix (MATRIX): one line per route of the app, one column per kind of caller, each cell what
   that caller gets. The routes are read from ``app.routes``: a route added without its line fails
   :func:`test_every_route_of_the_app_has_a_line_in_the_matrix`, a line left for a route that is gone too.
   The callers are set up through the API itself: the admin signs in with the initial password file and creates the
   agents of data/desk.yml's queues; a customer opens a conversation, gets an answer and hands off to a person
   (a ticket in the ``tier1`` queue).
2. schemathesis (from PyPI, a dev dependency) fuzzes every operation of /openapi.json with an agent's and a
   customer's bearer tokens: no server error, no response off the schema, no status code the schema does not list.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import httpx
import pytest
import yaml
from starlette.routing import Mount, Route

from tests.conftest import REPO, change_first_admin_password, make_settings, seed_index
from tier0.clock import FrozenClock

MONDAY_10_PARIS = dt.datetime(2026, 1, 5, 9, 0)  # every queue of data/desk.yml but the weekend ones is open
PASSWORD = "correct horse battery"
INBOUND_SECRET = "inbound-test-secret"

# The callers, in the matrix's column order.
#   anon   nobody signed in, no token
#   cust   the customer: the bearer token of the conversation under test (the one that opened the ticket)
#   othr   another customer: the bearer token of another conversation
#   oq     an agent of other queues (dave: specialists, complaints) — not of the ticket's queue (tier1)
#   edtr   a KB editor (erin): the editor role, no queue
#   agnt   an agent of the ticket's queue (alice: tier1)
#   lead   a team lead (carol)
#   admn   the admin
#   mail   the mail provider: the inbound e-mail secret (X-Tier0-Secret), nothing else
CALLERS = ("anon", "cust", "othr", "oq", "edtr", "agnt", "lead", "admn", "mail")

# Each cell: ok   the caller gets through: 2xx, for the request REQUESTS makes
#            401  refused: who are you? (no valid desk session)
#            403  refused: not yours (a wrong conversation token, a queue you do not work, a role you do not have)
#            404  refused by hiding that the thing exists — no route does that today: a conversation's routes answer
#                 403 to a wrong token (conversation ids are random, so a 403 tells nothing worth hiding)
# A new route is one more line; a new kind of caller one more column (and its headers in `world`).
MATRIX = """
route                                                           anon cust othr oq   edtr agnt lead admn mail
GET    /openapi.json                                            ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /docs                                                    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /docs/oauth2-redirect                                    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /redoc                                                   ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /healthz                                                 ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /                                                        ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /desk                                                    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /editor                                                  ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /analytics                                               ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /static/{path}                                           ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/conversations                                       ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/conversations/{conversation_id}/messages            403  ok   403  403  403  403  403  403  403
GET    /api/conversations/{conversation_id}/messages            403  ok   403  403  403  403  403  403  403
POST   /api/conversations/{conversation_id}/stream-ticket       403  ok   403  403  403  403  403  403  403
GET    /api/conversations/{conversation_id}/stream              403  ok   403  403  403  403  403  403  403
GET    /api/articles/{article_id}                               ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/desk/login                                          ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/desk/password                                       401  401  401  ok   ok   ok   ok   ok   401
POST   /api/desk/stream-ticket                                  401  401  401  ok   ok   ok   ok   ok   401
POST   /api/desk/logout                                         ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /api/desk/me                                             401  401  401  ok   ok   ok   ok   ok   401
GET    /api/desk/queues                                         401  401  401  ok   ok   ok   ok   ok   401
GET    /api/desk/tickets                                        401  401  401  ok   ok   ok   ok   ok   401
GET    /api/desk/tickets/{reference}                            401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/claim                      401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/release                    401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/reply                      401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/notes                      401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/resolve                    401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/escalate                   401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/return-to-bot              401  401  401  403  403  ok   ok   ok   401
POST   /api/desk/tickets/{reference}/flag                       401  401  401  403  403  ok   ok   ok   401
GET    /api/desk/tickets/{reference}/messages                   401  401  401  403  403  ok   ok   ok   401
GET    /api/desk/tickets/{reference}/events                     401  401  401  403  403  ok   ok   ok   401
GET    /api/desk/stream                                         401  401  401  ok   ok   ok   ok   ok   401
GET    /api/desk/agents                                         401  401  401  403  403  403  ok   ok   401
POST   /api/desk/agents                                         401  401  401  403  403  403  403  ok   401
PATCH  /api/desk/agents/{username}                              401  401  401  403  403  403  403  ok   401
GET    /api/desk/config                                         401  401  401  403  403  403  ok   ok   401
POST   /api/desk/sla/run                                        401  401  401  403  403  403  403  ok   401
GET    /api/desk/webhooks/deliveries                            401  401  401  403  403  403  403  ok   401
POST   /api/desk/webhooks/deliveries/{delivery_id}/redeliver    401  401  401  403  403  403  403  ok   401
POST   /api/desk/privacy/erasures                               401  401  401  403  403  403  403  ok   401
GET    /api/desk/privacy/audit                                  401  401  401  403  403  403  403  ok   401
POST   /api/inbound/email                                       403  403  403  403  403  403  403  403  ok
GET    /api/search                                              ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/conversations/{conversation_id}/token               403  ok   403  403  403  403  403  403  403
POST   /api/conversations/{conversation_id}/end                 403  ok   403  403  403  403  403  403  403
POST   /api/conversations/{conversation_id}/survey              403  ok   403  403  403  403  403  403  403
POST   /api/conversations/{conversation_id}/contact             403  ok   403  403  403  403  403  403  403
GET    /api/editor/articles                                     401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/articles                                     401  401  401  403  ok   403  ok   ok   401
GET    /api/editor/articles/{article_id}                        401  401  401  403  ok   403  ok   ok   401
PUT    /api/editor/articles/{article_id}/draft                  401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/articles/{article_id}/publish                401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/articles/{article_id}/archive                401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/articles/{article_id}/unarchive              401  401  401  403  ok   403  ok   ok   401
GET    /api/editor/articles/{article_id}/versions               401  401  401  403  ok   403  ok   ok   401
GET    /api/editor/articles/{article_id}/diff                   401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/articles/{article_id}/rollback               401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/articles/{article_id}/translation            401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/preview                                      401  401  401  403  ok   403  ok   ok   401
GET    /api/editor/export                                       401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/import                                       401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/convert-html                                 401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/try                                          401  401  401  403  ok   403  ok   ok   401
GET    /api/editor/health                                       401  401  401  403  ok   403  ok   ok   401
POST   /api/editor/calibrate                                    401  401  401  403  ok   403  ok   ok   401
"""


def parse_matrix(text: str) -> Dict[str, Dict[str, str]]:
    """``{"METHOD /path": {caller: cell}}`` from MATRIX (the first line names the columns)."""
    lines = [ln.split() for ln in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[1:]) == CALLERS, f"MATRIX columns {header[1:]} are not CALLERS {CALLERS}"
    table: Dict[str, Dict[str, str]] = {}
    for row in rows:
        key = f"{row[0]} {row[1]}"
        assert key not in table, f"two lines for {key}"
        assert len(row) == 2 + len(CALLERS), f"{key}: {len(row) - 2} cells for {len(CALLERS)} callers"
        cells = dict(zip(CALLERS, row[2:]))
        assert set(cells.values()) <= {"ok", "401", "403", "404"}, f"{key}: unknown cell in {row[2:]}"
        table[key] = cells
    return table


def app_routes(app: Any) -> List[str]:
    """Every route of the app as ``METHOD /path`` (HEAD, which Starlette adds to every GET, left out); a mounted
    folder as ``GET /mount/{path}``."""
    keys = []
    for r in app.routes:
        if isinstance(r, Mount):
            keys.append(f"GET {r.path}/{{path}}")
        elif isinstance(r, Route):
            keys += [f"{m} {r.path}" for m in sorted(r.methods or ()) if m != "HEAD"]
        else:
            raise AssertionError(f"a route of a kind the matrix does not know: {r!r}")
    return keys


# -- the requests the matrix makes -------------------------------------------------------------------------------
# A request is built per (route, caller) by REQUESTS[route](world, caller, passes) — passes: the matrix expects the
# caller through — as a dict of {path: {param: value}, json: body, headers: headers instead of the caller's}; a
# route without an entry gets its path parameters from World.params and no body. Routes that change a ticket get a
# new ticket (a new customer hands off) for each caller expected through, so each of them can really succeed; the
# callers expected to be refused all try the customer's own ticket.
Request = Dict[str, Any]
Builder = Callable[["World", str, bool], Request]


def fresh_ticket(claimed: bool = False, **extra: Any) -> Builder:
    def build(w: "World", who: str, passes: bool) -> Request:
        if not passes:
            return dict(extra)
        ref = w.new_ticket()
        if claimed:
            w.expect_ok("POST", f"/api/desk/tickets/{ref}/claim", w.headers[who])
        return {"path": {"reference": ref}, **extra}

    return build


def body(payload: Any) -> Builder:
    return lambda w, who, passes: {"json": payload(w) if callable(payload) else payload}


REQUESTS: Dict[str, Builder] = {
    "POST /api/conversations/{conversation_id}/messages": body({"text": "any news about my account?"}),
    "POST /api/desk/login": body({"username": "bob", "password": PASSWORD}),
    # a session of its own, so that signing out leaves the caller's session to the other lines
    "POST /api/desk/logout": lambda w, who, passes: {"headers": w.new_session(who)},
    # the same password again is refused (422): a new one each time, then the caller's own is set back
    "POST /api/desk/password": lambda w, who, passes: w.password_change(who, passes),
    "POST /api/desk/tickets/{reference}/claim": fresh_ticket(),
    "POST /api/desk/tickets/{reference}/release": fresh_ticket(claimed=True),
    "POST /api/desk/tickets/{reference}/reply": fresh_ticket(json={"text": "Hello, I am looking into it."}),
    "POST /api/desk/tickets/{reference}/notes": body({"text": "internal: checked the account"}),
    "POST /api/desk/tickets/{reference}/resolve": fresh_ticket(json={"note": "done"}),
    "POST /api/desk/tickets/{reference}/escalate": fresh_ticket(json={"kind": "functional", "note": "a specialist"}),
    "POST /api/desk/tickets/{reference}/return-to-bot": fresh_ticket(),
    # a conversation of its own: erasing the customer's would change what the other lines read
    "POST /api/desk/privacy/erasures": lambda w, who, passes: {
        "json": {"conversation_id": open_conversation(w.http)[0] if passes else w.conversation}},
    "POST /api/desk/tickets/{reference}/flag": body(lambda w: {"message_id": w.answer_message, "note": "old"}),
    "POST /api/desk/agents": body(lambda w: {"username": f"new{next(w.seq)}", "password": PASSWORD}),
    "PATCH /api/desk/agents/{username}": body({"active": True}),
    "POST /api/inbound/email": body(lambda w: {"from": f"writer{next(w.seq)}@example.org", "subject": "Order",
                                               "text": "Where is my order?"}),
    # the widget's backend (#23 W1): renewing the token or ending the conversation would end the customer's for
    # the other lines, so the customer expected through does it on a conversation of its own
    "GET /api/search": lambda w, who, passes: {"params": {"q": "forgot my password", "lang": "en"}},
    "POST /api/conversations/{conversation_id}/token": lambda w, who, passes: own_conversation(w) if passes else {},
    "POST /api/conversations/{conversation_id}/end": lambda w, who, passes: own_conversation(w) if passes else {},
    "POST /api/conversations/{conversation_id}/survey": body({"rating": 4, "comment": "quick answer"}),
    "POST /api/conversations/{conversation_id}/contact": body({"email": "ada@example.com"}),
    # a draft (the answers and the calibration stay as they are); the first caller creates it, the others find it
    # unchanged
    "POST /api/editor/import": body({"files": [{"name": "en/matrix-draft.md", "content":
                                                "---\nid: matrix-draft\ntitle: A draft\nlang: en\nstatus: draft\n---\nBody.\n"}]}),
    "POST /api/editor/convert-html": body({"html": "<h1>Title</h1><p>A <a href='https://example.com'>link</a></p>"}),


    # #22 BC: a question with a draft beside the KB; the refit as a dry run (a real fit of the sample KB takes minutes)
    "POST /api/editor/try": body({"question": "how do I reset my password?",
                                  "article": {"title": "Reset a password", "lang": "en", "body": "Use the link."}}),
    "POST /api/editor/calibrate": body({"dry_run": True}),
}


def own_conversation(w: "World") -> Request:
    cid, auth = open_conversation(w.http)
    return {"path": {"conversation_id": cid}, "headers": auth}


# -- the editor console's articles (#22 A): a draft of its own for each caller expected through ----------------------
def fresh_article(then: Tuple[str, ...] = (), lang: str = "en", **extra: Any) -> Builder:
    """A new draft article (made by the admin) for each caller expected through, after the admin's ``then`` actions
    on it (e.g. "archive"); callers refused try the world's published article."""
    def build(w: "World", who: str, passes: bool) -> Request:
        if not passes:
            return {k: v(w) if callable(v) else v for k, v in extra.items()}
        art = w.expect_ok("POST", "/api/editor/articles", w.headers["admn"],
                          json={"title": f"Matrix article {next(w.seq)}", "lang": lang, "body": "Body."})
        art_id = art["article"]["id"]
        for action in then:
            w.expect_ok("POST", f"/api/editor/articles/{art_id}/{action}", w.headers["admn"])
        return {"path": {"article_id": art_id}, **{k: v(w) if callable(v) else v for k, v in extra.items()}}

    return build


def _french_article(w: "World") -> Dict[str, Any]:
    art = w.expect_ok("POST", "/api/editor/articles", w.headers["admn"],
                      json={"title": f"Article de la matrice {next(w.seq)}", "lang": "fr"})
    return {"of": art["article"]["id"]}


REQUESTS.update({
    "POST /api/editor/articles": body(lambda w: {"title": f"New article {next(w.seq)}", "lang": "fr"}),
    "PUT /api/editor/articles/{article_id}/draft": fresh_article(json={"body": "A better body.", "note": "matrix"}),
    "POST /api/editor/articles/{article_id}/publish": fresh_article(),
    "POST /api/editor/articles/{article_id}/archive": fresh_article(),
    "POST /api/editor/articles/{article_id}/unarchive": fresh_article(then=("archive",)),
    "POST /api/editor/articles/{article_id}/rollback": fresh_article(json={"version": 1}),
    "POST /api/editor/articles/{article_id}/translation": fresh_article(json=_french_article),
    "POST /api/editor/preview": body({"body": "**bold** <script>alert(1)</script>"}),
})


@dataclass
class World:
    http: httpx.Client
    headers: Dict[str, Dict[str, str]]  # caller -> the headers it sends
    passwords: Dict[str, Tuple[str, str]]  # desk caller -> (username, password)
    conversation: str  # the customer's, handed off
    ticket: str  # its ticket, in tier1
    answer_message: int  # the bot's answer in it (an agent may flag it)
    article: str  # the article that answer cited (published)
    delivery: int = 0  # a webhook delivery (the matrix's desk file sends every event to a loopback URL)
    seq: Iterator[int] = field(default_factory=itertools.count)

    def params(self) -> Dict[str, Any]:
        return {"conversation_id": self.conversation, "reference": self.ticket, "article_id": self.article,
                "username": "bob", "delivery_id": self.delivery, "path": "chat.js"}

    def expect_ok(self, method: str, url: str, headers: Dict[str, str], **kw: Any) -> Any:
        r = self.http.request(method, url, headers=headers, **kw)
        assert r.is_success, (method, url, r.status_code, r.text)
        return r.json() if r.content else None

    def new_ticket(self) -> str:
        """A new customer asks for a person: a ticket in tier1."""
        cid, auth = open_conversation(self.http)
        turn = self.expect_ok("POST", f"/api/conversations/{cid}/messages", auth,
                              json={"text": "I want to talk to a human please"})
        assert turn["ticket"], turn
        ref = turn["ticket"]["id"]
        assert self.expect_ok("GET", f"/api/desk/tickets/{ref}", self.headers["admn"])["queue"] == "tier1"
        return ref

    def password_change(self, who: str, passes: bool) -> Request:
        """Change the caller's own password to a new one; afterwards (every session of the account ends) sign in
        again with it, so that the other lines keep a valid session."""
        if who not in self.passwords:
            return {"json": {"old_password": "whatever it was", "new_password": "a new password 123"}}
        username, old = self.passwords[who]
        new = f"{old} {next(self.seq)}"

        def after() -> None:
            self.passwords[who] = (username, new)
            self.headers[who] = sign_in(self.http, username, new)

        return {"json": {"old_password": old, "new_password": new}, "after": after}

    def new_session(self, who: str) -> Dict[str, str]:
        if who not in self.passwords:
            return self.headers[who]
        return sign_in(self.http, *self.passwords[who])


def open_conversation(http: httpx.Client) -> Tuple[str, Dict[str, str]]:
    r = http.post("/api/conversations", json={})
    assert r.status_code == 201, r.text
    return r.json()["conversation_id"], {"Authorization": f"Bearer {r.json()['token']}"}


def sign_in(http: httpx.Client, username: str, password: str) -> Dict[str, str]:
    r = http.post("/api/desk/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def call(w: World, key: str, who: str, passes: bool) -> int:
    """Make the matrix's request for (route, caller); the status code. A stream is read up to its first bytes."""
    method, template = key.split(" ", 1)
    build = REQUESTS.get(key)
    req = build(w, who, passes) if build else {}
    params = {**w.params(), **req.get("path", {})}
    try:
        url = re.sub(r"{(\w+)}", lambda m: str(params[m.group(1)]), template)
    except KeyError as e:
        raise AssertionError(f"{key}: no value for the path parameter {e}: add it to World.params") from None
    headers = req.get("headers", w.headers[who])
    with w.http.stream(method, url, headers=headers, json=req.get("json"), params=req.get("params")) as r:
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            next(r.iter_raw())  # the stream opened and said something
        else:
            r.read()
    if "after" in req and 200 <= r.status_code < 300:
        req["after"]()
    return r.status_code


# -- one running tier0 for the module ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder, engine):
    """tier0 on a loopback port: its own SQLite file and engine (the session engine's index and trained model),
    a frozen clock, the inbound e-mail secret, and data/desk.yml plus one webhook endpoint (a closed loopback port:
    deliveries are recorded and never sent, the scheduler being off)."""
    import uvicorn

    from api.app import create_app
    from bot.runtime import build_engine

    home = tmp_path_factory.mktemp("authz-home")
    seed_index(engine, home / "index")
    desk = yaml.safe_load((REPO / "data" / "desk.yml").read_text())
    desk["webhooks"] = [{"name": "matrix", "url": "http://127.0.0.1:9/hook", "secret": "matrix-webhook-secret-123"}]
    (home / "desk.yml").write_text(yaml.safe_dump(desk, allow_unicode=True))
    settings = make_settings(home, inbound_email_secret=INBOUND_SECRET, desk_config=home / "desk.yml")
    clock = FrozenClock(MONDAY_10_PARIS)
    app = create_app(settings, engine=build_engine(settings, embedder=embedder, clock=clock))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        assert time.time() < deadline, "tier0 did not start"
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}", home
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def world(served) -> Iterator[World]:
    _, base, home = served
    with httpx.Client(base_url=base, timeout=60) as http:
        yield build_world(http, home)


def build_world(http: httpx.Client, home: Path) -> World:
    admin_password = "the admin's own password"
    admin = change_first_admin_password(http, home, admin_password)  # tier0 forces it at first sign-in
    for name, role in (("alice", "agent"), ("bob", "agent"), ("dave", "agent"), ("erin", "editor"), ("carol", "lead")):
        r = http.post("/api/desk/agents", headers=admin, json={"username": name, "password": PASSWORD, "role": role})
        assert r.status_code == 201, r.text
    passwords = {"oq": ("dave", PASSWORD), "edtr": ("erin", PASSWORD), "agnt": ("alice", PASSWORD), "lead": ("carol", PASSWORD),
                 "admn": ("admin", admin_password)}
    headers = {who: sign_in(http, *cred) for who, cred in passwords.items()}

    cid, cust = open_conversation(http)
    r = http.post(f"/api/conversations/{cid}/messages", headers=cust,
                  json={"text": "I forgot my password, how can I get back into my account?"})
    answer = r.json()
    assert answer["outcome"]["type"] == "answer", answer
    r = http.post(f"/api/conversations/{cid}/messages", headers=cust, json={"text": "that didn't help, I want a human"})
    ticket = r.json()["ticket"]
    assert ticket, r.text
    r = http.get(f"/api/desk/tickets/{ticket['id']}", headers=headers["admn"])
    assert r.json()["queue"] == "tier1", r.text  # the customer sees the team's name, the desk the queue
    _, other = open_conversation(http)
    headers.update(anon={}, cust=cust, othr=other, mail={"X-Tier0-Secret": INBOUND_SECRET})

    w = World(http, headers, passwords, cid, ticket["id"], answer["messages"][0]["id"],
              answer["outcome"]["article_id"])
    deliveries = w.expect_ok("GET", "/api/desk/webhooks/deliveries", headers["admn"])
    assert deliveries, "the ticket's events are queued for the webhook endpoint"
    w.delivery = deliveries[0]["id"]
    return w


# -- the tests ---------------------------------------------------------------------------------------------------
def test_every_route_of_the_app_has_a_line_in_the_matrix(tmp_path):
    from api.app import create_app

    routes = app_routes(create_app(make_settings(tmp_path)))  # no engine needed to list the routes
    table = parse_matrix(MATRIX)
    missing = [k for k in routes if k not in table]
    gone = [k for k in table if k not in routes]
    assert not missing, f"routes with no line in MATRIX (say who may call them): {missing}"
    assert not gone, f"lines of MATRIX for routes the app no longer has: {gone}"


def test_only_the_intended_callers_get_through(served, world):
    """Every route of the running app x every caller: what MATRIX says, and never a server error."""
    app, _, _ = served
    table = parse_matrix(MATRIX)
    wrong = []
    for key in app_routes(app):
        if key not in table:
            wrong.append(f"{key:<60} has no line in MATRIX")
            continue
        for who, cell in table[key].items():
            passes = cell == "ok"
            status = call(world, key, who, passes)
            if (passes and not 200 <= status < 300) or (not passes and str(status) != cell):
                wrong.append(f"{key:<60} {who:<5} expected {cell}, got {status}")
    assert not wrong, "the matrix is not what the app does:\n" + "\n".join(wrong)
    # the customer's ticket was never moved by a refused caller
    t = world.expect_ok("GET", f"/api/desk/tickets/{world.ticket}", world.headers["agnt"])
    assert (t["status"], t["queue"], t["assignee"]) == ("waiting", "tier1", None)


# -- schemathesis ------------------------------------------------------------------------------------------------
# Operations left out of the fuzzing, each with why. The event streams never end, so a fuzzer's request to them
# would only time out; signing out would end the fuzzing agent's session halfway. The matrix above calls all three.
NOT_FUZZED = {
    "/api/conversations/{conversation_id}/stream": "an endless event stream",
    "/api/desk/stream": "an endless event stream",
    "/api/desk/logout": "would end the fuzzing agent's session",
    "/api/conversations/{conversation_id}/token": "would end the fuzzing customer's token (#23 W1)",
    "/api/conversations/{conversation_id}/end": "would end the fuzzed conversation: no turn after it (#23 W1)",
}
# The operations only a lead or an admin may call are fuzzed with the admin's session, the other desk operations
# with an agent's, the widget's with a customer's token on that customer's conversation, the inbound e-mail with
# the mail provider's secret.
ADMIN_PATHS = ["/api/desk/agents", "/api/desk/agents/{username}", "/api/desk/config", "/api/desk/sla/run",
               "/api/desk/webhooks/deliveries", "/api/desk/webhooks/deliveries/{delivery_id}/redeliver",
               "/api/desk/privacy/erasures", "/api/desk/privacy/audit"]
FUZZ_EXAMPLES = 12  # per operation and phase: about 1200 requests, 15 to 25 s here


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def schemathesis_config(admin: Dict[str, str], agent: Dict[str, str], customer: Dict[str, str],
                        conversation: str) -> str:
    """The run's configuration (schemathesis.toml): checks, a fixed seed, a bounded number of examples, and who
    calls which operations."""
    groups = [
        {"include-path": ADMIN_PATHS, "headers": admin},
        {"include-tag": "desk", "exclude-path": ADMIN_PATHS, "headers": agent},
        {"include-tag": "widget", "headers": customer, "parameters": {"conversation_id": conversation}},
        {"include-tag": "channels", "headers": {"X-Tier0-Secret": INBOUND_SECRET}},
    ]
    lines = [
        "seed = 21", "workers = 1", "request-timeout = 30", "",
        "[generation]", f"max-examples = {FUZZ_EXAMPLES}", 'database = "none"', "",
        "[checks]", "enabled = false", "not_a_server_error.enabled = true",
        "response_schema_conformance.enabled = true", "status_code_conformance.enabled = true",
    ]
    for g in groups:
        lines += ["", "[[operations]]"] + [f"{k} = {_toml(v)}" for k, v in g.items()]
    return "\n".join(lines) + "\n"


def test_schemathesis_finds_no_server_error_and_no_response_off_the_schema(served, world, tmp_path):
    """schemathesis's CLI fuzzes every operation of /openapi.json (examples, coverage and fuzzing phases) against the
    running server: no 5xx, every response in the schema, every status code one the schema lists."""
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.skip(f"schemathesis is not installed beside {sys.executable} (pyproject's dev extra: make install)")
    _, base, _ = served
    admin = sign_in(world.http, *world.passwords["admn"])  # sessions of their own: the matrix's stay as they are
    agent = sign_in(world.http, *world.passwords["agnt"])
    conversation, customer = open_conversation(world.http)  # the bot owns it: fuzzed turns go through Rasa
    config = tmp_path / "schemathesis.toml"
    config.write_text(schemathesis_config(admin, agent, customer, conversation))
    excluded = [arg for path in NOT_FUZZED for arg in ("--exclude-path", path)]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}  # loopback, straight
    started = time.time()
    proc = subprocess.run(
        [str(st), "--config-file", str(config), "run", f"{base}/openapi.json", "--no-color", *excluded],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"schemathesis failed after {time.time() - started:.0f} s:\n{report[-30000:]}"
    assert re.search(r"Tested: +(\d+)", report) and int(re.search(r"Tested: +(\d+)", report).group(1)) >= 20, report
