"""The Rasa intent classifier on every suite's messages: how often a question is read as a hand-off intent.

    .venv/bin/python bench/intent_eval.py [--project bot] [--models var/models]

For each public suite and the sample suite, parses the last turn of every case with the trained model of
``--project`` (trained first if its inputs changed, cached like `tier0 serve` does) and prints the share of
questions (cases expecting an answer or no answer) read as request_human / not_helpful / frustration — at any
confidence, and at >= 0.8, where it overrules a confident answer (DecisionPolicy.intent_override) — and the share of
the hand-off cases read as one (human-requests-en: the explicit requests for a person).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared" / "eval" / "public"
HANDOFF_INTENTS = {"request_human", "not_helpful", "frustration"}
OVERRULES = 0.8


def suites():
    out = {p.name: p / "cases.jsonl" for p in sorted(SHARED.iterdir()) if (p / "cases.jsonl").exists()}
    out["sample"] = REPO / "data" / "sample_cases.jsonl"
    return out


async def parse_all(agent, texts):
    return [(await agent.parse_message(t))["intent"] for t in texts]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", type=Path, default=REPO / "bot")
    ap.add_argument("--models", type=Path, default=REPO / "var" / "models")
    args = ap.parse_args()
    from bot.rasa_runtime import load_agent, trained_model

    agent = load_agent(trained_model(args.models, project=args.project))
    print(f"project={args.project}")
    print(f"{'suite':18} {'questions':>9} {'as hand-off':>11} {'>= 0.8':>7} {'hand-offs':>9} {'read as one':>11} {'ms/msg':>7}")
    for name, path in suites().items():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        questions = [r["turns"][-1] for r in rows if "answer" in r["expect"] or r["expect"].get("no_answer")]
        handoffs = [r["turns"][-1] for r in rows if r["expect"].get("handoff")]
        t0 = time.perf_counter()
        qi = asyncio.run(parse_all(agent, questions))
        hi = asyncio.run(parse_all(agent, handoffs))
        ms = 1000 * (time.perf_counter() - t0) / max(1, len(questions) + len(handoffs))
        as_ho = [i for i in qi if i["name"] in HANDOFF_INTENTS]
        strong = [i for i in as_ho if i["confidence"] >= OVERRULES]
        read = [i for i in hi if i["name"] in HANDOFF_INTENTS]

        def pct(a, b):
            return f"{100 * len(a) / len(b):.1f} %" if b else "n/a"

        print(f"{name:18} {len(questions):>9} {pct(as_ho, questions):>11} {pct(strong, questions):>7} "
              f"{len(handoffs):>9} {pct(read, handoffs):>11} {ms:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
