"""An article classifier learnt from the KB's own phrasings: one more voice for the calibrated confidence.

When a KB gives several phrasings per article (its title and alternate questions — the way intent-style FAQs are
written), a multinomial logistic regression from a query's embedding to the article it belongs to separates
neighbouring articles better than the nearest phrasing does: it weighs every phrasing of every article at once. Its
probability for a candidate (``clf``) and that probability's lead over the best other article (``clf_gap``) become
features of the calibration model.

It is used only where it can learn: on average at least :data:`MIN_PHRASINGS` phrasings per article. A KB of
title-only articles (one phrasing each) has nothing to generalise from.

For calibration the classifier's probabilities of the KB's own phrasings must be honest, so they come *out of
fold*: each phrasing is scored by a model fitted without it. For the "article left out" negatives, the
probabilities are renormalised without that article, which is what a softmax model fitted without the class gives
when the other classes' scores stay put.

Saved as plain JSON inside the calibration file (classes, coefficients, intercepts); nothing is unpickled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

MIN_PHRASINGS = 3.0  # mean phrasings (title + questions) per article needed to use a classifier
MIN_ARTICLES = 3
C = 10.0  # inverse regularisation (measured on the public suites: 1 underfits, 100 overconfident)
FOLDS = 5
# Out-of-fold probabilities are averaged over this many different fold splits: one split alone moves the answer
# threshold by chance (measured on banking77: 0.924-0.947 over three seeds with one split, 0.945-0.949 with three).
REPEATS = 3


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def query_vector(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """One vector per query from the vectors of every dense model (concatenated)."""
    return np.concatenate([np.asarray(v, dtype="float64").ravel() for v in vectors])


@dataclass
class ArticleClassifier:
    classes: List[str]
    coef: np.ndarray  # (n_classes, dim)
    intercept: np.ndarray  # (n_classes,)
    # Models read besides the search's (their query vectors are appended to the search models' ones, in this order):
    # ``retrieval.calibration.classifier_inputs`` adds one only where it helps the classifier on the KB's phrasings.
    extra: List[str] = field(default_factory=list)
    # How a class's row follows from the mean of its phrasings' vectors, fitted across the classes after the fit
    # (:meth:`fit_prototype`): ``row ~ offset + scale * mean``, intercept the classes' mean. It gives an article
    # published after the fit a row of its own at once (:meth:`adapted`), until the next refit learns a real one.
    proto: Optional[Tuple[np.ndarray, float, float]] = None  # (offset, scale, intercept)

    @classmethod
    def fit(cls, x: np.ndarray, labels: Sequence[str], c: float = C) -> Optional["ArticleClassifier"]:
        from sklearn.linear_model import LogisticRegression

        classes = sorted(set(labels))
        if len(classes) < 2:
            return None
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(x, list(labels))
        coef, intercept = model.coef_, model.intercept_
        if len(classes) == 2:  # sklearn keeps one row for two classes: make it a softmax over both
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        return cls([str(k) for k in model.classes_], np.asarray(coef, dtype="float64"),
                   np.asarray(intercept, dtype="float64"))

    def proba_matrix(self, x: np.ndarray) -> np.ndarray:
        return _softmax(np.atleast_2d(x) @ self.coef.T + self.intercept)

    def proba(self, x: np.ndarray) -> Dict[str, float]:
        return dict(zip(self.classes, self.proba_matrix(x)[0].tolist()))

    def fit_prototype(self, x: np.ndarray, labels: Sequence[str]) -> None:
        """Learn :attr:`proto` from the phrasings the classifier was fitted on (``x``, one row each, ``labels``):
        the least-squares ``scale`` and ``offset`` of ``row_k = offset + scale * mean_k`` over the classes k (the
        softmax ignores a vector added to every row, so the offset absorbs it)."""
        means = class_means(x, labels)
        if not all(k in means for k in self.classes):
            return
        m = np.vstack([means[k] for k in self.classes])
        m_bar, w_bar = m.mean(axis=0), self.coef.mean(axis=0)
        dm = m - m_bar
        scale = float(np.sum((self.coef - w_bar) * dm) / max(float(np.sum(dm * dm)), 1e-12))
        self.proto = (w_bar - scale * m_bar, scale, float(self.intercept.mean()))

    def adapted(self, means: Dict[str, Optional[np.ndarray]],
                previous: Optional[Dict[str, np.ndarray]] = None) -> "ArticleClassifier":
        """A copy that follows a KB change without a refit. ``means``: article -> the mean of its phrasings' vectors
        now (None: the article is gone, its class is dropped); ``previous``: the means the classifier knew for them.
        A known article whose phrasings changed moves its row by ``scale`` times the change of its mean; a new one
        gets the prototype row (:attr:`proto`; without one it stays unknown until the next refit)."""
        classes = list(self.classes)
        coef = self.coef.copy()
        intercept = self.intercept.copy()
        keep = [i for i, k in enumerate(classes) if not (k in means and means[k] is None)]
        classes = [classes[i] for i in keep]
        coef, intercept = coef[keep], intercept[keep]
        rows: List[np.ndarray] = []
        biases: List[float] = []
        for k, mean in sorted(means.items()):
            if mean is None or self.proto is None or mean.shape != (coef.shape[1],):
                continue
            offset, scale, bias = self.proto
            if k in classes:
                if previous is not None and k in previous:
                    coef[classes.index(k)] += scale * (mean - previous[k])
                continue
            classes.append(k)
            rows.append(offset + scale * mean)
            biases.append(bias)
        if rows:
            coef = np.vstack([coef] + rows)
            intercept = np.concatenate([intercept, np.asarray(biases)])
        return ArticleClassifier(classes, coef, intercept, list(self.extra), self.proto)

    def to_dict(self) -> dict:
        d = {"classes": self.classes, "coef": self.coef.round(6).tolist(),
             "intercept": self.intercept.round(6).tolist(), "extra": self.extra}
        if self.proto is not None:
            d["proto"] = {"offset": self.proto[0].round(6).tolist(), "scale": round(self.proto[1], 8),
                          "intercept": round(self.proto[2], 6)}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ArticleClassifier":
        p = d.get("proto")
        proto = (np.asarray(p["offset"], dtype="float64"), float(p["scale"]), float(p["intercept"])) if p else None
        return cls(list(d["classes"]), np.asarray(d["coef"], dtype="float64"),
                   np.asarray(d["intercept"], dtype="float64"), list(d.get("extra", [])), proto)


def class_means(x: np.ndarray, labels: Sequence[str]) -> Dict[str, np.ndarray]:
    """label -> the mean of its rows of ``x``."""
    groups: Dict[str, List[int]] = {}
    for i, k in enumerate(labels):
        groups.setdefault(k, []).append(i)
    return {k: np.asarray(x[rows], dtype="float64").mean(axis=0) for k, rows in groups.items()}


def usable(n_phrasings: int, n_articles: int) -> bool:
    return n_articles >= MIN_ARTICLES and n_phrasings >= MIN_PHRASINGS * n_articles


def set_features(cands, probs: Dict[str, float]) -> None:
    """``clf`` and ``clf_gap`` on each candidate from the classifier's article probabilities."""
    ordered = sorted(probs.values(), reverse=True)
    best, second = (ordered + [0.0, 0.0])[:2]
    for c in cands:
        p = probs.get(c.article_id, 0.0)
        c.features["clf"] = p
        c.features["clf_gap"] = p - (second if p >= best else best)


