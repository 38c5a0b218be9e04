"""Customers' votes cannot be stuffed (#21, finding 6): the rules, model-free.

* the bounds that trusted evidence alone sets to each threshold (``retrieval.calibration.guarded_thresholds``) hold
  whatever the number of anonymous votes: a flood of "yes" never lowers a threshold below the one at which the
  trusted evidence meets the target, a flood of "that didn't help" never withholds more than ``1 - keep`` of the
  right answers;
* one label per question per conversation, a few per conversation, a few questions per conversation for the
  out-of-KB share (``bot.feedback.read``, on a real SQLite file);
* customers' training rows weigh a bounded share of the model's.
"""

import numpy as np
import pytest

import handoff.models  # noqa: F401  (the tables bot.feedback reads)
from bot.feedback import read
from retrieval.calibration import (
    CUSTOMER_ROW_SHARE,
    FEEDBACK_WEIGHT,
    customer_row_weight,
    guarded_thresholds,
    keep_ceiling,
    language_thresholds,
)
from tier0.conversations import ConversationStore
from tier0.db import Database

pytestmark = pytest.mark.unit

TARGET = 0.03


def _trusted(seed=3, n=400, share_weight=1.0, negatives=(2, 5)):
    """A KB-derived curve: phrasings whose article is in the index (right unless a confusion at low confidence)
    and the same phrasings with their article left out (always wrong), weighed for the out-of-KB share."""
    rng = np.random.default_rng(seed)
    tops = []
    for p in rng.beta(8, 2, n):
        tops.append((float(p), int(rng.random() < 0.4 * (1 - p)), 1.0))
    for p in rng.beta(*negatives, n):
        tops.append((float(p), 1, share_weight))
    return {"en": tops}


def _rate(tops, t):
    """Wrong-answer share, by weight, of what a threshold t answers."""
    ans = [(wrong, w) for p, wrong, w in tops if p >= t]
    return sum(wrong * w for wrong, w in ans) / sum(w for _, w in ans)


def _right(tops, t):
    return sum(w for p, wrong, w in tops if p >= t and not wrong)


def _votes(n, helpful, lo, hi, seed=5):
    rng = np.random.default_rng(seed)
    return [(float(p), int(not helpful), FEEDBACK_WEIGHT) for p in rng.uniform(lo, hi, n)]


def _mixed(trusted, votes):
    return {lang: list(ts) + (votes if lang == "en" else []) for lang, ts in trusted.items()}


@pytest.mark.parametrize("n", [10, 1_000, 100_000])
def test_a_flood_of_yes_never_lowers_a_threshold_past_the_target(n):
    trusted = _trusted()
    alone = language_thresholds(trusted, TARGET)
    # "yes, that helped" on wrong answers, over the whole range of confidences the bot answers at
    flood = _votes(n, helpful=True, lo=0.3, hi=1.0)
    free = language_thresholds(_mixed(trusted, flood), TARGET)
    got, bounds = guarded_thresholds(_mixed(trusted, flood), trusted, trusted, TARGET)
    if n >= 1_000:
        assert free["en"] < alone["en"] - 0.05  # unguarded, the flood would have made the bot answer far more
    for key in ("en", "*"):
        assert got[key] >= alone[key] == bounds[key][0]
        assert _rate(trusted["en"], got[key]) <= TARGET  # the trusted evidence still meets the target there


@pytest.mark.parametrize("n", [10, 1_000, 100_000])
def test_a_flood_of_didnt_help_withholds_at_most_a_quarter_of_the_right_answers(n):
    trusted = _trusted()
    alone = language_thresholds(trusted, TARGET)["en"]
    flood = _votes(n, helpful=False, lo=alone, hi=1.0)  # "that didn't help" after right answers
    free = language_thresholds(_mixed(trusted, flood), TARGET)["en"]
    got, bounds = guarded_thresholds(_mixed(trusted, flood), trusted, trusted, TARGET, keep=0.75)
    if n >= 1_000:
        assert free == 1.0  # unguarded: silence
    assert alone <= got["en"] <= bounds["en"][1] < 1.0
    assert _right(trusted["en"], got["en"]) >= 0.75 * _right(trusted["en"], alone)


def test_honest_votes_within_the_bounds_move_the_threshold_as_before():
    trusted = _trusted()
    alone = language_thresholds(trusted, TARGET)["en"]
    # a few customers say the answers just above the threshold did not help: more careful, within the bounds
    honest = _votes(4, helpful=False, lo=alone, hi=alone + 0.02)
    free = language_thresholds(_mixed(trusted, honest), TARGET)["en"]
    got, bounds = guarded_thresholds(_mixed(trusted, honest), trusted, trusted, TARGET)
    assert free > alone and got["en"] == free and bounds["en"][0] < free < bounds["en"][1]


def test_relax_lets_votes_lower_a_threshold_only_to_where_trusted_evidence_shows_target_times_1_plus_relax():
    trusted = _trusted()
    flood = _votes(50_000, helpful=True, lo=0.2, hi=1.0)
    got, bounds = guarded_thresholds(_mixed(trusted, flood), trusted, trusted, TARGET, relax=1.0)
    strict = language_thresholds(trusted, TARGET)["en"]
    assert got["en"] == bounds["en"][0] < strict
    assert _rate(trusted["en"], got["en"]) <= 2 * TARGET


