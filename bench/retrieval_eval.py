"""Retrieval-only evaluation, for tuning: search + calibrated answer decision on every single-turn case of the
public suites, without Rasa (so it runs in a fraction of `tier0 eval`'s time). `tier0 eval` stays the reference.

    .venv/bin/python bench/retrieval_eval.py [--target 0.03] [--models all-minilm-l6-v2,...] [--extra MODELS]
                                             [--index-cache DIR] [--share S] [--seed N] [SUITE ...]

Prints, per suite: R@1, the calibrated decision's correct- and wrong-answer rates at the target, and the
best correct rate any single threshold on the calibrated probability would give at <= 5 % wrong (hindsight).
``--extra``: the article classifier's optional models (``TIER0_CLASSIFIER_EXTRA_MODELS``; "" for none).
``--index-cache DIR`` keeps each suite's embedded index in DIR/SUITE between runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from suites import SHARED  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval.embedder import load_embedder  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402
from tier0.config import DEFAULT_CLASSIFIER_EXTRA_MODELS, DEFAULT_EMBEDDING_MODELS  # noqa: E402
from tier0.text import detect_language  # noqa: E402


def load_suite(name: str):
    """A suite's articles and single-turn cases (bench/suites.py); each case's ``expected`` is a list of ids."""
    import suites

    arts, rows = suites.load(name)
    for r in rows:
        r["expected"] = suites.expected(r)
    return arts, rows


def best_at(probs, tops, expected, max_wrong=0.05):
    order = np.argsort(-probs)
    n_ans = sum(1 for e in expected if e)
    best = (0.0, 1.0)
    correct = wrong = 0
    for k, i in enumerate(order, 1):
        if tops[i] in (expected[i] or ()):
            correct += 1
        else:
            wrong += 1
        if wrong / k <= max_wrong and correct / max(n_ans, 1) > best[0]:
            best = (correct / max(n_ans, 1), float(probs[i]))
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="*")
    ap.add_argument("--target", type=float, default=0.03)
    ap.add_argument("--models", default=DEFAULT_EMBEDDING_MODELS)
    ap.add_argument("--extra", default=DEFAULT_CLASSIFIER_EXTRA_MODELS)
    ap.add_argument("--index-cache", type=Path, default=None)
    ap.add_argument("--share", type=float, default=calibration.OUT_OF_KB_SHARE,
                    help="the out-of-KB share the threshold assumes (TIER0_OUT_OF_KB_SHARE)")
    ap.add_argument("--seed", type=int, default=7, help="the calibration's fold seed (the product uses 7)")
    args = ap.parse_args()
    suites = args.suites or ["sample"] + sorted(p.name for p in SHARED.iterdir() if p.name != "human-requests-en")
    embedders = [load_embedder(m) for m in args.models.split(",")]
    extra = [load_embedder(m) for m in args.extra.split(",") if m.strip()]
    print(f"models={args.models} classifier extra={args.extra or '-'} target={args.target} share={args.share} "
          f"seed={args.seed}")
    print(f"{'suite':14} {'R@1':>6} {'correct':>8} {'wrong':>7} {'best@5%':>8} {'thr':>6} {'fit s':>6} {'q ms':>6}")
    for name in suites:
        arts, rows = load_suite(name)
        with tempfile.TemporaryDirectory() as tmp:
            index = SearchIndex(embedders, args.index_cache / name if args.index_cache else Path(tmp))
            index.sync(arts, {a.id: a.content_hash() for a in arts})
            t0 = time.perf_counter()
            cal = calibration.fit(index, target=args.target, extra_models=extra, out_of_kb_share=args.share,
                                  seed=args.seed)
            index.calibrator = cal
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            probs, tops, expected, answered = [], [], [], []
            for r in rows:
                text = r["turns"][0]
                lang = detect_language(text, default="en")
                cands = index.search(text, lang, k=3)
                p = cands[0].score if cands else 0.0
                probs.append(p)
                tops.append(cands[0].article_id if cands else None)
                expected.append(r["expected"])
                answered.append(cal is not None and p >= cal.threshold(lang))
            q_ms = (time.perf_counter() - t0) / max(1, len(rows)) * 1000
        probs = np.array(probs)
        n_ans = sum(1 for e in expected if e)
        r1 = sum(1 for t, e in zip(tops, expected) if t in e) / max(n_ans, 1)
        given = [i for i, a in enumerate(answered) if a]
        correct = sum(1 for i in given if tops[i] in expected[i]) / max(n_ans, 1)
        wrong = sum(1 for i in given if tops[i] not in expected[i]) / max(len(given), 1)
        best, thr = best_at(probs, tops, expected)
        print(
            f"{name:14} {r1:6.3f} {correct:8.3f} {wrong:7.3f} {best:8.3f} {thr:6.3f} {fit_s:6.1f} {q_ms:6.1f}"
            f"   thresholds={ {k: round(v, 3) for k, v in cal.thresholds.items()} if cal else None}"
            f" loo_r1={cal.stats.get('loo_r_at_1') if cal else None}"
            f" classifier extra={cal.classifier.extra if cal and cal.classifier else None}"
            f" oof={ {k[15:]: v for k, v in cal.stats.items() if k.startswith('classifier_oof_')} if cal else None}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
