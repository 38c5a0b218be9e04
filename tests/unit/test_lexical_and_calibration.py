import numpy as np

from retrieval.calibration import Calibrator, choose_threshold
from retrieval.lexical import LexicalIndex, terms
from retrieval.search import Candidate


def test_terms_are_accent_and_case_insensitive_without_stopwords_and_stemmed():
    assert terms("Je veux être REMBOURSÉ") == terms("je veux etre rembourse") == ["rembou"]
    assert terms("the delivery was delivered") == ["delive", "delive"]


def test_bm25_prefers_the_unit_with_rarer_terms_and_reports_coverage():
    lex = LexicalIndex()
    lex.build([(1, "reset my password"), (2, "delivery times and costs"), (3, "password for the wifi router")])
    ids, bm25, cov = lex.search("forgot password router")
    scores = dict(zip(ids.tolist(), bm25.tolist()))
    coverage = dict(zip(ids.tolist(), cov.tolist()))
    assert set(scores) == {1, 3} and scores[3] > scores[1]
    assert 0 < coverage[1] < coverage[3] < 1  # 'forgot' is in no unit: nobody covers the whole query
    assert lex.search("zzz")[0].size == 0 and lex.search("")[0].size == 0


def test_threshold_is_the_lowest_that_keeps_wrong_answers_under_target():
    probs = np.array([0.99] * 20 + [0.9] * 20 + [0.5] * 20)
    wrong = np.array([0] * 20 + [0] * 19 + [1] + [1] * 10 + [0] * 10)
    assert choose_threshold(probs, wrong, 0.03) == 0.9  # 1 wrong in 40 answers = 2.5 %
    assert choose_threshold(probs, wrong, 0.001) == 0.99
    assert choose_threshold(np.array([0.9, 0.8]), np.array([1, 1]), 0.03) == 1.0  # never answer


def test_weighted_queries_count_more_when_reading_the_threshold():
    """Real answers (feedback) weigh more than KB-derived queries: two wrong ones at 0.9 move the threshold up."""
    probs = np.array([0.99] * 40 + [0.9] * 40 + [0.9, 0.9])
    wrong = np.array([0] * 80 + [1, 1])
    assert choose_threshold(probs, wrong, 0.03) == 0.9  # 2 wrong in 82 = 2.4 %
    weights = np.array([1.0] * 80 + [5.0, 5.0])
    assert choose_threshold(probs, wrong, 0.03, weights) == 0.99  # 10 wrong in 90 = 11 %
    assert choose_threshold(probs, wrong, 0.03, np.ones(82)) == choose_threshold(probs, wrong, 0.03)


def _cand(aid, **f):
    return Candidate(aid, aid, "en", 0.0, f.get("dense", 0.0), "title", aid, features=f)


def test_calibrator_ranks_by_probability_and_round_trips_as_json():
    cal = Calibrator(["dense", "lex_cov"], np.zeros(2), np.ones(2), np.array([4.0, 2.0]), -3.0,
                     {"*": 0.7, "fr": 0.8}, 0.03, "abc")
    cands = [_cand("weak", dense=0.2, lex_cov=0.1), _cand("strong", dense=0.9, lex_cov=0.8)]
    cal.rank(cands)
    assert [c.article_id for c in cands] == ["strong", "weak"]
    assert 0 < cands[1].probability < cands[0].probability < 1 and cands[0].score == cands[0].probability
    again = Calibrator.from_json(cal.to_json())
    assert np.allclose(again.probabilities(cands), cal.probabilities(cands))
    assert again.threshold("fr") == 0.8 and again.threshold("en") == 0.7 and again.threshold(None) == 0.7


def test_new_feedback_is_counted_by_time_so_a_sliding_window_does_not_refit_forever():
    from retrieval.calibration import Feedback, new_feedback

    cal = Calibrator(["dense"], np.zeros(1), np.ones(1), np.ones(1), 0.0, {"*": 0.5}, 0.03,
                     stats={"feedback": 3, "feedback_until": "2026-11-02T10:00:00"})
    old = [Feedback("q", "en", "a", True, f"2026-11-0{d}T09:00:00") for d in (1, 2)]
    new = [Feedback("q", "en", "a", False, "2026-11-03T09:00:00")] * 4
    assert new_feedback(cal, old) == 0  # one label aged out of the window: nothing new
    assert new_feedback(cal, old + new) == 4
    assert new_feedback(cal, [Feedback("q", "en", "a", True)] * 5) == 2  # no times: by count
