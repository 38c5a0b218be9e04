"""The desk on PostgreSQL (the scale-out database): the same service code, a real server on this machine, and the
row lock that lets exactly one of several concurrent claims win. Skipped when no PostgreSQL answers on loopback."""

import datetime as dt
import threading

import pytest

from tests.conftest import postgres_database
from tier0.clock import FrozenClock


@pytest.fixture(scope="module")
def pg_url():
    with postgres_database("tier0_desk") as url:
        yield url


@pytest.fixture(scope="module")
def desk(pg_url):
    import handoff.agents  # noqa: F401
    import handoff.models  # noqa: F401
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from handoff.service import HandoffService
    from tests.conftest import REPO
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    db = Database(pg_url)
    db.create_all()
    db.create_all()  # idempotent on an existing schema
    cfg = load_config(REPO / "data" / "desk.yml")
    clock = FrozenClock(dt.datetime(2026, 1, 5, 9, 0))
    agents = AgentDirectory(db, cfg.queues_of, clock)
    for name in ("alice", "bob"):
        agents.create(name, "a long enough password")
    conversations = ConversationStore(db)
    yield HandoffService(db, conversations, cfg, clock, agents), conversations, agents, clock
    db.dispose()


def open_ticket(desk_service, conversations, text="I want a human"):
    from handoff.service import HandoffRequest

    conv, _ = conversations.start(customer={"email": "pg@example.com"})
    conversations.add_message(conv.id, "customer", text)
    ticket, created = desk_service.open(HandoffRequest(conv.id, "customer_request", language="en"))
    assert created
    return ticket


def test_escalation_and_sla_on_postgresql(desk):
    service, conversations, agents, clock = desk
    ref = open_ticket(service, conversations)["id"]
    clock.advance(minutes=21)
    actions = [a["action"] for a in service.run_sla() if a["ticket"] == ref]
    assert actions == ["raise_priority", "escalate"]
    t = service.get(ref)
    assert (t["queue"], t["level"], t["priority"]) == ("specialists", 2, "high")
    kinds = [e["kind"] for e in service.events(ref)]
    assert kinds == ["created", "priority_raised", "sla_breached", "escalated"]
    assert [e["kind"] for e in service.events(ref)][-1] == "escalated"
    clock.advance(minutes=1)
    assert not [a for a in service.run_sla() if a["ticket"] == ref]


def test_concurrent_claims_exactly_one_wins(desk):
    from tier0.errors import Conflict, Forbidden

    service, conversations, agents, clock = desk
    ref = open_ticket(service, conversations)["id"]
    views = [agents.login(n, "a long enough password")[2] for n in ("alice", "bob")] * 4
    barrier = threading.Barrier(len(views))
    results = []

    def claim(view):
        barrier.wait()
        try:
            service.claim(ref, view)
            results.append(("ok", view.username))
        except (Conflict, Forbidden) as e:
            results.append(("refused", type(e).__name__))

    threads = [threading.Thread(target=claim, args=(v,)) for v in views]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(1 for r in results if r[0] == "ok") == 1, results
    assert [e["kind"] for e in service.events(ref)].count("claimed") == 1


def at_once(calls):
    """Run the calls on threads released together; each result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i):
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as e:  # noqa: BLE001 - checked by the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def test_concurrent_claims_many_rounds_one_wins_the_others_get_409(desk):
    """#21: the claim is exclusive on PostgreSQL as on SQLite (tests/unit/test_atomic_desk.py): round after round,
    exactly one of four agents claiming at once wins; the others get Conflict (409), never another error."""
    from handoff.agents import AgentView
    from handoff.service import HandoffRequest
    from tier0.errors import Conflict

    service, conversations, _agents, _clock = desk
    agents = [AgentView(n, n.title(), "agent", ("tier1",)) for n in ("alice", "bob", "carol", "dan")]
    for _round in range(15):
        ref = open_ticket(service, conversations)["id"]
        results = [r["assignee"] if isinstance(r, dict) else r
                   for r in at_once([lambda a=a, ref=ref: service.claim(ref, a) for a in agents])]
        won = [r for r in results if isinstance(r, str)]
        assert len(won) == 1 and all(isinstance(r, Conflict) and r.status_code == 409
                                     for r in results if not isinstance(r, str)), results
        assert service.get(ref)["assignee"] == won[0]
        assert [e["kind"] for e in service.events(ref)].count("claimed") == 1

    # two hand-offs of one conversation at once: one ticket
    conv, _ = conversations.start(customer={"email": "pg@example.com"})
    conversations.add_message(conv.id, "customer", "a person please")
    made = at_once([lambda: service.open(HandoffRequest(conv.id, "customer_request", language="en"))] * 3)
    assert sorted(created for _t, created in made) == [False, False, True], made
    assert len({t["id"] for t, _created in made}) == 1
