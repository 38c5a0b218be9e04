"""Calibration experiments in seconds instead of minutes: search a suite once, keep what the calibration learns from
and what it is judged on, then refit and re-read thresholds from that cache as often as needed.

    .venv/bin/python bench/calibration_lab.py cache [--index-cache DIR] [--out DIR] SUITE ...
    .venv/bin/python bench/calibration_lab.py shares [--out DIR] SUITE ...
    .venv/bin/python bench/calibration_lab.py seeds [--out DIR] [--seeds 1,2,3] [--shares 0.5,0.33] SUITE ...
    .venv/bin/python bench/calibration_lab.py cost [--out DIR] [--correct 0.6] SUITE ...

``cache`` embeds nothing it does not have to (``--index-cache`` is ``retrieval_eval.py``'s): it builds the KB-derived
calibration examples exactly as ``retrieval.calibration.fit`` does (default models and classifier extra model), the
real single-turn cases' candidates with the final article classifier's features, and the classifier's inputs, and
writes them to ``OUT/SUITE.pkl`` (default ``/tmp/tier0-lab``; a local cache this script alone writes and reads).
``shares`` sweeps the out-of-KB share the threshold assumes; ``seeds`` re-draws the classifier's out-of-fold splits
(the product uses seed 7) to show how much the threshold moves by chance. Both print, per setting: R@1, correct- and
wrong-answer rates at the default 3 % target, the threshold, and the best correct rate any threshold gives at
<= 5 % wrong (hindsight) — the numbers ``retrieval_eval.py`` prints, reproduced exactly at the defaults
(banking77-en: 0.892 / 0.325 / 0.009, hindsight 0.667). ``cost`` answers the question the other way round: the
share of wrong answers the best possible threshold has to accept for the bot to answer ``--correct`` of the in-KB
questions rightly (issue #4's targets by default). ``bench/tried/calibration_features.py`` builds on it.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval_eval import best_at, load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval import classifier as clf  # noqa: E402
from tier0.config import DEFAULT_CLASSIFIER_EXTRA_MODELS, DEFAULT_EMBEDDING_MODELS  # noqa: E402

OUT = Path("/tmp/tier0-lab")
Cands = List[Tuple[str, str, Dict[str, float]]]  # (article id, language, features) per candidate, search order


def _dump(cands) -> Cands:
    return [(c.article_id, c.lang, dict(c.features)) for c in cands]


def build_cache(name: str, index_cache: Optional[Path], out: Path) -> Path:
    """Search a suite once: the calibration's KB-derived examples and the real cases, with every feature."""
    import tempfile

    from retrieval.embedder import load_embedder
    from retrieval.search import Query, SearchIndex
    from tier0.text import detect_language

    embedders = [load_embedder(m) for m in DEFAULT_EMBEDDING_MODELS.split(",")]
    extra = [load_embedder(m) for m in DEFAULT_CLASSIFIER_EXTRA_MODELS.split(",") if m.strip()]
    arts, rows = load_suite(name)
    with tempfile.TemporaryDirectory() as tmp:
        index = SearchIndex(embedders, index_cache / name if index_cache else Path(tmp))
        index.sync(arts, {a.id: a.content_hash() for a in arts})
        t0 = time.perf_counter()
        inputs = calibration.classifier_inputs(index, extra) if calibration.uses_classifier(index) else None
        examples = calibration.training_examples(index, inputs=inputs)
        model = calibration.fit_classifier(index, inputs) if inputs is not None else None
        texts = [r["turns"][0] for r in rows]
        langs = [detect_language(t, default="en") for t in texts]
        vectors = [e.encode_queries(texts) for e in embedders]
        extra_vectors = {n: load_embedder(n).encode_queries(texts) for n in (model.extra if model else [])}
        cases = []
        for i, r in enumerate(rows):
            q = Query(texts[i], langs[i], [v[i] for v in vectors])
            cands = index.search_query(q)
            if model is not None:
                clf.set_features(cands, model.proba(clf.query_vector(list(q.vectors) + [extra_vectors[n][i] for n in
                                                                                         model.extra])))
            cases.append({"text": texts[i], "lang": langs[i], "expected": r["expected"],
                          "cands": _dump(cands)})
        units = calibration.phrasings(index)
        data = {
            "examples": [{"lang": ex.lang, "expected": ex.expected, "text": ex.text, "cands": _dump(ex.candidates)}
                         for ex in examples],
            "cases": cases,
            "n_models": len(embedders),
            "classifier": model is not None,
            "extra": model.extra if model is not None else [],
            "phr_labels": [u.article_id for _, u in units],
            "phr_texts": [u.text for _, u in units],
            "phr_x": inputs.x if inputs is not None else None,
            "case_vectors": vectors,
            "case_extra": extra_vectors,
        }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.pkl"
    path.write_bytes(pickle.dumps(data))
    print(f"{name}: {len(examples)} calibration examples, {len(cases)} cases, {time.perf_counter() - t0:.0f} s",
          flush=True)
    return path


