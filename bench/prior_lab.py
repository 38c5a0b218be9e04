"""The day-one prior: a calibration learnt across KBs from real, labelled customer questions, judged on KBs it never
saw (leave one suite out). Reads the caches of ``bench/calibration_lab.py cache SUITE ...``.

    .venv/bin/python bench/prior_lab.py [--target 0.03] [--share 0.5] [--train A,B,..] SUITE ...
    .venv/bin/python bench/prior_lab.py --write retrieval/prior.json      # fit on every training suite, ship it
    .venv/bin/python bench/prior_lab.py --write-loso bench/priors          # one prior without each training suite

``bench/eval_all.sh`` grades each training suite with its ``bench/priors/prior-without-SUITE.json``
(``TIER0_PRIOR_FILE``), so no suite grades a prior that saw it.

For each SUITE: the prior fitted on every *other* cached training suite (``--train``, default the public ones), its
threshold read on their questions at ``--target`` with the out-of-KB share ``--share``, then applied to SUITE's
questions: R@1, correct and wrong answers, suggestion hits (an expected article among the top three offered when
unsure), and the hindsight best.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from calibration_lab import OUT, load  # noqa: E402

from retrieval import calibration  # noqa: E402

PUBLIC = ["banking77-en", "clinc150-en", "stackfaq-en", "covidfaq-en", "cnil-fr"]
FEATURES = list(calibration.BASE_FEATURES) + ["dense_q", "dense_body", "dense_0", "dense_1"]


def case_rows(cases: Sequence[dict], names: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, owner = [], [], []
    for i, c in enumerate(cases):
        for a, _, f in c["cands"]:
            x.append([f.get(n, 0.0) for n in names])
            y.append(int(a in c["expected"]))
            owner.append(i)
    return np.array(x, dtype="float64"), np.array(y), np.array(owner)


def fit(train: Dict[str, List[dict]], names: Sequence[str], c: float = 1.0):
    xs, ys, ws = [], [], []
    for cases in train.values():
        x, y, _ = case_rows(cases, names)
        xs.append(x)
        ys.append(y)
        ws.append(np.full(len(y), 1.0 / len(cases)))  # every suite counts the same
    x, y, w = np.vstack(xs), np.concatenate(ys), np.concatenate(ws)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    coef, intercept = calibration.sign_constrained_fit((x - mean) / scale, y,
                                                       [calibration.expected_sign(n) for n in names], c=c,
                                                       weights=w / w.mean())

    def prob(cands) -> np.ndarray:
        if not cands:
            return np.zeros(0)
        z = np.array([[f.get(n, 0.0) for n in names] for _, _, f in cands], dtype="float64")
        return 1.0 / (1.0 + np.exp(-(((z - mean) / scale) @ coef + intercept)))

    prob.params = (mean, scale, coef, intercept)  # type: ignore[attr-defined]
    return prob, {n: round(float(v), 3) for n, v in zip(names, coef) if v}


def ranked(cases: Sequence[dict], prob, reorder: bool) -> List[List[Tuple[str, float]]]:
    out = []
    for c in cases:
        p = prob(c["cands"])
        pairs = [(a, float(q)) for (a, _, _), q in zip(c["cands"], p)]
        if reorder:
            pairs.sort(key=lambda t: -t[1])
        out.append(pairs)
    return out


def training_tops(train: Dict[str, List[dict]], prob, reorder: bool, share: float):
    """Each training question's top probability, whether answering it is wrong, and its weight: every suite weighs
    the same, and within it the questions its KB does not cover weigh ``share``."""
    probs, wrong, weights = [], [], []
    for cases in train.values():
        r = ranked(cases, prob, reorder)
        n_in = sum(1 for c in cases if c["expected"]) or 1
        n_out = sum(1 for c in cases if not c["expected"]) or 1
        for c, pairs in zip(cases, r):
            if not pairs:
                continue
            probs.append(pairs[0][1])
            wrong.append(int(pairs[0][0] not in c["expected"]))
            # each suite counts the same; within it, uncovered questions weigh `share` of it
            weights.append((share / n_out) if not c["expected"] else ((1 - share) / n_in))
    return np.array(probs), np.array(wrong), np.array(weights) * 1000


def threshold(train: Dict[str, List[dict]], prob, reorder: bool, target: float, share: float,
              how: str = "pooled") -> float:
    """``pooled``: one curve over every training question; ``median``/``max``: of each training suite's own."""
    if how == "pooled":
        probs, wrong, weights = training_tops(train, prob, reorder, share)
        return calibration.choose_threshold(probs, wrong, target, weights)
    each = []
    for k, v in train.items():
        probs, wrong, weights = training_tops({k: v}, prob, reorder, share)
        each.append(calibration.choose_threshold(probs, wrong, target, weights))
    return float(np.median(each) if how == "median" else max(each))


