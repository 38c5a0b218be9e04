"""Escalation analytics (/api/analytics/...): the figures of the team leads' dashboard, as JSON and CSV, for leads
and admins (#22 E). docs/analytics.md defines every figure."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Query, Response

from analytics.csvout import to_csv
from analytics.figures import report, table
from analytics.period import parse_period
from api.deps import Engine, Lead
from api.schemas import AnalyticsDaily, AnalyticsReport
from tier0.vocab import Figure, Language

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

From = Query(None, alias="from", max_length=10, description="first day, YYYY-MM-DD (default: 29 days before `to`)")
To = Query(None, alias="to", max_length=10, description="last day, YYYY-MM-DD, included (default: today)")
Lang = Query(None, description="only conversations, tickets and answers in this language")
Tz = Query(None, max_length=64, description="time zone of the days (default: TIER0_ANALYTICS_TIMEZONE)")


def _report(engine: Any, first: Optional[str], last: Optional[str], lang: Optional[Language],
            tz: Optional[str]) -> Dict[str, Any]:
    s = engine.services
    now = s.clock.now()
    period = parse_period(first, last, tz or s.settings.analytics_timezone, now)
    return report(s.db, s.desk_config, period, now, lang.value if lang else None)


@router.get("/summary", response_model=AnalyticsReport)
def summary(engine: Engine, _lead: Lead, first: Optional[str] = From, last: Optional[str] = To,
            lang: Optional[Language] = Lang, tz: Optional[str] = Tz) -> Any:
    """Every figure of the period: totals, per day, per language, hand-off reasons, tickets per entry queue, SLA per
    level, escalations (per level and path, per agent) and satisfaction."""
    return _report(engine, first, last, lang, tz)


@router.get("/daily", response_model=AnalyticsDaily)
def daily(engine: Engine, _lead: Lead, first: Optional[str] = From, last: Optional[str] = To,
          lang: Optional[Language] = Lang, tz: Optional[str] = Tz) -> Any:
    """The figures of each day of the period (days with nothing are there, with zeros)."""
    rep = _report(engine, first, last, lang, tz)
    return {"period": rep["period"], "language": rep["language"], "daily": rep["daily"]}


def _columns(name: str) -> List[str]:
    """A figure's CSV columns: its response model's fields, a language first."""
    cols = list(AnalyticsReport.__fields__[name].type_.__fields__)
    return sorted(cols, key=lambda c: c != "language")


CSV_COLUMNS = {Figure(name): _columns(name) for name in Figure.values()}


@router.get("/{figure}.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "the figure's rows as CSV, a header line first"}})
def figure_csv(figure: Figure, engine: Engine, _lead: Lead, first: Optional[str] = From,
               last: Optional[str] = To, lang: Optional[Language] = Lang, tz: Optional[str] = Tz) -> Response:
    """One figure of the summary as CSV (UTF-8, comma-separated), to open in a spreadsheet."""
    rep = _report(engine, first, last, lang, tz)
    p = rep["period"]
    name = f"tier0-{figure.value}-{p['from']}-{p['to']}{'-' + rep['language'] if rep['language'] else ''}.csv"
    return Response(to_csv(table(rep, figure.value), CSV_COLUMNS[figure]), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
