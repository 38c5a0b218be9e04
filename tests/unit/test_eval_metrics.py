"""The eval harness reads the cases format as it stands (shared/eval/README.md): list answers, suggestion hits,
self-service and idle suggestions."""

import json

import pytest

from bot.evaluation import judge, load_cases, metrics, suggestion_hit
from tier0.errors import InvalidInput


def row(expect, outcome, ticket=None, top1=None):
    return {"expect": expect, "outcome": outcome, "ticket": ticket, "top1": top1,
            "passed": judge(expect, outcome, ticket)}


def test_any_listed_article_is_a_right_answer():
    expect = {"answer": ["pets-a", "pets-b"]}
    assert judge(expect, {"type": "answer", "article_id": "pets-b"}, None)
    assert not judge(expect, {"type": "answer", "article_id": "food"}, None)
    assert not judge(expect, {"type": "clarify", "options": ["pets-a"]}, None)


def test_suggestion_hits_need_an_expected_article_among_at_most_three_options():
    expect = {"answer": ["a", "b"]}
    assert suggestion_hit(expect, {"type": "clarify", "options": ["x", "b"]})
    assert not suggestion_hit(expect, {"type": "clarify", "options": ["x", "y", "z", "a"]})  # four: not one click
    assert not suggestion_hit(expect, {"type": "clarify", "options": []})
    assert not suggestion_hit(expect, {"type": "answer", "article_id": "a", "options": ["a"]})


def test_headline_metrics():
    results = [
        row({"answer": "a"}, {"type": "answer", "article_id": "a"}, top1="a"),
        row({"answer": ["b", "c"]}, {"type": "answer", "article_id": "c"}, top1="c"),
        row({"answer": "d"}, {"type": "clarify", "options": ["x", "d"]}, top1="x"),
        row({"answer": "e"}, {"type": "clarify", "options": []}, top1="e"),
        row({"answer": "f"}, {"type": "answer", "article_id": "g"}, top1="g"),
        row({"no_answer": True}, {"type": "clarify", "options": ["a"]}),
        row({"no_answer": True}, {"type": "clarify", "options": []}),
        row({"no_answer": True}, {"type": "answer", "article_id": "a"}),
        row({"handoff": True}, {"type": "handoff"}, ticket={"queue": "q", "priority": "normal"}),
    ]
    m = metrics(results)
    assert m["correct_answer_rate"] == 0.4  # a and c, of five cases expecting an answer
    assert m["wrong_answers"] == 2 and m["answers_given"] == 4 and m["wrong_answer_rate"] == 0.5
    assert m["suggestion_hits"] == 0.2 and m["self_service_rate"] == 0.6
    assert m["idle_suggestions"] == round(1 / 3, 4)  # one of three uncovered questions got options
    assert m["r_at_1"] == 0.6  # a, c (listed) and e
    assert m["handoff_recall"] == 1.0


def test_cases_file_checks_list_answers(tmp_path):
    path = tmp_path / "cases.jsonl"
    ok = {"id": "1", "turns": ["q"], "expect": {"answer": ["a", "b"]}}
    path.write_text(json.dumps(ok) + "\n")
    assert load_cases(path)[0].expect["answer"] == ["a", "b"]
    for bad in ([], [""], [1], "", 3):
        path.write_text(json.dumps({"id": "1", "turns": ["q"], "expect": {"answer": bad}}) + "\n")
        with pytest.raises(InvalidInput, match=r"cases.jsonl:1: 'answer' must be"):
            load_cases(path)
