"""How much of a suite's gap is near-duplicate articles: the same hindsight measurement as ``retrieval_eval.py``,
once with the suite's labels and once counting an answer from a near-duplicate of the expected article as right.

    .venv/bin/python bench/duplicate_ceiling.py [--index-cache DIR] [--tau 0.95,0.9,0.85,0.8] SUITE ...

Two articles are near-duplicates at tau when the cosine of their titles or of their answers (first body chunk),
mean over the default embedding models, is at least tau. Prints, per suite and tau: the article pairs that close,
the share of in-KB cases whose top answer is a near-duplicate of the expected article ("dup top"), and the best
correct-answer rate any threshold on tier0's calibrated confidence gives at <= 5 % wrong (hindsight), with the
suite's labels and with near-duplicates counted as right. Out-of-KB cases stay as labelled (the held-out article is
not in the KB to compare with). A diagnostic of the data, not of the product: tier0 itself never merges articles.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval_eval import best_at, load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval.embedder import lazy_embedders, load_embedder  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402
from tier0.config import DEFAULT_CLASSIFIER_EXTRA_MODELS, DEFAULT_EMBEDDING_MODELS  # noqa: E402
from tier0.text import detect_language  # noqa: E402


def near_pairs(index: SearchIndex, tau: float):
    """Pairs of articles whose titles or first body chunks have a cosine (mean over models) >= tau: the product's
    own measure (``SearchIndex.similar_articles``, behind ``tier0 calibrate``'s near-duplicates)."""
    return {frozenset((a, b)) for _, a, b, _ in index.similar_articles(tau)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="+")
    ap.add_argument("--index-cache", type=Path, default=None)
    ap.add_argument("--tau", default="0.95,0.9,0.85,0.8")
    args = ap.parse_args()
    taus = [float(t) for t in args.tau.split(",")]
    embedders = [load_embedder(m) for m in DEFAULT_EMBEDDING_MODELS.split(",")]
    extra = lazy_embedders(DEFAULT_CLASSIFIER_EXTRA_MODELS)
    print(f"{'suite':14} {'tau':>5} {'pairs':>6} {'dup top':>8} {'best@5% labels':>15} {'best@5% dups right':>19}")
    for name in args.suites:
        arts, rows = load_suite(name)
        with tempfile.TemporaryDirectory() as tmp:
            index = SearchIndex(embedders, args.index_cache / name if args.index_cache else Path(tmp))
            index.sync(arts, {a.id: a.content_hash() for a in arts})
            index.calibrator = calibration.fit(index, extra_models=extra)
            pairs = {tau: near_pairs(index, tau) for tau in taus}
            probs, tops, expected = [], [], []
            for r in rows:
                text = r["turns"][0]
                cands = index.search(text, detect_language(text, default="en"), k=3)
                probs.append(cands[0].score if cands else 0.0)
                tops.append(cands[0].article_id if cands else None)
                expected.append(r["expect"].get("answer"))
        probs = np.array(probs)
        strict, _ = best_at(probs, tops, expected)
        n_in = sum(1 for e in expected if e)
        for tau in taus:
            close = pairs[tau]

            def dup(a, b):
                return frozenset((a, b)) in close

            dup_top = sum(1 for t, e in zip(tops, expected) if e and t != e and dup(t, e))
            tolerant = [t if (e and t and dup(t, e)) else e for t, e in zip(tops, expected)]
            loose, _ = best_at(probs, tops, tolerant)
            print(f"{name:14} {tau:5.2f} {len(close):6d} {dup_top / max(n_in, 1):8.3f} {strict:15.3f} {loose:19.3f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
