"""Where each evaluation suite lives, by name: one place for `bench/eval_all.sh` and the bench scripts.

* a public suite: ``../shared/eval/public/NAME`` (``kb/`` and ``cases.jsonl``; ``TIER0_EVAL_DIR`` overrides);
* ``sample``: the bundled sample KB and its cases (``data/sample_kb``, ``data/sample_cases.jsonl``);
* ``sample-plain``: the same KB with every article's ``questions:`` removed (a help centre of titles and bodies
  only, as most companies have), written at run time under ``bench/out/``; the same cases;
* one of our own plain KBs: ``data/plain/NAME`` (titles and bodies only, cases written from what customers ask).

    .venv/bin/python bench/suites.py NAME        # prints "KB_DIR CASES_FILE" (writes sample-plain's KB first)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from knowledge_base.markdown import ArticleData, parse_article  # noqa: E402

SHARED = Path(os.environ.get("TIER0_EVAL_DIR", REPO.parent / "shared" / "eval" / "public"))
PLAIN = REPO / "data" / "plain"
OUT = REPO / "bench" / "out"


def write_plain(src: Path, dst: Path) -> Path:
    """Copy the KB at ``src`` to ``dst`` with every article's alternate questions removed."""
    dst.mkdir(parents=True, exist_ok=True)
    for old in dst.glob("*.md"):
        old.unlink()
    for p in sorted(src.glob("*.md")):
        art = parse_article(p.read_text(encoding="utf-8"), str(p))
        art.questions = []
        (dst / p.name).write_text(art.to_markdown(), encoding="utf-8")
    return dst


def paths(name: str) -> Tuple[Path, Path]:
    """The KB folder and the cases file of suite ``name``."""
    if name == "sample":
        return REPO / "data" / "sample_kb", REPO / "data" / "sample_cases.jsonl"
    if name == "sample-plain":
        return write_plain(REPO / "data" / "sample_kb", OUT / "sample-plain-kb"), REPO / "data" / "sample_cases.jsonl"
    if (PLAIN / name).is_dir():
        return PLAIN / name / "kb", PLAIN / name / "cases.jsonl"
    if (SHARED / name).is_dir():
        return SHARED / name / "kb", SHARED / name / "cases.jsonl"
    raise SystemExit(f"unknown suite {name!r}: not sample, sample-plain, data/plain/{name} or {SHARED / name}")


def load(name: str) -> Tuple[List[ArticleData], List[dict]]:
    """The suite's articles and its single-turn cases that expect an answer or no answer."""
    kb, cases = paths(name)
    arts = [parse_article(p.read_text(encoding="utf-8"), str(p)) for p in sorted(kb.glob("*.md"))]
    rows = [json.loads(line) for line in cases.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if len(r["turns"]) == 1 and ("answer" in r["expect"] or r["expect"].get("no_answer"))]
    return arts, rows


def expected(r: dict) -> List[str]:
    """The articles that answer a case (any of them is right); empty for a case the KB does not cover."""
    a = r["expect"].get("answer")
    return [] if a is None else list(a) if isinstance(a, list) else [a]


if __name__ == "__main__":
    kb, cases = paths(sys.argv[1])
    print(kb, cases)