def test_a_higher_out_of_kb_share_learnt_from_off_topic_questions_is_bounded_by_the_operators_own():
    """The learnt share weighs the KB's "article left out" queries more (off-topic questions flood the traffic):
    the threshold rises, but keeps ``keep`` of the right answers the operator's own share gives."""
    operator = _trusted(share_weight=1.0, negatives=(3, 4))  # TIER0_OUT_OF_KB_SHARE 0.5
    learnt = _trusted(share_weight=9.0, negatives=(3, 4))  # learnt 0.9, the ceiling of the estimate
    base = language_thresholds(operator, TARGET)["en"]
    free = language_thresholds(learnt, TARGET)["en"]
    assert _right(operator["en"], free) < 0.75 * _right(operator["en"], base)  # unguarded: far fewer answers
    got, _ = guarded_thresholds(learnt, operator, operator, TARGET, keep=0.75)
    assert base < got["en"] < free
    assert _right(operator["en"], got["en"]) >= 0.75 * _right(operator["en"], base)


def test_a_language_only_votes_speak_for_is_decided_as_any_other():
    trusted = _trusted()
    trusted["fr"] = [(0.9, 0, 1.0)] * 5  # too few KB-derived queries for a threshold of its own
    mixed = dict(trusted, fr=trusted["fr"] + _votes(500, helpful=True, lo=0.1, hi=1.0))
    assert "fr" in language_thresholds(mixed, TARGET)
    got, _ = guarded_thresholds(mixed, trusted, trusted, TARGET)
    assert "fr" not in got and "*" in got


def test_keep_ceiling():
    tops = [(p / 100, 0, 1.0) for p in range(50, 100)] + [(0.95, 1, 1.0)]
    assert keep_ceiling(tops, 0.5, 1.0) == 0.5
    assert keep_ceiling(tops, 0.5, 0.5) == 0.75  # 0.75..0.99: 25 of the 50 right answers
    assert keep_ceiling(tops, 1.0, 0.5) == 1.0
    with pytest.raises(ValueError):
        guarded_thresholds({}, {}, {}, TARGET, keep=1.5)


def test_customers_training_rows_weigh_a_bounded_share():
    assert customer_row_weight(1000, 20) == 1.0  # honest volumes: unchanged
    assert customer_row_weight(1000, 0) == 1.0
    for n in (1_000, 100_000):
        assert customer_row_weight(1000, n) * n == pytest.approx(1000 * CUSTOMER_ROW_SHARE)


# -- reading the votes from the conversations -----------------------------------------------------------------------
def _db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'tier0.db'}")
    db.create_all()
    return db


def _answer(store, cid, question, article, verdict=None):
    store.add_message(cid, "customer", question, {"language": "en"})
    store.add_message(cid, "bot", "the answer", {"sources": [{"article_id": article}],
                                                 "outcome": {"type": "answer", "article_id": article}})
    if verdict == "yes":
        store.add_message(cid, "customer", "yes", {"language": "en"})
        store.add_message(cid, "bot", "glad it helped", {"outcome": {"type": "other", "feedback": "helpful"}})
    elif verdict == "no":
        store.add_message(cid, "customer", "that didn't help", {"language": "en"})
        store.add_message(cid, "bot", "a person will help",
                          {"outcome": {"type": "handoff", "reason": "not_helpful"}})


def test_one_label_per_question_per_conversation_and_a_few_per_conversation(tmp_path):
    db = _db(tmp_path)
    store = ConversationStore(db)
    script, _ = store.start()
    for _ in range(50):  # a script asks the same question again and again, saying yes each time
        _answer(store, script.id, "Where is my parcel?", "track-order", "yes")
    _answer(store, script.id, "where is my parcel", "track-order", "no")  # the same question: its latest label
    labelled, asked = read(db)
    assert [(f.query, f.helpful) for f in labelled] == [("where is my parcel", False)]
    assert [q.text for q in asked] == ["Where is my parcel?"]

    many, _ = store.start()
    for i in range(10):
        _answer(store, many.id, f"question number {i}", f"article-{i}", "yes")
    labelled, asked = read(db, per_conversation=3, questions_per_conversation=2)
    assert [f.query for f in labelled if f.article_id.startswith("article-")] == [
        "question number 7", "question number 8", "question number 9"]  # the conversation's latest three
    assert [q.text for q in asked if q.text.startswith("question")] == ["question number 0", "question number 1"]
    assert not any(f.by_agent for f in labelled)

    honest = []
    for i in range(5):  # five customers, one question each: all counted
        conv, _ = store.start()
        _answer(store, conv.id, f"honest question {i}", "track-order", "yes")
        honest.append(f"honest question {i}")
    labelled, asked = read(db)
    assert [f.query for f in labelled if f.query.startswith("honest")] == honest
    assert [q.text for q in asked if q.text.startswith("honest")] == honest
