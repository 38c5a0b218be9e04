"""Import into a real SQLite file: idempotence, versions, malformed files reported by name and line."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

import knowledge_base.models  # noqa: F401
from knowledge_base.service import KnowledgeBase
from tier0.db import Database
from tier0.errors import InvalidInput, NotFound

from ..conftest import SAMPLE_KB


@pytest.fixture
def kb(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'kb.db'}")
    db.create_all()
    return KnowledgeBase(db)


def test_sample_kb_imports_completely_and_is_bilingual(kb):
    report = kb.import_folder(SAMPLE_KB)
    assert report.ok, report.errors
    n = len(list(SAMPLE_KB.glob("*.md")))
    assert n >= 30 and len(report.created) == n
    langs = {a.lang for a in kb.published()}
    assert langs == {"en", "fr"}
    assert any(a.handoff == "billing" for a in kb.published())


def test_reimporting_the_same_folder_changes_nothing(kb):
    kb.import_folder(SAMPLE_KB)
    again = kb.import_folder(SAMPLE_KB)
    assert again.created == [] and again.updated == [] and again.errors == []
    assert len(again.unchanged) == kb.count()
    with kb.db.session() as s:
        versions = s.execute(text("select count(*) from article_versions")).scalar_one()
    assert versions == kb.count()  # one version each, no duplicates


def test_changed_file_gets_a_new_version(kb, tmp_path):
    folder = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB, folder)
    kb.import_folder(folder)
    path = next(iter(sorted(folder.glob("*.md"))))
    art_id = path.stem
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    report = kb.import_folder(folder)
    assert report.updated == [art_id]
    assert [v["version"] for v in kb.versions(art_id)] == [1, 2]
    assert kb.get(art_id).body.endswith("One more line.")


def test_malformed_files_are_reported_by_name_and_line_and_the_rest_imports(kb, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "good.md").write_text("---\nid: good\ntitle: Good\nlang: en\n---\nFine.\n", encoding="utf-8")
    (folder / "bad-yaml.md").write_text("---\nid: bad\ntitle: [oops\nlang: en\n---\nx\n", encoding="utf-8")
    (folder / "no-lang.md").write_text("---\nid: nolang\ntitle: T\n---\nx\n", encoding="utf-8")
    (folder / "latin1.md").write_bytes("---\nid: l\ntitle: caf\xe9\nlang: fr\n---\n".encode("latin-1"))
    (folder / "zz-dup.md").write_text("---\nid: good\ntitle: Again\nlang: en\n---\nx\n", encoding="utf-8")
    report = kb.import_folder(folder)
    assert report.created == ["good"]
    errors = "\n".join(report.errors)
    assert f"{folder / 'bad-yaml.md'}:3: invalid YAML" in errors
    assert f"{folder / 'no-lang.md'}:2: required key 'lang'" in errors
    assert f"{folder / 'latin1.md'}: not UTF-8" in errors
    assert "duplicate id 'good'" in errors
    assert len(report.errors) == 4
    assert kb.get("good").title == "Good"


def test_missing_folder_and_article_are_clear_errors(kb, tmp_path):
    with pytest.raises(InvalidInput):
        kb.import_folder(tmp_path / "nope")
    with pytest.raises(NotFound):
        kb.get("nope")


def test_archiving_removes_from_published_and_keeps_history(kb):
    kb.import_folder(SAMPLE_KB)
    first = kb.published()[0].id
    kb.set_status(first, "archived")
    assert first not in {a.id for a in kb.published()}
    assert [v["status"] for v in kb.versions(first)] == ["published", "archived"]
    assert Path(kb.db.url.split("///")[1]).exists()
