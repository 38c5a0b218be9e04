"""The editor console's API (/api/editor/...): KB editors write, try, publish and import articles and read what the
bot failed to answer. Every route needs a signed-in account allowed to edit the KB (api.deps.Editor)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, Optional, Tuple

from fastapi import APIRouter, Path, Query

from api.deps import Editor, Engine
from api.schemas import ArticleFeedback, FeedbackList, FromTicketBody, FromTicketOut, GapDecisionOut, GapReport
from bot import gaps as content_gaps
from bot import usage as article_usage
from bot.ticket_article import from_ticket
from tier0.db import utcnow
from tier0.errors import InvalidInput, NotFound
from tier0.vocab import MAX_FEEDBACK_DAYS, Language

router = APIRouter(prefix="/api/editor", tags=["editor"])

# -- articles, versions, publish (#22 A) --------------------------------------------------------------------------


# -- try it, calibration health, refit (#22 C) --------------------------------------------------------------------


# -- article feedback, content gaps, ticket to article (#22 D) ----------------------------------------------------
def _period(engine: Any, since: Optional[dt.date], until: Optional[dt.date]) -> Tuple[dt.datetime, dt.datetime]:
    """[since 00:00, the day after until 00:00) in UTC; by default the last TIER0_GAPS_DEFAULT_DAYS days."""
    try:
        until = until or utcnow().date()  # the messages' clock (tier0.db), which the figures mostly read
        since = since or until - dt.timedelta(days=engine.services.settings.gaps_default_days - 1)
        end = dt.datetime.combine(until, dt.time()) + dt.timedelta(days=1)
    except OverflowError:
        raise InvalidInput("the period must lie between the years 1 and 9999") from None
    if since > until:
        raise InvalidInput(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_FEEDBACK_DAYS:
        raise InvalidInput(f"a period of at most {MAX_FEEDBACK_DAYS} days, please (got {(until - since).days + 1})")
    return dt.datetime.combine(since, dt.time()), end


SINCE = Query(None, description="first day (YYYY-MM-DD, UTC); default: TIER0_GAPS_DEFAULT_DAYS days before until")
UNTIL = Query(None, description="last day included (YYYY-MM-DD, UTC); default: today")
GAP_KEY = Path(..., regex=content_gaps.KEY_PATTERN, description="a group's key, as the report gives it")


def _article_rows(engine: Any, figures: Dict[str, article_usage.ArticleFigures],
                  lang: Optional[str]) -> list:
    kb = engine.services.kb
    known = {a.id: a for a in kb.published()}
    rows = []
    for a in sorted(set(known) | set(figures)):
        art = known.get(a)
        if art is None:
            try:
                art = kb.get(a)
            except NotFound:
                art = None
        if lang and (art is None or art.lang != lang):
            continue
        f = figures.get(a) or article_usage.ArticleFigures(a)
        rows.append({**f.as_dict(), "title": art.title if art else None, "lang": art.lang if art else None,
                     "status": art.status if art else None})
    rows.sort(key=lambda r: (-r["answers"], -r["views"], r["article_id"]))
    return rows


@router.get("/feedback", response_model=FeedbackList)
def feedback_list(engine: Engine, editor: Editor, since: Optional[dt.date] = SINCE, until: Optional[dt.date] = UNTIL,
                  lang: Optional[Language] = None) -> Any:
    """Every published article (and any other with figures) with its views, answers, "did this help?" yes/no,
    hand-offs after its answers and agents' flags over the period, most answers first."""
    start, end = _period(engine, since, until)
    figures = article_usage.figures(engine.services.db, start, end)
    return {"since": start.date().isoformat(), "until": (end - dt.timedelta(days=1)).date().isoformat(),
            "articles": _article_rows(engine, figures, str(lang) if lang else None)}


