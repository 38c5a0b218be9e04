"""Escalation analytics (issue #22, E): how long a report takes on a large history, and what the history costs to
store. The analytics compute every figure on request (analytics/figures.py: no cache, no stored aggregate), so their
time grows with the conversations, messages, tickets and ticket events of the period.

The bench seeds a history into an empty database, then times (several runs each, median and max):

* the month report: ``report()`` over the dashboard's default period (the 30 days up to today, Europe/Paris);
* a 7-day report (the last 7 of those days);
* one language only (the month, ``fr``);
* the CSV export of one figure (the month's ``sla``: ``report()``, ``table()``, ``to_csv()``, as the route does);
* ``GET /api/analytics/summary`` through FastAPI's TestClient with a lead's token (the month; the app is built on
  the desk's services only, as tests/unit/test_analytics.py does: no embedding model, no Rasa);
* apart, the month report's three reads: ``conversation_facts`` (conversations and their customer / bot messages),
  ``ticket_facts`` (tickets touched in the period, their events, the SLA replay) and ``survey_answers``.

The history (``--conversations`` over ``--days`` up to "now" = 2026-12-05 09:00 UTC, deterministic with ``--seed``):
arrivals by weekday and Paris hour, French 56 %, English 42 %, no language 2 %, 1 % replayed by ``tier0 eval``
(channel ``eval``: stored, never counted). About 72 % are answered by the bot (of those 22 % say "yes", 9 % "no"
and are handed off, 12 % ask again within hours, the rest go quiet), 22 % get a clarification or a greeting (12 % of
those end in a low-confidence / repeated-failure hand-off) and 6 % ask for a person at once (or write by e-mail).
Conversations and messages are bulk-inserted through SQLAlchemy Core. Every ticket (~15 % of the conversations) is
driven through the real desk (handoff.service.HandoffService, data/desk.yml, agents with their own queues) under a
FrozenClock set at each step, so its events and SLA fields are what the product writes: opened, claimed after a wait
in its queue's business hours, replied, sometimes answered by the customer and replied again, then resolved,
escalated (functional 8 %, hierarchical 4 % at level 1; 4 % further up at level 2), returned to the bot (3 %), or
still open when "now" comes; 4 % of resolved tickets are reopened by the customer within a week. Survey answers:
35 % of confirmed bot resolutions, 4 % of quiet answers, 25 % of resolved tickets. The SLA scheduler is not run (no
``system`` escalations). Messages the desk writes (agent replies, notices, the customer's messages after the
hand-off) carry the wall-clock time (ConversationStore.add_message takes no clock); no figure reads them.

    nice .venv/bin/python bench/analytics.py                                   # SQLite file, 20,000 / 30 days
    nice .venv/bin/python bench/analytics.py --pg-admin-url postgresql+psycopg2://postgres@127.0.0.1:5432/postgres
    nice .venv/bin/python bench/analytics.py --database-url URL                # any empty database (kept)
    nice .venv/bin/python bench/analytics.py --profile 25 --json /tmp/analytics-sqlite.json

``--pg-admin-url`` creates a throwaway database ``tier0_bench_<hex>`` on that server and drops it afterwards.
``--profile N`` prints (to stderr) the N heaviest functions of one more month report under cProfile.
Progress goes to stderr, the result (JSON) to stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import math
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOW = dt.datetime(2026, 12, 5, 9, 0)  # naive UTC, like every timestamp in tier0
TZ = "Europe/Paris"
PASSWORD = "bench lead password"
# local (Paris) hour of day and weekday (Monday 0) weights of a web shop's support traffic
HOUR_WEIGHTS = [1, 0.6, 0.4, 0.3, 0.3, 0.6, 1.5, 4, 8, 11, 12, 11, 9, 10, 11, 11, 10, 9, 8, 8, 8, 6, 4, 2]
DAY_WEIGHTS = [1.15, 1.05, 1.0, 1.0, 0.95, 0.7, 0.55]

QUESTIONS = {
    "en": ["how do I return a parcel?", "where is my order?", "can I change my delivery address?",
           "how long is delivery to Belgium?", "my card was charged twice", "how do I reset my password?",
           "do you deliver on Saturdays?", "can I cancel my subscription?", "where is my refund?",
           "what are your store opening hours?"],
    "fr": ["comment retourner un colis ?", "où en est ma commande ?", "puis-je changer mon adresse de livraison ?",
           "quel délai de livraison pour la Belgique ?", "j'ai été débité deux fois", "mot de passe oublié",
           "livrez-vous le samedi ?", "comment résilier mon abonnement ?", "où est mon remboursement ?",
           "quels sont les horaires du magasin ?"],
}
WANT_PERSON = {"en": ["I want to speak to a person", "this is unacceptable, I am furious, get me a human now",
                      "I need a commercial gesture for my late order"],
               "fr": ["je veux parler à quelqu'un", "c'est inadmissible, je suis furieux, un humain tout de suite",
                      "je voudrais un geste commercial pour ma commande en retard"]}
YES, NO = {"en": "yes", "fr": "oui"}, {"en": "no", "fr": "non"}
ARTICLES = ["returns", "order-tracking", "change-address", "delivery-times", "double-charge", "password-reset",
            "saturday-delivery", "cancel-subscription", "refund-status", "store-hours"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pick(rng: random.Random, weighted: Dict[Any, float]) -> Any:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


# -- the history's plan ------------------------------------------------------------------------------------------
def arrivals(n: int, days: int, rng: random.Random) -> List[dt.datetime]:
    tz = ZoneInfo(TZ)
    today = NOW.replace(tzinfo=dt.timezone.utc).astimezone(tz).date()
    dates = [today - dt.timedelta(days=i) for i in range(days)]
    out: List[dt.datetime] = []
    while len(out) < n:
        for day, hour in zip(rng.choices(dates, [DAY_WEIGHTS[d.weekday()] for d in dates], k=n - len(out)),
                             rng.choices(range(24), HOUR_WEIGHTS, k=n - len(out))):
            local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=tz)
            at = local.astimezone(dt.timezone.utc).replace(tzinfo=None)
            if at < NOW - dt.timedelta(minutes=5):
                out.append(at)
    return sorted(out)


def plan_history(n: int, days: int, rng: random.Random) -> Tuple[List[dict], List[dict], List[dict], List[dict]]:
    """Conversations and messages (rows to insert), the hand-offs to drive through the desk, and the bot's survey
    answers (the desk's are drawn once its tickets are resolved)."""
    convs: List[dict] = []
    msgs: List[dict] = []
    handoffs: List[dict] = []
    surveys: List[dict] = []
    s = dt.timedelta(seconds=1)
    for at in arrivals(n, days, rng):
        cid = "%032x" % rng.getrandbits(128)
        channel = "eval" if rng.random() < 0.01 else "web"
        lang = pick(rng, {"fr": 0.56, "en": 0.42, None: 0.02})
        words = lang or "en"
        convs.append({"id": cid, "token_hash": "%064x" % rng.getrandbits(256), "channel": channel,
                      "language": lang, "customer": {}, "status": "bot", "low_confidence_streak": 0,
                      "created_at": at, "updated_at": at})

        def say(sender: str, when: dt.datetime, text: str, **data: Any) -> None:
            msgs.append({"conversation_id": cid, "sender": sender, "text": text, "data": data, "created_at": when})

        def answer(when: dt.datetime) -> None:
            art = rng.randrange(len(ARTICLES))
            say("bot", when, "Here is what I found", sources=[{"article_id": ARTICLES[art]}])
            say("bot", when, "Did this answer your question?",
                outcome={"type": "answer", "article_id": ARTICLES[art], "confidence": round(rng.uniform(0.6, 1), 3)})

        def hand_off(when: dt.datetime, reason: str, **more: Any) -> None:
            if reason != "email":
                say("bot", when, "A person will answer", outcome={"type": "handoff", "reason": reason})
            if channel != "eval":
                handoffs.append({"conversation_id": cid, "at": when, "reason": reason, "language": lang, **more})

        q = rng.randrange(len(QUESTIONS["en"]))
        r = rng.random()
        if r < 0.06:  # a person at once, or an e-mail
            reason = pick(rng, {"customer_request": 0.6, "frustration": 0.15, "needs_authority": 0.15, "email": 0.1})
            text = {"customer_request": WANT_PERSON[words][0], "frustration": WANT_PERSON[words][1],
                    "needs_authority": WANT_PERSON[words][2], "email": QUESTIONS[words][q]}[reason]
            if reason == "email":
                channel = convs[-1]["channel"] = "email"
            say("customer", at, text)
            topic = "complaints" if reason == "frustration" and rng.random() < 0.5 else None
            hand_off(at + 2 * s, reason, topic=topic,
                     category="billing" if reason == "needs_authority" and rng.random() < 0.4 else None)
            continue
        say("customer", at, QUESTIONS[words][q])
        if r < 0.78:  # answered
            t = at + rng.randint(2, 8) * s
            answer(t)
            then = rng.random()
            if then < 0.22:
                t += rng.randint(20, 300) * s
                say("customer", t, YES[words])
                say("bot", t + s, "Glad it helped", outcome={"type": "other", "feedback": "helpful"})
                if rng.random() < 0.35:
                    surveys.append({"conversation_id": cid, "resolved_by": "bot", "language": lang,
                                    "rating": pick(rng, {5: 0.6, 4: 0.3, 3: 0.07, 2: 0.02, 1: 0.01}),
                                    "created_at": t + rng.randint(10, 120) * s})
            elif then < 0.31:
                t += rng.randint(20, 300) * s
                say("customer", t, NO[words])
                hand_off(t + s, "not_helpful", topic="billing" if q in (4, 8) and rng.random() < 0.5 else None)
            elif then < 0.43:
                t += rng.randint(3600, 20 * 3600) * s
                if t < NOW:
                    say("customer", t, QUESTIONS[words][(q + 1) % len(QUESTIONS[words])])
                    answer(t + 3 * s)
            elif rng.random() < 0.04:
                surveys.append({"conversation_id": cid, "resolved_by": "bot", "language": lang,
                                "rating": pick(rng, {5: 0.35, 4: 0.25, 3: 0.15, 2: 0.1, 1: 0.15}),
                                "created_at": t + rng.randint(30, 600) * s})
        else:  # no answer: a clarification or a greeting, sometimes a hand-off after a second try
            t = at + rng.randint(2, 8) * s
            if rng.random() < 0.3:
                say("bot", t, "Hello! How can I help?", outcome={"type": "other"})
            else:
                say("bot", t, "Which one do you mean?", outcome={"type": "clarify", "confidence": 0.4,
                                                                  "options": ARTICLES[:2]})
            if rng.random() < 0.12:
                t += rng.randint(30, 600) * s
                say("customer", t, QUESTIONS[words][(q + 3) % len(QUESTIONS[words])])
                hand_off(t + 2 * s, pick(rng, {"low_confidence": 0.7, "repeated_failure": 0.3}),
                         confidence=round(rng.uniform(0.1, 0.5), 3))
    return convs, msgs, handoffs, surveys


# -- the desk ------------------------------------------------------------------------------------------------------
class Stop(Exception):
    """The next step of a ticket is after "now": the ticket stays where it is."""


class Desk:
    """Drives tickets through HandoffService under a FrozenClock, one step at a time."""

    ESCALATE = {1: {"functional": 0.08, "hierarchical": 0.04}, 2: {"functional": 0.02, "hierarchical": 0.02}}
    WAIT_MIN = {1: 2.5, 2: 25, 3: 90}  # median business minutes before a claim
    WORK_MIN = {1: 12, 2: 60, 3: 240}  # median business minutes from the first reply to the resolution

    def __init__(self, db: Any, rng: random.Random):
        import handoff.agents  # noqa: F401  (tables)
        import handoff.models  # noqa: F401
        from handoff.agents import AgentDirectory, AgentView
        from handoff.deskconfig import load_config
        from handoff.service import HandoffService
        from tier0.clock import FrozenClock
        from tier0.conversations import ConversationStore

        self.rng = rng
        self.clock = FrozenClock(NOW)
        self.config = load_config(REPO / "data" / "desk.yml")
        self.conversations = ConversationStore(db, clock=self.clock)
        self.agents = AgentDirectory(db, self.config.queues_of, self.clock)
        self.service = HandoffService(db, self.conversations, self.config, self.clock, self.agents)
        names = sorted({m for q in self.config.queues.values() for m in q.members})
        self.staff = {n: AgentView(n, n.capitalize(), "agent", tuple(self.config.queues_of(n))) for n in names}
        self.steps = 0
        self.resolved: List[Tuple[int, str, Optional[str], dt.datetime, bool]] = []

    def at(self, when: dt.datetime, fn: Callable[..., Any], *args: Any) -> Any:
        if when >= NOW:
            raise Stop
        self.clock.set(when)
        self.steps += 1
        return fn(*args)

    def minutes(self, median: float, sigma: float = 0.9) -> float:
        return self.rng.lognormvariate(math.log(median), sigma)

    def stint(self, ref: str, cid: str, queue: str, level: int, start: dt.datetime) -> Tuple[str, Any]:
        """One level's work on the ticket: claim, reply(s), then how it ends: ("resolved" | "returned", at) or
        ("escalated", (queue, level, at))."""
        rng, d = self.rng, self.service
        hours = self.config.queue(queue).hours
        agent = self.staff[rng.choice(self.config.queues[queue].members)]
        t = hours.add_seconds(start, self.minutes(self.WAIT_MIN[level]) * 60)
        self.at(t, d.claim, ref, agent)
        esc = {k: p for k, p in self.ESCALATE.get(level, {}).items() if self.config.escalation_target(queue, k)}
        r, edge = rng.random(), 0.0
        for kind, p in esc.items():
            edge += p
            if r < edge:  # escalated, replying first or not
                if rng.random() < 0.6:
                    t += rng.randint(30, 240) * dt.timedelta(seconds=1)
                    self.at(t, d.reply, ref, agent, "Let me check with the right team")
                t = hours.add_seconds(t, self.minutes(6) * 60)
                after = self.at(t, d.escalate, ref, agent, kind, f"needs {kind} help")
                return "escalated", (after["queue"], after["level"], t)
        t += rng.randint(30, 300) * dt.timedelta(seconds=1)
        self.at(t, d.reply, ref, agent, "Hello, I am looking into it")
        if rng.random() < 0.5:  # the customer answers, the agent replies again
            t += rng.randint(120, 2400) * dt.timedelta(seconds=1)
            self.at(t, d.customer_message, cid, "here are the details", {})
            t = hours.add_seconds(t, self.minutes(3) * 60)
            self.at(t, d.reply, ref, agent, "Thank you, done")
        t = hours.add_seconds(t, self.minutes(self.WORK_MIN[level]) * 60)
        if level == 1 and rng.random() < 0.03:
            self.at(t, d.return_to_bot, ref, agent, "the bot can take it from here")
            return "returned", t
        self.at(t, d.resolve, ref, agent, None)
        return "resolved", t

    def drive(self, h: dict) -> None:
        from handoff.transitions import HandoffRequest

        self.clock.set(h["at"])
        ticket, created = self.service.open(HandoffRequest(
            h["conversation_id"], h["reason"], confidence=h.get("confidence"), article_queue=h.get("topic"),
            category=h.get("category"), language=h["language"]))
        assert created, ticket
        self.steps += 1
        ref, queue, level, start = ticket["id"], ticket["queue"], ticket["level"], h["at"]
        escalated, reopened = False, False
        try:
            while True:
                how, what = self.stint(ref, h["conversation_id"], queue, level, start)
                if how == "escalated":
                    queue, level, start = what
                    escalated = True
                    continue
                if how == "resolved" and not reopened and self.rng.random() < 0.04:
                    start = what + self.rng.randint(3600, 6 * 86400) * dt.timedelta(seconds=1)
                    self.at(start, self.service.customer_message, h["conversation_id"], "it broke again", {})
                    reopened = True
                    continue
                if how == "resolved":
                    self.resolved.append((int(ref.split("-")[1]), h["conversation_id"], h["language"], what,
                                          escalated or reopened))
                return
        except Stop:
            return


# -- seeding -------------------------------------------------------------------------------------------------------
def seed(db: Any, n: int, days: int, rng: random.Random) -> Dict[str, Any]:
    from sqlalchemy import insert

    from tier0.conversations import Conversation, Message, SurveyAnswer

    started = time.monotonic()
    convs, msgs, handoffs, surveys = plan_history(n, days, rng)
    log(f"planned {len(convs):,} conversations, {len(msgs):,} messages, {len(handoffs):,} hand-offs "
        f"in {time.monotonic() - started:.1f} s")
    t0 = time.monotonic()
    by_conv: Dict[str, List[dict]] = {}
    for m in msgs:
        by_conv.setdefault(m["conversation_id"], []).append(m)
    chunk = 2000
    for i in range(0, len(convs), chunk):
        part = convs[i:i + chunk]
        with db.session(write=True) as s:
            s.execute(insert(Conversation.__table__), part)
            s.execute(insert(Message.__table__), [m for c in part for m in by_conv[c["id"]]])
        log(f"  bulk insert: {min(i + chunk, len(convs)):,} / {len(convs):,} conversations")
    bulk_s = time.monotonic() - t0

    t0 = time.monotonic()
    desk = Desk(db, rng)
    for i, h in enumerate(handoffs, 1):
        desk.drive(h)
        if i % 250 == 0 or i == len(handoffs):
            el = time.monotonic() - t0
            log(f"  desk: {i:,} / {len(handoffs):,} tickets, {desk.steps:,} service calls, {el:.0f} s "
                f"({el / desk.steps * 1000:.1f} ms a call)")
    desk_s = time.monotonic() - t0

    for tid, cid, lang, at, troubled in desk.resolved:
        if rng.random() < 0.25:
            rating = pick(rng, {5: 0.3, 4: 0.3, 3: 0.15, 2: 0.1, 1: 0.15} if troubled else
                          {5: 0.45, 4: 0.3, 3: 0.12, 2: 0.06, 1: 0.07})
            when = at + rng.randint(60, 1800) * dt.timedelta(seconds=1)
            if when < NOW:
                surveys.append({"conversation_id": cid, "ticket_id": tid, "resolved_by": "agent", "language": lang,
                                "rating": rating, "created_at": when})
    with db.session(write=True) as s:
        if surveys:
            s.execute(insert(SurveyAnswer.__table__), surveys)
    return {"seed_s": round(time.monotonic() - started, 1), "bulk_insert_s": round(bulk_s, 1),
            "desk_s": round(desk_s, 1), "desk_calls": desk.steps,
            "desk_ms_per_call": round(desk_s / max(1, desk.steps) * 1000, 2), "desk": desk}


def counts(db: Any) -> Dict[str, int]:
    from sqlalchemy import text

    with db.session() as s:
        return {t: s.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in
                ("conversations", "messages", "tickets", "ticket_events", "survey_answers")}


def db_size(db: Any, path: Optional[Path]) -> Optional[int]:
    from sqlalchemy import text

    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))  # the file, its -wal and -shm
    if db.engine.dialect.name == "postgresql":
        with db.session() as s:
            return int(s.execute(text("SELECT pg_database_size(current_database())")).scalar())
    return None


