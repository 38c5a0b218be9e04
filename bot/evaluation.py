"""`tier0 eval`: replay conversation test suites through the conversation engine and score what the bot did.

Format and metrics: shared/eval/README.md (a KB folder + a JSON Lines cases file).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from handoff.priority import PRIORITIES, at_least
from tier0.errors import InvalidInput
from tier0.vocab import Channel

EXPECT_KEYS = {"answer", "no_answer", "handoff", "no_handoff", "queue", "priority_at_least"}


@dataclass
class Case:
    id: str
    turns: List[str]
    expect: Dict[str, Any]


def load_cases(path: Path) -> List[Case]:
    """Read a cases file; a malformed line raises InvalidInput naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such cases file")
    cases: List[Case] = []
    seen = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"{path}:{n}: invalid JSON ({e.msg})") from None
        if not isinstance(d, dict):
            raise InvalidInput(f"{path}:{n}: each line must be a JSON object")
        cid, turns, expect = d.get("id"), d.get("turns"), d.get("expect")
        if not isinstance(cid, str) or not cid:
            raise InvalidInput(f"{path}:{n}: 'id' must be a non-empty string")
        if cid in seen:
            raise InvalidInput(f"{path}:{n}: duplicate case id {cid!r}")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise InvalidInput(f"{path}:{n}: 'turns' must be a non-empty list of non-empty strings")
        if not isinstance(expect, dict) or not expect:
            raise InvalidInput(f"{path}:{n}: 'expect' must be a non-empty object")
        unknown = set(expect) - EXPECT_KEYS
        if unknown:
            raise InvalidInput(f"{path}:{n}: unknown expect key(s) {sorted(unknown)}")
        answer = expect.get("answer")
        if "answer" in expect and not (
                (isinstance(answer, str) and answer) or (isinstance(answer, list) and answer
                                                         and all(isinstance(a, str) and a for a in answer))):
            raise InvalidInput(f"{path}:{n}: 'answer' must be an article id or a non-empty list of article ids")
        if "priority_at_least" in expect and expect["priority_at_least"] not in PRIORITIES:
            raise InvalidInput(f"{path}:{n}: priority_at_least must be one of {', '.join(PRIORITIES)}")
        seen.add(cid)
        cases.append(Case(cid, [t.strip() for t in turns], expect))
    if not cases:
        raise InvalidInput(f"{path}: no cases")
    return cases


def expected_articles(expect: Dict[str, Any]) -> List[str]:
    """The articles that answer a case: ``answer`` is an id or a list of ids, any of which is right."""
    a = expect.get("answer")
    return [] if a is None else [a] if isinstance(a, str) else list(a)


def answered_right(expect: Dict[str, Any], outcome: Dict[str, Any]) -> bool:
    return outcome.get("type") == "answer" and outcome.get("article_id") in expected_articles(expect)


MAX_SUGGESTIONS = 3  # a suggestion hit: an expected article among at most this many options


def suggestion_hit(expect: Dict[str, Any], outcome: Dict[str, Any]) -> bool:
    """The bot offered the article as one of at most three options: the customer gets it in one click."""
    options = outcome.get("options") or []
    return (outcome.get("type") == "clarify" and 0 < len(options) <= MAX_SUGGESTIONS
            and any(o in expected_articles(expect) for o in options))


def judge(expect: Dict[str, Any], outcome: Dict[str, Any], ticket: Optional[Dict[str, Any]]) -> bool:
    ok = True
    if "answer" in expect:
        ok &= answered_right(expect, outcome)
    if expect.get("no_answer"):
        ok &= outcome.get("type") != "answer"
    if expect.get("handoff"):
        ok &= ticket is not None
        if ticket is not None and "queue" in expect:
            ok &= ticket["queue"] == expect["queue"]
        if ticket is not None and "priority_at_least" in expect:
            ok &= at_least(ticket["priority"], expect["priority_at_least"])
    if expect.get("no_handoff"):
        ok &= ticket is None
    return bool(ok)


