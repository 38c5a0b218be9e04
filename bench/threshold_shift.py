"""How the KB-derived calibration queries differ from a suite's real questions (retrieval only, no Rasa).

    .venv/bin/python bench/threshold_shift.py [SUITE ...]

For thresholds t, prints N(t) — the share of out-of-KB questions whose top candidate passes t — and Pc(t) / Pw(t) —
the share of in-KB questions answered correctly / wrongly above t — on the calibration's own KB-derived queries and
on the suite's real single-turn cases. Where the two disagree, the KB-derived threshold misjudges the real
wrong-answer rate (bench/RESULTS.md).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval_eval import load_suite  # noqa: E402

from retrieval import calibration  # noqa: E402
from retrieval.embedder import load_embedders  # noqa: E402
from retrieval.search import SearchIndex  # noqa: E402
from tier0.config import DEFAULT_EMBEDDING_MODELS  # noqa: E402
from tier0.text import detect_language  # noqa: E402


def shares(p, neg, wrong, t):
    a = p >= t
    return (a & neg).sum() / max(1, neg.sum()), (a & ~neg & ~wrong).sum() / max(1, (~neg).sum()), \
        (a & ~neg & wrong).sum() / max(1, (~neg).sum())


def main() -> int:
    suites = sys.argv[1:] or ["sample", "banking77-en", "clinc150-en", "stackfaq-en"]
    embedders = load_embedders(DEFAULT_EMBEDDING_MODELS)
    for name in suites:
        arts, rows = load_suite(name)
        with tempfile.TemporaryDirectory() as tmp:
            index = SearchIndex(embedders, Path(tmp))
            index.sync(arts, {a.id: a.content_hash() for a in arts})
            cal = calibration.fit(index)
            index.calibrator = cal
            kb = [(cal.rank(list(ex.candidates))[0], ex) for ex in calibration.training_examples(index) if ex.candidates]
            kp = np.array([c.score for c, _ in kb])
            kneg = np.array([ex.expected is None for _, ex in kb])
            kwrong = np.array([ex.expected is not None and c.article_id != ex.expected for c, ex in kb])
            real = []
            for r in rows:
                text = r["turns"][0]
                top = index.search(text, detect_language(text, default="en"), k=1)
                real.append((top[0].score if top else 0.0, top[0].article_id if top else None, r["expect"].get("answer")))
        rp = np.array([p for p, _, _ in real])
        rneg = np.array([e is None for _, _, e in real])
        rwrong = np.array([e is not None and a != e for _, a, e in real])
        print(f"{name}: out-of-KB share {kneg.mean():.2f} (KB-derived) vs {rneg.mean():.2f} (real); "
              f"thresholds {cal.thresholds if cal else None}")
        print("     t | KB-derived N  Pc    Pw    | real N  Pc    Pw")
        for t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
            k, r = shares(kp, kneg, kwrong, t), shares(rp, rneg, rwrong, t)
            print(f"  {t:.2f} | " + "  ".join(f"{v:.3f}" for v in k) + " | " + "  ".join(f"{v:.3f}" for v in r),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
