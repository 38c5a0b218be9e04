"""The search's per-candidate features (retrieval.search.features): plain numbers in, named numbers out."""

import copy
import math

import numpy as np
import pytest

from retrieval import search
from retrieval.calibration import BASE_FEATURES, feature_names
from retrieval.search import POOL, features

pytestmark = pytest.mark.unit

NAMES = ["dense", "dense_0", "dense_1", "dense_q", "dense_body", "lex_cov", "lex_bm25", "lex_rel", "rank_dense",
         "rank_lex", "rrf", "lang_match", "vote", "dense_top2", "q_terms", "gap_dense", "gap_lex", "gap_vote"]


def _inputs(**over):
    """Two models; "a" found by both and lexically, "b" by both models only, "c" lexically only (in French)."""
    d = dict(
        per_model=[
            {"a": {"title": 0.9, "body": 0.5}, "b": {"question": 0.6}},
            {"a": {"title": 0.7}, "b": {"body": 0.8}},
        ],
        lexical={"a": (4.0, 0.75), "c": (2.0, 0.5)},
        votes={"a": 0.6, "b": 0.2},
        cosines={"a": [0.9, 0.5], "b": [0.6]},
        langs={"a": "en", "b": "en", "c": "fr"},
        weights=[1.0, 1.0],
        query_lang="en",
        query_terms=3,
    )
    d.update(over)
    return d


def test_names_order_and_values_on_a_small_pool():
    out = features(**_inputs())
    assert list(out) == ["a", "b", "c"]  # the dense ranking's pool, then the lexical one's newcomers
    assert all(list(f) == NAMES for f in out.values())
    assert set(BASE_FEATURES) <= set(NAMES) and set(feature_names(2)) <= set(NAMES)  # all the calibration reads

    a, b, c = out["a"], out["b"], out["c"]
    assert a == pytest.approx({
        "dense": 0.8, "dense_0": 0.9, "dense_1": 0.7, "dense_q": 0.8, "dense_body": (0.5 - 1.0) / 2,
        "lex_cov": 0.75, "lex_bm25": math.log1p(4.0), "lex_rel": 1.0, "rank_dense": 0.0, "rank_lex": 0.0,
        "rrf": 1 / 10 + 1 / 10, "lang_match": 1.0, "vote": 0.6, "dense_top2": 0.7, "q_terms": math.log1p(3),
        "gap_dense": 0.1, "gap_lex": 0.25, "gap_vote": 0.4,
    })
    assert b == pytest.approx({
        "dense": 0.7, "dense_0": 0.6, "dense_1": 0.8, "dense_q": (0.6 - 1.0) / 2, "dense_body": (-1.0 + 0.8) / 2,
        "lex_cov": 0.0, "lex_bm25": 0.0, "lex_rel": 0.0, "rank_dense": 1.0, "rank_lex": 2.0 * POOL,
        "rrf": 1 / 11 + 1 / (10 + 2 * POOL), "lang_match": 1.0, "vote": 0.2, "dense_top2": 0.6,
        "q_terms": math.log1p(3), "gap_dense": -0.1, "gap_lex": -0.75, "gap_vote": -0.4,
    })
    # found by no dense model: every cosine -1, ranked last by dense; another language
    assert c == pytest.approx({
        "dense": -1.0, "dense_0": -1.0, "dense_1": -1.0, "dense_q": -1.0, "dense_body": -1.0,
        "lex_cov": 0.5, "lex_bm25": math.log1p(2.0), "lex_rel": 0.5, "rank_dense": 2.0 * POOL, "rank_lex": 1.0,
        "rrf": 1 / (10 + 2 * POOL) + 1 / 11, "lang_match": 0.0, "vote": 0.0, "dense_top2": -1.0,
        "q_terms": math.log1p(3), "gap_dense": -1.8, "gap_lex": -0.25, "gap_vote": -0.6,
    })


def test_one_model_missing_an_article_and_the_models_weights():
    one_missing = _inputs(per_model=[{"a": {"title": 0.9}, "b": {"title": 0.4}}, {"a": {"title": 0.7}}])
    out = features(**one_missing)
    assert out["b"]["dense"] == -1.0  # only when every model found it
    assert out["b"]["dense_0"] == pytest.approx(0.4) and out["b"]["dense_1"] == -1.0
    assert out["b"]["dense_q"] == pytest.approx((0.4 - 1.0) / 2)
    weighted = features(**_inputs(weights=[1.0, 0.0]))  # a model that does not count for this language
    assert weighted["a"]["dense"] == pytest.approx(0.9) and weighted["a"]["dense_q"] == pytest.approx(0.9)
    assert weighted["a"]["dense_1"] == pytest.approx(0.7)  # its own cosine is still there


def test_one_candidate_is_its_own_margin():
    out = features(per_model=[{"a": {"title": 0.5}}], lexical={}, votes={"a": 1.0}, cosines={"a": [0.5, 0.3]},
                   langs={"a": "fr"}, weights=[1.0], query_lang=None, query_terms=0)
    assert list(out) == ["a"]
    f = out["a"]
    assert list(f) == ["dense", "dense_0", "dense_q", "dense_body", "lex_cov", "lex_bm25", "lex_rel", "rank_dense",
                       "rank_lex", "rrf", "lang_match", "vote", "dense_top2", "q_terms", "gap_dense", "gap_lex",
                       "gap_vote"]
    assert f["gap_dense"] == 0.5 and f["gap_lex"] == 0.0 and f["gap_vote"] == 1.0  # nobody else: the value itself
    assert f["lang_match"] == 0.5 and f["q_terms"] == 0.0  # unknown query language: neither match nor mismatch
    assert f["dense_body"] == -1.0 and f["dense_top2"] == pytest.approx(0.4)
    assert f["rank_dense"] == 0.0 and f["rank_lex"] == 2.0 * POOL


