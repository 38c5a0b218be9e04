"""Custom Rasa NLU components.

* ``LanguageEntityExtractor`` — the language of the turn as an entity, so the `language` slot follows it. tier0's
  engine detects the language of each message with the conversation as context (tier0.text) and passes it in the
  message metadata; this component turns it into a `language` entity, which fills the `language` slot (from_entity
  mapping) that the domain's responses use for their French / English variations.
* ``SentenceEmbeddingFeaturizer`` — the sentence embeddings of the knowledge-base search (retrieval.embedder) as
  dense features for the intent classifier. Word and character counts alone learn the *words* of the few hundred
  training examples: an unseen question that happens to share words with "put me through to someone" ("please
  book a table for me") was read as a request for a human with 0.9+ confidence. The embedding says what the
  sentence is about, whatever its words (measured in bench/RESULTS.md, "Intent classifier").
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from tier0.config import DEFAULT_EMBEDDING_MODELS
from tier0.text import SUPPORTED_LANGUAGES, detect_language


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageEntityExtractor(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"default_language": "en"}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.default_language = config.get("default_language", "en")

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageEntityExtractor":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            metadata = message.get("metadata") or {}
            lang = metadata.get("language") if isinstance(metadata, dict) else None
            if lang not in SUPPORTED_LANGUAGES:
                lang = detect_language(message.get(TEXT) or "", default=self.default_language)
            entity = {"entity": "language", "value": lang, "start": 0, "end": 0, "confidence": 1.0}
            entities = message.get(ENTITIES, []) + self.add_extractor_name([entity])
            message.set(ENTITIES, entities, add_to_output=True)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """One dense sentence feature per message: the concatenated, L2-normalised embeddings of ``models``, times
    ``scale`` (the weight of the meaning against the word and character counts in the classifier)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "models": DEFAULT_EMBEDDING_MODELS, "scale": 4.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self.scale = float(self._config["scale"])
        self._embedders: Optional[list] = None

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name)

    def _models(self) -> list:
        if self._embedders is None:
            from retrieval.embedder import load_embedders

            self._embedders = load_embedders(str(self._config["models"]))  # the same instances as the search's
        return self._embedders

    def _featurize(self, messages: List[Message]) -> None:
        # every message with a text gets the feature (the classifier needs rows of one width); a blank one, zeros
        messages = [m for m in messages if m.get(TEXT) is not None]
        if not messages:
            return
        models = self._models()
        dim = sum(e.dim for e in models)
        texts = [m.get(TEXT) for m in messages]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        vectors = np.zeros((len(messages), dim), dtype="float32")
        if todo:
            batch = [texts[i] for i in todo]  # as sent: the search embeds the same string (shared cache)
            vectors[todo] = np.hstack([e.encode_queries(batch) for e in models]) * self.scale
        for message, vec in zip(messages, vectors):
            self.add_features_to_message(None, vec.reshape(1, -1), TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data
