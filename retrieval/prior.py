"""The day-one prior: how sure to be of an article before the KB has taught tier0 anything.

A KB-derived calibration (``retrieval.calibration``) needs material: titles *and* other phrasings of each article, and
enough of them per language to read a threshold from. A plain help centre (a title and a body per article, 20 of
them in French) gives neither, and its own threshold is either unreadable ("never answer") or read off a handful of
queries (it answered 14 % wrong on the sample KB stripped of its phrasings). The prior fills that gap: a logistic
regression over the search's features, learnt once from real, labelled customer questions of several public KBs
(``bench/prior_lab.py fit``; each KB weighs the same, and its questions the KB does not cover weigh the assumed
out-of-KB share), shipped with tier0 as ``prior.json``. It is judged leave-one-suite-out (bench/RESULTS.md): no KB
grades a prior that saw it.

Its threshold for a target wrong-answer rate is read off the curve it was fitted with (the weighted wrong-answer rate
of answering at or above each probability, on its training questions). The calibration uses it for every language
whose own data cannot give a threshold, and steps aside per language once the KB's phrasings and customers' feedback
can (``retrieval.calibration.fit``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

PATH = Path(__file__).with_name("prior.json")
ENV = "TIER0_PRIOR_FILE"  # another prior (bench/eval_all.sh grades each suite with one that never saw it)


@dataclass
class Prior:
    names: List[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    # (probability, wrong-answer rate of answering every training question at or above it), highest first
    curve: List[Tuple[float, float]]
    trained_on: List[str] = field(default_factory=list)
    stats: Dict[str, object] = field(default_factory=dict)

    def probabilities(self, features: Sequence[Dict[str, float]]) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        x = np.array([[f.get(n, 0.0) for n in self.names] for f in features], dtype="float64")
        return 1.0 / (1.0 + np.exp(-(((x - self.mean) / self.scale) @ self.coef + self.intercept)))

    def threshold(self, target: float) -> float:
        """The lowest probability at which answering everything above it kept wrong answers within ``target`` on the
        training questions (1.0, never answer, when no point of the curve does)."""
        ok = [p for p, rate in self.curve if rate <= target]
        return min(ok) if ok else 1.0

    def to_json(self) -> str:
        return json.dumps({"names": self.names, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                           "coef": self.coef.tolist(), "intercept": self.intercept,
                           "curve": [[round(p, 6), round(r, 6)] for p, r in self.curve],
                           "trained_on": self.trained_on, "stats": self.stats}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Prior":
        d = json.loads(text)
        return cls(list(d["names"]), np.asarray(d["mean"], dtype="float64"), np.asarray(d["scale"], dtype="float64"),
                   np.asarray(d["coef"], dtype="float64"), float(d["intercept"]),
                   [(float(p), float(r)) for p, r in d["curve"]], list(d.get("trained_on", [])),
                   dict(d.get("stats", {})))


def curve_of(probs: np.ndarray, wrong: np.ndarray, weights: np.ndarray, min_answered: int = 10,
             points: int = 400) -> List[Tuple[float, float]]:
    """The (threshold, weighted wrong-answer rate at or above it) curve, highest threshold first, at most ``points``
    points (cuts only between distinct probabilities, and only once ``min_answered`` questions are answered)."""
    order = np.argsort(-probs, kind="stable")
    p, w = probs[order], weights[order]
    rate = np.cumsum(wrong[order] * w) / np.cumsum(w)
    boundary = np.append(p[1:] != p[:-1], True)
    idx = [i for i in range(len(p)) if boundary[i] and i + 1 >= min_answered]
    if len(idx) > points:
        idx = [idx[int(round(k))] for k in np.linspace(0, len(idx) - 1, points)]
    return [(float(p[i]), float(rate[i])) for i in idx]


def path() -> Path:
    return Path(os.environ.get(ENV) or PATH)


def load() -> Optional[Prior]:
    """The prior in use: ``$TIER0_PRIOR_FILE``, else the one shipped with tier0 (None when the file is missing:
    then a language without a threshold of the KB's own does not answer)."""
    return _load(str(path()))


@lru_cache(maxsize=4)
def _load(where: str) -> Optional[Prior]:
    p = Path(where)
    if not p.is_file():
        return None
    prior = Prior.from_json(p.read_text(encoding="utf-8"))
    prior.stats["sha"] = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    return prior


def identity() -> str:
    """Which prior a calibration was fitted with ("" for none): a saved calibration is refitted when it changes."""
    prior = load()
    return str(prior.stats["sha"]) if prior is not None else ""