def test_ties_rank_by_article_id_and_leave_no_margin():
    tied = {"b": {"title": 0.8}, "a": {"title": 0.8}, "z": {"title": 0.3}}
    out = features(per_model=[tied], lexical={"z": (1.0, 0.5), "b": (1.0, 0.5)}, votes={"a": 0.5, "b": 0.5},
                   cosines={}, langs={"a": "en", "b": "en", "z": "en"}, weights=[1.0], query_lang="en",
                   query_terms=2)
    assert list(out) == ["a", "b", "z"]  # by article id, not by insertion (or set) order
    assert (out["a"]["rank_dense"], out["b"]["rank_dense"]) == (0.0, 1.0)
    assert (out["b"]["rank_lex"], out["z"]["rank_lex"]) == (0.0, 1.0)  # equal BM25: by id too
    assert out["a"]["gap_dense"] == 0.0 and out["b"]["gap_dense"] == 0.0
    assert out["z"]["gap_dense"] == pytest.approx(0.3 - 0.8)
    assert out["b"]["gap_lex"] == 0.0 and out["z"]["gap_lex"] == 0.0 and out["a"]["gap_lex"] == -0.5
    assert out["a"]["gap_vote"] == 0.0 and out["z"]["gap_vote"] == -0.5
    assert all(f["dense_top2"] == -1.0 for f in out.values())  # no cosines given


def test_no_lexical_hit():
    out = features(**_inputs(lexical={}))
    assert list(out) == ["a", "b"]
    for f in out.values():
        assert (f["lex_cov"], f["lex_bm25"], f["lex_rel"], f["gap_lex"]) == (0.0, 0.0, 0.0, 0.0)
        assert f["rank_lex"] == 2.0 * POOL
    assert out["a"]["rrf"] == pytest.approx(1 / 10 + 1 / (10 + 2 * POOL))


def test_nothing_found_and_the_pool_size():
    assert features(per_model=[{}, {}], lexical={}, votes={}, cosines={}, langs={}, weights=[1.0, 1.0],
                    query_lang="en", query_terms=1) == {}
    out = features(**_inputs(), pool=1)  # the best of each retriever: "a" both times, so "b" and "c" stay out
    assert list(out) == ["a"] and out["a"]["gap_dense"] == 0.8  # alone in the pool
    wider = features(**_inputs(lexical={"c": (5.0, 1.0), "a": (4.0, 0.75)}), pool=1)
    assert list(wider) == ["a", "c"] and wider["c"]["rank_dense"] == 2.0  # 2 * pool when the dense one missed it


def test_pure_inputs_untouched_and_same_answer_twice():
    given = _inputs()
    before = copy.deepcopy(given)
    first = features(**given)
    assert given == before
    assert features(**given) == first
    first["a"]["dense"] = 42.0  # the result is the caller's own
    assert features(**given)["a"]["dense"] == pytest.approx(0.8)


class _Words:
    """A stand-in embedder: a hashed bag of words, normalised (no model)."""

    name, dim = "words", 64

    def _vec(self, text):
        v = np.zeros(self.dim, dtype="float32")
        for w in text.lower().split():
            v[sum(map(ord, w)) % self.dim] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def encode_documents(self, texts):
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype="float32")

    encode_queries = encode_documents


class _Article:
    def __init__(self, id, title, body, lang="en", questions=()):
        self.id, self.title, self.body, self.lang, self.questions = id, title, body, lang, list(questions)
        self.category = self.handoff = None


def test_the_search_takes_its_candidates_features_from_the_function(tmp_path, monkeypatch):
    index = search.SearchIndex([_Words()], tmp_path / "index")
    arts = [_Article("pw", "reset my password", "Open settings and choose reset password."),
            _Article("ship", "shipping costs", "Shipping is free above 50 euros.", questions=["how much is delivery"]),
            _Article("mdp", "mot de passe oublié", "Ouvrez les réglages.", lang="fr")]
    index.sync(arts, {a.id: "h-" + a.id for a in arts})
    calls = []

    def spy(**kw):
        calls.append((copy.deepcopy(kw), features(**kw)))
        return calls[-1][1]

    monkeypatch.setattr(search, "features", spy)
    cands = index.search_query(index.encode("I forgot my password", "en"))
    assert len(calls) == 1
    kw, out = calls[0]
    assert kw["query_lang"] == "en" and kw["weights"] == [1.0] and kw["query_terms"] > 0
    assert set(kw["langs"]) >= set(out) and kw["langs"]["mdp"] == "fr"
    assert {c.article_id for c in cands} == set(out)
    for c in cands:
        assert c.features is out[c.article_id] and c.raw_score == c.features["dense"]
        assert c.score == search.fused_score(c.features)
    assert cands[0].article_id == "pw"
