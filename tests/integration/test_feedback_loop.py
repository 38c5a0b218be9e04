"""The running server refits its calibration from customers' feedback, without a restart.

Everything is real: the trained Rasa model, the embedding models, a SQLite file, the background check that
`tier0 serve` runs every TIER0_CALIBRATION_INTERVAL seconds (here a fraction of a second).
"""

import time

from fastapi.testclient import TestClient

from api.app import create_app
from retrieval.calibration import REFIT_EVERY
from tests.conftest import make_settings, small_kb
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

    # 18 articles of the sample KB (its questions are all there): each refit takes seconds, not half a minute
    settings = make_settings(tmp_path / "home", sample_kb=small_kb(tmp_path / "kb"), calibration_interval=0.2,
                             sla_interval=0, feedback_refit_min_interval=0)
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


def test_the_running_server_learns_how_many_questions_the_kb_covers(tmp_path, embedder):
    """Customers' questions alone (no feedback) teach the calibration the share of uncovered questions."""
    from bot.feedback import questions
    from bot.runtime import build_engine
    from retrieval.calibration import MIN_TRAFFIC, SHARE_FLOOR

    # 18 articles of the sample KB (its questions are all there): each refit takes seconds, not half a minute
    settings = make_settings(tmp_path / "home", sample_kb=small_kb(tmp_path / "kb"), calibration_interval=0.2,
                             sla_interval=0, feedback_refit_min_interval=0)
    engine = build_engine(settings, embedder=embedder)
    index = engine.services.index
    before = dict(index.calibrator.thresholds)
    assert index.calibrator.share_used == 0.5 and index.calibrator.stats["traffic"] == 0
    with TestClient(create_app(settings, engine=engine, scheduler=True)) as client:
        cid, auth = start(client)
        say(client, cid, auth, "hello")  # not a question for the KB: not counted
        say(client, cid, auth, "I want to talk to a human")  # a hand-off the customer asked for: not counted
        asked = 0
        while asked < MIN_TRAFFIC:
            if asked % settings.feedback_questions_per_conversation == 0:  # more count for nothing
                cid, auth = start(client)
            turn = say(client, cid, auth, QUESTIONS[asked % len(QUESTIONS)])
            assert turn["outcome"]["type"] in ("answer", "clarify"), turn["outcome"]
            asked += 1
        got = questions(engine.services.db)
        assert len(got) == MIN_TRAFFIC and {q.text for q in got} == set(QUESTIONS)
        deadline = time.monotonic() + 180
        while "traffic_share" not in index.calibrator.stats and time.monotonic() < deadline:
            time.sleep(0.5)
        cal = index.calibrator
        assert cal.stats["traffic"] == MIN_TRAFFIC and cal.share_used == SHARE_FLOOR  # all covered: the floor
        assert all(cal.thresholds[k] <= before[k] for k in before)
        assert '"share_used": 0.25' in (settings.index_dir / "calibration.json").read_text()
        cid, auth = start(client)
        assert say(client, cid, auth, "I forgot my password")["outcome"]["type"] == "answer"
