"""The answer thresholds: read off the precision–coverage curve per language, the day-one prior where the KB's own
data gives none, and the share of questions the KB does not cover (assumed, or learnt from real questions).

Plain numbers in, plain numbers out: nothing here searches the index or knows the calibration model.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from retrieval import prior as day_one

# The share of customers' questions the KB is assumed not to cover, when the threshold is read off the curve: the
# KB-derived negatives weigh share / (1 - share) each (1 at the default 0.5, as many uncovered questions as covered).
# Operators who know their traffic set it (TIER0_OUT_OF_KB_SHARE); bench/RESULTS.md has what lower values do.
OUT_OF_KB_SHARE = 0.5
MIN_PER_LANGUAGE = 60  # queries of a language needed for a threshold of its own
MIN_ANSWERED = 10
# A real answer that a customer confirmed (or an agent flagged) counts as this many KB-derived queries when the
# threshold is read off the curve: it is the distribution the threshold is for.
FEEDBACK_WEIGHT = 5.0
# An agent's "wrong answer" flag counts as this many: agents are signed in and read the whole conversation, so their
# flag is the stronger label (and trusted: it also moves the bounds of :func:`guarded_thresholds`).
AGENT_FLAG_WEIGHT = 20.0
# How far customers' anonymous votes may move a threshold (retrieval.calibration.guarded_thresholds; the settings
# TIER0_FEEDBACK_RELAX and TIER0_FEEDBACK_KEEP): "yes, that helped" may lower it only down to where the trusted
# evidence shows at most the target times (1 + FEEDBACK_RELAX) wrong answers (0: never below the trusted threshold);
# "that didn't help" (and a learnt out-of-KB share above the operator's) may raise it only as far as it still keeps
# FEEDBACK_KEEP of the right answers the operator's own settings give.
FEEDBACK_RELAX = 0.0
FEEDBACK_KEEP = 0.75
# The bounds of the out-of-KB share learnt from real questions. The floor is a margin for the estimator's error: on
# the public suites it read 0.115-0.117 where the truth was 0.193 (bench/RESULTS.md).
SHARE_FLOOR = 0.25
SHARE_CEILING = 0.9

# One query's top candidate on the curve: (its probability, 1 if answering it would be wrong, how much it counts)
Top = Tuple[float, int, float]


def _logit(probabilities: Sequence[float]) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype="float64"), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def estimate_share(covered: Sequence[float], uncovered: Sequence[float], observed: Sequence[float],
                   bins: int = 20, iterations: int = 500) -> float:
    """The share of ``observed`` confidences that come from questions the KB does not cover.

    ``covered`` / ``uncovered``: top-candidate confidences of KB-derived queries whose article is in the index / left
    out. The observed histogram (over the logit of the confidence) is fitted as ``share * uncovered + (1 - share) *
    covered`` by maximum likelihood (EM on the mixing weight; the two shapes stay fixed).
    """
    a, b, o = _logit(covered), _logit(uncovered), _logit(observed)
    if not len(a) or not len(b) or not len(o):
        raise ValueError("estimate_share needs covered, uncovered and observed confidences")
    lo, hi = min(a.min(), b.min(), o.min()), max(a.max(), b.max(), o.max())
    edges = np.linspace(lo, hi + 1e-9, bins + 1)
    h_cov = np.histogram(a, edges)[0] + 0.5  # add-half smoothing: no bin is impossible under either shape
    h_unc = np.histogram(b, edges)[0] + 0.5
    h_cov, h_unc = h_cov / h_cov.sum(), h_unc / h_unc.sum()
    h_obs = np.histogram(o, edges)[0]
    share = 0.5
    for _ in range(iterations):
        resp = share * h_unc / (share * h_unc + (1 - share) * h_cov)
        new = float((h_obs * resp).sum() / h_obs.sum())
        if abs(new - share) < 1e-7:
            break
        share = new
    return share


def bounded_share(learnt: float) -> float:
    """The learnt out-of-KB share as the thresholds use it: within :data:`SHARE_FLOOR` and :data:`SHARE_CEILING`."""
    return min(SHARE_CEILING, max(SHARE_FLOOR, learnt))


def choose_threshold(top_probs: np.ndarray, wrong: np.ndarray, target: float,
                     weights: Optional[np.ndarray] = None) -> float:
    """Lowest threshold whose answered set (p >= t) has a wrong-answer share <= target.

    ``top_probs``: probability of the top candidate per query; ``wrong``: 1 if answering it would be wrong;
    ``weights``: how much each query counts (1 each by default).
    With no such threshold (or too few answers to judge), returns a threshold above every probability.
    """
    weights = np.ones(len(top_probs)) if weights is None else np.asarray(weights, dtype="float64")
    order = np.argsort(-top_probs, kind="stable")
    p = top_probs[order]
    w = np.cumsum(wrong[order] * weights[order])
    n = np.arange(1, len(p) + 1)
    rate = w / np.cumsum(weights[order])
    # a threshold answers every query at or above it, so cuts fall only after the last of equal probabilities
    boundary = np.append(p[1:] != p[:-1], True)
    ok = np.nonzero((rate <= target) & (n >= MIN_ANSWERED) & boundary)[0]
    if len(ok) == 0:
        return 1.0
    return float(p[ok[-1]])


def language_thresholds(tops: Dict[str, List[Top]], target: float) -> Dict[str, float]:
    """The answer threshold of each language with at least :data:`MIN_PER_LANGUAGE` queries on the curve, and
    ``"*"`` (any other language) read off all of them; 1.0 (never answer) for ``"*"`` when there is none."""

    def threshold_of(ts: List[Top]) -> float:
        return choose_threshold(np.array([t[0] for t in ts]), np.array([t[1] for t in ts]), target,
                                np.array([t[2] for t in ts]))

    thresholds = {"*": 1.0}
    everything = [t for ts in tops.values() for t in ts]
    if everything:
        thresholds["*"] = threshold_of(everything)
    for lang, ts in tops.items():
        if lang != "*" and len(ts) >= MIN_PER_LANGUAGE:
            thresholds[lang] = threshold_of(ts)
    return thresholds


def keep_ceiling(tops: Sequence[Top], base: float, keep: float) -> float:
    """The highest threshold that still answers ``keep`` (a share) of the right answers, by weight, that ``base``
    answers among ``tops``; 1.0 when ``base`` answers nothing (>= 1.0)."""
    if base >= 1.0:
        return 1.0
    right = sorted(((p, w) for p, wrong, w in tops if not wrong and p >= base), key=lambda t: -t[0])
    total = sum(w for _, w in right)
    if total <= 0:
        return base
    need, kept = keep * total, 0.0
    for i, (p, w) in enumerate(right):
        kept += w
        if kept >= need - 1e-12 and (i + 1 == len(right) or right[i + 1][0] != p):
            return float(p)
    return base


def guarded_thresholds(mixed: Dict[str, List[Top]], trusted: Dict[str, List[Top]], reference: Dict[str, List[Top]],
                       target: float, relax: float = FEEDBACK_RELAX,
                       keep: float = FEEDBACK_KEEP) -> Tuple[Dict[str, float], Dict[str, List[float]]]:
    """The thresholds read off ``mixed`` (trusted evidence and customers' anonymous votes), each kept within bounds
    that only trusted evidence sets, whatever the votes, in any number; and those bounds (language -> [low, high]).

    * ``trusted``: the KB's own phrasings (negatives weighed by the out-of-KB share in use, or the operator's when
      that is lower) and agents' flags. The threshold is never below the one at which it shows at most
      ``target * (1 + relax)`` wrong answers: a flood of "yes" after wrong answers cannot push a threshold past the
      operator's target (``relax`` 0).
    * ``reference``: the same at the operator's own out-of-KB share. The threshold is never above the one that still
      answers ``keep`` of the right answers its threshold at ``target`` answers: a flood of "that didn't help" (or of
      off-topic questions raising the learnt share) can withhold at most ``1 - keep`` of them.

    A language ``mixed`` gives a threshold of its own but ``trusted`` does not (too few trusted queries) gets none:
    it is decided as any other language (``"*"``).
    """
    if relax < 0 or not 0.0 <= keep <= 1.0:
        raise ValueError("relax must be >= 0 and keep within 0 and 1")
    free = language_thresholds(mixed, target)
    low = language_thresholds(trusted, target * (1.0 + relax))
    base = language_thresholds(reference, target)
    out: Dict[str, float] = {}
    bounds: Dict[str, List[float]] = {}
    for key, t in free.items():
        if key not in low:
            continue
        ref = [x for ts in reference.values() for x in ts] if key == "*" else reference.get(key, [])
        high = max(low[key], keep_ceiling(ref, base.get(key, 1.0), keep))
        out[key] = min(max(t, low[key]), high)
        bounds[key] = [low[key], high]
    return out, bounds


def language_evidence(queries: Dict[str, int], feedback_langs: Iterable[str],
                      weight: float = FEEDBACK_WEIGHT) -> Dict[str, float]:
    """How much each language's threshold rests on: its KB-derived queries, a labelled real answer counting
    ``weight`` (the KB takes over with use); ``"*"`` counts every one. The calibration passes agents' flags only
    (:data:`AGENT_FLAG_WEIGHT`): anonymous votes cannot take a language off the day-one prior."""
    out: Dict[str, float] = dict(queries)
    for lang in feedback_langs:
        out[lang] = out.get(lang, 0) + weight
    out["*"] = sum(out.values())
    return out


def prior_fallback(thresholds: Dict[str, float], evidence: Dict[str, float], langs: Iterable[str],
                   target: float) -> List[str]:
    """Give the day-one prior's threshold (``retrieval.prior``) to each of ``langs`` and ``"*"`` whose
    ``evidence`` is under :data:`MIN_PER_LANGUAGE` or whose own threshold is unsafe (1.0), in ``thresholds``
    (changed in place); the languages that fell back, sorted. None fall back when there is no prior.

    A language the KB gives fewer than MIN_PER_LANGUAGE queries (titles and phrasings), or no safe threshold, falls
    back to the prior instead of never answering, or of reading a threshold off a handful of queries (a plain KB of
    22 titles a language answered 14 % wrong so). ``"*"`` (any other language) counts every query.
    """
    prior = day_one.load()
    fallen: List[str] = []
    if prior is not None:
        for lang in sorted(set(langs) | {"*"}):
            if evidence.get(lang, 0) < MIN_PER_LANGUAGE or thresholds.get(lang, 1.0) >= 1.0:
                thresholds[lang] = prior.threshold(target)
                fallen.append(lang)
    return fallen
