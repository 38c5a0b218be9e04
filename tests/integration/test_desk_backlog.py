"""The desk's queue under a backlog, on a real SQLite file and on PostgreSQL: thousands of open tickets, the most
overdue of them the oldest. The first page holds the most urgent across the whole backlog (not of the newest
tickets), the pages cover every open ticket once, in the queue's order, and a transcript longer than a page reads
in pages. No model: the desk service on its database, the tickets inserted directly (fast).
"""

import datetime as dt

import pytest
from sqlalchemy import insert

from tests.conftest import REPO, postgres_database
from tier0.clock import FrozenClock

NOW = dt.datetime(2026, 3, 2, 9, 0)  # Monday 10:00 in Paris: tier1 is open
OPEN = 3000  # open tickets in tier1
OVERDUE = 40  # of them, the oldest: days overdue


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def backlog(request, tmp_path_factory):
    import handoff.agents  # noqa: F401  (tables)
    import handoff.models  # noqa: F401
    from handoff.deskconfig import load_config
    from handoff.models import Ticket
    from handoff.service import HandoffService
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    with _database(request.param, tmp_path_factory) as url:
        db = Database(url)
        db.create_all()
        clock = FrozenClock(NOW)
        conversations = ConversationStore(db)
        conv, _token = conversations.start(customer={"name": "Backlog"})
        rows = []
        # inserted first, so the lowest ids: the old, overdue tickets (what "the 2000 newest" used to hide)
        for i in range(OVERDUE):
            at = NOW - dt.timedelta(days=OVERDUE + 1 - i, minutes=7 * i)
            rows.append(_ticket(conv.id, at, "normal"))
        for i in range(OPEN - OVERDUE):  # then fresh ones, within their targets, every priority
            at = NOW - dt.timedelta(seconds=1 + i % 50)
            rows.append(_ticket(conv.id, at, ("low", "normal", "high", "urgent")[i % 4]))
        rows += [_ticket(conv.id, NOW - dt.timedelta(days=90), "urgent", status="resolved") for _ in range(200)]
        rows += [_ticket(conv.id, NOW - dt.timedelta(days=90), "urgent", queue="billing") for _ in range(200)]
        with db.session() as s:
            s.execute(insert(Ticket), rows)
        yield HandoffService(db, conversations, load_config(REPO / "data" / "desk.yml"), clock), conversations, conv.id
        db.dispose()


def _database(kind, tmp_path_factory):
    import contextlib

    if kind == "postgresql":
        return postgres_database("tier0_backlog")
    return contextlib.nullcontext(f"sqlite:///{tmp_path_factory.mktemp('backlog') / 'tier0.db'}")


def _ticket(conversation_id, at, priority, status="waiting", queue="tier1"):
    return {
        "conversation_id": conversation_id, "status": status, "queue": queue, "level": 1, "priority": priority,
        "reason": "customer_request", "channel": "web", "customer": {}, "candidates": [],
        "transcript": [{"sender": "customer", "text": f"help {at.isoformat()}"}],
        "level_started_at": at, "created_at": at, "updated_at": at,
        "resolved_at": at if status == "resolved" else None,
    }


def _reference_order(service):
    """The queue's order computed ticket by ticket, the slow way: what every page must agree with."""
    from sqlalchemy import select

    from handoff.models import Ticket
    from handoff.priority import PRIORITIES
    from handoff.sla import urgency_key
    from tier0.vocab import OPEN_TICKET_STATUSES

    views, now = service._views, service._ctx.clock.now()
    with service._ctx.db.session() as s:
        tickets = s.execute(select(Ticket).where(Ticket.queue == "tier1",
                                                 Ticket.status.in_(OPEN_TICKET_STATUSES))).scalars().all()
        keyed = [(*urgency_key(views.clock_of(t, now), PRIORITIES.index(t.priority), t.created_at), t.id)
                 for t in tickets]
    return [f"T-{k[-1]}" for k in sorted(keyed)]


def test_the_first_page_holds_the_most_overdue_of_the_whole_backlog(backlog):
    service, _conversations, _cid = backlog
    page, total = service.ticket_page(queue="tier1")
    assert total == OPEN
    assert len(page) == 50
    overdue = [t["id"] for t in page[:OVERDUE]]
    assert overdue == [f"T-{i}" for i in range(1, OVERDUE + 1)]  # the oldest is the most overdue: first
    assert all(t["sla"]["resolution_breached"] for t in page[:OVERDUE])
    assert not any(t["sla"]["resolution_breached"] for t in page[OVERDUE:])
    assert [t["priority"] for t in page[OVERDUE:]] == ["urgent"] * 10  # then the highest priority, soonest due
    assert "transcript" not in page[0] and page[0]["last_customer_message"].startswith("help ")


def test_the_pages_cover_the_backlog_once_in_the_queues_order(backlog):
    service, _conversations, _cid = backlog
    seen, offset = [], 0
    while True:
        page, total = service.ticket_page(queue="tier1", limit=200, offset=offset)
        assert total == OPEN
        if not page:
            break
        seen += [t["id"] for t in page]
        offset += len(page)
    assert len(seen) == len(set(seen)) == OPEN
    assert seen == _reference_order(service)
    # closed tickets have no running clock: newest first, paged by the database
    first, total = service.ticket_page(status="resolved", limit=150)
    rest, _ = service.ticket_page(status="resolved", limit=150, offset=150)
    ids = [int(t["id"][2:]) for t in first + rest]
    assert total == 200 and len(first) == 150 and ids == sorted(set(ids), reverse=True) and len(ids) == 200
    stats = {q["name"]: q for q in service.queue_stats()}
    assert (stats["tier1"]["waiting"], stats["tier1"]["breached"]) == (OPEN, OVERDUE)
    assert stats["billing"]["waiting"] == 200


def test_a_long_transcript_reads_in_pages_both_ways(backlog):
    service, conversations, cid = backlog
    sent = [conversations.add_message(cid, "customer", f"message {i}")["id"] for i in range(450)]
    # the widget: from the start, forwards
    got, after, more = [], 0, True
    while more:
        page, more = conversations.transcript_page(cid, 200, after_id=after)
        assert len(page) <= 200
        got += [m["id"] for m in page]
        after = page[-1]["id"]
    assert got == sent
    # the desk: the last ones, then earlier ones
    detail = service.detail("T-1")
    assert [m["id"] for m in detail["messages"]] == sent[-200:] and detail["earlier_messages"]
    earlier = service.message_page("T-1", before=sent[-200], limit=200)
    assert [m["id"] for m in earlier["messages"]] == sent[-400:-200] and earlier["earlier"]
    first = service.message_page("T-1", before=sent[-400], limit=200)
    assert [m["id"] for m in first["messages"]] == sent[:50] and not first["earlier"]
    assert detail["events"] == [] and not detail["earlier_events"]
