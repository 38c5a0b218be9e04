"""The editor's knowledge-base operations on a real SQLite file (no model): drafts beside the live content, versions
with their author, diff, publish (listeners hear the id), archive and back, rollback, translations, validation."""

from __future__ import annotations

import pytest

import knowledge_base.models  # noqa: F401
from knowledge_base.editing import slugify
from knowledge_base.markdown import ArticleData
from knowledge_base.service import KnowledgeBase
from tier0.db import Database
from tier0.errors import Conflict, InvalidInput, NotFound
from tier0.vocab import MAX_ARTICLE_BODY_CHARS

pytestmark = pytest.mark.unit


@pytest.fixture
def kb(database_url):
    db = Database(database_url)
    db.migrate()
    kb = KnowledgeBase(db)
    kb.heard = []  # type: ignore[attr-defined]
    kb.on_change(lambda ids: kb.heard.append(ids))  # type: ignore[attr-defined]
    yield kb
    db.dispose()


def new(kb, title="Return a parcel", lang="en", body="Print the label.", **kw):
    link = kw.pop("translation_of", None)
    return kb.create(ArticleData(id=kw.pop("id", ""), title=title, lang=lang, body=body, **kw), author="erin",
                     translation_of=link)


def test_a_new_article_is_a_draft_not_answered_from_and_its_id_is_a_slug(kb):
    art = new(kb, title="Réinitialiser mon mot de passe", lang="fr")
    assert art.id == "reinitialiser-mon-mot-de-passe" and art.status == "draft" and art.version == 1
    assert kb.published() == [] and kb.fingerprint() == {} and kb.heard == []
    again = new(kb, title="Réinitialiser mon mot de passe", lang="fr")
    assert again.id == "reinitialiser-mon-mot-de-passe-2"
    with pytest.raises(Conflict, match="exists already"):
        new(kb, id=art.id)
    assert kb.versions(art.id) == [
        {"version": 1, "status": "draft", "note": "created", "author": "erin", "created_at": kb.versions(art.id)[0]
         ["created_at"]}
    ]
    assert kb.draft(art.id).title == "Réinitialiser mon mot de passe"


def test_publish_makes_it_live_and_tells_the_listeners_its_id(kb):
    art = new(kb)
    live = kb.publish(art.id, author="erin", note="first")
    assert live.status == "published" and live.version == 2
    assert [a.id for a in kb.published()] == [art.id] and list(kb.fingerprint()) == [art.id]
    assert kb.heard == [[art.id]]
    with pytest.raises(Conflict, match="no draft"):
        kb.publish(art.id, author="erin")


def test_a_draft_does_not_change_the_live_content_until_published(kb):
    art = new(kb)
    kb.publish(art.id, author="erin")
    before = kb.fingerprint()
    draft = kb.save_draft(art.id, {"body": "Print the label, then drop it off.", "questions": ["send back"]},
                          author="paul", note="clearer")
    assert draft.version == 3 and draft.status == "draft"
    assert kb.get(art.id).body == "Print the label." and kb.get(art.id).version == 2
    assert kb.fingerprint() == before and kb.heard == [[art.id]]
    row = kb.summary(art.id)
    assert row["has_draft"] and row["draft_version"] == 3 and row["updated_by"] == "paul"
    # saving the same thing again stores nothing
    assert kb.save_draft(art.id, {"body": "Print the label, then drop it off."}, author="paul").version == 3
    live = kb.publish(art.id, author="erin", note="go")
    assert live.body == "Print the label, then drop it off." and live.questions == ["send back"]
    assert live.version == 4 and not kb.summary(art.id)["has_draft"] and kb.draft(art.id) is None
    assert kb.fingerprint() != before and kb.heard == [[art.id], [art.id]]
    versions = kb.versions(art.id)
    assert [(v["version"], v["status"], v["author"], v["note"]) for v in versions] == [
        (1, "draft", "erin", "created"), (2, "published", "erin", "published"), (3, "draft", "paul", "clearer"),
        (4, "published", "erin", "go")]


def test_diff_between_versions_field_by_field(kb):
    art = new(kb, body="Line one.\nLine two.", tags=["returns"])
    kb.publish(art.id, author="erin")
    kb.save_draft(art.id, {"body": "Line one.\nLine 2.", "title": "Return a parcel for free"}, author="erin")
    fields = {d["field"]: d for d in kb.diff(art.id, 2, 3)}
    assert set(fields) == {"title", "body", "status"}
    assert "-Line two.\n+Line 2." in fields["body"]["diff"]
    assert fields["title"]["before"] == "Return a parcel" and fields["title"]["after"] == "Return a parcel for free"
    assert {d["field"] for d in kb.diff(art.id, "live", "draft")} == {"title", "body", "status"}
    assert kb.diff(art.id, 3, 3) == []
    with pytest.raises(NotFound):
        kb.diff(art.id, 2, 99)
    with pytest.raises(InvalidInput):
        kb.diff(art.id, "yesterday", 2)


def test_rollback_publishes_an_old_version_again_as_a_new_version(kb):
    art = new(kb, body="Old text.")
    kb.publish(art.id, author="erin")
    kb.save_draft(art.id, {"body": "New text."}, author="erin")
    kb.publish(art.id, author="erin")
    kb.heard.clear()
    back = kb.rollback(art.id, 2, author="lea")
    assert back.body == "Old text." and back.status == "published" and back.version == 5
    assert kb.heard == [[art.id]]
    last = kb.versions(art.id)[-1]
    assert last["author"] == "lea" and last["note"] == "rollback to version 2" and last["status"] == "published"
    assert kb.diff(art.id, 2, 5) == []
    with pytest.raises(NotFound):
        kb.rollback(art.id, 42, author="lea")


