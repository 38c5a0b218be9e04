"""Start-up: services + the trained Rasa model + the Agent, loaded once per process."""

from __future__ import annotations

import logging
import time

from bot.engine import ConversationEngine
from bot.services import build_services, register
from tier0.config import Settings

log = logging.getLogger("tier0")


def build_engine(settings: Settings, import_sample: bool = True, embedder=None, clock=None) -> ConversationEngine:
    from bot.rasa_runtime import load_agent, quiet_rasa, trained_model
    from retrieval.embedder import every_core

    quiet_rasa()
    t0 = time.perf_counter()
    services = build_services(settings, import_sample=import_sample, embedder=embedder, clock=clock)
    register(services)
    with every_core(settings.torch_threads):  # training featurizes the NLU data with the embedding models
        model = trained_model(settings.models_dir)
    agent = load_agent(model, settings)
    log.warning(
        "tier0.ready articles=%d model=%s seconds=%.1f", len(services.index), model.name, time.perf_counter() - t0
    )
    return ConversationEngine(services, agent, turn_threads=settings.turn_threads)
