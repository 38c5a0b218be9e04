"""For the KB's editors (#22 BC): what the bot would do with a question if a draft were published (try it), what the
calibration knows about the KB (health), and a refit on demand with its precision-coverage curves before and after.

Try it never changes the live index or calibration: the draft is searched beside the index (``SearchIndex.overlay``)
and scored by a copy of the calibration that knows it (``retrieval.calibration.adapt``). The decision is the turn's
(``retrieval.decision.decide`` with the turn's policy), without the intent classifier: a question is tried as a
question, never as a request for a person.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from knowledge_base.markdown import ArticleData
from retrieval.calibration.adapt import search_with_overlay
from retrieval.calibration.curves import coverage_at
from retrieval.decision import Signals, decide
from retrieval.search import Candidate
from tier0.text import detect_language, tokens
from tier0.vocab import DRAFT_ID, ArticleStatus, TryDecision

CANDIDATES = 5


def _candidate(c: Candidate, draft_id: Optional[str]) -> Dict[str, Any]:
    is_draft = draft_id is not None and c.article_id == draft_id
    return {"article_id": c.article_id, "title": c.title, "lang": c.lang, "confidence": round(float(c.score), 4),
            "version": None if is_draft else c.version, "draft": is_draft, "handoff": c.handoff}


def try_question(services: Any, question: str, language: Optional[str] = None,
                 draft: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """What the bot would do with ``question``, the ``draft`` (fields of an article: title, body, lang, questions,
    tags, category, id) published beside the live articles (replacing its live version when it has one)."""
    lang = language or detect_language(question, default=draft.get("lang") if draft else None) or "en"
    articles: List[ArticleData] = []
    draft_id: Optional[str] = None
    if draft is not None:
        draft_id = draft.get("id") or DRAFT_ID
        articles.append(ArticleData(id=draft_id, title=draft["title"], lang=draft["lang"], body=draft.get("body") or "",
                                    category=draft.get("category"), tags=list(draft.get("tags") or []),
                                    questions=list(draft.get("questions") or []),
                                    status=ArticleStatus.PUBLISHED.value))
    turns = services.turns
    cands = search_with_overlay(services.index, question, lang, articles, k=CANDIDATES)
    policy = turns.policy_for(lang)
    d = decide(cands, Signals(language=lang, words=len(tokens(question))), policy)
    if d.kind == "clarify":
        kind = TryDecision.SUGGEST if d.low_confidence and d.options else TryDecision.CLARIFY
    else:
        kind = TryDecision(d.kind)
    rank = next((i + 1 for i, c in enumerate(cands) if c.article_id == draft_id), None)
    return {
        "decision": kind.value,
        "language": lang,
        "confidence": round(float(d.confidence), 4),
        "threshold": round(float(policy.answer_threshold), 4),
        "article": _candidate(d.article, draft_id) if d.article is not None and d.kind != "clarify" else None,
        "options": [_candidate(c, draft_id) for c in d.options],
        "candidates": [_candidate(c, draft_id) for c in cands],
        "draft_rank": rank,
        "reason": d.reason,
        "queue": d.queue,
    }


def health(services: Any) -> Dict[str, Any]:
    """What the calibration knows about the KB: near-duplicate pairs, confused phrasings, never-reached articles,
    each with the article ids (and titles, from the index: none for an article no longer published)."""
    from retrieval.calibration.training import kb_fingerprint

    index = services.index
    cal = index.calibrator
    follow = services.follow

    def art(a: str) -> Dict[str, Any]:
        try:
            return {"id": a, "title": index.meta(a).title}
        except KeyError:
            return {"id": a, "title": None}

    running = bool(follow is not None and follow.refit_lock.locked())
    if cal is None:
        return {"calibrated": False, "up_to_date": False, "refit_running": running}
    keep = ("queries", "feedback", "feedback_used", "feedback_by_agents", "loo_r_at_1", "traffic", "traffic_share",
            "unreached", "near_duplicates", "queries_by_language")
    return {
        "calibrated": True,
        "up_to_date": cal.fingerprint == kb_fingerprint(index),
        "refit_running": running,
        "thresholds": dict(cal.thresholds),
        "target": cal.target,
        "stats": {k: cal.stats[k] for k in keep if k in cal.stats},
        "duplicates": [{"articles": [art(a) for a in d["articles"]], "similarity": d["similarity"], "part": d["part"]}
                       for d in cal.duplicates],
        "duplicates_total": int(cal.stats.get("near_duplicates", len(cal.duplicates))),
        "confusions": [{"question": c["question"], "article": art(str(c["article"])), "found": art(str(c["found"])),
                        "confidence": c["confidence"]} for c in cal.confusions],
        "unreached": [art(a) for a in cal.unreached],
        "unreached_total": int(cal.stats.get("unreached", len(cal.unreached))),
    }


def _side(cal: Any, points_key: str = "curve") -> Optional[Dict[str, Any]]:
    if cal is None:
        return None
    points = list(cal.stats.get(points_key) or [])
    return {"thresholds": dict(cal.thresholds), "curve": points,
            "coverage_at_target": coverage_at(points, 1.0 - cal.target)}


def recalibrate(services: Any, dry_run: bool = False) -> Dict[str, Any]:
    """Refit the calibration now with the feedback gathered (``Services.recalibrate``: Conflict while a refit runs);
    the curves before and after, both measured on the new fit's calibration questions.

    ``dry_run``: no fit; what a refit would start from: the current calibration and its curve (``before``), whether
    it is stale (fitted before the KB's last change, or labelled answers arrived since) and how many labelled
    answers it would learn from (``feedback``, ``new_feedback``)."""
    started = time.monotonic()
    if dry_run:
        return _dry_run(services, started)
    before, after = services.recalibrate()
    out: Dict[str, Any] = {"target": services.settings.target_wrong_rate, "refitted": after is not None,
                           "seconds": round(time.monotonic() - started, 2), "before": None, "after": _side(after)}
    if before is not None:
        out["before"] = {**(_side(before) or {}),
                         "curve": list(after.stats.get("curve_before") or []) if after is not None else []}
        out["before"]["coverage_at_target"] = coverage_at(out["before"]["curve"], 1.0 - before.target)
    return out


def _dry_run(services: Any, started: float) -> Dict[str, Any]:
    from bot.feedback import read
    from retrieval.calibration.training import kb_fingerprint, new_feedback
    from tier0.errors import Conflict

    if services.follow is not None and services.follow.refit_lock.locked():
        raise Conflict("the calibration is being refitted already: try again in a minute")
    settings = services.settings
    feedback, _ = read(services.db, per_conversation=settings.feedback_per_conversation,
                       questions_per_conversation=settings.feedback_questions_per_conversation)
    cal = services.index.calibrator
    fresh = new_feedback(cal, feedback) if cal is not None else len(feedback)
    return {"target": settings.target_wrong_rate, "refitted": False, "seconds": round(time.monotonic() - started, 2),
            "before": _side(cal), "after": None, "feedback": len(feedback), "new_feedback": fresh,
            "stale": cal is None or cal.fingerprint != kb_fingerprint(services.index) or fresh > 0}
