"""The running server refits its calibration from customers' feedback, without a restart.

Everything is real: the trained Rasa model, the embedding models, a SQLite file, the background check that
`tier0 serve` runs every TIER0_CALIBRATION_INTERVAL seconds (here a fraction of a second).
"""

import time

from fastapi.testclient import TestClient

from bot.app import create_app
from retrieval.calibration import REFIT_EVERY
from tests.conftest import make_settings
from tests.integration.chat import say, start

QUESTIONS = [
    "I forgot my password",
    "how do I change my email",
    "how much is shipping",
    "what payment methods do you accept",
    "how do I track my order",
    "j'ai oublié mon mot de passe",
    "comment suivre ma commande",
]


def test_customers_yes_after_answers_refits_the_running_calibration(tmp_path, embedder):
    from bot.runtime import build_engine

    settings = make_settings(tmp_path / "home", calibration_interval=0.2, sla_interval=0)
    engine = build_engine(settings, embedder=embedder)
    index = engine.services.index
    assert index.calibrator.stats["feedback"] == 0
    with TestClient(create_app(settings, engine=engine, scheduler=True)) as client:
        given = 0
        while given < REFIT_EVERY:
            cid, auth = start(client)
            turn = say(client, cid, auth, QUESTIONS[given % len(QUESTIONS)])
            assert turn["outcome"]["type"] == "answer", turn["outcome"]
            say(client, cid, auth, "yes")
            given += 1
        deadline = time.monotonic() + 120
        while index.calibrator.stats.get("feedback", 0) < REFIT_EVERY and time.monotonic() < deadline:
            time.sleep(0.5)
        assert index.calibrator.stats["feedback"] == REFIT_EVERY
        saved = (settings.index_dir / "calibration.json").read_text()
        assert f'"feedback": {REFIT_EVERY}' in saved
        # the bot still answers after the swap
        cid, auth = start(client)
        assert say(client, cid, auth, "I forgot my password")["outcome"]["type"] == "answer"