def metrics(results: List[Dict[str, Any]]) -> Dict[str, Any]:
    exp_answer = [r for r in results if "answer" in r["expect"]]
    answers = [r for r in results if r["outcome"]["type"] == "answer"]
    wrong = [r for r in answers if r["expect"].get("no_answer") or not answered_right(r["expect"], r["outcome"])]
    exp_handoff = [r for r in results if r["expect"].get("handoff")]
    exp_none = [r for r in results if r["expect"].get("no_answer")]
    top1 = [r for r in exp_answer if r.get("top1") in expected_articles(r["expect"])]
    correct = sum(1 for r in exp_answer if answered_right(r["expect"], r["outcome"]))
    hits = sum(1 for r in exp_answer if suggestion_hit(r["expect"], r["outcome"]))
    idle = sum(1 for r in exp_none if r["outcome"]["type"] == "clarify" and r["outcome"].get("options"))

    def rate(n: int, d: int) -> Optional[float]:
        return round(n / d, 4) if d else None

    by_type: Dict[str, int] = {}
    for r in results:
        by_type[r["outcome"]["type"]] = by_type.get(r["outcome"]["type"], 0) + 1
    return {
        "cases": len(results),
        "passed": sum(r["passed"] for r in results),
        "pass_rate": rate(sum(r["passed"] for r in results), len(results)),
        "correct_answer_rate": rate(correct, len(exp_answer)),
        "wrong_answer_rate": rate(len(wrong), len(answers)),
        "answers_given": len(answers),
        "wrong_answers": len(wrong),
        "handoff_recall": rate(sum(1 for r in exp_handoff if r["ticket"] is not None), len(exp_handoff)),
        "no_answer_accuracy": rate(sum(1 for r in exp_none if r["outcome"]["type"] != "answer"), len(exp_none)),
        "r_at_1": rate(len(top1), len(exp_answer)),
        "suggestion_hits": rate(hits, len(exp_answer)),
        "self_service_rate": rate(correct + hits, len(exp_answer)),
        "idle_suggestions": rate(idle, len(exp_none)),
        "outcomes": by_type,
    }


def baseline_tops(index, text: str) -> Dict[str, list]:
    """The top article and its score for the two single-retriever baselines: BM25 only and dense only."""
    from tier0.text import detect_language

    cands = index.search_query(index.encode(text, detect_language(text, default="en")))
    out: Dict[str, list] = {"bm25": [None, 0.0], "dense": [None, 0.0]}
    if cands:
        lex = max(cands, key=lambda c: c.features["lex_bm25"])
        if lex.features["lex_bm25"] > 0:
            out["bm25"] = [lex.article_id, round(lex.features["lex_bm25"], 5)]
        dense = max(cands, key=lambda c: c.features["dense"])
        out["dense"] = [dense.article_id, round(dense.features["dense"], 5)]
    return out


def curve(results: List[Dict[str, Any]], system: str) -> List[Dict[str, float]]:
    """Answer whenever ``system``'s top score passes a threshold: one point per threshold, highest first.

    Each point: threshold, coverage (answers given / cases), correct-answer and wrong-answer rates as defined in
    shared/eval/README.md. Only cases expecting an answer or no answer count.
    """
    rows = [r for r in results if "answer" in r["expect"] or r["expect"].get("no_answer")]
    n_expect = sum(1 for r in rows if "answer" in r["expect"])
    scored = sorted(
        ((float(r["scores"][system][1]), r["scores"][system][0] is not None
          and r["scores"][system][0] in expected_articles(r["expect"])) for r in rows if r["scores"][system][0]),
        key=lambda t: -t[0],
    )
    points: List[Dict[str, float]] = []
    correct = given = 0
    for i, (score, ok) in enumerate(scored):
        given += 1
        correct += int(ok)
        if i + 1 < len(scored) and scored[i + 1][0] == score:
            continue  # a threshold answers every case at or above it
        points.append({"threshold": score, "coverage": given / len(rows) if rows else 0.0,
                       "correct": correct / n_expect if n_expect else 0.0, "wrong": (given - correct) / given})
    return points


