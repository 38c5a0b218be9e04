"""The editor console's articles through the HTTP API (#22 A), on the session engine's KB and model: an editor
creates, edits and publishes; an agent is refused; bad input gets a 4xx with a message; a customer's question is then
answered from the new version. One module-scoped app; one publish of a live article (the index follows on_change)."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import change_first_admin_password, make_settings, seed_index
from tests.integration.chat import say
from tests.integration.chat import start as customer
from tier0.vocab import MAX_ARTICLE_BODY_CHARS

PASSWORD = "correct horse battery"
ARTICLE = "reset-password-en"
NEW_LINE = "Since March, the reset link is valid for 48 hours."


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedder, engine):
    from bot.runtime import build_engine

    home = tmp_path_factory.mktemp("editor-home")
    seed_index(engine, home / "index")
    settings = make_settings(home)
    with TestClient(create_app(settings, engine=build_engine(settings, embedder=embedder))) as c:
        admin = change_first_admin_password(c, home)
        for name, role in (("erin", "editor"), ("alice", "agent")):
            r = c.post("/api/desk/agents", headers=admin, json={"username": name, "password": PASSWORD, "role": role})
            assert r.status_code == 201, r.text
        c.who = {}
        for name in ("erin", "alice"):
            r = c.post("/api/desk/login", json={"username": name, "password": PASSWORD})
            c.who[name] = {"Authorization": f"Bearer {r.json()['token']}"}
        yield c


def test_an_agent_or_a_customer_cannot_edit(app):
    assert app.get("/api/editor/articles", headers=app.who["alice"]).status_code == 403
    r = app.put(f"/api/editor/articles/{ARTICLE}/draft", headers=app.who["alice"], json={"body": "hacked"})
    assert r.status_code == 403 and "editor" in r.json()["detail"]
    assert app.post("/api/editor/preview", json={"body": "x"}).status_code == 401


def test_bad_input_is_refused_with_a_message(app):
    erin = app.who["erin"]
    cases = [
        ({"title": "   ", "lang": "en"}, 422, "title is empty"),
        ({"title": "Gift wrap", "lang": "de"}, 422, "language 'de'"),
        ({"id": "bad id!", "title": "Gift wrap", "lang": "en"}, 422, "may use only"),
        ({"id": ARTICLE, "title": "Gift wrap", "lang": "en"}, 409, "exists already"),
        ({"title": "Gift wrap", "lang": "en", "handoff": "nowhere"}, 422, "not one of the desk's"),
        ({"title": "Gift wrap", "lang": "en", "translation_of": "nope"}, 404, "not found"),
    ]
    for body, status, message in cases:
        r = app.post("/api/editor/articles", headers=erin, json=body)
        assert r.status_code == status and message in r.text, (body, r.status_code, r.text)
    r = app.post("/api/editor/articles", headers=erin, json={"title": "Long", "lang": "en",
                                                             "body": "x" * (MAX_ARTICLE_BODY_CHARS + 1)})
    assert r.status_code in (413, 422), r.text
    assert app.get("/api/editor/articles/nope", headers=erin).status_code == 404
    r = app.get(f"/api/editor/articles/{ARTICLE}/diff?from=yesterday", headers=erin)
    assert r.status_code == 422
    r = app.post(f"/api/editor/articles/{ARTICLE}/rollback", headers=erin, json={"version": 999})
    assert r.status_code == 404 and "no version 999" in r.json()["detail"]
    r = app.post(f"/api/editor/articles/{ARTICLE}/publish", headers=erin)
    assert r.status_code == 409 and "no draft" in r.json()["detail"]
    assert app.get("/api/editor/articles?status=lost", headers=erin).status_code == 422


def test_a_new_article_is_a_draft_with_its_translation(app):
    erin = app.who["erin"]
    r = app.post("/api/editor/articles", headers=erin, json={
        "title": "Emballage cadeau", "lang": "fr", "body": "Cochez **emballage cadeau** au paiement.",
        "questions": ["puis-je faire emballer un cadeau ?"], "note": "nouvel article"})
    assert r.status_code == 201, r.text
    fr = r.json()
    assert fr["article"]["id"] == "emballage-cadeau" and fr["article"]["status"] == "draft"
    assert fr["live"] is None and fr["draft"]["questions"] == ["puis-je faire emballer un cadeau ?"]
    assert fr["versions"][0]["author"] == "erin" and fr["versions"][0]["note"] == "nouvel article"
    # a draft is not answered from: the public article route does not show it
    assert app.get("/api/articles/emballage-cadeau").status_code == 404
    r = app.post("/api/editor/articles", headers=erin, json={
        "title": "Gift wrapping", "lang": "en", "body": "Tick **gift wrap** at checkout.",
        "translation_of": "emballage-cadeau"})
    assert r.status_code == 201, r.text
    en = r.json()
    assert [t["id"] for t in en["translations"]] == ["emballage-cadeau"]
    listed = app.get("/api/editor/articles?status=draft&q=cadeau", headers=erin).json()
    assert listed["total"] == 1 and listed["articles"][0]["has_draft"] is True
    assert listed["articles"][0]["translation_of"] == "emballage-cadeau"
    html = app.post("/api/editor/preview", headers=erin,
                    json={"body": "**gras** <script>alert(1)</script> [lien](https://example.com)"}).json()["html"]
    assert "<strong>gras</strong>" in html and "<script" not in html and 'rel="noopener' in html


def test_an_editor_edits_and_publishes_and_the_bot_answers_from_the_new_version(app):
    erin = app.who["erin"]
    before = app.get(f"/api/editor/articles/{ARTICLE}", headers=erin).json()
    live_version, old_body = before["live"]["version"], before["live"]["body"]
    r = app.put(f"/api/editor/articles/{ARTICLE}/draft", headers=erin,
                json={"body": f"{NEW_LINE}\n\n{old_body}", "note": "validity of the link"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "draft" and r.json()["version"] > live_version
    # the draft does not change what customers read
    assert NEW_LINE not in app.get(f"/api/articles/{ARTICLE}").json()["body"]
    diff = app.get(f"/api/editor/articles/{ARTICLE}/diff", headers=erin).json()
    assert (diff["from"], diff["to"]) == ("live", "draft")
    body_diff = next(f for f in diff["fields"] if f["field"] == "body")
    assert f"+{NEW_LINE}" in body_diff["diff"]

    r = app.post(f"/api/editor/articles/{ARTICLE}/publish", headers=erin, json={"note": "checked"})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["draft"] is None and after["live"]["body"].startswith(NEW_LINE)
    assert after["versions"][-1]["author"] == "erin" and after["versions"][-1]["status"] == "published"
    assert after["article"]["updated_by"] == "erin"

    cid, auth = customer(app, language="en")
    turn = say(app, cid, auth, "I forgot my password")
    assert turn["outcome"]["type"] == "answer" and turn["outcome"]["article_id"] == ARTICLE, turn
    assert NEW_LINE in turn["messages"][0]["text"]
