"""Precision-coverage curves of a calibration, for the editors' refit button (``POST /api/editor/calibrate``) and
``tier0 calibrate``: at each answer threshold, the share of the questions the KB covers that the bot answers
(coverage) and the share of its answers that are right (precision), out-of-KB questions weighing
``share / (1 - share)`` each, as when the thresholds are read."""

from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

POINTS = 40


def curve(tops: Sequence[Tuple[float, bool, bool]], share: float, points: int = POINTS) -> List[Dict[str, float]]:
    """``tops``: one (top candidate's probability, whether it is right, whether the KB covers the question) per
    calibration question. Returns at most ``points`` points, highest threshold first: ``threshold``, ``coverage``
    (answered covered questions / covered questions) and ``precision`` (weighted right answers / weighted
    answers)."""
    if not tops:
        return []
    neg_w = share / (1.0 - share)
    order = sorted(tops, key=lambda t: -t[0])
    p = np.array([t[0] for t in order])
    right = np.array([1.0 if t[1] else 0.0 for t in order])
    covered = np.array([1.0 if t[2] else 0.0 for t in order])
    w = np.where(covered > 0, 1.0, neg_w)
    answered_w = np.cumsum(w)
    right_w = np.cumsum(right * w)
    covered_answered = np.cumsum(covered)
    n_covered = max(1.0, float(covered.sum()))
    cut = [i for i in range(len(p)) if i + 1 == len(p) or p[i + 1] != p[i]]
    if len(cut) > points:
        cut = [cut[int(round(k))] for k in np.linspace(0, len(cut) - 1, points)]
    return [{"threshold": round(float(p[i]), 4), "coverage": round(float(covered_answered[i] / n_covered), 4),
             "precision": round(float(right_w[i] / answered_w[i]), 4)} for i in cut]


def ranked_tops(cal, examples: Sequence) -> List[Tuple[float, bool, bool]]:
    """(probability, right, covered) of each calibration example's top candidate as ``cal`` ranks it (on copies:
    the examples' candidates keep their scores)."""
    out: List[Tuple[float, bool, bool]] = []
    for ex in examples:
        if not ex.candidates:
            continue
        top = cal.rank([copy.copy(c) for c in ex.candidates])[0]
        out.append((float(top.score), ex.expected is not None and top.article_id == ex.expected,
                    ex.expected is not None))
    return out


def coverage_at(points: Sequence[Dict[str, float]], precision: float) -> Optional[float]:
    """The highest coverage at which the curve keeps at least ``precision`` (None: nowhere)."""
    ok = [pt["coverage"] for pt in points if pt["precision"] >= precision]
    return max(ok) if ok else None
