"""Fitting a calibration: the model on the training data, the thresholds off its curve, the diagnostics for the
KB's editors (:func:`fit`); and reusing a saved one while it still matches the KB and its settings, refitting when
enough new feedback or traffic arrived (:func:`load_or_fit`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from retrieval import prior as day_one
from retrieval.calibration.curves import curve as precision_coverage
from retrieval.calibration.curves import ranked_tops
from retrieval.calibration.diagnostics import confusions, near_duplicates, unreached_articles
from retrieval.calibration.model import VERSION, Calibrator, expected_sign, feature_names, sign_constrained_fit
from retrieval.calibration.thresholds import (
    AGENT_FLAG_WEIGHT,
    FEEDBACK_KEEP,
    FEEDBACK_RELAX,
    FEEDBACK_WEIGHT,
    OUT_OF_KB_SHARE,
    Top,
    bounded_share,
    estimate_share,
    guarded_thresholds,
    language_evidence,
    prior_fallback,
)
from retrieval.calibration.training import (
    MAX_TRAFFIC,
    MIN_TRAFFIC,
    REFIT_EVERY,
    TRAFFIC_REFIT_EVERY,
    Feedback,
    Question,
    classifier_inputs,
    customer_row_weight,
    feedback_examples,
    feedback_rows,
    fit_classifier,
    kb_fingerprint,
    new_feedback,
    new_traffic,
    traffic_confidences,
    training_examples,
    uses_classifier,
)
from retrieval.embedder import Embedder
from retrieval.search import Candidate, SearchIndex

log = logging.getLogger("tier0.retrieval")


def fit(
    index: SearchIndex,
    target: float = 0.03,
    feedback: Iterable[Feedback] = (),
    seed: int = 7,
    out_of_kb_share: float = OUT_OF_KB_SHARE,
    traffic: Iterable[Question] = (),
    learn_share: bool = True,
    extra_models: Sequence[Embedder] = (),
    relax: float = FEEDBACK_RELAX,
    keep: float = FEEDBACK_KEEP,
    previous: Optional[Calibrator] = None,
) -> Optional[Calibrator]:
    """Fit the calibrator on the KB (and feedback); None when the KB is too small to learn from.

    Its precision-coverage curve on the KB's calibration questions goes to ``stats["curve"]``, and with
    ``previous`` (the calibration it replaces) that one's curve on the same questions to ``stats["curve_before"]``
    (``retrieval.calibration.curves``).

    ``out_of_kb_share``: the share of questions assumed to be outside the KB (:data:`OUT_OF_KB_SHARE`). With
    ``learn_share`` and at least :data:`MIN_TRAFFIC` real questions in ``traffic``, the share learnt from them
    (:func:`estimate_share`, bounded by :data:`SHARE_FLOOR` and :data:`SHARE_CEILING`) is used instead.
    ``extra_models``: models the article classifier may read besides the search's (:func:`classifier_inputs`).

    Customers' votes (``feedback`` not ``by_agent``) move each threshold only within bounds that the trusted
    evidence alone sets (:func:`guarded_thresholds`, with ``relax`` and ``keep``), and weigh at most
    :data:`CUSTOMER_ROW_SHARE` of the model's training rows; agents' flags weigh :data:`AGENT_FLAG_WEIGHT`.
    """
    if not 0.0 < out_of_kb_share < 1.0:
        raise ValueError(f"out_of_kb_share must be between 0 and 1 (exclusive), got {out_of_kb_share}")

    inputs = classifier_inputs(index, extra_models, seed=seed) if uses_classifier(index) else None
    examples = training_examples(index, seed=seed, inputs=inputs)
    classifier = fit_classifier(index, inputs) if inputs is not None else None
    names = feature_names(len(index.embedders), classifier is not None)
    rows: List[Tuple[Candidate, int]] = []
    for ex in examples:
        rows.extend((c, int(ex.expected is not None and c.article_id == ex.expected)) for c in ex.candidates)
    feedback = list(feedback)
    fb_examples = feedback_examples(index, feedback, classifier)
    kb_rows = len(rows)
    rows.extend(feedback_rows([fx for fx in fb_examples if fx.by_agent]))
    trusted_rows = len(rows)
    rows.extend(feedback_rows([fx for fx in fb_examples if not fx.by_agent]))
    labels = np.array([y for _, y in rows])
    if len(rows) < 20 or labels.sum() < 5 or labels.sum() == len(labels):
        log.warning("retrieval.calibration_skipped rows=%d positives=%d", len(rows), int(labels.sum()))
        return None
    x = np.array([[c.features.get(n, 0.0) for n in names] for c, _ in rows], dtype="float64")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    per_vote = customer_row_weight(kb_rows, len(rows) - trusted_rows)
    weights = None if per_vote >= 1.0 else np.array([1.0] * trusted_rows + [per_vote] * (len(rows) - trusted_rows))
    coef, intercept = sign_constrained_fit((x - mean) / scale, labels, [expected_sign(n) for n in names],
                                           weights=weights)
    cal = Calibrator(names, mean, scale, coef, intercept, {"*": 1.0}, target, classifier=classifier,
                     reorder=classifier is not None, out_of_kb_share=out_of_kb_share, learn_share=learn_share,
                     extra_offered=[e.name for e in extra_models])

    # thresholds from the calibration queries' top candidates, and from real answers whose article is still the top
    ranked_top = [(ex, cal.rank(list(ex.candidates))[0]) for ex in examples if ex.candidates]  # ranked once
    share, learnt = out_of_kb_share, None
    traffic = list(traffic)[-MAX_TRAFFIC:]
    if learn_share and len(traffic) >= MIN_TRAFFIC:
        learnt = estimate_share([top.score for ex, top in ranked_top if ex.expected is not None],
                                [top.score for ex, top in ranked_top if ex.expected is None],
                                traffic_confidences(index, cal, traffic))
        share = bounded_share(learnt)
    cal.share_used = share
    answered = []  # the labelled real answers whose article is still the top candidate: (example, its probability)
    for fx in fb_examples:
        ranked = cal.rank(list(fx.candidates))
        if ranked and ranked[0].article_id == fx.article_id:
            answered.append((fx, ranked[0].score))

    def curve(at_share: float, votes: bool) -> Dict[str, List[Top]]:
        """The tops on the curve: the KB's phrasings (negatives weighed for ``at_share``) and agents' flags, and
        with ``votes`` customers' labelled answers too."""
        negative_weight = at_share / (1.0 - at_share)
        tops: Dict[str, List[Top]] = {}
        for ex, top in ranked_top:
            wrong = int(ex.expected is None or top.article_id != ex.expected)
            tops.setdefault(ex.lang, []).append((top.score, wrong, negative_weight if ex.expected is None else 1.0))
        for fx, p in answered:
            if fx.by_agent or votes:
                tops.setdefault(fx.lang, []).append(
                    (p, int(not fx.helpful), AGENT_FLAG_WEIGHT if fx.by_agent else FEEDBACK_WEIGHT))
        return tops

    # customers' votes and the learnt share move each threshold only between bounds set by trusted evidence: never
    # below where the KB's phrasings (at the lower of the learnt and the operator's share) and agents' flags show the
    # target, never so high that more than 1 - keep of the operator's settings' right answers are withheld
    tops = curve(share, votes=True)
    cal.thresholds, bounds = guarded_thresholds(tops, curve(min(share, out_of_kb_share), votes=False),
                                                curve(out_of_kb_share, votes=False), target, relax, keep)
    # a language with too few KB-derived queries (an agent's flag counting AGENT_FLAG_WEIGHT; customers' votes do
    # not count), or no safe threshold of its own, is decided by the day-one prior
    queries = {lang: sum(1 for ex, _ in ranked_top if ex.lang == lang and ex.expected is not None) for lang in tops}
    evidence = language_evidence(queries, [fx.lang for fx in fb_examples if fx.by_agent], AGENT_FLAG_WEIGHT)
    cal.prior_langs.extend(prior_fallback(cal.thresholds, evidence, tops, target))
    cal.fingerprint = kb_fingerprint(index)
    pos = [(ex, top) for ex, top in ranked_top if ex.expected is not None]
    cal.stats = {
        "prior": day_one.identity(),  # the day-one prior it was fitted with (retrieval.prior)
        "queries": len(pos),
        "rows": len(rows),
        "feedback_rows": len(rows) - sum(len(ex.candidates) for ex in examples),
        "feedback": len(feedback),  # labelled answers given (see load_or_fit)
        "feedback_used": len(fb_examples),  # those whose article is still in the KB
        "feedback_by_agents": sum(1 for fb in feedback if fb.by_agent),  # agents' flags among them
        # the bounds that trusted evidence alone sets to each threshold (guarded_thresholds), and their settings
        "threshold_bounds": {k: [float(v) for v in b] for k, b in sorted(bounds.items())},
        "feedback_guard": {"relax": relax, "keep": keep},
        "loo_r_at_1": round(sum(top.article_id == ex.expected for ex, top in pos) / max(1, len(pos)), 4),
    }
    cal.stats["curve"] = precision_coverage(ranked_tops(cal, examples), share)
    if previous is not None:
        cal.stats["curve_before"] = precision_coverage(ranked_tops(previous, examples), share)
    cal.confusions = confusions(pos)
    cal.unreached, cal.stats["unreached"] = unreached_articles(pos)
    cal.duplicates, cal.stats["near_duplicates"] = near_duplicates(index)
    for k, v in (inputs.accuracy if inputs is not None else {}).items():
        cal.stats[f"classifier_oof_{k}"] = round(v, 4)  # why the extra models were read or not
    stamped = [fb.at for fb in feedback if fb.at]
    if stamped:
        cal.stats["feedback_until"] = max(stamped)
    cal.stats["traffic"] = len(traffic)  # real questions given (the most recent MAX_TRAFFIC)
    cal.stats["queries_by_language"] = dict(sorted(queries.items()))
    if learnt is not None:
        cal.stats["traffic_share"] = round(learnt, 4)  # the estimate, before the floor and ceiling
    asked = [q.at for q in traffic if q.at]
    if asked:
        cal.stats["traffic_until"] = max(asked)
    log.info("retrieval.calibrated thresholds=%s stats=%s", cal.thresholds, cal.stats)
    return cal


