"""The calibration model: a sign-constrained logistic regression over a candidate's features (and the article
classifier's probability, where the KB has several phrasings per article), wrapped in :class:`Calibrator` with its
thresholds, and saved as plain JSON (coefficients, scaler, thresholds): nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from retrieval import classifier as clf
from retrieval import prior as day_one
from retrieval.calibration.thresholds import OUT_OF_KB_SHARE
from retrieval.search import Candidate, Query

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
CLASSIFIER_FEATURES = ("clf", "clf_gap")
# Bumped whenever the way a calibration is fitted changes, so a saved one from an older tier0 is refitted on upgrade.
VERSION = 6


def feature_names(n_models: int, classifier: bool = False) -> List[str]:
    names = list(BASE_FEATURES) + ([f"dense_{m}" for m in range(n_models)] if n_models > 1 else [])
    return names + (list(CLASSIFIER_FEATURES) if classifier else [])


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


def classifier_vector(classifier: clf.ArticleClassifier, q: Query) -> np.ndarray:
    """The classifier's input for a query: the search models' vectors, then its extra models' (embedded here; each
    model remembers its last queries, so a turn is embedded once)."""
    from retrieval.embedder import load_embedder

    extra = [load_embedder(name).encode_queries([q.text])[0] for name in classifier.extra]
    return clf.query_vector(list(q.vectors) + extra)


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
    stats: Dict[str, Any] = field(default_factory=dict)  # numbers, and the prior's identity, dates, per-language counts
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
            assert prior is not None  # uses_prior is true only when a prior is loaded
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
