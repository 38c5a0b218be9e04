"""Following a KB change without a refit: the calibration adapted to articles published, edited or removed since it
was fitted (instant publish), and to a draft searched beside the index (try-it).

The calibration model itself reads features that do not depend on which articles exist (cosines, BM25, ranks,
margins), so it applies to a new article as it is. Only the article classifier (where the KB has several phrasings
per article) names its articles: a new one gets a row from the mean of its phrasings' vectors
(``ArticleClassifier.adapted``, with the prototype learnt at fit time), an edited one moves its row by the change of
that mean, a removed one loses it. A full refit (coalesced, in the background: ``bot.services``) follows and replaces
the adapted calibration with a fitted one.
"""

from __future__ import annotations

import copy
from typing import Collection, Dict, List, Mapping, Optional, Sequence

import numpy as np

from retrieval import classifier as clf
from retrieval.calibration.model import Calibrator
from retrieval.search import Overlay, SearchIndex, Unit

PHRASING_KINDS = ("title", "question")


def _extra_vectors(names: Sequence[str], texts: List[str]) -> List[np.ndarray]:
    from retrieval.embedder import load_embedder

    return [np.asarray(load_embedder(n).encode_documents(texts), dtype="float64") for n in names] if texts else []


def _means(groups: Mapping[str, List[int]], vectors: List[np.ndarray], texts: List[str],
           extra: Sequence[str]) -> Dict[str, np.ndarray]:
    if not texts:
        return {}
    x = np.hstack([np.asarray(v, dtype="float64") for v in vectors] + _extra_vectors(extra, texts))
    return {a: x[rows].mean(axis=0) for a, rows in groups.items()}


def phrasing_means(index: SearchIndex, ids: Collection[str], extra: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """article -> the mean of its phrasings' vectors as the classifier reads them (the search models' stored
    vectors, then ``extra`` models'), for the articles of ``ids`` the index holds."""
    wanted = set(ids)
    units = sorted((uid, u) for uid, u in index.units().items()
                   if u.kind in PHRASING_KINDS and u.article_id in wanted)
    if not units:
        return {}
    groups: Dict[str, List[int]] = {}
    for row, (_, u) in enumerate(units):
        groups.setdefault(u.article_id, []).append(row)
    return _means(groups, index.unit_vectors([uid for uid, _ in units]), [u.text for _, u in units], extra)


def overlay_means(overlay: Overlay, extra: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Like :func:`phrasing_means` for an overlay's articles (a draft)."""
    order = list(overlay.units.items())
    rows = [i for i, (_, u) in enumerate(order) if u.kind in PHRASING_KINDS]
    groups: Dict[str, List[int]] = {}
    for r, i in enumerate(rows):
        groups.setdefault(order[i][1].article_id, []).append(r)
    units: List[Unit] = [order[i][1] for i in rows]
    return _means(groups, [v[rows] for v in overlay.vectors], [u.text for u in units], extra)


def ensure_prototype(classifier: clf.ArticleClassifier, index: SearchIndex) -> None:
    """A classifier loaded from a calibration saved before prototypes existed learns its prototype now, from the
    index's phrasings of the articles it knows."""
    if classifier.proto is not None:
        return
    known = phrasing_means(index, classifier.classes, classifier.extra)
    if set(known) != set(classifier.classes):
        return  # the index no longer holds every class it knows: the next refit will learn it
    x = np.vstack([known[k] for k in classifier.classes])
    classifier.fit_prototype(x, list(classifier.classes))


def adapted(cal: Optional[Calibrator], index: SearchIndex, changed: Collection[str],
            previous: Optional[Dict[str, np.ndarray]] = None) -> Optional[Calibrator]:
    """A copy of ``cal`` that knows the articles of ``changed`` as the index now holds them (absent from the index:
    removed). ``previous``: their phrasing means before the change (:func:`phrasing_means`), to move known rows."""
    if cal is None or cal.classifier is None or not changed:
        return cal
    ensure_prototype(cal.classifier, index)
    now = phrasing_means(index, changed, cal.classifier.extra)
    means: Dict[str, Optional[np.ndarray]] = {a: now.get(a) for a in changed}
    out = copy.copy(cal)
    out.classifier = cal.classifier.adapted(means, previous)
    return out


def with_overlay(cal: Optional[Calibrator], index: SearchIndex, overlay: Overlay) -> Optional[Calibrator]:
    """A copy of ``cal`` that knows an overlay's articles (try-it); ``cal`` itself is not changed."""
    if cal is None or cal.classifier is None:
        return cal
    ensure_prototype(cal.classifier, index)
    means: Dict[str, Optional[np.ndarray]] = dict(overlay_means(overlay, cal.classifier.extra))
    before = phrasing_means(index, [a for a in means if a in cal.classifier.classes], cal.classifier.extra)
    out = copy.copy(cal)
    out.classifier = cal.classifier.adapted(means, before)
    return out


def search_with_overlay(index: SearchIndex, text: str, lang: Optional[str], articles: Sequence,
                        k: int = 5) -> List:
    """The ``k`` best candidates for ``text`` as if ``articles`` (drafts) were published, ranked and scored by the
    calibration adapted to them; neither the index nor its calibration changes."""
    overlay = index.overlay(articles) if articles else None
    q = index.encode(text, lang)
    cands = index.search_query(q, overlay=overlay)
    cal = with_overlay(index.calibrator, index, overlay) if overlay is not None else index.calibrator
    if cal is not None:
        cal.rank(cands, q)
    return cands[:k]
