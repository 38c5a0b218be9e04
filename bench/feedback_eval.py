"""What real feedback does to the answer decision: a simulation on the public suites, retrieval only (no Rasa).

    .venv/bin/python bench/feedback_eval.py [--share 0.3] [--target 0.03] [SUITE ...]

Each suite's single-turn cases are split in two halves by a hash of the case id. The first half plays production:
the bot, calibrated on the KB alone, answers what passes its threshold, and a share of the customers who got an
answer say whether it helped (truthfully: it helped when it was the expected article). The calibration is refitted
with that feedback (``retrieval.calibration.fit(feedback=...)``, as ``tier0 calibrate`` does from the database),
and both calibrations are measured on the second half. Prints correct / wrong answer rates before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval_eval import SHARED, load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval.embedder import load_embedders  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402
from tier0.config import DEFAULT_EMBEDDING_MODELS  # noqa: E402
from tier0.text import detect_language  # noqa: E402


def half(case_id: str) -> int:
    return hashlib.sha256(case_id.encode()).digest()[0] % 2


def decide(index, cal, rows):
    """(case, top article, answered) for each case."""
    out = []
    for r in rows:
        text = r["turns"][0]
        lang = detect_language(text, default="en")
        cands = index.search(text, lang, k=1)
        top = cands[0] if cands else None
        answered = cal is not None and top is not None and top.score >= cal.threshold(lang)
        out.append((r, text, lang, top.article_id if top else None, answered))
    return out


def rates(decided):
    n_ans = sum(1 for r, *_ in decided if r["expect"].get("answer"))
    given = [(r, a) for r, _, _, a, ok in decided if ok]
    correct = sum(1 for r, a in given if r["expect"].get("answer") == a)
    return correct / max(1, n_ans), (len(given) - correct) / max(1, len(given)), len(given)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="*")
    ap.add_argument("--share", type=float, default=0.3, help="share of answered customers who give feedback")
    ap.add_argument("--target", type=float, default=0.03)
    ap.add_argument("--relax", default="0", help="comma-separated TIER0_FEEDBACK_RELAX values to refit with "
                                                  "(how far customers' votes may lower a threshold; 0 the default)")
    args = ap.parse_args()
    suites = args.suites or ["sample"] + sorted(p.name for p in SHARED.iterdir() if p.name != "human-requests-en")
    embedders = load_embedders(DEFAULT_EMBEDDING_MODELS)
    print(f"feedback from {args.share:.0%} of answered customers in the first half; measured on the second half")
    print(f"{'suite':14} {'feedback':>9} {'before: correct / wrong':>24} {'after: correct / wrong':>24}  thresholds")
    for name in suites:
        arts, rows = load_suite(name)
        prod = [r for r in rows if half(r["id"]) == 0]
        test = [r for r in rows if half(r["id"]) == 1]
        rng = random.Random(7)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            index = SearchIndex(embedders, Path(tmp))
            index.sync(arts, {a.id: a.content_hash() for a in arts})
            cal = calibration.fit(index, target=args.target)
            index.calibrator = cal
            before = rates(decide(index, cal, test))
            feedback = [
                calibration.Feedback(text, lang, top, helpful=r["expect"].get("answer") == top)
                for r, text, lang, top, answered in decide(index, cal, prod)
                if answered and rng.random() < args.share
            ]
            afters = []
            for relax in [float(x) for x in args.relax.split(",")]:
                cal2 = calibration.fit(index, target=args.target, feedback=feedback, relax=relax)
                index.calibrator = cal2
                afters.append((relax, rates(decide(index, cal2, test)), cal2))
        bad = sum(1 for f in feedback if not f.helpful)
        for relax, after, cal2 in afters:
            print(
                f"{name:14} {len(feedback):4} ({bad:2} no) {before[0]:10.3f} / {before[1]:.3f} ({before[2]:4})"
                f" {after[0]:10.3f} / {after[1]:.3f} ({after[2]:4})  "
                f"{cal and round(cal.threshold('en'), 3)} -> {cal2 and round(cal2.threshold('en'), 3)}"
                f"  relax {relax:g}  [{time.perf_counter() - t0:.0f}s]",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
