"""Try it, calibration health and the refit (#22 BC), through the app on the session engine (its KB and trained
model): a draft answers a question the live KB does not, and nothing live changes; health lists name articles;
the refit button answers 409 while a refit runs. The refit itself (before/after curves) runs once, in process, on a
small KB (a refit of the sample KB takes minutes on a 2-core box)."""

import shutil

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import MODEL_CACHE, SAMPLE_KB

QUESTION = "Do you sell gift wrapping for birthday presents?"
DRAFT = {
    "title": "Gift wrapping for your presents",
    "lang": "en",
    "body": "Add gift wrapping at checkout for 3 euros: we wrap the item in recycled paper with a ribbon and a card "
            "with your message. The price is not shown on the receipt inside the parcel.",
    "questions": ["Can you gift wrap my order?", "Do you offer gift wrapping?", "Can I add a gift message?"],
}


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(engine=engine)) as c:
        yield c


@pytest.fixture(scope="module")
def editor(client, engine):
    engine.services.agents.create("tryit-editor", "a long editor password", role="editor")
    r = client.post("/api/desk/login", json={"username": "tryit-editor", "password": "a long editor password"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_draft_answers_what_the_live_kb_does_not(client, editor, engine):
    live = client.post("/api/editor/try", headers=editor, json={"question": QUESTION, "language": "en"})
    assert live.status_code == 200, live.text
    assert live.json()["decision"] != "answer" and live.json()["draft_rank"] is None
    hashes = engine.services.index.hashes
    cal = engine.services.index.calibrator

    r = client.post("/api/editor/try", headers=editor, json={"question": QUESTION, "article": DRAFT})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["decision"] == "answer", out
    assert out["language"] == "en" and out["draft_rank"] == 1
    assert out["article"]["draft"] is True and out["article"]["title"] == DRAFT["title"]
    assert out["candidates"][0]["confidence"] >= out["threshold"]
    assert all(not c["draft"] and c["version"] for c in out["candidates"][1:])
    # nothing live changed: the index, its calibration, the KB
    assert engine.services.index.hashes == hashes and engine.services.index.calibrator is cal
    assert "~draft" not in hashes and out["article"]["article_id"] == "~draft"


def test_a_draft_of_a_live_article_replaces_it_in_the_trial(client, editor):
    question = "How do I reset my password?"
    live = client.post("/api/editor/try", headers=editor, json={"question": question}).json()
    assert live["decision"] == "answer" and live["article"]["article_id"] == "reset-password-en"
    assert live["article"]["version"] >= 1 and not live["article"]["draft"]
    # the draft of that article says something else entirely: the live version is set aside, not searched twice
    draft = {**DRAFT, "id": "reset-password-en"}
    out = client.post("/api/editor/try", headers=editor, json={"question": question, "article": draft}).json()
    ids = [c["article_id"] for c in out["candidates"]]
    assert ids.count("reset-password-en") <= 1
    assert out["decision"] != "answer" or out["article"]["article_id"] != "reset-password-en"


def test_bad_try_requests_get_a_4xx_with_a_message(client, editor, engine):
    bad = [
        {},
        {"question": ""},
        {"question": "x" * 5000},
        {"question": "hello", "language": "de"},
        {"question": "hello", "article": {"title": "", "lang": "en"}},
        {"question": "hello", "article": {"title": "ok", "lang": "en", "id": "../etc"}},
        {"question": "hello", "article": {"title": "ok", "lang": "en", "questions": ["q"] * 51}},
    ]
    for body in bad:
        r = client.post("/api/editor/try", headers=editor, json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["detail"]
    agent = engine.services.agents.create("tryit-agent", "a long agent password")
    assert agent
    token = client.post("/api/desk/login", json={"username": "tryit-agent", "password": "a long agent password"})
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    assert client.post("/api/editor/try", headers=headers, json={"question": "hello"}).status_code == 403
    assert client.get("/api/editor/health").status_code == 401


def test_health_names_the_articles_to_fix(client, editor, engine):
    r = client.get("/api/editor/health", headers=editor)
    assert r.status_code == 200, r.text
    h = r.json()
    cal = engine.services.index.calibrator
    assert h["calibrated"] is True and h["thresholds"] == pytest.approx(cal.thresholds)
    assert h["unreached_total"] == cal.stats.get("unreached", 0)
    assert [a["id"] for a in h["unreached"]] == cal.unreached
    assert len(h["confusions"]) == len(cal.confusions)
    published = set(engine.services.index.hashes)
    for c in h["confusions"]:
        assert c["question"] and {c["article"]["id"], c["found"]["id"]} <= published
        assert c["article"]["title"] and c["found"]["title"]
    for d in h["duplicates"]:
        assert len(d["articles"]) == 2 and d["similarity"] >= 0.9
    assert "queries" in h["stats"]


def test_the_refit_button_answers_409_while_a_refit_runs(client, editor, engine):
    dry = client.post("/api/editor/calibrate", headers=editor, json={"dry_run": True})
    assert dry.status_code == 200, dry.text
    out = dry.json()
    assert out["refitted"] is False and "after" not in out and out["feedback"] >= out["new_feedback"] >= 0
    assert out["before"]["thresholds"] == pytest.approx(engine.services.index.calibrator.thresholds)
    assert out["before"]["curve"] and isinstance(out["stale"], bool)
    lock = engine.services.follow.refit_lock
    assert lock.acquire(blocking=False)
    try:
        for body in ({}, {"dry_run": True}):
            r = client.post("/api/editor/calibrate", headers=editor, json=body)
            assert r.status_code == 409 and "refitted" in r.json()["detail"]
        assert client.get("/api/editor/health", headers=editor).json()["refit_running"] is True
    finally:
        lock.release()


def test_a_refit_returns_curves_before_and_after(tmp_path, embedder):
    """On a small KB (10 articles of the sample KB, with their phrasings): the start-up fit, then the refit."""
    from bot.services import build_services
    from bot.tryit import recalibrate
    from tier0.config import Settings

    kb = tmp_path / "kb"
    kb.mkdir()
    for name in sorted(p.name for p in SAMPLE_KB.glob("*-en.md"))[:10]:
        shutil.copy(SAMPLE_KB / name, kb / name)
    settings = Settings(home=tmp_path / "home", sample_kb=kb, model_cache=MODEL_CACHE, refit_delay=-1)
    services = build_services(settings, embedder=embedder)
    first = services.index.calibrator
    assert first is not None
    out = recalibrate(services)
    assert out["before"] is not None and out["after"] is not None and out["seconds"] > 0
    after, before = out["after"]["curve"], out["before"]["curve"]
    assert after and before
    for points in (after, before):
        assert all(0 <= p["coverage"] <= 1 and 0 <= p["precision"] <= 1 for p in points)
        thresholds = [p["threshold"] for p in points]
        assert thresholds == sorted(thresholds, reverse=True)
    assert services.index.calibrator is not first
    assert (services.settings.calibration_file).read_text().count('"curve_before"') == 1
