"""Precision–coverage curves and the baseline table, from `tier0 eval --json` reports (bench/out/eval-*.json).

    .venv/bin/python bench/curves.py [REPORT.json ...]      # default: every bench/out/eval-*.json

For each report: a PNG (bench/curves/<suite>.png) with three curves — tier0's calibrated confidence, a BM25-only
and a dense-only baseline, each answering whenever its top score passes a threshold — and tier0's real operating
point (its default decision) as a dot. Coverage = answers given / cases that expect an answer or no answer;
precision = right answers / answers given (1 − the wrong-answer rate). Prints a Markdown table of the same numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bot.evaluation import best_point, curve  # noqa: E402

SYSTEMS = (("tier0", "tier0 (calibrated confidence)", "C0"), ("dense", "dense only (mean cosine of the models)", "C1"),
           ("bm25", "BM25 only", "C2"))


def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"


def main(argv) -> int:
    reports = [Path(a) for a in argv] or sorted((REPO / "bench" / "out").glob("eval-*.json"))
    out_dir = REPO / "bench" / "curves"
    out_dir.mkdir(parents=True, exist_ok=True)
    print("| suite | system | R@1 | best correct @ ≤ 5 % wrong (hindsight threshold) | tier0 default: correct / wrong |")
    print("|---|---|---:|---:|---:|")
    for path in reports:
        suite = path.stem.removeprefix("eval-")
        report = json.loads(path.read_text())
        results = report["cases"]
        if not results or "scores" not in results[0]:
            print(f"{path}: no scores (re-run tier0 eval)", file=sys.stderr)
            continue
        m = report["metrics"]
        if not any("answer" in r["expect"] for r in results):
            continue  # hand-off-only suite: no answers to plot
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
        for system, label, color in SYSTEMS:
            pts = curve(results, system)
            if not pts:
                continue
            ax.plot([p["coverage"] for p in pts], [1 - p["wrong"] for p in pts], label=label, color=color, lw=1.6)
            best = best_point(pts)
            b = m["baselines"].get(system, {})
            default = (f"{pct(m['correct_answer_rate'])} / {pct(m['wrong_answer_rate'])}" if system == "tier0"
                       else "—")
            print(f"| {suite} | {system} | {pct(b.get('r_at_1'))} | {pct(best['correct'] if best else 0.0)} "
                  f"| {default} |")
        rows = [r for r in results if "answer" in r["expect"] or r["expect"].get("no_answer")]
        given = sum(1 for r in rows if r["outcome"]["type"] == "answer")
        if rows and given:
            ax.plot([given / len(rows)], [1 - (m["wrong_answer_rate"] or 0.0)], "o", color="C0", ms=8,
                    label=f"tier0 default decision ({pct(m['correct_answer_rate'])} correct)")
        ax.axhline(0.95, color="grey", ls="--", lw=0.8, label="5 % wrong")
        ax.set_xlabel("coverage (answers given / cases)")
        ax.set_ylabel("precision (1 − wrong-answer rate)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_title(f"{suite}: precision–coverage")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / f"{suite}.png")
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
