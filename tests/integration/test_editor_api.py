"""The editor console's articles through the HTTP API (#22 A), on the session engine's KB and model: an editor
creates, edits and publishes; an agent is refused; bad input gets a 4xx with a message; a customer's question is then
answered from the new version. One module-scoped app; one publish of a live article (the index follows on_change)."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import change_first_admin_password, make_settings, seed_index
from tests.integration.chat import say
from tests.integration.chat import start as customer

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


def test_an_agent_cannot_edit_and_bad_input_is_refused(app):
    r = app.put(f"/api/editor/articles/{ARTICLE}/draft", headers=app.who["alice"], json={"body": "hacked"})
    assert r.status_code == 403 and "editor" in r.json()["detail"]
    r = app.post("/api/editor/articles", headers=app.who["erin"], json={"title": "Gift wrap", "lang": "de"})
    assert r.status_code == 422 and "language 'de'" in r.json()["detail"]
    # the rest of the refusals: tests/unit/test_editor_routes.py (the same routes without a model)


def test_an_editor_edits_and_publishes_and_the_bot_answers_from_the_new_version(app):
    erin = app.who["erin"]
    # a new article is a draft: customers do not see it
    r = app.post("/api/editor/articles", headers=erin, json={"title": "Emballage cadeau", "lang": "fr",
                                                             "body": "Cochez **emballage cadeau** au paiement."})
    assert r.status_code == 201 and r.json()["article"]["status"] == "draft", r.text
    assert app.get("/api/articles/emballage-cadeau").status_code == 404
    # an edit of a live article, published once (the index follows on_change)
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
