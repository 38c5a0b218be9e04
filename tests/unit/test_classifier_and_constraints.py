"""The article classifier (KB phrasings -> article) and the sign-constrained calibration fit."""

import numpy as np

from retrieval import classifier as clf
from retrieval.calibration import Calibrator, expected_sign, feature_names, sign_constrained_fit
from retrieval.search import Candidate


def _blobs(seed=0, per=12, dim=8, classes=("refund", "delivery", "password")):
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(size=dim) * 3 for c in classes}
    x = np.vstack([centres[c] + rng.normal(size=(per, dim)) for c in classes])
    labels = [c for c in classes for _ in range(per)]
    return x, labels, centres


def test_classifier_learns_articles_from_phrasings_and_round_trips():
    x, labels, centres = _blobs()
    model = clf.ArticleClassifier.fit(x, labels)
    probs = model.proba(centres["delivery"])
    assert max(probs, key=probs.get) == "delivery" and probs["delivery"] > 0.9
    assert abs(sum(probs.values()) - 1) < 1e-9
    again = clf.ArticleClassifier.from_dict(model.to_dict())
    assert np.allclose(again.proba_matrix(x), model.proba_matrix(x), atol=1e-4)


def test_two_articles_still_give_a_probability_per_article():
    x, labels, centres = _blobs(classes=("a", "b"))
    model = clf.ArticleClassifier.fit(x, labels)
    p = model.proba(centres["b"])
    assert set(p) == {"a", "b"} and p["b"] > 0.9


def test_out_of_fold_probabilities_never_come_from_a_model_that_saw_the_row():
    x, labels, centres = _blobs(per=6)
    x = np.vstack([x, centres["delivery"]])  # labelled 'refund' amid 'delivery': only a model that saw it says so
    labels = labels + ["refund"]
    oof = clf.out_of_fold(x, labels, [len(labels) - 1], seed=1)
    seen = clf.ArticleClassifier.fit(x, labels).proba(x[-1])
    assert oof[0]["refund"] < seen["refund"]


def test_article_left_out_renormalises_the_rest():
    rest = clf.without({"a": 0.6, "b": 0.3, "c": 0.1}, "a")
    assert set(rest) == {"b", "c"} and abs(rest["b"] - 0.75) < 1e-9 and abs(rest["c"] - 0.25) < 1e-9


def test_classifier_features_lead_over_the_best_other_article():
    cands = [Candidate(a, a, "en", 0.0, 0.5, "title", a) for a in ("a", "b", "z")]
    clf.set_features(cands, {"a": 0.7, "b": 0.2, "c": 0.1})
    f = {c.article_id: c.features for c in cands}
    assert f["a"]["clf"] == 0.7 and abs(f["a"]["clf_gap"] - 0.5) < 1e-9
    assert abs(f["b"]["clf_gap"] + 0.5) < 1e-9 and f["z"]["clf"] == 0.0


def test_classifier_needs_several_phrasings_per_article():
    assert clf.usable(n_phrasings=300, n_articles=60)
    assert not clf.usable(n_phrasings=60, n_articles=60)  # title-only FAQ
    assert not clf.usable(n_phrasings=6, n_articles=2)


def test_sign_constrained_fit_drops_a_feature_that_would_get_the_wrong_sign():
    rng = np.random.default_rng(3)
    n = 400
    good = rng.normal(size=n)
    y = (good + 0.3 * rng.normal(size=n) > 0).astype(int)
    trap = -good + 0.1 * rng.normal(size=n)  # an artefact: anti-correlated with being right
    x = np.column_stack([good, trap])
    coef, _ = sign_constrained_fit(x, y, [1, 1])
    assert coef[0] > 0 and coef[1] == 0.0
    free, _ = sign_constrained_fit(x, y, [1, 0])  # a free feature keeps whatever sign it learns
    assert free[1] != 0.0


def test_every_feature_has_a_sign_rule():
    names = feature_names(2, classifier=True)
    assert {"clf", "clf_gap", "dense_0", "dense_1"} <= set(names)
    assert expected_sign("rank_dense") == -1 and expected_sign("dense") == 1 and expected_sign("q_terms") == 0


def test_a_calibrator_that_does_not_reorder_keeps_the_fused_ranking():
    cal = Calibrator(["dense"], np.zeros(1), np.ones(1), np.array([3.0]), 0.0, {"*": 0.5}, 0.03, reorder=False)
    cands = [Candidate("first", "first", "en", 0.0, 0.2, "title", "x", features={"dense": 0.2}),
             Candidate("second", "second", "en", 0.0, 0.9, "title", "y", features={"dense": 0.9})]
    cal.rank(cands)
    assert [c.article_id for c in cands] == ["first", "second"] and cands[1].score > cands[0].score
    assert Calibrator.from_json(cal.to_json()).reorder is False
