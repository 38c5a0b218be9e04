"""Perturbed titles as extra calibration positives for title-only articles.

    .venv/bin/python bench/tried/title_positives.py {add|replace} [--index-cache DIR] SUITE ...
    (environment: DROP=0.3 word-dropout probability, K=2 perturbations per title)

On a title-only FAQ the calibration's positives are "the title, with the title hidden": only the body can match,
much harder than a customer's rephrasing, which finds the title (stackfaq: leave-one-out R@1 0.92, real questions
0.978; threshold 0.754 where the best one in hindsight is 0.382). This tries the other way round: each title with
words dropped at random, searched with the title in place (positive) and with its article left out (negative);
``add`` keeps the leave-one-out examples beside them, ``replace`` drops those of title-only articles. Then runs
``bench/retrieval_eval.py`` with the patched calibration.

Measured 2026-12-02, retrieval only, default models (correct / wrong / best correct at <= 5 % wrong in hindsight):
baseline stackfaq 0.830 / 0.028 / 0.909, covidfaq no answers, cnil-fr no answers; ``add``: stackfaq 0.730 / 0.018 /
0.847, covidfaq 0.014 / 0 / 0.015, cnil-fr no answers; ``replace``: stackfaq 0.188 / 0.005 / 0.646, covidfaq 0.021 /
0.182 (18 % wrong), cnil-fr no answers. Not kept: easy positives teach the model to trust what a near-copy of the
title has (lexical coverage), which ranks real questions worse.
"""

import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval import calibration as C  # noqa: E402
from retrieval.search import Query  # noqa: E402

VARIANT = sys.argv.pop(1) if len(sys.argv) > 1 else "add"
DROP = float(os.environ.get("DROP", "0.3"))
K = int(os.environ.get("K", "2"))
_original = C.training_examples


def perturb(text: str, rng: random.Random):
    words = text.split()
    if len(words) < 3:
        return None
    for _ in range(10):
        kept = [w for w in words if rng.random() > DROP]
        if 2 <= len(kept) < len(words):
            return " ".join(kept)
    return None


def training_examples(index, seed=7, inputs=None):
    examples = _original(index, seed=seed, inputs=inputs)
    count: dict = {}
    for _, u in C.phrasings(index):
        count[u.article_id] = count.get(u.article_id, 0) + 1
    titles = [(uid, u) for uid, u in C.phrasings(index) if count[u.article_id] == 1]
    if not titles:
        return examples
    rng = random.Random(seed)
    queries = [(u, p) for _, u in titles for p in (perturb(u.text, rng) for _ in range(K)) if p]
    vectors = [e.encode_queries([p for _, p in queries]) for e in index.embedders]
    if VARIANT == "replace":
        title_only = {u.article_id for _, u in titles}
        examples = [e for e in examples if e.expected not in title_only]
    for i, (u, p) in enumerate(queries):
        lang = index.meta(u.article_id).lang
        q = Query(p, lang, [v[i] for v in vectors])
        examples.append(C.CalibrationExample(lang, u.article_id, index.search_query(q), p))
        examples.append(C.CalibrationExample(lang, None, index.search_query(q, exclude_articles={u.article_id}), p))
    return examples


C.training_examples = training_examples
from retrieval.calibration import fitting as _fitting  # noqa: E402  (the fit reads its own imported name)

_fitting.training_examples = training_examples
import retrieval_eval  # noqa: E402

if __name__ == "__main__":
    sys.exit(retrieval_eval.main())
