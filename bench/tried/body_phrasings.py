"""Issue #19's first lead, measured: calibration phrasings derived from each article's body (headings, bold lines,
sentences phrased as questions, the first sentence of each paragraph, short list items) given to a plain KB as its
alternate questions, so that the KB-derived calibration and the article classifier have several phrasings an
article. Leave-one-out hides the phrasing *and* every body chunk that contains it (otherwise the query finds itself).

    .venv/bin/python bench/tried/body_phrasings.py sample-plain energie-fr mealkit-en

Prints, per suite: phrasings derived, R@1, correct and wrong answers at the default target, the thresholds, and
the hindsight best at <= 5 % wrong (single-turn cases, retrieval only, as bench/retrieval_eval.py).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval_eval import best_at, load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval.embedder import load_embedder  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402
from tier0.config import DEFAULT_CLASSIFIER_EXTRA_MODELS, DEFAULT_EMBEDDING_MODELS  # noqa: E402
from tier0.text import detect_language, normalize  # noqa: E402

MAX_PER_ARTICLE = 8


def derived(body: str):
    out = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("#"):
            out.append(line.lstrip("#").strip())
        elif re.match(r"^[-*] ", line) and len(line.split()) <= 12:
            out.append(line[2:].strip())
    out += re.findall(r"\*\*([^*]{8,120})\*\*", body)
    for para in re.split(r"\n\s*\n", body):
        para = re.sub(r"[#*_`>]", "", para).strip()
        sents = re.split(r"(?<=[.!?])\s+", para)
        if sents and 3 <= len(sents[0].split()) <= 25:
            out.append(sents[0])
        out += [s for s in sents if s.endswith("?") and len(s.split()) >= 3]
    seen, keep = set(), []
    for s in out:
        k = normalize(s).strip(" ?!.:")
        if k and k not in seen and len(k.split()) >= 2:
            seen.add(k)
            keep.append(s.strip(" :"))
    return keep[:MAX_PER_ARTICLE]


def main() -> int:
    embedders = [load_embedder(m) for m in DEFAULT_EMBEDDING_MODELS.split(",")]
    extra = [load_embedder(m) for m in DEFAULT_CLASSIFIER_EXTRA_MODELS.split(",") if m.strip()]
    for name in sys.argv[1:]:
        arts, rows = load_suite(name)
        n = 0
        for a in arts:
            a.questions = derived(a.body)
            n += len(a.questions)
        with tempfile.TemporaryDirectory() as tmp:
            index = SearchIndex(embedders, Path(tmp))
            index.sync(arts, {a.id: a.content_hash() for a in arts})
            bodies = [(uid, u.article_id, normalize(u.text)) for uid, u in index.units().items() if u.kind == "body"]
            plain_search = index.search_query

            def search_query(q, exclude_units=(), exclude_articles=()):
                if exclude_units:  # a leave-one-out phrasing: hide the body chunks that contain it too
                    t = normalize(q.text).strip(" ?!.:")
                    exclude_units = set(exclude_units) | {uid for uid, _, b in bodies if t and t in b}
                return plain_search(q, exclude_units, exclude_articles)

            index.search_query = search_query
            cal = calibration.fit(index, extra_models=extra)
            index.search_query = plain_search
            index.calibrator = cal
            probs, tops, expected, answered = [], [], [], []
            for r in rows:
                text = r["turns"][0]
                lang = detect_language(text, default="en")
                cands = index.search(text, lang, k=3)
                probs.append(cands[0].score if cands else 0.0)
                tops.append(cands[0].article_id if cands else None)
                expected.append(r["expected"])
                answered.append(cal is not None and probs[-1] >= cal.threshold(lang))
        n_in = sum(1 for e in expected if e)
        given = [i for i, a in enumerate(answered) if a]
        correct = sum(1 for i in given if tops[i] in expected[i])
        print(f"{name}: {n} phrasings derived from {len(arts)} bodies | R@1 "
              f"{sum(1 for t, e in zip(tops, expected) if t in e) / n_in:.3f} | correct {correct / n_in:.3f} | wrong "
              f"{(len(given) - correct) / max(1, len(given)):.3f} ({len(given) - correct}/{len(given)}) | thresholds "
              f"{ {k: round(v, 3) for k, v in cal.thresholds.items()} } prior={cal.prior_langs} | hindsight "
              f"{best_at(np.array(probs), tops, expected)[0]:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
