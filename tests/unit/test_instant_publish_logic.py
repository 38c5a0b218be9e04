"""Instant publish, the model-free parts: a new article's classifier row from its phrasings (prototype), the draft's
lexical scores beside the index, the coalesced background refit. Vectors are written here; sklearn is real."""

import threading
import time

import numpy as np

from bot.services import KbFollower
from retrieval.classifier import ArticleClassifier, class_means
from retrieval.lexical import LexicalIndex


def _clusters(seed=3, classes=6, per=5, dim=12):
    """Phrasings of ``classes`` articles: unit vectors around one random direction each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes + 1, dim))
    x, labels = [], []
    for k in range(classes + 1):
        for _ in range(per):
            v = centres[k] + 0.3 * rng.normal(size=dim)
            x.append(v / np.linalg.norm(v))
            labels.append(f"a{k}")
    return np.array(x), labels


def test_a_new_article_gets_a_row_that_recognises_its_own_phrasings():
    x, labels = _clusters()
    known = [i for i, k in enumerate(labels) if k != "a6"]  # a6 is published after the fit
    model = ArticleClassifier.fit(x[known], [labels[i] for i in known])
    model.fit_prototype(x[known], [labels[i] for i in known])
    assert model.proto is not None and model.proto[1] > 0  # a class's row grows with its phrasings' mean

    new = [i for i, k in enumerate(labels) if k == "a6"]
    before = [max(model.proba(x[i]), key=model.proba(x[i]).get) for i in new]
    assert "a6" not in before  # unknown: every phrasing of the new article goes to another one
    grown = model.adapted({"a6": x[new].mean(axis=0)})
    assert grown.classes[-1] == "a6" and len(grown.classes) == 7 and model.classes == [f"a{k}" for k in range(6)]
    after = [max(grown.proba(x[i]), key=grown.proba(x[i]).get) for i in new]
    assert after.count("a6") == len(new)
    # the old articles keep their phrasings
    old = [labels[i] == max(grown.proba(x[i]), key=grown.proba(x[i]).get) for i in known]
    assert sum(old) >= 0.9 * len(known)


def test_a_removed_article_loses_its_row_and_an_edited_one_moves_with_its_phrasings():
    x, labels = _clusters()
    model = ArticleClassifier.fit(x, labels)
    model.fit_prototype(x, labels)
    means = class_means(x, labels)
    dropped = model.adapted({"a2": None})
    assert "a2" not in dropped.classes and dropped.coef.shape[0] == 6
    assert abs(sum(dropped.proba(x[0]).values()) - 1.0) < 1e-9

    # a0 now says what a5 said: its row moves towards a5's phrasings
    moved = model.adapted({"a0": means["a5"]}, previous={"a0": means["a0"]})
    probe = x[[i for i, k in enumerate(labels) if k == "a5"][0]]
    assert moved.proba(probe)["a0"] > model.proba(probe)["a0"]


def test_the_prototype_survives_the_json_round_trip():
    x, labels = _clusters()
    model = ArticleClassifier.fit(x, labels)
    model.fit_prototype(x, labels)
    again = ArticleClassifier.from_dict(model.to_dict())
    assert again.proto is not None and abs(again.proto[1] - model.proto[1]) < 1e-6
    assert np.allclose(again.proto[0], model.proto[0], atol=1e-5)
    no_proto = ArticleClassifier.from_dict({**model.to_dict(), "proto": None})
    assert no_proto.adapted({"zz": x[0]}).classes == model.classes  # without a prototype: unknown until refit


def test_a_draft_is_scored_as_if_it_were_in_the_lexical_index():
    lex = LexicalIndex()
    units = [(1, "reset my password"), (2, "delivery times and costs"), (3, "password for the wifi router")]
    lex.build(units)
    ids, bm25, cov = lex.search("forgot password router")
    live = dict(zip(ids.tolist(), zip(bm25.tolist(), cov.tolist())))
    b, c = lex.score_texts("forgot password router", ["password for the wifi router", "llama adoption"])
    assert abs(b[0] - live[3][0]) < 1e-9 and abs(c[0] - live[3][1]) < 1e-9  # same statistics as the index's
    assert b[1] == 0 and c[1] == 0
    b, c = lex.score_texts("adopt a llama", ["llama adoption", "reset my password"])  # terms the index lacks
    assert b[0] > 0 and 0 < c[0] < 1 and b[1] == 0
    assert lex.score_texts("", ["x"])[0].tolist() == [0.0]


def test_a_rebuild_tokenises_only_new_units():
    lex = LexicalIndex()
    lex.build([(1, "reset my password"), (2, "delivery times")])
    lex._terms[1] = ["cached"]  # a rebuild must reuse what it knows of unit 1
    lex.build([(1, "reset my password"), (3, "wifi router")])
    assert "cached" in lex.vocab and "wifi" in lex.vocab and set(lex._terms) == {1, 3}


class _Index:
    calibrator = None


def test_a_burst_of_changes_gives_one_background_refit():
    ran = []
    done = threading.Event()

    def refit():
        ran.append(time.monotonic())
        done.set()

    follower = KbFollower(kb=None, index=_Index(), refit=refit, refit_lock=threading.Lock(), delay=0.3)
    follower.schedule()
    assert not follower.pending  # not started: a one-shot command never refits in the background
    follower.start()
    start = time.monotonic()
    for _ in range(5):
        follower.schedule()
        time.sleep(0.05)
    assert follower.pending and not ran
    assert done.wait(5)
    time.sleep(0.4)
    assert len(ran) == 1 and ran[0] - start >= 0.3 + 0.2  # after the last change, not the first
    assert follower.refits == 1 and not follower.pending

    never = KbFollower(kb=None, index=_Index(), refit=refit, refit_lock=threading.Lock(), delay=-1)
    never.start()
    never.schedule()
    assert not never.pending

    follower.schedule()
    follower.stop()  # the server stops: the pending refit is dropped
    assert not follower.pending
    time.sleep(0.5)
    assert len(ran) == 1


def test_the_precision_coverage_curve_weighs_out_of_kb_questions_by_the_share():
    from retrieval.calibration.curves import coverage_at, curve

    # four covered questions (three right at the top), two out-of-KB ones (always wrong when answered)
    tops = [(0.95, True, True), (0.9, True, True), (0.8, False, False), (0.7, True, True), (0.6, False, True),
            (0.5, False, False)]
    points = curve(tops, share=0.5)
    assert [p["threshold"] for p in points] == [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    assert points[0] == {"threshold": 0.95, "coverage": 0.25, "precision": 1.0}
    assert points[2] == {"threshold": 0.8, "coverage": 0.5, "precision": round(2 / 3, 4)}
    assert points[-1]["coverage"] == 1.0 and points[-1]["precision"] == 0.5
    # out-of-KB questions weigh share / (1 - share): at 0.2 a wrong out-of-KB answer costs a quarter
    assert curve(tops, share=0.2)[2]["precision"] == round(2 / 2.25, 4)
    assert coverage_at(points, 0.97) == 0.5 and coverage_at(points, 0.7) == 0.75 and coverage_at(points, 0.6) == 1.0
    assert coverage_at([], 0.9) is None and curve([], 0.5) == []
    many = curve([(i / 1000, True, True) for i in range(1000)], share=0.5, points=40)
    assert len(many) == 40 and many[0]["threshold"] == 0.999 and many[-1]["coverage"] == 1.0
