"""Content gaps and per-article feedback without models (#22 D): the clustering on vectors written here (real
scikit-learn), the stable group keys, which stored turns are unanswered questions, the views counter, the editors'
decisions and the per-article figures on a real SQLite file (conversations written through the store)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bot import gaps
from bot.usage import figures, turns
from knowledge_base import usage
from tier0.conversations import ConversationStore
from tier0.db import Database, utcnow

pytestmark = pytest.mark.unit


def unit(*v):
    a = np.asarray(v, dtype=float)
    return a / np.linalg.norm(a)


# two topics (around the x and y axes) and a stray question (z)
VECTORS = np.vstack([unit(1, 0.05, 0), unit(1, -0.1, 0.02), unit(0.05, 1, 0), unit(1, 0.1, -0.03),
                     unit(-0.1, 1, 0.05), unit(0, 0, 1)])


def test_questions_close_in_meaning_form_one_group_and_the_threshold_decides():
    assert gaps.cluster(VECTORS, 0.35) == [[0, 1, 3], [2, 4], [5]]
    assert gaps.cluster(VECTORS, 1.5) == [[0, 1, 2, 3, 4, 5]]  # everything within a wide distance
    assert gaps.cluster(VECTORS, 0.001) == [[0], [1], [2], [3], [4], [5]]
    assert gaps.cluster(VECTORS[:1], 0.35) == [[0]] and gaps.cluster(np.zeros((0, 3)), 0.35) == []


def test_the_medoid_is_the_question_closest_to_the_others():
    assert gaps.medoid(VECTORS, [0, 1, 3]) == 0  # between 1 (below the axis) and 3 (above it)
    assert gaps.medoid(VECTORS, [4]) == 4


def test_the_joined_vector_gives_the_mean_cosine_of_the_models():
    a = [np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])]
    j = gaps.QuestionVectors.joined(a)
    assert float(j[0] @ j[1]) == pytest.approx((0.6 + 0.0) / 2)
    assert float(j[0] @ j[0]) == pytest.approx(1.0)
    w = gaps.QuestionVectors.joined(a, [1.0, 3.0])  # the second model counts three times the first
    assert float(w[0] @ w[1]) == pytest.approx((0.6 * 1 + 0.0 * 3) / 4)


class FakeIndex:
    """The index's questions: two articles in French (two phrasings each, compressed like e5's cosines), one in
    English; a body unit that does not count."""

    model_names = ["multilingual-e5-small"]
    version = 3

    def __init__(self):
        from retrieval.search import ArticleMeta, Unit

        self._units = {1: Unit("a-fr", "title", "t"), 2: Unit("a-fr", "question", "q"), 3: Unit("b-fr", "title", "t"),
                       4: Unit("b-fr", "question", "q"), 5: Unit("a-fr", "body", "b"), 6: Unit("c-en", "title", "t")}
        self._meta = {a: ArticleMeta(a, a, a[-2:]) for a in ("a-fr", "b-fr", "c-en")}
        self._vectors = {1: unit(1, 0.1, 0), 2: unit(1, 0.12, 0.05), 3: unit(1, 0.4, 0), 4: unit(1, 0.38, 0.06),
                         5: unit(0, 0, 1), 6: unit(0, 1, 0)}
        self.asked = []

    def units(self):
        return dict(self._units)

    def meta(self, article_id):
        return self._meta[article_id]

    def unit_vectors(self, ids):
        self.asked.append(list(ids))
        return [np.vstack([self._vectors[i] for i in ids])]


def test_the_threshold_is_read_on_the_kbs_own_distances_per_language():
    index = FakeIndex()
    within, between = gaps.kb_anchors(index, "fr")
    assert index.asked == [[1, 2, 3, 4]], "the French questions and titles only (not the body, not the English)"
    assert 0 < within < between < 0.1, (within, between)  # compressed: a plain 0.35 would merge everything
    assert gaps.kb_anchors(index, "fr") == (within, between) and len(index.asked) == 1, "once per index version"
    assert gaps.threshold(0.0, (within, between)) == pytest.approx(within)
    assert gaps.threshold(1.0, (within, between)) == pytest.approx(between)
    assert gaps.threshold(0.25, (0.2, 0.24)) == pytest.approx(0.21)
    assert gaps.threshold(-5, (0.2, 0.24)) == 0.001 and gaps.threshold(0.35, gaps.NO_ANCHORS) == 0.35
    # too few questions in the language: every article's; none at all: the setting as a plain distance
    assert gaps.kb_anchors(index, "de") != gaps.NO_ANCHORS
    assert gaps.anchors(["a", "a"], [np.vstack([unit(1, 0), unit(1, 0.1)])]) == gaps.NO_ANCHORS
    assert gaps.anchors(["a", "b", "c"], [np.vstack([unit(1, 0), unit(0, 1), unit(1, 1)])]) == gaps.NO_ANCHORS


def test_a_group_key_is_stable_and_ignores_case_accents_and_punctuation():
    k = gaps.group_key("fr", "Livrez-vous en Corse ?")
    assert k == gaps.group_key("fr", "livrez-vous  en corse") == gaps.group_key("fr", "LIVREZ-VOUS EN CORSE !")
    assert k != gaps.group_key("en", "Livrez-vous en Corse ?")
    assert k != gaps.group_key("fr", "Livrez-vous en Sardaigne ?")
    import re

    assert re.match(gaps.KEY_PATTERN, k), k
    assert k == "fr-" + __import__("hashlib").sha1(b"livrez-vous en corse").hexdigest()[:12]


def test_slug_and_title():
    assert gaps.slug("Livrez-vous en Corse ?") == "livrez-vous-en-corse"
    assert gaps.slug("???") == "article"
    assert gaps.title_of("  do you   ship to mars?") == "Do you ship to mars?"


@pytest.fixture()
def world(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'tier0.db'}")
    db.migrate()
    return db, ConversationStore(db)


def turn(store, cid, text, outcome, sources=None, tried=True, lang="en"):
    store.add_message(cid, "customer", text, {"language": lang})
    data = {"outcome": outcome}
    if sources:
        data["sources"] = sources
    if tried:
        data["tried"] = [{"article_id": "x", "score": 0.1}]
    store.add_message(cid, "bot", "…", data)


def conversation(store):
    return store.start()[0].id


def answer(article):
    return {"type": "answer", "article_id": article, "confidence": 0.9}


CLARIFY = {"type": "clarify", "confidence": 0.2, "options": ["a", "b"]}


def test_which_stored_questions_are_unanswered(world):
    db, store = world
    c1 = conversation(store)  # unsure, then "no": the question counts once, as unsure
    turn(store, c1, "Do you ship to Mars?", CLARIFY)
    turn(store, c1, "no", {"type": "handoff", "reason": "low_confidence"})
    c2 = conversation(store)  # suggestions, one picked: answered
    turn(store, c2, "parcel broken", CLARIFY)
    turn(store, c2, "Damaged item", {**answer("damaged-item-en"), "chosen": True})
    c3 = conversation(store)  # answered, then "that didn't help": handed off
    turn(store, c3, "how long is the warranty on batteries?", answer("warranty-repairs-en"),
         sources=[{"article_id": "warranty-repairs-en"}])
    turn(store, c3, "that didn't help", {"type": "handoff", "reason": "not_helpful"})
    c4 = conversation(store)  # answered and thanked: not a gap; a sensitive topic routed on purpose: not a gap
    turn(store, c4, "reset my password", answer("reset-password-en"))
    turn(store, c4, "yes", {"type": "other", "feedback": "helpful"}, tried=False)
    turn(store, c4, "I want to sue you", {"type": "handoff", "reason": "needs_authority"})
    c5 = conversation(store)  # two unsure turns: both questions; "none of these" is not a question (no search)
    turn(store, c5, "mars delivery?", CLARIFY)
    turn(store, c5, "None of these", {"type": "clarify", "confidence": 0.2, "options": []}, tried=False)
    turn(store, c5, "Do you deliver to planet Mars", {"type": "handoff", "reason": "repeated_failure"})
    turn(store, c5, "MARS DELIVERY", CLARIFY)  # the same question again in this conversation: once
    got = gaps.unanswered(turns(db, utcnow() - dt.timedelta(days=1), utcnow() + dt.timedelta(seconds=1)))
    assert [(q.text, q.reason) for q in got] == [
        ("Do you ship to Mars?", "unsure"),
        ("how long is the warranty on batteries?", "handed_off"),
        ("mars delivery?", "unsure"),
        ("Do you deliver to planet Mars", "unsure"),
    ]
    assert {q.conversation_id for q in got} == {c1, c3, c5}


def test_views_are_counted_per_article_and_day(world):
    db, _ = world
    today = utcnow().date()
    for _ in range(3):
        usage.count_view(db, "return-item-en")
    usage.count_view(db, "return-item-en", today - dt.timedelta(days=10))
    usage.count_view(db, "invoices-fr")
    assert usage.views(db, today, today) == {"return-item-en": 3, "invoices-fr": 1}
    assert usage.views(db, today - dt.timedelta(days=30), today, ["return-item-en"]) == {"return-item-en": 4}


def test_a_decision_hides_the_group_found_again_with_more_questions(world):
    db, _ = world
    g = gaps.Gap("en-000000000001", "en", 2, 2, ["do you ship to mars?"], {"unsure": 2}, [10, 11], "", "")
    gaps.dismiss(db, g, "erin")
    [d] = usage.gap_decisions(db)
    assert (d["key"], d["state"], d["members"], d["actor"]) == ("en-000000000001", "dismissed", [10, 11], "erin")
    moved = gaps.Gap("en-000000000002", "en", 3, 3, ["mars?"], {}, [10, 11, 12], "", "")  # its medoid moved
    assert gaps._decision_for(moved, usage.gap_decisions(db))["state"] == "dismissed"
    other = gaps.Gap("en-000000000003", "en", 3, 3, ["venus?"], {}, [11, 20, 21], "", "")  # one in three
    assert gaps._decision_for(other, usage.gap_decisions(db)) is None


def test_per_article_figures_from_the_stored_conversations(world):
    db, store = world
    src = [{"article_id": "return-item-en"}]
    for after in ({"type": "other", "feedback": "helpful"}, {"type": "handoff", "reason": "not_helpful"},
                  {"type": "handoff", "reason": "customer_request"}, {"type": "other"}):
        c = conversation(store)
        turn(store, c, "how do I return an item?", answer("return-item-en"), sources=src)
        turn(store, c, "next", after)
    usage.count_view(db, "return-item-en")
    now = utcnow()
    got = figures(db, now - dt.timedelta(days=1), now + dt.timedelta(seconds=1))
    f = got["return-item-en"].as_dict()
    assert (f["views"], f["answers"], f["helpful"], f["not_helpful"], f["handoffs"], f["flags"]) == (1, 4, 1, 1, 2, 0)
    assert f["helpful_rate"] == 0.5 and f["handoff_rate"] == 0.5
    assert figures(db, now - dt.timedelta(days=1), now, ["invoices-en"])["invoices-en"].answers == 0
    assert figures(db, now - dt.timedelta(days=9), now - dt.timedelta(days=8)) == {}


def msg(sender, text, outcome=None):
    return {"sender": sender, "text": text, "data": {"outcome": outcome} if outcome else {}}


def test_the_question_a_ticket_turns_into():
    from bot.ticket_article import customer_question

    handoff = {"type": "handoff", "reason": "customer_request", "ticket_id": "T-7"}
    asked_first = [msg("customer", "hello"), msg("bot", "hi", {"type": "other"}),
                   msg("customer", "can I pay in bitcoin?"), msg("bot", "…", CLARIFY),
                   msg("customer", "a person please"), msg("bot", "…", handoff),
                   msg("customer", "so, bitcoin?"), msg("agent", "no")]
    assert customer_question(asked_first, "T-7") == "can I pay in bitcoin?"
    straight = [msg("customer", "a person please"), msg("bot", "…", handoff),
                msg("customer", "my parcel is stuck in customs"), msg("agent", "let me check")]
    assert customer_question(straight, "T-7") == "my parcel is stuck in customs"
    silent = [msg("customer", "a person please"), msg("bot", "…", handoff)]
    assert customer_question(silent, "T-7") == "a person please"
    assert customer_question([], "T-7") is None