def test_archive_and_unarchive_as_a_draft(kb):
    art = new(kb)
    kb.publish(art.id, author="erin")
    kb.heard.clear()
    gone = kb.archive(art.id, author="erin")
    assert gone.status == "archived" and kb.published() == [] and kb.heard == [[art.id]]
    with pytest.raises(Conflict):
        kb.archive(art.id, author="erin")
    back = kb.unarchive(art.id, author="erin")
    assert back.status == "draft" and kb.published() == [] and kb.heard == [[art.id]]
    kb.publish(art.id, author="erin")
    assert [a.id for a in kb.published()] == [art.id]
    # saving an archived article brings it back as a draft too
    kb.archive(art.id, author="erin")
    assert kb.save_draft(art.id, {"title": "Return it"}, author="erin").status == "draft"
    assert kb.summary(art.id)["status"] == "draft"


def test_translations_are_linked_one_article_a_language(kb):
    en = new(kb, title="Return a parcel")
    fr = new(kb, title="Retourner un colis", lang="fr", translation_of=en.id)
    assert [t["id"] for t in kb.translations(en.id)] == [fr.id]
    assert [t["id"] for t in kb.translations(fr.id)] == [en.id]
    with pytest.raises(InvalidInput, match="already the fr translation"):
        new(kb, title="Renvoyer un colis", lang="fr", translation_of=en.id)
    other = new(kb, title="Renvoyer un colis", lang="fr")
    with pytest.raises(InvalidInput, match="already the fr translation"):
        kb.link_translation(other.id, en.id)
    assert kb.link_translation(fr.id, None) == [] and kb.translations(en.id) == []
    assert [t["id"] for t in kb.link_translation(other.id, en.id)] == [en.id]
    with pytest.raises(NotFound):
        kb.link_translation(other.id, "nope")


def test_list_filters_by_text_language_status_and_category(kb):
    a = new(kb, title="Return a parcel", category="returns", body="Use the 100% free label")
    new(kb, title="Retourner un colis", lang="fr", category="returns")
    new(kb, title="Track my order", category="delivery")
    kb.publish(a.id, author="erin")
    rows, total = kb.search(q="PARCEL")
    assert total == 1 and rows[0]["id"] == a.id and rows[0]["status"] == "published" and not rows[0]["has_draft"]
    assert kb.search(q="100%")[1] == 1 and kb.search(q="_")[1] == 0  # LIKE wildcards are literal
    assert kb.search(lang="fr")[1] == 1 and kb.search(status="draft")[1] == 2
    assert {r["id"] for r in kb.search(category="returns")[0]} == {a.id, "retourner-un-colis"}
    rows, total = kb.search(limit=1)
    assert total == 3 and len(rows) == 1 and rows[0]["updated_by"] == "erin"


@pytest.mark.parametrize("fields, message", [
    ({"title": "  "}, "title is empty"),
    ({"lang": "de"}, "language 'de'"),
    ({"body": "x" * (MAX_ARTICLE_BODY_CHARS + 1)}, "at most"),
    ({"handoff": "bad queue!"}, "hand-off queue"),
    ({"questions": ["q"] * 0 + ["x" * 600]}, "at most 500"),
    ({"colour": "red"}, "unknown article fields"),
])
def test_bad_drafts_are_refused_with_a_message(kb, fields, message):
    art = new(kb)
    with pytest.raises(InvalidInput, match=message):
        kb.save_draft(art.id, fields, author="erin")
    assert kb.versions(art.id)[-1]["version"] == 1


def test_ids_and_slugs():
    assert slugify("  Où est mon colis ?  ") == "ou-est-mon-colis"
    assert slugify("!!!") == ""


def test_upsert_keeps_working_for_drafts_and_names_the_author(kb):
    assert kb.upsert(ArticleData(id="gap-1", title="Gift cards", lang="en", status="draft"), author="dan") == "created"
    assert kb.heard == [] and kb.summary("gap-1")["has_draft"]
    assert kb.upsert(ArticleData(id="gap-1", title="Gift cards", lang="en"), note="import") == "updated"
    assert kb.heard == [["gap-1"]] and kb.versions("gap-1")[0]["author"] == "dan"


def test_the_cli_publishes_and_archives(tmp_path, monkeypatch, capsys):
    from cli.main import main
    from tier0.config import Settings

    monkeypatch.delenv("TIER0_DATABASE_URL", raising=False)
    kb = KnowledgeBase(Database(Settings(home=tmp_path).db_url))
    kb.db.migrate()
    art = new(kb)
    assert main(["--home", str(tmp_path), "kb", "publish", art.id, "--note", "from the shell"]) == 0
    assert capsys.readouterr().out.strip() == f"{art.id}: published, version 2"
    assert [a.id for a in kb.published()] == [art.id] and kb.versions(art.id)[-1]["note"] == "from the shell"
    assert main(["--home", str(tmp_path), "kb", "archive", art.id]) == 0 and kb.published() == []
    assert main(["--home", str(tmp_path), "kb", "archive", art.id]) == 2
    assert capsys.readouterr().err.strip() == f"tier0: error: article {art.id} is archived already"
    kb.db.dispose()
