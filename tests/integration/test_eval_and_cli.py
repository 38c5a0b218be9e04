"""`tier0 eval` and the other commands, through the console script's entry point."""

import json
import subprocess
import sys

import pytest

from bot.evaluation import judge, load_cases, metrics
from cli.main import main
from tier0.errors import InvalidInput

from ..conftest import MODEL_CACHE, REPO, SAMPLE_KB, seed_index


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIER0_MODEL_CACHE", str(MODEL_CACHE))
    return tmp_path / "home"


def test_eval_reports_outcomes_and_metrics(tmp_path, home, capsys, engine):
    from cli.main import eval_index_dir
    from tier0.config import Settings

    seed_index(engine, eval_index_dir(Settings(home=home), SAMPLE_KB))
    cases = tmp_path / "cases.jsonl"
    rows = [
        {"id": "pw", "turns": ["I forgot my password"], "expect": {"answer": "reset-password-en"}},
        {"id": "human", "turns": ["I want to speak to a human"], "expect": {"handoff": True}},
        {"id": "refund", "turns": ["j'ai été prélevé deux fois"], "expect": {"handoff": True, "queue": "billing"}},
        {"id": "hi", "turns": ["bonjour"], "expect": {"no_answer": True, "no_handoff": True}},
        {"id": "two", "turns": ["hello", "how do I return an item?", "that didn't help"],
         "expect": {"handoff": True}},
    ]
    cases.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "report.json"
    code = main(["--home", str(home), "eval", "--kb", str(SAMPLE_KB), "--cases", str(cases), "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    by_id = {c["id"]: c for c in report["cases"]}
    assert by_id["pw"]["outcome"]["type"] == "answer" and by_id["pw"]["outcome"]["article_id"] == "reset-password-en"
    assert by_id["human"]["outcome"]["type"] == "handoff" and by_id["human"]["outcome"]["ticket_id"].startswith("T-")
    assert by_id["refund"]["outcome"]["queue"] == "billing"
    assert by_id["hi"]["outcome"]["type"] == "other"
    assert by_id["two"]["outcome"]["reason"] == "not_helpful"
    assert all(c["passed"] for c in report["cases"]), report["cases"]
    m = report["metrics"]
    assert m["correct_answer_rate"] == 1.0 and m["handoff_recall"] == 1.0 and m["wrong_answer_rate"] == 0.0
    # the baselines ran on the same cases: the password question is easy for every retriever
    assert by_id["pw"]["scores"]["bm25"][0] == by_id["pw"]["scores"]["dense"][0] == "reset-password-en"
    assert set(m["baselines"]) == {"bm25", "dense", "tier0"} and m["baselines"]["dense"]["r_at_1"] == 1.0
    printed = capsys.readouterr().out
    assert "correct answers 100.0%" in printed and "bm25-only R@1 100.0%" in printed


def test_bad_cases_file_is_one_line_and_exit_2(tmp_path, home, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "turns": ["hi"], "expect": {"no_answer": true}}\n{oops\n')
    assert main(["--home", str(home), "eval", "--kb", str(SAMPLE_KB), "--cases", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tier0: error: ") and f"{bad}:2: invalid JSON" in err and "\n" not in err


@pytest.mark.parametrize("var,value", [("TIER0_TARGET_WRONG_RATE", "2"), ("TIER0_OUT_OF_KB_SHARE", "1"),
                                       ("TIER0_OUT_OF_KB_SHARE", "lots"),
                                       ("TIER0_EMBEDDING_MODEL", "all-mpnet-base-v2,nope"),
                                       ("TIER0_CLASSIFIER_EXTRA_MODELS", "use-v9")])
def test_a_bad_setting_is_one_line_and_exit_2(home, monkeypatch, capsys, var, value):
    monkeypatch.setenv(var, value)
    assert main(["--home", str(home), "calibrate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tier0: error: invalid setting: {var}: ") and "\n" not in err


def test_cases_validation():
    with pytest.raises(InvalidInput, match="no such cases file"):
        load_cases(REPO / "nope.jsonl")


def test_judge_and_metrics_follow_the_eval_readme():
    assert judge({"answer": "a"}, {"type": "answer", "article_id": "a"}, None)
    assert not judge({"answer": "a"}, {"type": "answer", "article_id": "b"}, None)
    assert judge({"no_answer": True}, {"type": "clarify"}, None)
    ticket = {"queue": "billing", "priority": "high"}
    assert judge({"handoff": True, "queue": "billing", "priority_at_least": "normal"}, {"type": "handoff"}, ticket)
    assert not judge({"handoff": True, "priority_at_least": "urgent"}, {"type": "handoff"}, ticket)
    assert not judge({"no_handoff": True}, {"type": "handoff"}, ticket)
    results = [
        {"expect": {"answer": "a"}, "outcome": {"type": "answer", "article_id": "a"}, "ticket": None, "passed": 1},
        {"expect": {"answer": "b"}, "outcome": {"type": "answer", "article_id": "a"}, "ticket": None, "passed": 0},
        {"expect": {"no_answer": True}, "outcome": {"type": "answer", "article_id": "a"}, "ticket": None, "passed": 0},
        {"expect": {"handoff": True}, "outcome": {"type": "handoff"}, "ticket": ticket, "passed": 1},
    ]
    m = metrics(results)
    assert m["correct_answer_rate"] == 0.5 and m["wrong_answer_rate"] == round(2 / 3, 4)
    assert m["handoff_recall"] == 1.0


def test_kb_import_command_reports_bad_files(tmp_path, home, capsys):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "ok.md").write_text("---\nid: ok\ntitle: OK\nlang: en\n---\nBody.\n")
    (folder / "bad.md").write_text("---\nid: bad\n---\n")
    assert main(["--home", str(home), "kb", "import", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "1 created" in captured.out and "bad.md:2: required key 'title'" in captured.err
    assert main(["--home", str(home), "kb", "import", str(folder)]) == 1
    assert "0 created, 0 updated, 1 unchanged" in capsys.readouterr().out


def test_calibrate_command_prints_the_thresholds_and_the_feedback(tmp_path, home, capsys, engine):
    seed_index(engine, home / "index")  # its vectors of these articles: only the new ones are embedded
    folder = tmp_path / "kb"
    folder.mkdir()
    for p in sorted(SAMPLE_KB.glob("*-en.md"))[:8]:
        (folder / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["--home", str(home), "kb", "import", str(folder)]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "calibrate", "--force"]) == 0
    out = capsys.readouterr().out
    assert "feedback: 0 labelled answers (0 helped, 0 did not)" in out
    assert "target wrong-answer rate 3.0%" in out and "answer thresholds *=" in out and "queries=" in out
    assert "out-of-KB share: 50.0%, assumed (TIER0_OUT_OF_KB_SHARE); learnt once 200 customer questions exist, 0 so far" in out
    saved = json.loads((home / "index" / "calibration.json").read_text())
    assert saved["stats"]["feedback"] == 0 and "*" in saved["thresholds"]
    # whether the article classifier reads the extra model, and the out-of-fold accuracies it was chosen by
    used = "reads" if saved["classifier"]["extra"] == ["use-multilingual-v3"] else "does not read"
    acc = (saved["stats"]["classifier_oof_search"], saved["stats"]["classifier_oof_with_extra"])
    assert (f"article classifier: {used} use-multilingual-v3 (out-of-fold accuracy {acc[0]:.3f} without, "
            f"{acc[1]:.3f} with; TIER0_CLASSIFIER_EXTRA_MODELS)") in out
    assert "near-duplicate" not in out and saved["duplicates"] == [] and saved["stats"]["near_duplicates"] == 0
    assert "no confidence level" not in out  # these eight articles are answered in English
    assert "day one in" not in out and saved["prior_langs"] == []  # with their phrasings: the KB's own threshold

    # the same article published twice (an older copy under another id), and its French version beside it: editors
    # are shown the English pair, never a translation
    original = (folder / "change-cancel-order-en.md").read_text(encoding="utf-8")
    head, body = original.split("\n---\n", 1)
    copy = head.replace("id: change-cancel-order-en", "id: cancel-order-old") + "\n---\n" + body.split("\n\n", 1)[-1]
    (folder / "cancel-order-old.md").write_text(copy, encoding="utf-8")
    french = SAMPLE_KB / "change-cancel-order-fr.md"
    (folder / french.name).write_text(french.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["--home", str(home), "kb", "import", str(folder)]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "calibrate"]) == 0  # the KB changed: refitted
    out = capsys.readouterr().out
    saved = json.loads((home / "index" / "calibration.json").read_text())
    assert [d["articles"] for d in saved["duplicates"]] == [["cancel-order-old", "change-cancel-order-en"]]
    assert saved["duplicates"][0]["part"] == "title" and saved["duplicates"][0]["similarity"] >= 0.99
    assert "near-duplicate articles: 1 pairs say nearly the same thing" in out
    title = "'Change or cancel an order before it ships'"
    assert f"cancel-order-old {title} ~ change-cancel-order-en {title}" in out
    # one French article: too few French phrasings for a threshold of the KB's own, so French runs on the prior
    assert saved["prior_langs"] == ["fr"] and saved["thresholds"]["fr"] < 1.0
    assert "day one in fr: the bot answers with the prior learnt across KBs" in out


def test_help_is_fast_and_lists_the_commands():
    exe = REPO / ".venv" / "bin" / "tier0"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]
    out = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for word in ("serve", "train", "kb", "eval", "calibrate"):
        assert word in out.stdout


def test_precision_coverage_curve_and_hindsight_best_point():
    from bot.evaluation import baselines, best_point, curve

    def case(expect, top, score):
        return {"expect": expect, "scores": {"dense": [top, score], "bm25": [None, 0.0], "tier0": [top, score]}}

    results = [case({"answer": "a"}, "a", 0.9), case({"answer": "b"}, "b", 0.8), case({"no_answer": True}, "a", 0.7),
               case({"answer": "c"}, "c", 0.6), case({"handoff": True}, "a", 0.99)]  # hand-off cases do not count
    pts = curve(results, "dense")
    assert [p["threshold"] for p in pts] == [0.9, 0.8, 0.7, 0.6]
    assert pts[1] == {"threshold": 0.8, "coverage": 0.5, "correct": 2 / 3, "wrong": 0.0}
    assert pts[3]["wrong"] == 0.25 and pts[3]["correct"] == 1.0
    assert best_point(pts, 0.05)["threshold"] == 0.8 and best_point(pts, 0.3)["threshold"] == 0.6
    assert curve(results, "bm25") == []  # BM25 found nothing anywhere: it never answers
    b = baselines(results)
    assert b["bm25"]["best_correct"] == 0.0 and b["dense"]["r_at_1"] == 1.0
