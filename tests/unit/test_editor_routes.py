"""The editor's article routes through the HTTP API without a model (#22 A): the app serves the real KB and desk
accounts on a SQLite file (these routes never reach the bot). Roles, bad input answered 4xx with a message, a draft
beside the live content, diff, publish, rollback, translations, preview. The customer's answer from a published
version is in tests/integration/test_editor_api.py."""

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.unit

PASSWORD = "correct horse battery"
LIVE = "reset-password-en"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from fastapi.testclient import TestClient

    import handoff.agents  # noqa: F401  (tables)
    import knowledge_base.models  # noqa: F401
    from api.app import create_app
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from knowledge_base.markdown import ArticleData
    from knowledge_base.service import KnowledgeBase
    from tests.conftest import REPO
    from tier0.config import Settings
    from tier0.db import Database

    home = tmp_path_factory.mktemp("editor-routes")
    db = Database(f"sqlite:///{home / 'tier0.db'}")
    db.migrate()
    cfg = load_config(REPO / "data" / "desk.yml")
    agents = AgentDirectory(db, cfg.queues_of)
    for name, role in (("erin", "editor"), ("alice", "agent"), ("carol", "lead")):
        agents.create(name, PASSWORD, role=role)
    kb = KnowledgeBase(db)
    kb.heard = []
    kb.on_change(kb.heard.append)
    kb.upsert(ArticleData(id=LIVE, title="Reset my password", lang="en", body="Use the link.",
                          questions=["I forgot my password"]), note="import")
    kb.heard.clear()
    engine = SimpleNamespace(services=SimpleNamespace(db=db, kb=kb, agents=agents, desk_config=cfg))
    client = TestClient(create_app(Settings(home=home), engine=engine))  # no `with`: no background jobs
    client.kb = kb
    client.who = {}
    for name in ("erin", "alice", "carol"):
        r = client.post("/api/desk/login", json={"username": name, "password": PASSWORD})
        client.who[name] = {"Authorization": f"Bearer {r.json()['token']}"}
    yield client
    db.dispose()


def test_agents_and_customers_cannot_edit_leads_can(app):
    assert app.get("/api/editor/articles", headers=app.who["alice"]).status_code == 403
    r = app.put(f"/api/editor/articles/{LIVE}/draft", headers=app.who["alice"], json={"body": "hacked"})
    assert r.status_code == 403 and "editor" in r.json()["detail"]
    assert app.post("/api/editor/preview", json={"body": "x"}).status_code == 401
    assert app.get("/api/editor/articles", headers=app.who["carol"]).status_code == 200


@pytest.mark.parametrize("body, status, message", [
    ({"title": "   ", "lang": "en"}, 422, "title is empty"),
    ({"title": "Gift wrap", "lang": "de"}, 422, "language 'de'"),
    ({"id": "bad id!", "title": "Gift wrap", "lang": "en"}, 422, "may use only"),
    ({"id": LIVE, "title": "Gift wrap", "lang": "en"}, 409, "exists already"),
    ({"title": "Gift wrap", "lang": "en", "handoff": "nowhere"}, 422, "not one of the desk's"),
    ({"title": "Gift wrap", "lang": "en", "translation_of": "nope"}, 404, "not found"),
    ({"title": "Long", "lang": "en", "body": "x" * 100_001}, 422, "at most 100000 characters"),
    ({"title": 42, "lang": "en"}, 422, "str type expected"),
    ({"lang": "en"}, 422, "field required"),
])
def test_bad_new_articles_are_refused_with_a_message(app, body, status, message):
    r = app.post("/api/editor/articles", headers=app.who["erin"], json=body)
    assert r.status_code == status and message in r.text, r.text
    assert {r["id"] for r in app.kb.search(limit=500)[0]} & {"gift-wrap", "long", "bad id!"} == set()


def test_bad_requests_on_an_article(app):
    erin = app.who["erin"]
    assert app.get("/api/editor/articles/nope", headers=erin).status_code == 404
    assert app.get("/api/editor/articles/bad%20id", headers=erin).status_code == 422
    assert app.get(f"/api/editor/articles/{LIVE}/diff?from=yesterday", headers=erin).status_code == 422
    r = app.get(f"/api/editor/articles/{LIVE}/diff?from=live&to=draft", headers=erin)
    assert r.status_code == 404 and "no draft" in r.json()["detail"]
    r = app.post(f"/api/editor/articles/{LIVE}/rollback", headers=erin, json={"version": 999})
    assert r.status_code == 404 and "no version 999" in r.json()["detail"]
    r = app.post(f"/api/editor/articles/{LIVE}/publish", headers=erin)
    assert r.status_code == 409 and "no draft" in r.json()["detail"]
    r = app.post(f"/api/editor/articles/{LIVE}/unarchive", headers=erin)
    assert r.status_code == 409 and "not archived" in r.json()["detail"]
    r = app.put(f"/api/editor/articles/{LIVE}/draft", headers=erin, json={"title": ""})
    assert r.status_code == 422 and "title is empty" in r.json()["detail"]
    r = app.put(f"/api/editor/articles/{LIVE}/draft", headers=erin, json={"handoff": "nowhere"})
    assert r.status_code == 422 and "not one of the desk's" in r.json()["detail"]
    assert app.get("/api/editor/articles?status=lost", headers=erin).status_code == 422
    assert app.get("/api/editor/articles?limit=100000", headers=erin).status_code == 422
    assert app.kb.summary(LIVE)["has_draft"] is False


