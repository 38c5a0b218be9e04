"""Calibrated confidence: the probability that a candidate article answers the question.

A scikit-learn logistic regression over the candidate's retrieval features (dense cosines by unit kind, BM25 and
coverage, ranks in each retriever, margins to the runner-up, language match, query length). It works on day one,
for a new KB with no chat history, because its training data comes from the KB itself:

* **positives** — every title and alternate question is used as a query, with its own unit (and any unit with the
  same text) left out of the index: the article it belongs to should still come first;
* **negatives** — the same queries with their whole article left out: whatever comes first is wrong, which is what
  an out-of-KB question looks like;
* **feedback** — when it exists, real answers labelled by customers ("yes, that helped" / "that didn't help") and by
  agents (the desk's "wrong answer" flag), collected by ``bot.feedback``. They join the model's training rows, and
  they weigh :data:`FEEDBACK_WEIGHT` times as much as a KB-derived query when the threshold is read off the curve,
  because they are the questions the threshold is for. A saved calibration is refitted when
  :data:`REFIT_EVERY` more of them exist (at start-up, on a KB change, or by ``tier0 calibrate``).

Where articles have several phrasings, an article classifier (``retrieval.classifier``) adds its probability, out of
fold for the examples above. It reads the search models' vectors and, where that helps it on the KB's own phrasings
(out-of-fold accuracy up by :data:`EXTRA_GAIN`), those of extra models that the search does not use
(:func:`classifier_inputs`; ``TIER0_CLASSIFIER_EXTRA_MODELS``). The fit keeps every coefficient to its expected sign
(:func:`sign_constrained_fit`).

**Traffic** — the customers' questions themselves, unlabelled — teach one more thing: how many of them the KB does
not cover. The threshold has to assume a share (:data:`OUT_OF_KB_SHARE`, cautious); once :data:`MIN_TRAFFIC` real
questions exist, :func:`estimate_share` reads it off their confidences, as the mixture of the KB-derived covered
and uncovered confidence distributions that fits them best, and that share replaces the assumption (never below
:data:`SHARE_FLOOR`).

The answer threshold then follows from the operator's target wrong-answer rate: on the calibration queries (and the
labelled real answers), the lowest probability at which answering every query above it keeps the share of wrong answers under the target —
per language when there are enough queries of that language, else over all of them.

A language whose KB-derived queries are too few (fewer than :data:`MIN_PER_LANGUAGE` titles and phrasings, a
labelled answer counting :data:`FEEDBACK_WEIGHT`), or give no safe threshold, is scored and decided by the **day-one
prior** instead (``retrieval.prior``: learnt across KBs from real questions; :attr:`Calibrator.prior_langs`), so a plain
help centre answers its clearest questions from the first day and the KB takes over as its phrasings and feedback
grow.

The model is saved as plain JSON (coefficients, scaler, thresholds): nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from retrieval import classifier as clf
from retrieval import prior as day_one
from retrieval.embedder import Embedder
from retrieval.search import Candidate, Query, SearchIndex, Unit
from tier0.text import normalize

log = logging.getLogger("tier0.retrieval")

# Only features that do not depend on which kinds of unit an article has: a leave-one-out query removes its own
# unit (a title-only article then has no title left), and kind-specific features would learn that artefact.
BASE_FEATURES = (
    "dense",
    "lex_cov",
    "lex_bm25",
    "lex_rel",
    "rank_dense",
    "rank_lex",
    "rrf",
    "lang_match",
    "q_terms",
    "gap_dense",
    "gap_lex",
    "vote",
    "gap_vote",
    "dense_top2",
)
# Share of the queries also used as out-of-KB negatives (their article left out). Every one: a new KB should expect
# as many questions it does not cover as ones it does (measured: 1/3 let clinc150 reach 7.5 % wrong at a 3 % target).
NEGATIVE_SHARE = 1.0
# The share of customers' questions the KB is assumed not to cover, when the threshold is read off the curve: the
# KB-derived negatives weigh share / (1 - share) each (1 at the default 0.5, as many uncovered questions as covered).
# Operators who know their traffic set it (TIER0_OUT_OF_KB_SHARE); bench/RESULTS.md has what lower values do.
OUT_OF_KB_SHARE = 0.5
MAX_QUERIES = 2500  # calibration queries per fit (sampled beyond this)
MIN_PER_LANGUAGE = 60  # queries of a language needed for a threshold of its own
MIN_ANSWERED = 10
# A real answer that a customer confirmed (or an agent flagged) counts as this many KB-derived queries when the
# threshold is read off the curve: it is the distribution the threshold is for.
FEEDBACK_WEIGHT = 5.0
# Refit when this many labelled answers arrived since the last fit.
REFIT_EVERY = 25
# Learning the out-of-KB share from real questions (unlabelled): how many are needed, how many of the most recent are
# used, how many new ones trigger a refit, and the bounds of the learnt share. The floor is a margin for the
# estimator's error: on the public suites it read 0.115-0.117 where the truth was 0.193 (bench/RESULTS.md).
MIN_TRAFFIC = 200
MAX_TRAFFIC = 1000
TRAFFIC_REFIT_EVERY = 200
SHARE_FLOOR = 0.25
SHARE_CEILING = 0.9
# An extra model joins the article classifier's inputs only if the out-of-fold accuracy on the KB's phrasings rises
# by at least this much (one fold split each way). Measured with use-multilingual-v3 beside the default pair
# (bench/RESULTS.md): sample KB 0.882 -> 0.914 (French 0.816 -> 0.880), kept; banking77 0.803 -> 0.780 and clinc150
# 0.933 -> 0.932, left out (both lose correct answers with it).
EXTRA_GAIN = 0.01
# Bumped whenever the way a calibration is fitted changes, so a saved one from an older tier0 is refitted on upgrade.
VERSION = 6


@dataclass
class Feedback:
    """A real answer and whether it helped (from the conversation: affirm vs. deny / not_helpful)."""

    query: str
    lang: Optional[str]
    article_id: str
    helpful: bool
    at: Optional[str] = None  # when the answer was given (ISO 8601, UTC): tells new feedback from already-fitted


@dataclass
class Question:
    """A real customer question that went to the KB search (unlabelled): what the out-of-KB share is learnt from."""

    text: str
    lang: Optional[str]
    at: Optional[str] = None  # when it was asked (ISO 8601, UTC)


def _logit(p: Sequence[float]) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-4, 1 - 1e-4)
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


@dataclass
class CalibrationExample:
    lang: str
    expected: Optional[str]  # the article that answers it; None when it was left out of the index
    candidates: List[Candidate]
    text: str = ""


CLASSIFIER_FEATURES = ("clf", "clf_gap")


def feature_names(n_models: int, classifier: bool = False) -> List[str]:
    names = list(BASE_FEATURES) + ([f"dense_{m}" for m in range(n_models)] if n_models > 1 else [])
    return names + (list(CLASSIFIER_FEATURES) if classifier else [])


def phrasings(index: SearchIndex) -> List[Tuple[int, Unit]]:
    """The units customers' questions look like: every title and alternate question.

    In content order (article, kind, text), not unit-id order, so the same KB gives the same calibration however
    its articles were imported.
    """
    units = [(uid, u) for uid, u in index.units().items() if u.kind in ("title", "question")]
    return sorted(units, key=lambda t: (t[1].article_id, t[1].kind, t[1].text, t[0]))


def uses_classifier(index: SearchIndex) -> bool:
    return clf.usable(len(phrasings(index)), len(index))


@dataclass
class ClassifierInputs:
    """What the article classifier reads for each phrasing (rows in :func:`phrasings` order)."""

    x: np.ndarray
    extra: List[str]  # extra models whose vectors follow the search models' ones
    accuracy: Dict[str, float]  # out-of-fold accuracy: "search" models alone, "with_extra" (when offered)
    first_split: Optional[List[Dict[str, float]]] = None  # out-of-fold probabilities of ``x``, one split (every row)


def classifier_inputs(index: SearchIndex, extra_models: Sequence[Embedder] = (), seed: int = 7) -> ClassifierInputs:
    """The phrasings' vectors from the search models, plus those of ``extra_models`` when they help.

    A model that ranks badly on its own can still tell neighbouring articles apart (use-multilingual-v3 on the sample
    KB's French phrasings), but it can also blur them (on banking77): the choice is the KB's, by out-of-fold accuracy
    on its own phrasings — with the extras only if that is :data:`EXTRA_GAIN` higher.
    """
    units = phrasings(index)
    labels = [u.article_id for _, u in units]
    x = np.hstack(index.unit_vectors([uid for uid, _ in units]))
    rows = list(range(len(units)))
    if not extra_models:
        return ClassifierInputs(x, [], {})
    texts = [u.text for _, u in units]
    wider = np.hstack([x] + [e.encode_documents(texts) for e in extra_models])
    narrow_oof = clf.out_of_fold(x, labels, rows, seed=seed, repeats=1)
    wide_oof = clf.out_of_fold(wider, labels, rows, seed=seed, repeats=1)
    acc = {"search": clf.accuracy(narrow_oof, labels), "with_extra": clf.accuracy(wide_oof, labels)}
    if acc["with_extra"] >= acc["search"] + EXTRA_GAIN:
        return ClassifierInputs(wider, [e.name for e in extra_models], acc, wide_oof)
    return ClassifierInputs(x, [], acc, narrow_oof)


def fit_classifier(index: SearchIndex, inputs: Optional[ClassifierInputs] = None) -> Optional[clf.ArticleClassifier]:
    units = phrasings(index)
    if not clf.usable(len(units), len(index)):
        return None
    inputs = inputs or classifier_inputs(index)
    model = clf.ArticleClassifier.fit(inputs.x, [u.article_id for _, u in units])
    if model is not None:
        model.extra = list(inputs.extra)
    return model


def classifier_vector(classifier: clf.ArticleClassifier, q: Query) -> np.ndarray:
    """The classifier's input for a query: the search models' vectors, then its extra models' (embedded here; each
    model remembers its last queries, so a turn is embedded once)."""
    from retrieval.embedder import load_embedder

    extra = [load_embedder(name).encode_queries([q.text])[0] for name in classifier.extra]
    return clf.query_vector(list(q.vectors) + extra)


def kb_fingerprint(index: SearchIndex) -> str:
    h = hashlib.sha256(json.dumps(index.model_names).encode())
    for uid, u in sorted(index.units().items()):
        h.update(f"{uid}\0{u.article_id}\0{u.kind}\0{u.text}\0".encode())
    return h.hexdigest()[:16]


def training_examples(index: SearchIndex, seed: int = 7,
                      inputs: Optional[ClassifierInputs] = None) -> List[CalibrationExample]:
    """Leave-one-out queries from the KB's own titles and questions (see the module docstring); ``inputs``: what
    the article classifier reads (:func:`classifier_inputs`, computed here when not given)."""
    units = index.units()
    every = phrasings(index)
    queries = every
    if len(queries) > MAX_QUERIES:
        queries = random.Random(seed).sample(queries, MAX_QUERIES)
    if not queries:
        return []
    oof: Optional[List[Dict[str, float]]] = None
    if uses_classifier(index):
        row_of = {uid: i for i, (uid, _) in enumerate(every)}
        inputs = inputs or classifier_inputs(index, seed=seed)
        first = inputs.first_split if len(queries) == len(every) else None  # the selection's split, same rows
        oof = clf.out_of_fold(inputs.x, [u.article_id for _, u in every], [row_of[uid] for uid, _ in queries],
                              seed=seed, first=first)
    by_text: Dict[Tuple[str, str], List[int]] = {}
    for uid, u in units.items():
        by_text.setdefault((u.article_id, normalize(u.text).strip(" ?!.")), []).append(uid)
    vectors = index.unit_vectors([uid for uid, _ in queries])
    rng = random.Random(seed)
    examples: List[CalibrationExample] = []
    for i, (uid, u) in enumerate(queries):
        lang = index.meta(u.article_id).lang
        q = Query(u.text, lang, [v[i] for v in vectors])
        same = by_text.get((u.article_id, normalize(u.text).strip(" ?!.")), [uid])
        cands = index.search_query(q, exclude_units=same)
        if oof is not None:
            clf.set_features(cands, oof[i])
        examples.append(CalibrationExample(lang, u.article_id, cands, u.text))
        if rng.random() < NEGATIVE_SHARE:
            cands = index.search_query(q, exclude_articles={u.article_id})
            if oof is not None:
                clf.set_features(cands, clf.without(oof[i], u.article_id))
            examples.append(CalibrationExample(lang, None, cands, u.text))
    return examples


@dataclass
class FeedbackExample:
    """A labelled real answer, searched again: its candidates and the article that was answered."""

    lang: str
    article_id: str
    helpful: bool
    query: Query
    candidates: List[Candidate]


def feedback_examples(index: SearchIndex, feedback: Iterable[Feedback],
                      classifier: Optional[clf.ArticleClassifier] = None) -> List[FeedbackExample]:
    """Each feedback's question searched against the current KB (skipped when its article is gone)."""
    articles = set(index.articles())
    kept = [fb for fb in feedback if fb.article_id in articles]
    if not kept:
        return []
    vectors = [e.encode_queries([fb.query for fb in kept]) for e in index.embedders]  # one batch per model
    out = []
    for i, fb in enumerate(kept):
        q = Query(fb.query, fb.lang, [v[i] for v in vectors])
        cands = index.search_query(q)
        if classifier is not None:
            clf.set_features(cands, classifier.proba(classifier_vector(classifier, q)))
        out.append(FeedbackExample(fb.lang or "*", fb.article_id, fb.helpful, q, cands))
    return out


