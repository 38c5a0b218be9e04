"""SLA arithmetic with a frozen clock: business hours, pauses, breaches and what the scheduler does."""

import datetime as dt

import pytest

from handoff.sla import (
    ALWAYS,
    DEFAULT_POLICY,
    SlaTicket,
    due_actions,
    hours_from_spec,
    parse_windows,
    sla_clock,
    urgency_key,
)

PARIS_OFFICE = hours_from_spec("office", {"mon-fri": "09:00-18:00"}, "Europe/Paris", frozenset({dt.date(2026, 1, 6)}))
MON_0800_UTC = dt.datetime(2026, 1, 5, 8, 0)  # 09:00 in Paris (UTC+1 in winter)


def ticket(start, **kw):
    base = dict(status="waiting", level=1, priority="normal", level_started_at=start)
    base.update(kw)
    return SlaTicket(**base)


def test_business_hours_in_the_queue_time_zone():
    assert PARIS_OFFICE.is_open(MON_0800_UTC)
    assert not PARIS_OFFICE.is_open(MON_0800_UTC - dt.timedelta(minutes=1))
    assert not PARIS_OFFICE.is_open(dt.datetime(2026, 1, 6, 10, 0)), "holiday"
    # summer time: 09:00 Paris is 07:00 UTC
    assert PARIS_OFFICE.is_open(dt.datetime(2026, 7, 6, 7, 0))
    # Monday 17:50 Paris + 20 business minutes = Wednesday (Tuesday is a holiday) 09:10 Paris
    start = dt.datetime(2026, 1, 5, 16, 50)
    assert PARIS_OFFICE.add_seconds(start, 20 * 60) == dt.datetime(2026, 1, 7, 8, 10)
    assert PARIS_OFFICE.seconds_between(start, dt.datetime(2026, 1, 7, 8, 10)) == 20 * 60
    assert PARIS_OFFICE.next_open(dt.datetime(2026, 1, 10, 12, 0)) == dt.datetime(2026, 1, 12, 8, 0)


def test_tier1_default_first_response_5_and_resolution_20_minutes():
    t = ticket(MON_0800_UTC)
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(minutes=4))
    assert not c.first_response_breached and not c.resolution_breached
    assert c.first_response_due == MON_0800_UTC + dt.timedelta(minutes=5)
    assert c.resolution_due == MON_0800_UTC + dt.timedelta(minutes=20)
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(minutes=5))
    assert c.first_response_breached and due_actions(t, c, True)[0].kind == "raise_priority"
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(minutes=20))
    assert [a.kind for a in due_actions(t, c, True)] == ["raise_priority", "escalate"]
    assert [a.kind for a in due_actions(t, c, False)] == ["raise_priority", "record_breach"]


def test_each_action_happens_once_per_level():
    t = ticket(MON_0800_UTC, flags=frozenset({"L1:first_response", "L1:resolution"}))
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(hours=2))
    assert due_actions(t, c, True) == []
    t2 = ticket(MON_0800_UTC, level=2, flags=t.flags)
    assert due_actions(t2, sla_clock(t2, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(hours=9)), True)


def test_answered_in_time_is_not_late_later():
    t = ticket(MON_0800_UTC, status="agent", first_response_at=MON_0800_UTC + dt.timedelta(minutes=3))
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(minutes=15))
    assert not c.first_response_breached and due_actions(t, c, True) == []


def test_waiting_on_the_customer_pauses_resolution():
    reply = MON_0800_UTC + dt.timedelta(minutes=2)
    back = MON_0800_UTC + dt.timedelta(minutes=32)
    t = ticket(MON_0800_UTC, status="agent", first_response_at=reply, pauses=((reply, back),))
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(minutes=40))
    assert not c.resolution_breached and c.resolution_remaining_s == 10 * 60  # 40 - 30 paused = 10 of 20 used
    open_pause = ticket(MON_0800_UTC, status="agent", first_response_at=reply, pauses=((reply, None),))
    c = sla_clock(open_pause, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(hours=5))
    assert c.paused and c.resolution_due is None and not c.resolution_breached


def test_outside_business_hours_the_clock_stops():
    friday_1750_paris = dt.datetime(2026, 1, 9, 16, 50)
    t = ticket(friday_1750_paris)
    monday_0905 = dt.datetime(2026, 1, 12, 8, 5)
    c = sla_clock(t, DEFAULT_POLICY, PARIS_OFFICE, monday_0905)
    assert c.resolution_remaining_s == 5 * 60 and not c.resolution_breached  # 10 min Friday + 5 min Monday
    assert c.first_response_breached  # due Friday 17:55


def test_resolved_tickets_stop_the_clock_and_need_nothing():
    t = ticket(MON_0800_UTC, status="resolved", resolved_at=MON_0800_UTC + dt.timedelta(minutes=10))
    c = sla_clock(t, DEFAULT_POLICY, ALWAYS, MON_0800_UTC + dt.timedelta(days=3))
    assert not c.resolution_breached and due_actions(t, c, True) == []


def test_queue_order_breached_then_soonest_due_then_priority():
    now = MON_0800_UTC + dt.timedelta(minutes=30)
    late = ticket(MON_0800_UTC)
    fresh = ticket(now - dt.timedelta(minutes=1))
    urgent = ticket(now - dt.timedelta(minutes=1), priority="urgent")
    keys = {
        name: urgency_key(sla_clock(t, DEFAULT_POLICY, ALWAYS, now), ["low", "normal", "high", "urgent"].index(t.priority), t.level_started_at)
        for name, t in (("late", late), ("fresh", fresh), ("urgent", urgent))
    }
    assert sorted(keys, key=keys.get) == ["late", "urgent", "fresh"]


@pytest.mark.parametrize("spec", ["9-18", "18:00-09:00", "09:00"])
def test_bad_opening_hours_are_refused(spec):
    with pytest.raises(ValueError):
        parse_windows(spec)


def test_business_time_over_months_matches_the_day_by_day_count():
    """seconds_between adds whole days from a remembered running total: the same as counting day by day, across
    summer time changes and holidays, for spans of minutes to months."""
    import random

    extended = hours_from_spec("extended", {"mon-fri": "08:00-20:00", "sat": "09:00-13:00"}, "Europe/Paris",
                               frozenset({dt.date(2026, 12, 25), dt.date(2026, 5, 1)}))

    def day_by_day(h, start, end):
        total, day = 0.0, start.date() - dt.timedelta(days=2)
        while day <= end.date() + dt.timedelta(days=1):
            for a, b in h._windows_utc(day):
                lo, hi = max(a, start), min(b, end)
                total += max(0.0, (hi - lo).total_seconds())
            day += dt.timedelta(days=1)
        return total

    rnd = random.Random(21)
    for h in (PARIS_OFFICE, extended):
        for _ in range(300):
            a = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=rnd.randint(0, 60 * 24 * 400))
            b = a + dt.timedelta(minutes=rnd.randint(0, 60 * 24 * rnd.choice([1, 5, 40, 200])))
            assert h.seconds_between(a, b) == day_by_day(h, a, b), (h.name, a, b)