def test_a_new_article_is_a_draft_with_its_translation(app):
    erin = app.who["erin"]
    r = app.post("/api/editor/articles", headers=erin, json={
        "title": "Emballage cadeau", "lang": "fr", "body": "Cochez **emballage cadeau** au paiement.",
        "questions": ["puis-je faire emballer un cadeau ?"], "handoff": "billing", "note": "nouvel article"})
    assert r.status_code == 201, r.text
    fr = r.json()
    assert fr["article"]["id"] == "emballage-cadeau" and fr["article"]["status"] == "draft"
    assert fr["live"] is None and fr["draft"]["questions"] == ["puis-je faire emballer un cadeau ?"]
    assert fr["versions"][0]["author"] == "erin" and fr["versions"][0]["note"] == "nouvel article"
    assert app.get("/api/articles/emballage-cadeau").status_code == 404  # a draft is not shown to customers
    r = app.post("/api/editor/articles", headers=erin, json={
        "title": "Gift wrapping", "lang": "en", "body": "Tick **gift wrap** at checkout.",
        "translation_of": "emballage-cadeau"})
    assert r.status_code == 201, r.text
    assert [t["id"] for t in r.json()["translations"]] == ["emballage-cadeau"]
    r = app.post("/api/editor/articles", headers=erin, json={"title": "Emballer", "lang": "fr",
                                                             "translation_of": "gift-wrapping"})
    assert r.status_code == 422 and "already the fr translation" in r.json()["detail"]
    listed = app.get("/api/editor/articles?status=draft&q=cadeau", headers=erin).json()
    assert listed["total"] == 1 and listed["articles"][0]["has_draft"] is True
    assert listed["articles"][0]["translation_of"] == "emballage-cadeau"
    r = app.post("/api/editor/articles/gift-wrapping/translation", headers=erin, json={"of": None})
    assert r.status_code == 200 and r.json()["translations"] == [] and r.json()["article"]["translation_of"] is None
    r = app.post("/api/editor/articles/gift-wrapping/translation", headers=erin, json={"of": "emballage-cadeau"})
    assert [t["id"] for t in r.json()["translations"]] == ["emballage-cadeau"]
    assert not {"emballage-cadeau", "gift-wrapping"} & {i for ids in app.kb.heard for i in ids}  # drafts: not live


def test_a_draft_then_publish_diff_and_rollback(app):
    erin = app.who["erin"]
    app.kb.heard.clear()
    before = app.get(f"/api/editor/articles/{LIVE}", headers=erin).json()
    live_version = before["live"]["version"]
    r = app.put(f"/api/editor/articles/{LIVE}/draft", headers=erin,
                json={"body": "The link is valid 48 hours.\n\nUse the link.", "tags": ["login"], "note": "validity"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "draft" and r.json()["version"] == live_version + 1
    assert app.get(f"/api/articles/{LIVE}").json()["body"] == "Use the link."  # customers still read the live one
    diff = app.get(f"/api/editor/articles/{LIVE}/diff", headers=erin).json()
    assert (diff["from"], diff["to"]) == ("live", "draft")
    assert {f["field"] for f in diff["fields"]} == {"body", "tags", "status"}
    body_diff = next(f for f in diff["fields"] if f["field"] == "body")
    assert "+The link is valid 48 hours." in body_diff["diff"] and body_diff["before"] == "Use the link."
    listed = app.get("/api/editor/articles?q=password", headers=erin).json()["articles"]
    assert listed[0]["has_draft"] is True and listed[0]["draft_version"] == live_version + 1
    assert app.kb.heard == []

    r = app.post(f"/api/editor/articles/{LIVE}/publish", headers=erin, json={"note": "checked"})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["draft"] is None and after["live"]["body"].startswith("The link is valid")
    assert after["versions"][-1]["author"] == "erin" and after["versions"][-1]["note"] == "checked"
    assert after["article"]["updated_by"] == "erin" and app.kb.heard == [[LIVE]]
    assert app.get(f"/api/articles/{LIVE}").json()["body"].startswith("The link is valid")

    r = app.post(f"/api/editor/articles/{LIVE}/rollback", headers=app.who["carol"], json={"version": live_version})
    assert r.status_code == 200, r.text
    assert r.json()["live"]["body"] == "Use the link." and r.json()["versions"][-1]["author"] == "carol"
    assert app.get(f"/api/editor/articles/{LIVE}/diff?from={live_version}&to=live", headers=erin).json()["fields"] == []
    assert app.kb.heard == [[LIVE], [LIVE]]

    r = app.post(f"/api/editor/articles/{LIVE}/archive", headers=erin)
    assert r.status_code == 200 and r.json()["live"] is None and r.json()["article"]["status"] == "archived"
    assert app.get(f"/api/articles/{LIVE}").status_code == 404
    r = app.post(f"/api/editor/articles/{LIVE}/unarchive", headers=erin)
    assert r.json()["article"]["status"] == "draft"
    assert app.post(f"/api/editor/articles/{LIVE}/publish", headers=erin).json()["article"]["status"] == "published"


def test_the_preview_is_sanitised(app):
    r = app.post("/api/editor/preview", headers=app.who["erin"],
                 json={"body": "**gras** <script>alert(1)</script> [lien](https://example.com) [x](javascript:alert(1))"})
    html = r.json()["html"]
    assert "<strong>gras</strong>" in html and "<script" not in html and "href=\"javascript" not in html
    assert 'rel="noopener' in html
