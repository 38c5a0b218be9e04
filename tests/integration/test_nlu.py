"""The trained Rasa model from bot/ (cached under var/models like `tier0 serve` does) on messages it never saw.

A question from any domain a KB may cover is a question, not a request for a person — even when it is an
imperative or mentions contacting someone — and a request for a person is one, in French and English. The sentence
embeddings (bot.nlu_components.SentenceEmbeddingFeaturizer) reach the classifier as dense features.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import numpy as np
import pytest

from tests.conftest import MODEL_CACHE

HANDOFF_INTENTS = {"request_human", "not_helpful", "frustration"}

# None of these is in bot/data/nlu.yml.
QUESTIONS = [
    "could you work out a 15 percent tip on 80 dollars",
    "my headphones stopped charging",
    "how do i message the organiser of an event",
    "how can i get in touch with my landlord through the app",
    "find me a cheap hotel in paris",
    "explique-moi comment fonctionne le prélèvement automatique",
    "mon frigo fait un bruit bizarre",
]
HUMAN_REQUESTS = [
    "i'd really rather sort this out with one of your people",
    "could a member of staff take over please",
    "i want to talk to someone in charge",
    "je préférerais voir ça avec quelqu'un de chez vous",
    "un conseiller peut prendre le relais ?",
]


@pytest.fixture(scope="module")
def agent():
    from bot.rasa_runtime import load_agent, trained_model

    return load_agent(trained_model(MODEL_CACHE))


def parse(agent, text: str) -> dict:
    return asyncio.run(agent.parse_message(text))


@pytest.mark.parametrize("text", QUESTIONS)
def test_an_unseen_question_is_not_a_handoff_request(agent, text):
    intent = parse(agent, text)["intent"]
    assert intent["name"] == "ask_question", intent


@pytest.mark.parametrize("text", HUMAN_REQUESTS)
def test_an_unseen_request_for_a_person_is_one(agent, text):
    intent = parse(agent, text)["intent"]
    assert intent["name"] == "request_human", intent
    assert intent["confidence"] >= 0.8  # DecisionPolicy.intent_override: it overrules a confident answer


def test_the_featurizer_gives_the_classifier_the_search_embeddings(agent):
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu_components import SentenceEmbeddingFeaturizer

    featurizer = SentenceEmbeddingFeaturizer(SentenceEmbeddingFeaturizer.get_default_config(), "embeddings")
    message = Message(data={"text": "where is my parcel"})
    featurizer.process([message])
    _, sentence = message.get_dense_features("text")
    expected = np.hstack([e.encode_queries(["where is my parcel"])[0] for e in featurizer._models()])
    assert sentence.features.shape == (1, expected.shape[0])
    np.testing.assert_allclose(sentence.features[0], featurizer.scale * expected, rtol=1e-5, atol=1e-6)


@contextmanager
def model_calls(e):
    """The texts the real model ``e`` is run on while the block runs."""
    calls = []
    original = e._embed
    e._embed = lambda texts, query: calls.append(texts) or original(texts, query)
    try:
        yield calls
    finally:
        del e._embed


def test_a_turn_is_embedded_once_per_model():
    from retrieval.embedder import load_embedder

    e = load_embedder("all-mpnet-base-v2")
    assert load_embedder("all-mpnet-base-v2") is e  # one instance per process: the search and the NLU share it
    first = e.encode_queries(["a question asked twice in one turn"])
    with model_calls(e) as calls:
        again = e.encode_queries(["a question asked twice in one turn"])
    assert calls == []
    np.testing.assert_array_equal(first, again)


def test_the_vector_cache_can_be_turned_off():
    from retrieval.embedder import load_embedder

    e = load_embedder("all-mpnet-base-v2")
    e.query_cache = 0  # TIER0_QUERY_CACHE=0
    try:
        with model_calls(e) as calls:
            e.encode_queries(["asked twice with no cache"])
            e.encode_queries(["asked twice with no cache"])
    finally:
        e.query_cache = type(e).query_cache
    assert calls == [["asked twice with no cache"], ["asked twice with no cache"]]


@pytest.mark.parametrize("text", ["", "   ", "👍", "?"])
def test_a_message_with_no_words_still_parses(agent, text):
    # the featurizer gives every message a row of the same width (zeros when blank): no shape error in the classifier
    intent = parse(agent, text)["intent"]
    assert intent["name"] and 0.0 <= intent["confidence"] <= 1.0


def test_bulk_work_before_serving_uses_every_core_then_gives_them_back():
    import os

    import torch

    from retrieval.embedder import every_core, load_embedder

    load_embedder("all-mpnet-base-v2")  # torch is loaded
    with pytest.raises(RuntimeError):
        with every_core(1):
            assert torch.get_num_threads() == max(1, os.cpu_count() or 1)
            raise RuntimeError("a failed first sync still gives the cores back")
    assert torch.get_num_threads() == 1