def load(name: str, out: Path = OUT) -> dict:
    return pickle.loads((out / f"{name}.pkl").read_bytes())


def feature_names(d: dict) -> List[str]:
    return calibration.feature_names(d["n_models"], d["classifier"])


def fit_model(examples: Sequence[dict], names: Sequence[str],
              sign: Callable[[str], int] = calibration.expected_sign) -> Tuple[Callable[[Cands], np.ndarray], dict]:
    """The calibration model as ``retrieval.calibration.fit`` fits it (standardised, sign-constrained)."""
    rows = [(f, int(ex["expected"] is not None and a == ex["expected"])) for ex in examples for a, _, f in ex["cands"]]
    x = np.array([[f.get(n, 0.0) for n in names] for f, _ in rows], dtype="float64")
    y = np.array([label for _, label in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    coef, intercept = calibration.sign_constrained_fit((x - mean) / scale, y, [sign(n) for n in names])

    def prob(cands: Cands) -> np.ndarray:
        if not cands:
            return np.zeros(0)
        z = np.array([[f.get(n, 0.0) for n in names] for _, _, f in cands], dtype="float64")
        return 1.0 / (1.0 + np.exp(-(((z - mean) / scale) @ coef + intercept)))

    return prob, {n: round(float(c), 3) for n, c in zip(names, coef) if c}


def tops(items: Sequence[dict], prob, reorder: bool) -> List[Tuple[Optional[str], float]]:
    out = []
    for it in items:
        if not it["cands"]:
            out.append((None, 0.0))
            continue
        p = prob(it["cands"])
        i = int(np.argmax(p)) if reorder else 0
        out.append((it["cands"][i][0], float(p[i])))
    return out


def hindsight(cases: Sequence[dict], top: Sequence[Tuple[Optional[str], float]], max_wrong: float = 0.05) -> float:
    """``retrieval_eval.best_at`` on the cached cases: the best correct rate any threshold gives at <= max_wrong."""
    return best_at(np.array([p for _, p in top]), [a for a, _ in top], [c["expected"] for c in cases], max_wrong)[0]


def run(d: dict, names: Optional[Sequence[str]] = None, examples: Optional[Sequence[dict]] = None,
        cases: Optional[Sequence[dict]] = None, share: float = calibration.OUT_OF_KB_SHARE, target: float = 0.03,
        sign: Callable[[str], int] = calibration.expected_sign) -> Tuple[dict, dict]:
    """Refit the calibration model on ``examples``, read one threshold for all languages at ``target`` and ``share``,
    and judge it on ``cases`` (defaults: the cached ones). Returns the metrics and the non-zero coefficients."""
    names = list(names or feature_names(d))
    examples = d["examples"] if examples is None else examples
    cases = d["cases"] if cases is None else cases
    prob, coefs = fit_model(examples, names, sign)
    et, ct = tops(examples, prob, d["classifier"]), tops(cases, prob, d["classifier"])
    weight = share / (1.0 - share)
    thr = calibration.choose_threshold(
        np.array([p for _, p in et]),
        np.array([int(ex["expected"] is None or a != ex["expected"]) for ex, (a, _) in zip(examples, et)]),
        target, np.array([weight if ex["expected"] is None else 1.0 for ex in examples]))
    n_in = sum(1 for c in cases if c["expected"])
    given = [(c, a) for c, (a, p) in zip(cases, ct) if p >= thr]
    correct = sum(1 for c, a in given if a in c["expected"])
    return {
        "r1": round(sum(1 for c, (a, _) in zip(cases, ct) if a in c["expected"]) / max(1, n_in), 3),
        "correct": round(correct / max(1, n_in), 3),
        "wrong": round((len(given) - correct) / max(1, len(given)), 3),
        "threshold": round(thr, 3),
        "hindsight": round(hindsight(cases, ct), 3),
    }, coefs


TARGETS = {"stackfaq-en": 0.92, "covidfaq-en": 0.30, "cnil-fr": 0.35, "clinc150-en": 0.60, "banking77-en": 0.70,
           "sample": 0.90}  # issue #4's correct-answer targets


def cost(d: dict, correct: float) -> str:
    """The wrong-answer rate of the best threshold (in hindsight) that answers ``correct`` of the in-KB cases right."""
    prob, _ = fit_model(d["examples"], feature_names(d))
    top = tops(d["cases"], prob, d["classifier"])
    n_in = sum(1 for c in d["cases"] if c["expected"])
    right = wrong = 0
    for k, i in enumerate(np.argsort([-p for _, p in top], kind="stable"), 1):
        right += top[i][0] in d["cases"][i]["expected"]
        wrong += top[i][0] not in d["cases"][i]["expected"]
        if right >= correct * n_in:
            return f"{correct:.0%} correct needs {wrong}/{k} = {wrong / k:.1%} wrong answers (threshold {top[i][1]:.3f})"
    return f"{correct:.0%} correct is never reached (R@1 below it)"


def clf_features(probs: Dict[str, float], article: str) -> Dict[str, float]:
    """``clf`` and ``clf_gap`` of one article, as ``retrieval.classifier.set_features`` sets them on candidates."""
    ordered = sorted(probs.values(), reverse=True)
    best, second = (ordered + [0.0, 0.0])[:2]
    p = probs.get(article, 0.0)
    return {"clf": p, "clf_gap": p - (second if p >= best else best)}


def with_classifier(d: dict, oof: Sequence[Dict[str, float]], model: Optional[clf.ArticleClassifier] = None,
                    case_x: Optional[np.ndarray] = None) -> Tuple[List[dict], List[dict]]:
    """The cached examples (and cases, when ``model`` and ``case_x`` are given) with ``clf`` / ``clf_gap`` from other
    classifier probabilities: ``oof[i]`` for phrasing i (its "article left out" twin renormalised without it)."""
    def feats(cands: Cands, probs: Dict[str, float]) -> Cands:
        return [(a, lang, dict(f, **clf_features(probs, a))) for a, lang, f in cands]

    ex = d["examples"]
    if len(ex) != 2 * len(d["phr_labels"]):
        raise SystemExit("the cache's examples are not one pair per phrasing (KB above MAX_QUERIES?)")
    examples = []
    for i in range(len(d["phr_labels"])):
        pos, neg = ex[2 * i], ex[2 * i + 1]
        examples.append(dict(pos, cands=feats(pos["cands"], oof[i])))
        examples.append(dict(neg, cands=feats(neg["cands"], clf.without(oof[i], pos["expected"]))))
    cases = d["cases"]
    if model is not None and case_x is not None:
        cases = [dict(c, cands=feats(c["cands"], model.proba(case_x[j]))) for j, c in enumerate(cases)]
    return examples, cases


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["cache", "shares", "seeds", "cost"])
    ap.add_argument("suites", nargs="+")
    ap.add_argument("--index-cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--shares", default="0.5,0.33")
    ap.add_argument("--correct", type=float, default=None, help="cost: the correct-answer rate (default: issue #4's)")
    args = ap.parse_args()
    for name in args.suites:
        if args.command == "cache":
            build_cache(name, args.index_cache, args.out)
            continue
        d = load(name, args.out)
        if args.command == "cost":
            print(name, cost(d, args.correct if args.correct is not None else TARGETS.get(name, 0.5)), flush=True)
        elif args.command == "shares":
            for share in (0.5, 0.45, 0.4, 0.375, 0.35, 0.33, 0.3, 0.25, 0.2):
                print(name, f"share={share}", run(d, share=share)[0], flush=True)
        else:
            if not d["classifier"]:
                print(name, "has no article classifier: its calibration draws no folds")
                continue
            rows = list(range(len(d["phr_labels"])))
            for seed in (int(s) for s in args.seeds.split(",")):
                examples, _ = with_classifier(d, clf.out_of_fold(d["phr_x"], d["phr_labels"], rows, seed=seed))
                for share in (float(s) for s in args.shares.split(",")):
                    print(name, f"seed={seed} share={share}", run(d, examples=examples, share=share)[0], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