def feedback_rows(examples: Iterable[FeedbackExample]) -> List[Tuple[Candidate, int]]:
    """Training rows: the answered article's candidate, labelled by whether the answer helped."""
    return [(c, int(ex.helpful)) for ex in examples for c in ex.candidates if c.article_id == ex.article_id]


@dataclass
class Calibrator:
    names: List[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    thresholds: Dict[str, float]  # language -> answer threshold; "*" for any other
    target: float
    fingerprint: str = ""
    version: int = VERSION
    stats: Dict[str, float] = field(default_factory=dict)
    # The KB's own phrasings that confidently find another article: what most holds the thresholds up (for editors)
    confusions: List[Dict[str, object]] = field(default_factory=list)
    # Articles of the same language that say nearly the same thing (near_duplicates): merge them, for editors
    duplicates: List[Dict[str, object]] = field(default_factory=list)
    classifier: Optional[clf.ArticleClassifier] = None
    # Whether the probability also ranks the candidates. Only where the KB has several phrasings per article: on
    # title-only articles the leave-one-out queries match bodies, not titles, and teach ranking badly (covidfaq R@1
    # 0.44 by the fused score, 0.31 re-ranked); there the probability scores the fused ranking's candidates.
    reorder: bool = True
    out_of_kb_share: float = OUT_OF_KB_SHARE  # the operator's assumption (the prior)
    learn_share: bool = True  # whether real questions may replace it (stats: traffic, traffic_share)
    share_used: float = OUT_OF_KB_SHARE  # the share the thresholds were read with: the prior, or the learnt one
    extra_offered: List[str] = field(default_factory=list)  # extra models the classifier could read (the setting)
    # Languages ("*": any other) whose confidence and threshold come from the day-one prior (retrieval.prior), not
    # from this KB: its own data gave that language no threshold (too few queries, or none safe enough)
    prior_langs: List[str] = field(default_factory=list)
    # Articles that none of their own phrasings finds first (with that phrasing hidden): give them another phrasing
    # in the customers' words, or a title of their own
    unreached: List[str] = field(default_factory=list)

    # -- scoring -----------------------------------------------------------------------------------
    def probabilities(self, cands: Sequence[Candidate]) -> np.ndarray:
        if not cands:
            return np.zeros(0)
        x = np.array([[c.features.get(n, 0.0) for n in self.names] for c in cands], dtype="float64")
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def uses_prior(self, lang: Optional[str]) -> bool:
        """Whether questions in ``lang`` are scored by the day-one prior (see :attr:`prior_langs`)."""
        key = lang if lang in self.thresholds else "*"
        return key in self.prior_langs and day_one.load() is not None

    def rank(self, cands: List[Candidate], query: Optional[Query] = None) -> List[Candidate]:
        """Set each candidate's probability (and score), re-rank the list in place by it.

        With a classifier, ``query`` (its vectors) gives the candidates their ``clf`` features; without a query
        they must already carry them (calibration examples). A query in a language the KB gave no threshold of its
        own is scored by the day-one prior, in the search's order.
        """
        if query is not None and self.uses_prior(query.lang):
            prior = day_one.load()
            for c, p in zip(cands, prior.probabilities([c.features for c in cands])):
                c.probability = float(p)
                c.score = float(p)
            return cands
        if self.classifier is not None and query is not None:
            clf.set_features(cands, self.classifier.proba(classifier_vector(self.classifier, query)))
        for c, p in zip(cands, self.probabilities(cands)):
            c.probability = float(p)
            c.score = float(p)
        if self.reorder:
            cands.sort(key=lambda c: c.score, reverse=True)
        return cands

    def threshold(self, lang: Optional[str]) -> float:
        return self.thresholds.get(lang or "*", self.thresholds["*"])

    # -- persistence -------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "names": self.names,
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "coef": self.coef.tolist(),
                "intercept": self.intercept,
                "thresholds": self.thresholds,
                "target": self.target,
                "fingerprint": self.fingerprint,
                "version": self.version,
                "stats": self.stats,
                "confusions": self.confusions,
                "duplicates": self.duplicates,
                "classifier": self.classifier.to_dict() if self.classifier is not None else None,
                "reorder": self.reorder,
                "out_of_kb_share": self.out_of_kb_share,
                "learn_share": self.learn_share,
                "share_used": self.share_used,
                "extra_offered": self.extra_offered,
                "prior_langs": self.prior_langs,
                "unreached": self.unreached,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> "Calibrator":
        d = json.loads(text)
        return cls(
            names=list(d["names"]),
            mean=np.asarray(d["mean"], dtype="float64"),
            scale=np.asarray(d["scale"], dtype="float64"),
            coef=np.asarray(d["coef"], dtype="float64"),
            intercept=float(d["intercept"]),
            thresholds={k: float(v) for k, v in d["thresholds"].items()},
            target=float(d["target"]),
            fingerprint=d.get("fingerprint", ""),
            version=int(d.get("version", 1)),
            stats=d.get("stats", {}),
            confusions=list(d.get("confusions", [])),
            duplicates=list(d.get("duplicates", [])),
            classifier=clf.ArticleClassifier.from_dict(d["classifier"]) if d.get("classifier") else None,
            reorder=bool(d.get("reorder", True)),
            out_of_kb_share=float(d.get("out_of_kb_share", OUT_OF_KB_SHARE)),
            learn_share=bool(d.get("learn_share", True)),
            share_used=float(d.get("share_used", d.get("out_of_kb_share", OUT_OF_KB_SHARE))),
            extra_offered=list(d.get("extra_offered", [])),
            prior_langs=list(d.get("prior_langs", [])),
            unreached=list(d.get("unreached", [])),
        )


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


def expected_sign(name: str) -> int:
    """+1: more of it should never lower the probability; -1: never raise it; 0: free."""
    if name.startswith("rank_"):
        return -1
    if name == "q_terms":
        return 0
    return 1


def sign_constrained_fit(x: np.ndarray, y: np.ndarray, signs: Sequence[int], c: float = 1.0,
                         weights: Optional[np.ndarray] = None) -> Tuple[np.ndarray, float]:
    """Logistic regression whose coefficients keep their expected signs.

    The KB-derived examples are not the customers' questions (a title left out leaves only the body to match, for
    one), and an unconstrained model learns their artefacts — on a KB of title-only FAQs it learnt that a *higher*
    cosine means a *lower* chance of being right. A feature whose coefficient comes out with the wrong sign is
    dropped and the model refitted, until every remaining one agrees with its sign.
    """
    from sklearn.linear_model import LogisticRegression

    active = list(range(x.shape[1]))
    while True:
        model = LogisticRegression(C=c, max_iter=1000).fit(x[:, active], y, sample_weight=weights)
        w = model.coef_[0]
        bad = [(w[j] * signs[f], j) for j, f in enumerate(active) if signs[f] and w[j] * signs[f] < 0]
        if not bad or len(active) == 1:
            break
        active.pop(min(bad)[1])
    coef = np.zeros(x.shape[1])
    coef[active] = w
    return coef, float(model.intercept_[0])


def fit(
    index: SearchIndex,
    target: float = 0.03,
    feedback: Iterable[Feedback] = (),
    seed: int = 7,
    out_of_kb_share: float = OUT_OF_KB_SHARE,
    traffic: Iterable[Question] = (),
    learn_share: bool = True,
    extra_models: Sequence[Embedder] = (),
) -> Optional[Calibrator]:
    """Fit the calibrator on the KB (and feedback); None when the KB is too small to learn from.

    ``out_of_kb_share``: the share of questions assumed to be outside the KB (:data:`OUT_OF_KB_SHARE`). With
    ``learn_share`` and at least :data:`MIN_TRAFFIC` real questions in ``traffic``, the share learnt from them
    (:func:`estimate_share`, bounded by :data:`SHARE_FLOOR` and :data:`SHARE_CEILING`) is used instead.
    ``extra_models``: models the article classifier may read besides the search's (:func:`classifier_inputs`).
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
    rows.extend(feedback_rows(fb_examples))
    labels = np.array([y for _, y in rows])
    if len(rows) < 20 or labels.sum() < 5 or labels.sum() == len(labels):
        log.warning("retrieval.calibration_skipped rows=%d positives=%d", len(rows), int(labels.sum()))
        return None
    x = np.array([[c.features.get(n, 0.0) for n in names] for c, _ in rows], dtype="float64")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    coef, intercept = sign_constrained_fit((x - mean) / scale, labels, [expected_sign(n) for n in names])
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
        share = min(SHARE_CEILING, max(SHARE_FLOOR, learnt))
    cal.share_used = share
    negative_weight = share / (1.0 - share)
    tops: Dict[str, List[Tuple[float, int, float]]] = {}
    for ex, top in ranked_top:
        wrong = int(ex.expected is None or top.article_id != ex.expected)
        tops.setdefault(ex.lang, []).append((top.score, wrong, negative_weight if ex.expected is None else 1.0))
    for fx in fb_examples:
        ranked = cal.rank(list(fx.candidates))
        if ranked and ranked[0].article_id == fx.article_id:
            tops.setdefault(fx.lang, []).append((ranked[0].score, int(not fx.helpful), FEEDBACK_WEIGHT))

    def threshold_of(ts: List[Tuple[float, int, float]]) -> float:
        return choose_threshold(np.array([t[0] for t in ts]), np.array([t[1] for t in ts]), target,
                                np.array([t[2] for t in ts]))

    everything = [t for ts in tops.values() for t in ts]
    if everything:
        cal.thresholds["*"] = threshold_of(everything)
    for lang, ts in tops.items():
        if lang != "*" and len(ts) >= MIN_PER_LANGUAGE:
            cal.thresholds[lang] = threshold_of(ts)
    # A language the KB gives fewer than MIN_PER_LANGUAGE queries (titles and phrasings), or no safe threshold, falls
    # back to the day-one prior instead of never answering, or of reading a threshold off a handful of queries (a
    # plain KB of 22 titles a language answered 14 % wrong so). "*" (any other language) counts every query.
    prior = day_one.load()
    queries = {lang: sum(1 for ex, _ in ranked_top if ex.lang == lang and ex.expected is not None) for lang in tops}
    evidence = dict(queries)  # a labelled real answer counts as FEEDBACK_WEIGHT queries: the KB takes over with use
    for fx in fb_examples:
        evidence[fx.lang] = evidence.get(fx.lang, 0) + FEEDBACK_WEIGHT
    evidence["*"] = sum(evidence.values())
    if prior is not None:
        for lang in sorted(set(tops) | {"*"}):
            if evidence.get(lang, 0) < MIN_PER_LANGUAGE or cal.thresholds.get(lang, 1.0) >= 1.0:
                cal.thresholds[lang] = prior.threshold(target)
                cal.prior_langs.append(lang)
    cal.fingerprint = kb_fingerprint(index)
    pos = [(ex, top) for ex, top in ranked_top if ex.expected is not None]
    cal.stats = {
        "prior": day_one.identity(),  # the day-one prior it was fitted with (retrieval.prior)
        "queries": len(pos),
        "rows": len(rows),
        "feedback_rows": len(rows) - sum(len(ex.candidates) for ex in examples),
        "feedback": len(feedback),  # labelled answers given (see load_or_fit)
        "feedback_used": len(fb_examples),  # those whose article is still in the KB
        "loo_r_at_1": round(sum(top.article_id == ex.expected for ex, top in pos) / max(1, len(pos)), 4),
    }
    cal.confusions = confusions(pos)
    found = {ex.expected for ex, top in pos if top.article_id == ex.expected}
    unreached = sorted({ex.expected for ex, _ in pos} - found)
    cal.unreached = unreached[:MAX_CONFUSIONS]
    cal.stats["unreached"] = len(unreached)
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


MAX_CONFUSIONS = 20


def confusions(positives: Sequence[Tuple[CalibrationExample, Candidate]], floor: float = 0.5) -> List[Dict[str, object]]:
    """The KB phrasings whose most probable article, with their own entry hidden, is another one (p >= ``floor``),
    most confident first: each is a wrong answer the calibration had to allow for. Rewording the phrasing, or
    merging or splitting the two articles, lowers the thresholds. ``positives``: (example, its ranked top)."""
    out = [
        {"question": ex.text, "article": ex.expected, "found": top.article_id, "confidence": round(top.score, 3)}
        for ex, top in positives
        if top.article_id != ex.expected and top.score >= floor
    ]
    out.sort(key=lambda c: -float(c["confidence"]))
    return out[:MAX_CONFUSIONS]


# Two articles of the same language whose titles, or whose answers (first body chunks), are at least this alike (cosine,
# mean over the search models) are reported as near-duplicates: the bot cannot tell them apart, so neither can be
# answered confidently. Measured on the public KBs (bench/RESULTS.md): covidfaq's pet / pregnancy / "what is COVID-19"
# pairs and cnil-fr's articles published twice score 0.93-1.0; the sample KB's closest same-language pair 0.87.
DUPLICATE_SIMILARITY = 0.93
MAX_DUPLICATES = 20


def near_duplicates(index: SearchIndex, floor: float = DUPLICATE_SIMILARITY) -> Tuple[List[Dict[str, object]], int]:
    """Pairs of articles of the same language that say nearly the same thing (similarity >= ``floor`` by title or
    by answer, :meth:`SearchIndex.similar_articles`), most alike first: the first :data:`MAX_DUPLICATES`, and how
    many there are in all. Merging each pair (or making each article specific) is what lets the bot answer them: a
    question about either finds both, and the calibration counts the one it did not pick as wrong."""
    pairs = [p for p in index.similar_articles(floor) if index.meta(p[1]).lang == index.meta(p[2]).lang]
    out = [
        {"articles": [a, b], "titles": [index.meta(a).title, index.meta(b).title], "similarity": round(sim, 3),
         "part": part}
        for sim, a, b, part in pairs[:MAX_DUPLICATES]
    ]
    return out, len(pairs)


def traffic_confidences(index: SearchIndex, cal: Calibrator, traffic: Sequence[Question]) -> List[float]:
    """Each real question searched again and scored by ``cal``: its top candidate's probability (0 when nothing)."""
    vectors = [e.encode_queries([q.text for q in traffic]) for e in index.embedders]  # one batch per model
    out = []
    for i, tq in enumerate(traffic):
        q = Query(tq.text, tq.lang, [v[i] for v in vectors])
        cands = cal.rank(index.search_query(q), q)
        out.append(cands[0].score if cands else 0.0)
    return out


def _arrived(saved: Calibrator, items: Sequence, key: str) -> int:
    """How many of ``items`` (feedback or questions) arrived since ``saved`` was fitted: by time when they all carry
    one (``stats[key + "_until"]``), else by count (``stats[key]``)."""
    until = saved.stats.get(f"{key}_until")
    if until and all(item.at for item in items):
        return sum(1 for item in items if item.at > until)
    return len(items) - int(saved.stats.get(key, 0))


def new_traffic(saved: Calibrator, traffic: Sequence[Question]) -> int:
    """How many real questions arrived since ``saved`` was fitted."""
    return _arrived(saved, traffic, "traffic")


def new_feedback(saved: Calibrator, feedback: Sequence[Feedback]) -> int:
    """How many labelled answers arrived since ``saved`` was fitted."""
    return _arrived(saved, feedback, "feedback")


def load_or_fit(index: SearchIndex, path: Path, target: float = 0.03, feedback: Sequence[Feedback] = (),
                out_of_kb_share: float = OUT_OF_KB_SHARE, traffic: Sequence[Question] = (),
                learn_share: bool = True, extra_models: Sequence[Embedder] = ()):
    """The saved calibrator if it matches the index, target and out-of-KB share, else a new fit (saved). Sets
    ``index.calibrator``.

    A saved calibrator is also refitted once :data:`REFIT_EVERY` more labelled answers (``feedback``) exist than it
    was fitted with, and, when the share is learnt, once :data:`TRAFFIC_REFIT_EVERY` more real questions
    (``traffic``) arrived and there are at least :data:`MIN_TRAFFIC` of them.
    """
    feedback = list(feedback)
    traffic = list(traffic)
    fp = kb_fingerprint(index)
    cal = None
    if path.exists():
        try:
            saved = Calibrator.from_json(path.read_text())
            if (saved.version == VERSION and saved.fingerprint == fp and abs(saved.target - target) < 1e-9
                    and abs(saved.out_of_kb_share - out_of_kb_share) < 1e-9 and saved.learn_share == learn_share
                    and saved.extra_offered == [e.name for e in extra_models]
                    and saved.names == feature_names(len(index.embedders), uses_classifier(index))
                    and saved.stats.get("prior", "") == day_one.identity()):
                cal = saved
                fresh = new_feedback(saved, feedback)
                if fresh >= REFIT_EVERY:
                    log.info("retrieval.calibration_feedback_refit new=%d", fresh)
                    cal = None
                asked = new_traffic(saved, traffic)
                if learn_share and len(traffic) >= MIN_TRAFFIC and (
                        asked >= TRAFFIC_REFIT_EVERY or "traffic_share" not in saved.stats):
                    log.info("retrieval.calibration_traffic_refit new=%d", asked)
                    cal = None
        except (ValueError, KeyError, TypeError) as e:
            log.warning("retrieval.calibration_unreadable %s; refitting", e)
    if cal is None:
        cal = fit(index, target=target, feedback=feedback, out_of_kb_share=out_of_kb_share, traffic=traffic,
                  learn_share=learn_share, extra_models=extra_models)
        if cal is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # several workers may save at once
            tmp.write_text(cal.to_json())
            tmp.replace(path)
    index.calibrator = cal
    return cal
