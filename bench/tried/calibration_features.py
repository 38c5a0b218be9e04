"""Three more inputs for the calibration model, tried on ``bench/calibration_lab.py``'s cache and not kept.

    .venv/bin/python bench/calibration_lab.py cache --index-cache DIR SUITE ...      # once
    .venv/bin/python bench/tried/calibration_features.py agreement SUITE ...
    .venv/bin/python bench/tried/calibration_features.py oov SUITE ...
    .venv/bin/python bench/tried/calibration_features.py extra all-minilm-l6-v2 SUITE ...

* ``agreement``: one article classifier per search model (mpnet's vectors alone, e5's alone), out of fold like the
  product's; their probabilities, leads, minimum and geometric mean as features — two models that disagree about a
  question should mark it as out of the KB.
* ``oov``: the share of the question's terms that no unit of the (remaining) KB contains — stackfaq's confident
  wrong answers are questions about a name the KB never mentions ("Vimeo"); for the "article left out" negatives the
  left-out article's words count as absent, which is how such a question looks.
* ``extra MODEL``: another model's vectors appended to the article classifier's input (what
  ``TIER0_CLASSIFIER_EXTRA_MODELS`` does with USE multilingual), MODEL from ``retrieval.embedder.model_names()``.

Each prints the baseline and the variant at the default share (0.5) and at 0.33: R@1, correct / wrong at the 3 %
target, threshold, hindsight best at <= 5 % wrong.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from calibration_lab import OUT, clf_features, feature_names, load, run, with_classifier  # noqa: E402
from retrieval_eval import load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval import classifier as clf  # noqa: E402
from retrieval.lexical import terms  # noqa: E402
from retrieval.search import article_units  # noqa: E402
from tier0.text import normalize  # noqa: E402


def report(name, d, variants, shares=(0.5, 0.33), sign=calibration.expected_sign):
    for label, names, examples, cases in variants:
        for share in shares:
            res, coefs = run(d, names=names, examples=examples, cases=cases, share=share, sign=sign)
            extra = {k: v for k, v in coefs.items() if k not in feature_names(d)}
            print(f"{name} {label:10} share={share}", res, extra or "", flush=True)


def add_features(items, per_item):
    return [dict(it, cands=[(a, lang, dict(f, **per_item(i, a))) for a, lang, f in it["cands"]])
            for i, it in enumerate(items)]


def agreement(name, d):
    if not d["classifier"]:
        return print(name, "has no article classifier")
    x, labels = d["phr_x"], d["phr_labels"]
    rows = list(range(len(labels)))
    dims = [v.shape[1] for v in d["case_vectors"]]
    blocks = list(zip(np.cumsum([0] + dims[:-1]), np.cumsum(dims)))
    oofs = [clf.out_of_fold(x[:, a:b], labels, rows) for a, b in blocks]
    models = [clf.ArticleClassifier.fit(x[:, a:b], labels) for a, b in blocks]
    case_probs = [[m.proba(np.asarray(v[j], dtype="float64")) for j in range(len(d["cases"]))]
                  for m, v in zip(models, d["case_vectors"])]

    def feats(probs_list, a):
        f = {}
        for m, probs in enumerate(probs_list):
            one = clf_features(probs, a)
            f[f"clf{m}"], f[f"clf{m}_gap"] = one["clf"], one["clf_gap"]
        ps = [f[f"clf{m}"] for m in range(len(probs_list))]
        f["clf_min"], f["clf_gmean"] = min(ps), float(np.prod(ps) ** (1 / len(ps)))
        return f

    ex = d["examples"]
    ex_probs = [[o[i // 2] if i % 2 == 0 else clf.without(o[i // 2], ex[i - 1]["expected"]) for o in oofs]
                for i in range(len(ex))]
    examples = add_features(ex, lambda i, a: feats(ex_probs[i], a))
    cases = add_features(d["cases"], lambda j, a: feats([cp[j] for cp in case_probs], a))
    base = feature_names(d)
    per_model = ["clf0", "clf1", "clf0_gap", "clf1_gap"]
    report(name, d, [("base", base, examples, cases), ("+min", base + ["clf_min"], examples, cases),
                     ("+gmean", base + ["clf_gmean"], examples, cases),
                     ("+per-model", base + per_model + ["clf_min", "clf_gmean"], examples, cases),
                     ("instead", [n for n in base if n not in ("clf", "clf_gap")] + per_model + ["clf_min"], examples,
                      cases)])


def oov(name, d):
    arts, _ = load_suite(name)
    units = {a.id: [(normalize(u.text).strip(" ?!."), set(terms(u.text))) for u in article_units(a)] for a in arts}
    everywhere = Counter(t for us in units.values() for _, ts in us for t in ts)
    per_article = {a: Counter(t for _, ts in us for t in ts) for a, us in units.items()}

    def share(text, left_out=None, own=None):
        q = set(terms(text))
        if not q:
            return 0.0
        key = normalize(text).strip(" ?!.")
        absent = 0
        for t in q:
            n = everywhere.get(t, 0)
            if left_out:
                n -= per_article[left_out].get(t, 0)
            if own:
                n -= sum(1 for k, ts in units[own] if k == key and t in ts)
            absent += n <= 0
        return absent / len(q)

    ex = d["examples"]
    ev = [share(e["text"], own=e["expected"]) if e["expected"] else share(e["text"], left_out=ex[i - 1]["expected"])
          for i, e in enumerate(ex)]
    cv = [share(c["text"]) for c in d["cases"]]
    for label, vals, items in (("calibration", ev, ex), ("cases", cv, d["cases"])):
        pos = [v > 0 for v, it in zip(vals, items) if it["expected"]]
        neg = [v > 0 for v, it in zip(vals, items) if not it["expected"]]
        print(f"{name} {label}: a term found nowhere in {np.mean(pos):.1%} of in-KB, {np.mean(neg):.1%} of out-of-KB")
    examples = add_features(ex, lambda i, a: {"oov": ev[i]})
    cases = add_features(d["cases"], lambda j, a: {"oov": cv[j]})

    def sign(n):
        return -1 if n == "oov" else calibration.expected_sign(n)

    report(name, d, [("base", feature_names(d), examples, cases), ("+oov", feature_names(d) + ["oov"], examples,
                                                                       cases)], sign=sign)


def extra(name, d, model_name):
    from retrieval.embedder import load_embedder

    if not d["classifier"]:
        return print(name, "has no article classifier")
    e = load_embedder(model_name)
    x = np.hstack([d["phr_x"], e.encode_documents(d["phr_texts"])])
    labels, rows = d["phr_labels"], list(range(len(d["phr_labels"])))
    print(name, f"out-of-fold accuracy {clf.accuracy(clf.out_of_fold(d['phr_x'], labels, rows, repeats=1), labels):.3f}"
          f" -> {clf.accuracy(clf.out_of_fold(x, labels, rows, repeats=1), labels):.3f} with {model_name}")
    case_x = np.hstack([np.hstack([np.asarray(v, dtype="float64") for v in d["case_vectors"]] +
                                  [np.asarray(v, dtype="float64") for v in d["case_extra"].values()]),
                        e.encode_queries([c["text"] for c in d["cases"]])])
    examples, cases = with_classifier(d, clf.out_of_fold(x, labels, rows), clf.ArticleClassifier.fit(x, labels),
                                      case_x)
    report(name, d, [("base", None, None, None), (f"+{model_name}", None, examples, cases)])


def main() -> int:
    what, rest = sys.argv[1], sys.argv[2:]
    if what == "extra":
        model_name, rest = rest[0], rest[1:]
    for name in rest:
        d = load(name, OUT)
        if what == "agreement":
            agreement(name, d)
        elif what == "oov":
            oov(name, d)
        elif what == "extra":
            extra(name, d, model_name)
        else:
            raise SystemExit("usage: calibration_features.py agreement|oov|extra MODEL SUITE ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