@router.get("/articles/{article_id}/feedback", response_model=ArticleFeedback)
def article_feedback(article_id: str, engine: Engine, editor: Editor, since: Optional[dt.date] = SINCE,
                     until: Optional[dt.date] = UNTIL) -> Any:
    """One article's figures over the period, with the agents' flags and their notes (newest first)."""
    art = engine.services.kb.get(article_id)  # 404 when it does not exist
    start, end = _period(engine, since, until)
    f = article_usage.figures(engine.services.db, start, end, [art.id])[art.id]
    return {**f.as_dict(), "title": art.title, "lang": art.lang, "status": art.status}


def _gap_report(engine: Any, since: Optional[dt.date] = None, until: Optional[dt.date] = None,
                lang: Optional[str] = None, min_conversations: int = 1, include_handled: bool = False) -> Dict:
    s = engine.services
    start, end = _period(engine, since, until)
    groups = content_gaps.report(s.db, s.index, start, end, lang=lang, distance=s.settings.gaps_distance,
                                 max_questions=s.settings.gaps_max_questions, min_conversations=min_conversations,
                                 include_handled=include_handled)
    return {"since": start.date().isoformat(), "until": (end - dt.timedelta(days=1)).date().isoformat(),
            "distance": s.settings.gaps_distance, "questions": sum(g.questions for g in groups),
            "groups": groups}


@router.get("/gaps", response_model=GapReport)
def gaps_report(engine: Engine, editor: Editor, since: Optional[dt.date] = SINCE, until: Optional[dt.date] = UNTIL,
                lang: Optional[Language] = None,
                min: int = Query(1, ge=1, le=1000, description="groups of at least this many conversations"),
                all: bool = Query(False, description="also the groups dismissed or drafted already")) -> Any:
    """Customers' questions the bot did not answer (or answered, then handed off), grouped by meaning per language,
    the groups that would have saved the most conversations first (bot.gaps; docs/editor.md)."""
    out = _gap_report(engine, since, until, str(lang) if lang else None, min, all)
    out["groups"] = [g.as_dict() for g in out["groups"]]
    return out


def _find_gap(engine: Any, key: str) -> content_gaps.Gap:
    return content_gaps.find(key, lambda: _gap_report(engine, include_handled=True)["groups"])


@router.post("/gaps/{key}/dismiss", response_model=GapDecisionOut)
def dismiss_gap(engine: Engine, editor: Editor, key: str = GAP_KEY) -> Any:
    """Not worth an article: the group leaves the report (and stays out when found again with more questions)."""
    g = _find_gap(engine, key)
    content_gaps.dismiss(engine.services.db, g, editor.username)
    return {"key": g.key, "state": g.state}


def _draft_out(art: Any) -> Dict[str, Any]:
    return {"id": art.id, "title": art.title, "lang": art.lang, "status": art.status, "questions": art.questions,
            "body": art.body}


@router.post("/gaps/{key}/draft", response_model=GapDecisionOut, status_code=201)
def draft_from_gap(engine: Engine, editor: Editor, key: str = GAP_KEY) -> Any:
    """A draft article prefilled from the group: its representative question as title, the examples as alternate
    questions (not answered from until published)."""
    g = _find_gap(engine, key)
    art = content_gaps.draft(engine.services.db, engine.services.kb, g, editor.username)
    return {"key": g.key, "state": g.state, "article": _draft_out(art)}


@router.post("/from-ticket/{reference}", response_model=FromTicketOut)
def article_from_ticket(reference: str, engine: Engine, editor: Editor, body: Optional[FromTicketBody] = None) -> Any:
    """A resolved ticket made a draft: the customer's question as alternate question, the agents' replies as body.
    First the question is searched: articles the bot would already answer it from stop it (created: false) unless
    ``force``."""
    s = engine.services
    body = body or FromTicketBody()
    ticket = s.handoff.get(reference)
    return from_ticket(ticket, s.db, s.conversations, s.kb, s.index, lambda lg: s.turns.policy_for(lg).answer_threshold,
                       editor.username, question=body.question, title=body.title, force=body.force)



# -- import, export, rendering (#22 F) ----------------------------------------------------------------------------
