"""Custom Rasa NLU component: the language of the turn as an entity, so the `language` slot follows it.

tier0's engine detects the language of each message with the conversation as context (tier0.text) and passes
it in the message metadata; this component turns it into a `language` entity, which fills the `language` slot
(from_entity mapping) that the domain's responses use for their French / English variations.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

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