def without(probs: Dict[str, float], article_id: str) -> Dict[str, float]:
    """The probabilities a model fitted without ``article_id`` would give (same scores for the others)."""
    rest = {a: p for a, p in probs.items() if a != article_id}
    total = sum(rest.values())
    return {a: p / total for a, p in rest.items()} if total > 0 else rest


def accuracy(probs: Sequence[Dict[str, float]], labels: Sequence[str]) -> float:
    """Share of rows whose most probable article is their own (rows with no probabilities count as misses)."""
    hits = sum(1 for p, y in zip(probs, labels) if p and max(p, key=lambda a: p[a]) == y)
    return hits / max(1, len(labels))


def out_of_fold(x: np.ndarray, labels: Sequence[str], query_rows: Sequence[int], seed: int = 7,
                folds: int = FOLDS, repeats: Optional[int] = None,
                first: Optional[List[Dict[str, float]]] = None) -> List[Dict[str, float]]:
    """For each row in ``query_rows``, the probabilities of classifiers fitted without it: the mean, over
    ``repeats`` random splits into ``folds`` folds, of the probabilities from the model fitted on the other folds.
    ``first``: the split of ``seed`` already computed (``repeats=1``, same rows), reused instead of refitted."""
    repeats = REPEATS if repeats is None else repeats
    runs = [first if (r == 0 and first is not None) else _out_of_fold_once(x, labels, query_rows, seed + r, folds)
            for r in range(max(1, repeats))]
    out: List[Dict[str, float]] = []
    for per_run in zip(*runs):
        keys = set().union(*per_run)
        out.append({k: sum(p.get(k, 0.0) for p in per_run) / len(per_run) for k in keys})
    return out


def _out_of_fold_once(x: np.ndarray, labels: Sequence[str], query_rows: Sequence[int], seed: int,
                      folds: int) -> List[Dict[str, float]]:
    rows = list(query_rows)
    rng = random.Random(seed)
    fold_of = {r: rng.randrange(folds) for r in rows}
    out: List[Optional[Dict[str, float]]] = [None] * len(rows)
    labels = list(labels)
    for k in range(folds):
        test = [i for i, r in enumerate(rows) if fold_of[r] == k]
        if not test:
            continue
        held = {rows[i] for i in test}
        train = [r for r in range(len(labels)) if r not in held]
        model = ArticleClassifier.fit(x[train], [labels[r] for r in train])
        if model is None:
            for i in test:
                out[i] = {}
            continue
        mat = model.proba_matrix(x[[rows[i] for i in test]])
        for i, p in zip(test, mat):
            out[i] = dict(zip(model.classes, p.tolist()))
    return [o or {} for o in out]