def best_point(points: List[Dict[str, float]], max_wrong: float = 0.05) -> Optional[Dict[str, float]]:
    """The point with the most correct answers among those within ``max_wrong`` (hindsight: the best threshold)."""
    ok = [p for p in points if p["wrong"] <= max_wrong]
    return max(ok, key=lambda p: p["correct"]) if ok else None


def baselines(results: List[Dict[str, Any]], max_wrong: float = 0.05) -> Dict[str, Any]:
    """R@1 and the best single-threshold operating point (<= ``max_wrong`` wrong) of each baseline and of tier0's
    own confidence — the same cases, the same harness."""
    exp_answer = [r for r in results if "answer" in r["expect"]]
    out: Dict[str, Any] = {}
    if not exp_answer or not all("scores" in r for r in results):
        return out
    for system in ("bm25", "dense", "tier0"):
        best = best_point(curve(results, system), max_wrong)
        out[system] = {
            "r_at_1": round(sum(1 for r in exp_answer if r["scores"][system][0] in expected_articles(r["expect"]))
                            / len(exp_answer), 4),
            "best_correct": round(best["correct"], 4) if best else 0.0,
            "best_wrong": round(best["wrong"], 4) if best else None,
            "best_threshold": round(best["threshold"], 4) if best else None,
        }
    return out


async def run_cases(engine, cases: List[Case], progress=None) -> Dict[str, Any]:
    results: List[Dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases):
        conv, _token = engine.start(channel=Channel.EVAL)
        turn = None
        for text in case.turns:
            turn = await engine.send(conv.id, text)
        if turn is None:
            raise ValueError(f"case {case.id} has no turns")
        outcome = dict(turn.outcome)
        ticket = engine.services.handoff.open_ticket_for(conv.id)
        if outcome.get("type") == "handoff" and ticket is None:
            outcome["type"] = "other"
        tried = engine.services.conversations.last_bot_data(conv.id, "tried") or []
        result: Dict[str, Any] = {
            "id": case.id,
            "expect": case.expect,
            "outcome": outcome,
            "ticket": ({"id": ticket["id"], "queue": ticket["queue"], "priority": ticket["priority"]}
                       if ticket else None),
            "top1": tried[0]["article_id"] if tried else None,
            "scores": {"tier0": [tried[0]["article_id"], tried[0]["score"]] if tried else [None, 0.0],
                       **baseline_tops(engine.services.index, case.turns[-1])},
        }
        result["passed"] = judge(case.expect, outcome, ticket)
        results.append(result)
        if progress and (i + 1) % 200 == 0:
            progress(i + 1, len(cases), time.perf_counter() - t0)
    report: Dict[str, Any] = {
        "cases": [{"id": r["id"], "outcome": r["outcome"], "passed": r["passed"], "expect": r["expect"],
                   "top1": r["top1"], "scores": r["scores"]} for r in results],
        "metrics": metrics(results),
    }
    report["metrics"]["baselines"] = baselines(results)
    report["metrics"]["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def format_metrics(name: str, m: Dict[str, Any]) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    return (
        f"{name}: {m['cases']} cases, passed {pct(m['pass_rate'])} | correct answers {pct(m['correct_answer_rate'])}"
        f" | wrong answers {pct(m['wrong_answer_rate'])} ({m['wrong_answers']}/{m['answers_given']})"
        f" | suggestion hits {pct(m['suggestion_hits'])} | self-service {pct(m['self_service_rate'])}"
        f" | idle suggestions {pct(m['idle_suggestions'])}"
        f" | hand-off recall {pct(m['handoff_recall'])} | no-answer accuracy {pct(m['no_answer_accuracy'])}"
        f" | R@1 {pct(m['r_at_1'])} | {m['seconds']}s"
    ) + "".join(
        f" | {system}-only R@1 {pct(b['r_at_1'])}, best correct @<=5% wrong {pct(b['best_correct'])}"
        for system, b in m.get("baselines", {}).items() if system != "tier0"
    )