def judge(cases: Sequence[dict], r, thr: float, floor: float) -> dict:
    n_in = sum(1 for c in cases if c["expected"]) or 1
    n_out = sum(1 for c in cases if not c["expected"]) or 1
    given = [(c, p) for c, p in zip(cases, r) if p and p[0][1] >= thr]
    correct = sum(1 for c, p in given if p[0][0] in c["expected"])
    unsure = [(c, p) for c, p in zip(cases, r) if p and p[0][1] < thr]
    hits = sum(1 for c, p in unsure if c["expected"] and any(a in c["expected"] for a, q in p[:3] if q >= floor))
    idle = sum(1 for c, p in unsure if not c["expected"] and p[0][1] >= floor)
    best = max([0.0] + [k for k in _curve(cases, r)])
    return {"r1": round(sum(1 for c, p in zip(cases, r) if p and p[0][0] in c["expected"]) / n_in, 3),
            "correct": round(correct / n_in, 3), "wrong": round((len(given) - correct) / max(1, len(given)), 3),
            "answers": len(given), "hits": round(hits / n_in, 3), "self": round((correct + hits) / n_in, 3),
            "idle": round(idle / n_out, 3), "thr": round(thr, 3), "best": round(best, 3)}


def _curve(cases, r, max_wrong: float = 0.05):
    n_in = sum(1 for c in cases if c["expected"]) or 1
    tops = sorted(((p[0][1], p[0][0] in c["expected"]) for c, p in zip(cases, r) if p), key=lambda t: -t[0])
    right = 0
    for k, (_, ok) in enumerate(tops, 1):
        right += ok
        if (k - right) / k <= max_wrong:
            yield right / n_in


def write(path: Path, train: Dict[str, List[dict]], names: Sequence[str], args) -> None:
    from retrieval.prior import Prior, curve_of

    prob, _ = fit(train, names, args.c)
    mean, scale, coef, intercept = prob.params
    probs, wrong, weights = training_tops(train, prob, args.reorder, args.share)
    prior = Prior(list(names), mean, scale, coef, intercept, curve_of(probs, wrong, weights), sorted(train),
                  {"share": args.share, "c": args.c, "questions": {t: len(v) for t, v in sorted(train.items())},
                   "made_by": "bench/prior_lab.py"})
    path.write_text(prior.to_json() + "\n")
    print(f"wrote {path}: threshold at 3 % {prior.threshold(0.03):.3f}, at 5 % {prior.threshold(0.05):.3f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="*")
    ap.add_argument("--write", type=Path, default=None, help="fit on every training suite and write the prior here")
    ap.add_argument("--write-loso", type=Path, default=None, help="write DIR/prior-without-SUITE.json for each")
    ap.add_argument("--train", default=",".join(PUBLIC))
    ap.add_argument("--target", type=float, default=0.03)
    ap.add_argument("--share", type=float, default=0.5)
    ap.add_argument("--floor", type=float, default=0.15)
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--reorder", action="store_true")
    ap.add_argument("--how", default="pooled", choices=["pooled", "median", "max"])
    ap.add_argument("--features", default=",".join(FEATURES))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    names = args.features.split(",")
    data = {s: load(s, args.out)["cases"] for s in set(args.suites) | set(args.train.split(","))}
    for s in args.suites:
        train = {t: data[t] for t in args.train.split(",") if t != s}
        prob, coefs = fit(train, names, args.c)
        thr = threshold(train, prob, args.reorder, args.target, args.share, args.how)
        print(s, judge(data[s], ranked(data[s], prob, args.reorder), thr, args.floor), flush=True)
    train = {t: data[t] for t in args.train.split(",")}
    prob, coefs = fit(train, names, args.c)
    print("coefficients (all training suites):", coefs)
    if args.write:
        write(args.write, train, names, args)
    if args.write_loso:
        args.write_loso.mkdir(parents=True, exist_ok=True)
        for s in train:
            write(args.write_loso / f"prior-without-{s}.json", {t: v for t, v in train.items() if t != s}, names, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