def load_or_fit(index: SearchIndex, path: Path, target: float = 0.03, feedback: Sequence[Feedback] = (),
                out_of_kb_share: float = OUT_OF_KB_SHARE, traffic: Sequence[Question] = (),
                learn_share: bool = True, extra_models: Sequence[Embedder] = (), relax: float = FEEDBACK_RELAX,
                keep: float = FEEDBACK_KEEP, min_refit_interval: float = 0.0):
    """The saved calibrator if it matches the index, target and out-of-KB share, else a new fit (saved). Sets
    ``index.calibrator``.

    A saved calibrator is also refitted once :data:`REFIT_EVERY` more labelled answers (``feedback``) exist than it
    was fitted with, and, when the share is learnt, once :data:`TRAFFIC_REFIT_EVERY` more real questions
    (``traffic``) arrived and there are at least :data:`MIN_TRAFFIC` of them — but not while the saved one is less
    than ``min_refit_interval`` seconds old (by its file's time), so a flood of votes or questions cannot keep the
    workers refitting. A KB or settings change refits at once.
    """
    feedback = list(feedback)
    traffic = list(traffic)
    fp = kb_fingerprint(index)
    cal: Optional[Calibrator] = None
    if path.exists():
        try:
            saved = Calibrator.from_json(path.read_text())
            if (saved.version == VERSION and saved.fingerprint == fp and abs(saved.target - target) < 1e-9
                    and abs(saved.out_of_kb_share - out_of_kb_share) < 1e-9 and saved.learn_share == learn_share
                    and saved.extra_offered == [e.name for e in extra_models]
                    and saved.names == feature_names(len(index.embedders), uses_classifier(index))
                    and saved.stats.get("prior", "") == day_one.identity()
                    and saved.stats.get("feedback_guard") == {"relax": relax, "keep": keep}):
                cal = saved
                # refitted recently: new votes and questions wait until the saved one is old enough
                due = time.time() - path.stat().st_mtime >= min_refit_interval
                fresh = new_feedback(saved, feedback)
                if due and fresh >= REFIT_EVERY:
                    log.info("retrieval.calibration_feedback_refit new=%d", fresh)
                    cal = None
                asked = new_traffic(saved, traffic)
                if due and learn_share and len(traffic) >= MIN_TRAFFIC and (
                        asked >= TRAFFIC_REFIT_EVERY or "traffic_share" not in saved.stats):
                    log.info("retrieval.calibration_traffic_refit new=%d", asked)
                    cal = None
        except (ValueError, KeyError, TypeError) as e:
            log.warning("retrieval.calibration_unreadable %s; refitting", e)
    if cal is None:
        cal = fit(index, target=target, feedback=feedback, out_of_kb_share=out_of_kb_share, traffic=traffic,
                  learn_share=learn_share, extra_models=extra_models, relax=relax, keep=keep)
        if cal is not None:
            save(cal, path)
    index.calibrator = cal
    return cal


def save(cal: Calibrator, path: Path) -> None:
    """Write ``cal`` to ``path`` atomically (several workers may save at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(cal.to_json())
    tmp.replace(path)
