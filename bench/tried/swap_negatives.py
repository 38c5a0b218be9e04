"""Salient-word swaps as extra calibration negatives, with a feature that sees the swapped word.

    .venv/bin/python bench/tried/swap_negatives.py [--index-cache DIR] SUITE ...
    (environment: K=1 swaps per phrasing, FEATURE=1 adds ``miss_max``, THRESHOLD=0 keeps the swaps out of the
    threshold reading, 1 counts them as out-of-KB questions there too)

stackfaq's most confident wrong answers are out-of-KB questions one salient word away from an article ("link to a
time point in a Vimeo video" -> "Linking directly to a specific point in time of a YouTube video", p 0.999).
``article_lexical.py`` gave the model a feature that sees the missing word (``miss_max``: the IDF of the rarest
query term the article lacks) but the KB-derived examples never show the pattern, so the fit gave it no weight.
This adds examples that do: each phrasing of a title-only KB with its rarest term that the article has replaced by a
term of similar rarity from another article (one the article lacks), searched with the article in place; every
candidate is a wrong answer. By default they only teach the model (not counted when the threshold is read, so the
assumed out-of-KB share stays the product's). Then runs ``bench/retrieval_eval.py``.

Only for KBs without the article classifier (title-only FAQs): the classifier's out-of-fold probabilities exist for
the KB's own phrasings, not for a swapped one.

Measured 2026-12-02, retrieval only, default models (correct / wrong / best correct at <= 5 % wrong in hindsight):
baseline stackfaq 0.830 / 0.028 / 0.909, covidfaq no answers; swaps + ``miss_max``: stackfaq 0.216 / 0.005 / 0.821,
covidfaq no answers; swaps alone (FEATURE=0): stackfaq 0.624 / 0.019 / 0.853. Not kept: the rarest term an article
has is as often a verb as a name ("How do I delete my Facebook account?" -> "How do I give my Facebook account?",
"What is a coronavirus?" -> "What is a nose?"), so the swaps teach the model to distrust close matches in general,
and the customers' rephrasings are close matches too.
"""

import os
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "tried"))

K = int(os.environ.get("K", "1"))
FEATURE = os.environ.get("FEATURE", "1") == "1"
THRESHOLD = os.environ.get("THRESHOLD", "0") == "1"
sys.argv.insert(1, "miss_max" if FEATURE else "")
import article_lexical  # noqa: E402  (patches the search with miss_max when asked, and loads retrieval_eval)
import retrieval_eval  # noqa: E402

from retrieval import calibration as C  # noqa: E402
from retrieval.lexical import terms  # noqa: E402
from retrieval.search import Query  # noqa: E402

_original = C.training_examples


class Hidden(list):
    """Candidates that teach the model but that ``fit`` skips when it reads the threshold (``if ex.candidates``)."""

    def __bool__(self):
        return False


def swap(text, article, vocab, idf_of, have, rng):
    """``text`` with its rarest term that ``article`` has replaced by a term of similar IDF the article lacks."""
    words = re.findall(r"\w+|\W+", text)
    scored = []
    for i, w in enumerate(words):
        t = terms(w)
        if len(t) == 1 and t[0] in idf_of and t[0] in have[article]:
            scored.append((idf_of[t[0]], i))
    if not scored:
        return None
    idf, i = max(scored)
    near = [t for t, v in vocab if abs(v - idf) <= 0.5 and t not in have[article] and len(t) > 2]
    if not near:
        return None
    words[i] = rng.choice(near)
    return "".join(words)


def training_examples(index, seed=7, inputs=None):
    examples = _original(index, seed=seed, inputs=inputs)
    if C.uses_classifier(index):
        return examples
    per_unit, per_article = article_lexical.unit_terms(index)
    have = {a: set().union(*[per_unit[u] for u in uids]) for a, uids in per_article.items()}
    lx = index._lexical
    idf_of = {t: float(lx._idf[j]) for t, j in lx.vocab.items()}
    vocab = sorted(idf_of.items())
    rng = random.Random(seed)
    queries = []
    for _, u in C.phrasings(index):
        for _ in range(K):
            p = swap(u.text, u.article_id, vocab, idf_of, have, rng)
            if p:
                queries.append((u, p))
    vectors = [e.encode_queries([p for _, p in queries]) for e in index.embedders]
    for i, (u, p) in enumerate(queries):
        lang = index.meta(u.article_id).lang
        cands = index.search_query(Query(p, lang, [v[i] for v in vectors]))
        examples.append(C.CalibrationExample(lang, None, cands if THRESHOLD else Hidden(cands), p))
    print(f"swap negatives: {len(queries)} (e.g. {queries[0][0].text!r} -> {queries[0][1]!r})" if queries else
          "swap negatives: none", file=sys.stderr)
    return examples


C.training_examples = training_examples
from retrieval.calibration import fitting as _fitting  # noqa: E402  (the fit reads its own imported name)

_fitting.training_examples = training_examples

if __name__ == "__main__":
    sys.exit(retrieval_eval.main())
