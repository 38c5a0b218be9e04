"""The day-one prior: its threshold curve, its file, and which prior a calibration was fitted with."""

import numpy as np

from retrieval import prior


def test_curve_and_threshold():
    probs = np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    wrong = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    curve = prior.curve_of(probs, wrong, np.ones(len(probs)), min_answered=3)
    assert [p for p, _ in curve] == sorted((p for p, _ in curve), reverse=True)
    assert curve[0] == (0.97, 0.0)  # no cut before three answers
    p = prior.Prior(["dense"], np.zeros(1), np.ones(1), np.ones(1), 0.0, curve)
    assert p.threshold(0.0) == 0.4  # the lowest threshold with no wrong answer above it
    assert p.threshold(0.1) == 0.3  # one wrong in ten
    assert prior.Prior(["dense"], np.zeros(1), np.ones(1), np.ones(1), 0.0, [(0.9, 0.5)]).threshold(0.03) == 1.0
    # weights: a wrong answer that weighs more moves the threshold up
    heavy = prior.curve_of(probs, wrong, np.where(wrong == 1, 20.0, 1.0), min_answered=3)
    assert prior.Prior(["dense"], np.zeros(1), np.ones(1), np.ones(1), 0.0, heavy).threshold(0.1) == 0.4


def test_probabilities_and_round_trip():
    p = prior.Prior(["a", "b"], np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]), 0.5,
                    [(0.9, 0.01)], ["x"], {"share": 0.5})
    got = p.probabilities([{"a": 3.0, "b": 0.5}, {"b": 2.0}])
    z = np.array([(3 - 1) / 2 - 0.5 + 0.5, (0 - 1) / 2 - 2.0 + 0.5])
    assert np.allclose(got, 1 / (1 + np.exp(-z)))
    back = prior.Prior.from_json(p.to_json())
    assert back.names == p.names and np.allclose(back.coef, p.coef) and back.curve == p.curve
    assert back.trained_on == ["x"] and len(p.probabilities([])) == 0


def test_the_shipped_prior_and_another_one(tmp_path, monkeypatch):
    monkeypatch.delenv(prior.ENV, raising=False)
    shipped = prior.load()
    assert shipped is not None and len(shipped.trained_on) >= 3 and 0.5 < shipped.threshold(0.03) < 1
    assert prior.identity() == shipped.stats["sha"]
    other = prior.Prior(["dense"], np.zeros(1), np.ones(1), np.ones(1), 0.0, [(0.8, 0.0)])
    path = tmp_path / "prior.json"
    path.write_text(other.to_json())
    monkeypatch.setenv(prior.ENV, str(path))
    assert prior.load().threshold(0.03) == 0.8 and prior.identity() != shipped.stats["sha"]
    monkeypatch.setenv(prior.ENV, str(tmp_path / "missing.json"))
    assert prior.load() is None and prior.identity() == ""
