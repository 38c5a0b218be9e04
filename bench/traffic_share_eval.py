"""What learning the out-of-KB share from real questions does: a simulation on the public suites, retrieval only.

    .venv/bin/python bench/traffic_share_eval.py [--target 0.03] [--index-cache DIR] [SUITE ...]

Each suite's single-turn cases are split in two halves by a hash of the case id (as in bench/feedback_eval.py). The
first half plays production traffic: its questions, *without* their labels, are what the calibration learns the
share of uncovered questions from (``retrieval.calibration.fit(traffic=...)``, as the server does from its
conversations). Both calibrations — the KB alone with the assumed share, and the one that learnt it — are measured
on the second half. Prints the true share of no-answer cases, the estimate, and correct / wrong answer rates.

``--index-cache DIR`` keeps each suite's embedded index in DIR/SUITE between runs (embedding is most of the time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from feedback_eval import decide, half, rates  # noqa: E402
from retrieval_eval import SHARED, load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval.embedder import load_embedders  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402
from tier0.config import DEFAULT_EMBEDDING_MODELS  # noqa: E402
from tier0.text import detect_language  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="*")
    ap.add_argument("--target", type=float, default=0.03)
    ap.add_argument("--index-cache", type=Path, default=None)
    args = ap.parse_args()
    suites = args.suites or ["sample"] + sorted(p.name for p in SHARED.iterdir() if p.name != "human-requests-en")
    embedders = load_embedders(DEFAULT_EMBEDDING_MODELS)
    print("first half = unlabelled traffic the share is learnt from; measured on the second half")
    print(f"{'suite':14} {'true':>5} {'learnt':>6} {'used':>5} {'assumed: correct / wrong':>25} "
          f"{'learnt: correct / wrong':>24}")
    for name in suites:
        arts, rows = load_suite(name)
        prod = [r for r in rows if half(r["id"]) == 0]
        test = [r for r in rows if half(r["id"]) == 1]
        true = sum(1 for r in prod if not r["expect"].get("answer")) / max(1, len(prod))
        traffic = [calibration.Question(r["turns"][0], detect_language(r["turns"][0], default="en")) for r in prod]
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.index_cache / name if args.index_cache else Path(tmp)
            index = SearchIndex(embedders, folder)
            index.sync(arts, {a.id: a.content_hash() for a in arts})
            cal = calibration.fit(index, target=args.target)
            index.calibrator = cal
            before = rates(decide(index, cal, test))
            cal2 = calibration.fit(index, target=args.target, traffic=traffic)
            index.calibrator = cal2
            after = rates(decide(index, cal2, test))
        learnt = cal2.stats.get("traffic_share") if cal2 else None
        print(
            f"{name:14} {true:5.3f} {learnt if learnt is not None else '-':>6} "
            f"{cal2.share_used if cal2 else 0:5.2f} {before[0]:11.3f} / {before[1]:.3f} ({before[2]:4})"
            f" {after[0]:10.3f} / {after[1]:.3f} ({after[2]:4})  [{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
