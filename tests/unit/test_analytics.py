"""The escalation analytics on a seeded history, every figure checked to the number, without a model.

The history (tests/unit/analytics_history.py, whose docstring lists each conversation and ticket and what it should
count for) is three days of a desk in a real SQLite file, written through the ORM and the real desk under a
FrozenClock.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.analytics_history import NOW, PASSWORD, History, seed

pytestmark = pytest.mark.unit

@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def history(request, tmp_path_factory):
    """The seeded history on a SQLite file, and on this machine's PostgreSQL (skipped when none answers): every
    figure is checked on both."""
    import contextlib

    from tests.conftest import postgres_database

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database("tier0_analytics")) if request.param == "postgresql" else ""
        h = seed(History.on_file(tmp_path_factory.mktemp("analytics"), url))
        yield h
        h.db.dispose()


@pytest.fixture(scope="module")
def rep(history):
    from analytics.figures import report
    from analytics.period import parse_period

    period = parse_period("2026-03-02", "2026-03-04", "Europe/Paris", NOW)
    return report(history.db, history.config, period, NOW)


def test_the_period_and_the_totals(rep):
    assert rep["period"] == {"from": "2026-03-02", "to": "2026-03-04", "timezone": "Europe/Paris", "days": 3}
    assert rep["language"] is None
    assert rep["totals"] == {
        "conversations": 8, "answered": 5, "resolved_confirmed": 1, "resolved_assumed": 1, "resolution_pending": 1,
        "handed_off": 3, "handoff_rate": 0.375, "helpful_yes": 1, "helpful_no": 1, "helpful_share": 0.5,
        "tickets": 3, "escalations": 2, "functional_escalations": 1, "hierarchical_escalations": 1,
        "reopened": 1, "reopened_tickets": 1,
        "first_response_median_min": 20.0, "first_response_breaches": 4,
        "resolution_median_min": 26.0, "resolution_breaches": 1,
        "csat_answers": 4, "csat_mean": 3.5, "csat_share_4_5": 0.5,
    }


def test_every_day_of_the_period(rep):
    zero = {"resolved_confirmed": 0, "resolved_assumed": 0, "helpful_yes": 0, "helpful_no": 0, "reopened": 0,
            "escalations": 0, "resolution_breaches": 0}
    assert rep["daily"] == [
        {"day": "2026-03-02", "conversations": 3, "answered": 3, "resolved_confirmed": 1, "resolved_assumed": 1,
         "handed_off": 1, "handoff_rate": 0.3333, "helpful_yes": 1, "helpful_no": 1, "tickets": 1, "escalations": 0,
         "reopened": 1, "first_response_breaches": 1, "resolution_breaches": 0, "csat_answers": 2, "csat_mean": 4.5},
        {**zero, "day": "2026-03-03", "conversations": 2, "answered": 1, "handed_off": 1, "handoff_rate": 0.5,
         "tickets": 1, "escalations": 1, "first_response_breaches": 2, "csat_answers": 1, "csat_mean": 2.0},
        {**zero, "day": "2026-03-04", "conversations": 3, "answered": 1, "handed_off": 1, "handoff_rate": 0.3333,
         "tickets": 1, "escalations": 1, "first_response_breaches": 1, "resolution_breaches": 1, "csat_answers": 1,
         "csat_mean": 3.0},
    ]


def test_per_language(rep):
    assert rep["languages"] == [
        {"language": "en", "conversations": 4, "answered": 4, "resolved_confirmed": 1, "resolved_assumed": 0,
         "resolution_pending": 1, "handed_off": 1, "handoff_rate": 0.25, "helpful_yes": 1, "helpful_no": 1,
         "helpful_share": 0.5},
        {"language": "fr", "conversations": 3, "answered": 1, "resolved_confirmed": 0, "resolved_assumed": 1,
         "resolution_pending": 0, "handed_off": 2, "handoff_rate": 0.6667, "helpful_yes": 0, "helpful_no": 0,
         "helpful_share": None},
        {"language": "unknown", "conversations": 1, "answered": 0, "resolved_confirmed": 0, "resolved_assumed": 0,
         "resolution_pending": 0, "handed_off": 0, "handoff_rate": 0.0, "helpful_yes": 0, "helpful_no": 0,
         "helpful_share": None},
    ]


def test_hand_off_reasons_and_entry_queues(rep):
    third = 0.3333
    assert rep["reasons"] == [{"reason": "customer_request", "tickets": 1, "share": third},
                              {"reason": "needs_authority", "tickets": 1, "share": third},
                              {"reason": "not_helpful", "tickets": 1, "share": third}]
    assert rep["queues"] == [{"queue": "front", "level": 1, "tickets": 3}]


def test_sla_per_level_in_business_time(rep):
    assert rep["sla"] == [
        {"level": "1", "stints": 4, "responded": 2, "first_response_median_min": 13.0,
         "first_response_mean_min": 13.0, "first_response_met": 1, "first_response_breaches": 2, "resolved": 2,
         "resolution_median_min": 23.0, "resolution_mean_min": 23.0, "resolution_met": 2, "resolution_breaches": 0},
        {"level": "2", "stints": 2, "responded": 1, "first_response_median_min": 60.0,
         "first_response_mean_min": 60.0, "first_response_met": 0, "first_response_breaches": 2, "resolved": 1,
         "resolution_median_min": 60.0, "resolution_mean_min": 60.0, "resolution_met": 1, "resolution_breaches": 1},
        {"level": "all", "stints": 6, "responded": 3, "first_response_median_min": 20.0,
         "first_response_mean_min": 28.7, "first_response_met": 1, "first_response_breaches": 4, "resolved": 3,
         "resolution_median_min": 26.0, "resolution_mean_min": 35.3, "resolution_met": 3, "resolution_breaches": 1},
    ]


def test_escalations_per_level_path_and_agent_and_reopenings(rep):
    assert rep["escalations"] == [{"from_level": 1, "to_level": 2, "path": "functional", "escalations": 1},
                                  {"from_level": 1, "to_level": 2, "path": "hierarchical", "escalations": 1}]
    assert rep["agents"] == [{"agent": "alice", "functional": 1, "hierarchical": 0, "escalations": 1},
                             {"agent": "bob", "functional": 0, "hierarchical": 1, "escalations": 1}]
    assert (rep["totals"]["reopened"], rep["totals"]["reopened_tickets"]) == (1, 1)


def test_satisfaction(rep):
    assert rep["satisfaction"] == [
        {"resolved_by": "all", "answers": 4, "mean": 3.5, "share_4_5": 0.5},
        {"resolved_by": "agent", "answers": 2, "mean": 3.0, "share_4_5": 0.5},
        {"resolved_by": "bot", "answers": 2, "mean": 4.0, "share_4_5": 0.5},
    ]


def test_one_language(history):
    from analytics.figures import report
    from analytics.period import parse_period

    fr = report(history.db, history.config, parse_period("2026-03-02", "2026-03-04", "Europe/Paris", NOW), NOW, "fr")
    tot = fr["totals"]
    assert (tot["conversations"], tot["answered"], tot["resolved_assumed"], tot["handed_off"]) == (3, 1, 1, 2)
    assert (tot["tickets"], tot["escalations"], tot["reopened"]) == (2, 2, 0)  # T1 and T0 are English
    assert (tot["csat_answers"], tot["csat_mean"], tot["csat_share_4_5"]) == (2, 2.5, 0.0)
    assert [r["level"] for r in fr["sla"]] == ["1", "2", "all"] and fr["sla"][-1]["stints"] == 4
    assert [lang["language"] for lang in fr["languages"]] == ["fr"]


def test_days_follow_the_time_zone(history):
    """In UTC, C2 (Sunday 23:30 UTC) falls before the period and C7 (Wednesday 23:30 UTC) inside it."""
    from analytics.figures import report
    from analytics.period import parse_period

    utc = report(history.db, history.config, parse_period("2026-03-02", "2026-03-04", "UTC", NOW), NOW)
    assert [d["conversations"] for d in utc["daily"]] == [2, 2, 4]
    assert utc["totals"]["resolution_pending"] == 2  # C6 and C7: their answers are not 24 h old


def test_an_answer_becomes_assumed_resolved_24_hours_later(history):
    from analytics.figures import report
    from analytics.period import parse_period

    later = dt.datetime(2026, 3, 5, 20, 1)
    r = report(history.db, history.config, parse_period("2026-03-02", "2026-03-04", "Europe/Paris", later), later)
    assert (r["totals"]["resolved_assumed"], r["totals"]["resolution_pending"]) == (2, 0)


def test_periods_are_checked():
    from analytics.period import parse_period
    from tier0.errors import InvalidInput

    p = parse_period(None, None, "Europe/Paris", dt.datetime(2026, 3, 4, 23, 30))  # already Thursday in Paris
    assert (p.first.isoformat(), p.last.isoformat(), len(p.days)) == ("2026-02-04", "2026-03-05", 30)
    assert p.bounds == (dt.datetime(2026, 2, 3, 23, 0), dt.datetime(2026, 3, 5, 23, 0))
    assert len(parse_period("2025-03-05", "2026-03-05", "UTC", NOW).days) == 366
    for first, last, tz, words in [("2026-13-01", None, "UTC", "from: '2026-13-01' is not a date"),
                                   ("2026-03-02", "yesterday", "UTC", "to: 'yesterday' is not a date"),
                                   ("2026-03-05", "2026-03-01", "UTC", "ends (2026-03-01) before it starts"),
                                   ("2025-03-04", "2026-03-05", "UTC", "367 days; at most 366"),
                                   (None, None, "Mars/Olympus", "'Mars/Olympus' is not a time zone"),
                                   (None, None, "America", "'America' is not a time zone"),  # a folder
                                   (None, None, "../../etc/passwd", "is not a time zone"),
                                   ("0001-01-01", None, "Europe/Paris", "not between 1970-01-01 and 2999-12-31"),
                                   (None, "9999-12-31", "UTC", "not between 1970-01-01 and 2999-12-31")]:
        with pytest.raises(InvalidInput, match=words.replace("(", r"\(").replace(")", r"\)")):
            parse_period(first, last, tz, NOW)


def test_csv_cells_never_start_a_formula():
    from analytics.csvout import to_csv

    text = to_csv([{"agent": "=HYPERLINK(1)", "n": -1, "x": None}, {"agent": "bob", "n": 2, "x": 0.5}],
                  ["agent", "n", "x"])
    assert text == "agent,n,x\r\n'=HYPERLINK(1),-1,\r\nbob,2,0.5\r\n"


# -- the API, on the same history (the desk's services only: no Rasa, no embedder) -------------------------------
@pytest.fixture(scope="module")
def api(history, tmp_path_factory):
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tier0.config import Settings

    history.agents.create("lena", PASSWORD, role="lead")
    history.agents.create("alfred", PASSWORD, role="agent")
    settings = Settings(home=tmp_path_factory.mktemp("analytics-home"))
    engine = SimpleNamespace(services=SimpleNamespace(
        db=history.db, clock=history.clock, settings=settings, desk_config=history.config, agents=history.agents,
        handoff=history.desk, conversations=history.conversations))
    client = TestClient(create_app(settings, engine=engine))  # no `with`: no background jobs

    def login(username: str) -> dict:
        r = client.post("/api/desk/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    client.lead, client.agent = login("lena"), login("alfred")
    return client


PERIOD = "from=2026-03-02&to=2026-03-04"


def test_the_api_serves_the_report_to_leads_only(api, rep):
    r = api.get(f"/api/analytics/summary?{PERIOD}", headers=api.lead)
    assert r.status_code == 200, r.text
    assert r.json() == rep
    r = api.get(f"/api/analytics/daily?{PERIOD}&lang=fr", headers=api.lead)
    assert r.status_code == 200 and r.json()["language"] == "fr"
    assert [d["conversations"] for d in r.json()["daily"]] == [1, 1, 1]
    assert api.get(f"/api/analytics/summary?{PERIOD}", headers=api.agent).status_code == 403
    assert api.get(f"/api/analytics/summary?{PERIOD}").status_code == 401
    r = api.get("/api/analytics/daily", headers=api.lead)  # the last 30 days up to today (Thursday 5 March)
    assert r.json()["period"] == {"from": "2026-02-04", "to": "2026-03-05", "timezone": "Europe/Paris", "days": 30}


def test_every_figure_as_csv(api, rep):
    from tier0.vocab import Figure

    for figure in Figure.values():
        r = api.get(f"/api/analytics/{figure}.csv?{PERIOD}", headers=api.lead)
        assert r.status_code == 200, (figure, r.text)
        assert r.headers["content-type"].startswith("text/csv")
        assert f'filename="tier0-{figure}-2026-03-02-2026-03-04.csv"' in r.headers["content-disposition"]
        lines = r.text.split("\r\n")
        rows = rep[figure] if isinstance(rep[figure], list) else [rep[figure]]
        assert len(lines) == 1 + len(rows) + 1 and lines[-1] == "", figure  # a header, the rows, a final newline
    r = api.get(f"/api/analytics/sla.csv?{PERIOD}", headers=api.lead)
    assert r.text.split("\r\n")[:2] == [
        "level,stints,responded,first_response_median_min,first_response_mean_min,first_response_met,"
        "first_response_breaches,resolved,resolution_median_min,resolution_mean_min,resolution_met,"
        "resolution_breaches",
        "1,4,2,13.0,13.0,1,2,2,23.0,23.0,2,0"]
    r = api.get(f"/api/analytics/languages.csv?{PERIOD}&lang=fr", headers=api.lead)
    assert r.text.startswith("language,conversations,") and "\r\nfr,3,1,0,1,0,2,0.6667,0,0,\r\n" in r.text
    assert api.get(f"/api/analytics/daily.csv?{PERIOD}", headers=api.agent).status_code == 403


@pytest.mark.parametrize("query, words", [
    ("from=2026-02-30", "from: '2026-02-30' is not a date"),
    ("from=2025-01-01&to=2026-03-04", "at most 366"),
    ("from=2026-03-04&to=2026-03-01", "before it starts"),
    ("tz=Nowhere/Land", "is not a time zone"),
    ("tz=Europe", "is not a time zone"),
    ("to=9999-12-31", "not between"),
])
def test_bad_periods_are_a_422_with_a_message(api, query, words):
    for url in (f"/api/analytics/summary?{query}", f"/api/analytics/daily?{query}", f"/api/analytics/sla.csv?{query}"):
        r = api.get(url, headers=api.lead)
        assert r.status_code == 422 and words in r.json()["detail"], (url, r.text)


def test_unknown_figures_and_languages_are_refused(api):
    assert api.get("/api/analytics/nothing.csv", headers=api.lead).status_code == 422
    assert api.get("/api/analytics/summary?lang=de", headers=api.lead).status_code == 422
    assert api.get("/api/analytics/summary?from=" + "9" * 11, headers=api.lead).status_code == 422


def test_the_sla_schedulers_escalations_count_as_the_systems(tmp_path):
    """No first response in 10 min: the scheduler raises the priority; none in 60: it escalates (functional). The
    escalation is the system's, both L1 targets are breached, and the L2 stint starts where the scheduler put it."""
    from analytics.figures import report
    from analytics.period import parse_period
    from tests.unit.analytics_history import t

    h = History.on_file(tmp_path)
    cid = h.conversation(t(2, 9), "en")
    h.say(cid, "customer", t(2, 9), "a person please")
    ref = h.hand_off(cid, t(2, 9), "customer_request", "en")
    for minute in (11, 61):
        h.clock.set(t(2, 9, minute) if minute < 60 else t(2, 10, minute - 60))
        assert h.desk.run_sla(), minute
    assert [e["kind"] for e in h.desk.events(ref)][-2:] == ["sla_breached", "escalated"]
    now = t(2, 10, 5)
    r = report(h.db, h.config, parse_period("2026-03-02", "2026-03-02", "Europe/Paris", now), now)
    assert r["agents"] == [{"agent": "system", "functional": 1, "hierarchical": 0, "escalations": 1}]
    assert r["escalations"] == [{"from_level": 1, "to_level": 2, "path": "functional", "escalations": 1}]
    l1, l2 = r["sla"][0], r["sla"][1]
    assert (l1["level"], l1["first_response_breaches"], l1["resolution_breaches"], l1["responded"]) == ("1", 1, 1, 0)
    assert (l2["level"], l2["stints"], l2["first_response_breaches"], l2["resolution_breaches"]) == ("2", 1, 0, 0)
    h.db.dispose()