# -- timing --------------------------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any], runs: int) -> Dict[str, Any]:
    ms = []
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        ms.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1),
            "runs_ms": [round(x, 1) for x in ms], "_last": out}


def http_client(db: Any, desk: Desk, home: Path) -> Tuple[Any, Dict[str, str]]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tier0.config import Settings

    desk.agents.create("lena", PASSWORD, role="lead")
    settings = Settings(home=home)
    engine = SimpleNamespace(services=SimpleNamespace(
        db=db, clock=desk.clock, settings=settings, desk_config=desk.config, agents=desk.agents,
        handoff=desk.service, conversations=desk.conversations))
    client = TestClient(create_app(settings, engine=engine))  # no `with`: no background jobs
    r = client.post("/api/desk/login", json={"username": "lena", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client, {"Authorization": f"Bearer {r.json()['token']}"}


def bench(db: Any, args: argparse.Namespace, home: Path, path: Optional[Path]) -> Dict[str, Any]:
    from analytics.csvout import to_csv
    from analytics.figures import conversation_facts, report, survey_answers, table, ticket_facts
    from analytics.period import parse_period
    from api.analytics import CSV_COLUMNS
    from tier0.vocab import Figure

    db.migrate()
    rng = random.Random(args.seed)
    log(f"seeding {args.conversations:,} conversations over {args.days} days into {db.engine.dialect.name}")
    seeded = seed(db, args.conversations, args.days, rng)
    desk: Desk = seeded.pop("desk")
    out: Dict[str, Any] = {"database": db.engine.dialect.name, "conversations_asked": args.conversations,
                           "days": args.days, "now": NOW.isoformat(), "rows": counts(db), **seeded}
    size = db_size(db, path)
    out["database_bytes"] = size
    out["database_mb"] = round(size / 1e6, 1) if size else None
    config = desk.config

    month = parse_period(None, None, TZ, NOW)
    week = parse_period((month.last - dt.timedelta(days=6)).isoformat(), month.last.isoformat(), TZ, NOW)
    cases: Dict[str, Callable[[], Any]] = {
        "month report (30 days)": lambda: report(db, config, month, NOW),
        "7-day report": lambda: report(db, config, week, NOW),
        "month, fr only": lambda: report(db, config, month, NOW, "fr"),
        "month sla.csv (report + table + to_csv)": lambda: to_csv(table(report(db, config, month, NOW), "sla"),
                                                                  CSV_COLUMNS[Figure.SLA]),
    }
    timings: Dict[str, Any] = {}
    for name, fn in cases.items():
        log(f"timing {name} ({args.runs} runs)")
        timings[name] = timed(fn, args.runs)
    month_rep = timings["month report (30 days)"].pop("_last")
    out["month_totals"] = month_rep["totals"]
    out["month_sla"] = month_rep["sla"]
    out["month_queues"] = month_rep["queues"]
    out["month_escalations"] = month_rep["escalations"]
    out["week_totals"] = {k: timings["7-day report"]["_last"]["totals"][k] for k in ("conversations", "tickets")}
    for t in timings.values():
        t.pop("_last", None)
    parts = {"conversation_facts": lambda: conversation_facts(db, month, NOW),
             "ticket_facts": lambda: ticket_facts(db, config, month, NOW),
             "survey_answers": lambda: survey_answers(db, month)}
    log("timing the month report's three reads")
    out["month_parts"] = {name: {k: v for k, v in timed(fn, args.runs).items() if k != "_last"}
                          for name, fn in parts.items()}
    if not args.no_http:
        log("timing GET /api/analytics/summary")
        client, lead = http_client(db, desk, home)

        def call() -> int:
            r = client.get("/api/analytics/summary", headers=lead)
            assert r.status_code == 200, r.text
            return len(r.content)

        t = timed(call, args.runs)
        t["response_bytes"] = t.pop("_last")
        timings["GET /api/analytics/summary (month, TestClient)"] = t
    out["timings"] = timings

    if args.profile:
        log("profiling one month report")
        prof = cProfile.Profile()
        prof.enable()
        report(db, config, month, NOW)
        prof.disable()
        for order in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(args.profile)
            print(buf.getvalue(), file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=20000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=5, help="runs of each timing (median and max)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database-url", help="an empty database to seed (kept afterwards); default: a SQLite file")
    ap.add_argument("--pg-admin-url", help="create a throwaway PostgreSQL database on this server, drop it after")
    ap.add_argument("--no-http", action="store_true", help="skip the TestClient call")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile one month report: top N lines")
    ap.add_argument("--json", type=Path, help="write the result here too")
    args = ap.parse_args(argv)
    from tier0.db import Database

    with tempfile.TemporaryDirectory(prefix="tier0-bench-analytics-") as tmp:
        home, admin, name, path = Path(tmp), None, None, None
        if args.pg_admin_url:
            import sqlalchemy

            name = f"tier0_bench_{uuid.uuid4().hex[:8]}"
            admin = sqlalchemy.create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f"CREATE DATABASE {name}")
            url = args.pg_admin_url.rsplit("/", 1)[0] + "/" + name
        elif args.database_url:
            url = args.database_url
        else:
            path = home / "tier0.db"
            url = f"sqlite:///{path}"
        db = Database(url)
        try:
            out = bench(db, args, home, path)
        finally:
            db.engine.dispose()
            if admin is not None:
                with admin.connect() as c:
                    c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.dispose()
    print(json.dumps(out, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
