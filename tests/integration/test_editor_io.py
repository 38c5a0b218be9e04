"""KB import/export and HTML conversion through the app (/api/editor/export, /import, /convert-html), on the
session engine: the sample KB exports and re-imports as unchanged, a dry run writes nothing, an archive with one bad
file writes nothing (422 naming it), hostile archives are refused (4xx with a message), an agent is refused (403).
The one write is a draft article: the answers and the calibration stay as they are for the other tests."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def client(engine):
    agents = engine.services.agents
    for name, role in (("io-editor", "editor"), ("io-agent", "agent")):
        if name not in {a["username"] for a in agents.list()}:
            agents.create(name, PASSWORD, role=role)
    with TestClient(create_app(engine=engine)) as c:
        c.editor = {"Authorization": f"Bearer {agents.login('io-editor', PASSWORD)[0]}"}
        c.agent = {"Authorization": f"Bearer {agents.login('io-agent', PASSWORD)[0]}"}
        yield c


def zip_of(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_export_then_import_the_same_kb_changes_nothing(client, engine):
    r = client.get("/api/editor/export", headers=client.editor)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="tier0-kb.zip"' in r.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    published = {a.id for a in engine.services.kb.published()}
    assert {n.split("/", 1)[1][:-3] for n in names} >= published and "fr/contact-hours-fr.md" in names
    before = engine.services.kb.revision()
    for dry_run in ("true", "false"):
        r2 = client.post(f"/api/editor/import?dry_run={dry_run}", headers={**client.editor,
                         "Content-Type": "application/zip"}, content=r.content)
        assert r2.status_code == 200, r2.text
        report = r2.json()
        assert report["applied"] is (dry_run == "false") and report["dry_run"] is (dry_run == "true")
        assert len(report["unchanged"]) == len(names) and not report["created"] and not report["errors"]
    assert engine.services.kb.revision() == before

    r = client.get("/api/editor/export?status=published", headers=client.editor)
    assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == len(published)
    r = client.get("/api/editor/export?status=live", headers=client.editor)
    assert r.status_code == 422


def test_import_is_all_or_nothing_and_a_multipart_upload_works(client, engine):
    kb = engine.services.kb
    draft = "---\nid: io-test-draft\ntitle: Gift wrapping\nlang: en\nstatus: draft\n---\nWe wrap gifts.\n"
    bad = zip_of({"en/io-test-draft.md": draft, "en/broken.md": "---\nid: broken\nlang: en\n---\n"})
    r = client.post("/api/editor/import?dry_run=true", headers=client.editor, content=bad)
    assert r.status_code == 200
    assert r.json()["created"] == ["io-test-draft"]
    assert r.json()["errors"] == [{"file": "en/broken.md", "line": 2,
                                   "message": "required key 'title' is missing or empty"}]
    r = client.post("/api/editor/import", headers=client.editor, content=bad)
    assert r.status_code == 422 and "nothing imported: en/broken.md:2: required key 'title'" in r.json()["detail"]
    with pytest.raises(LookupError):
        kb.get("io-test-draft")

    good = zip_of({"en/io-test-draft.md": draft})
    r = client.post("/api/editor/import", headers=client.editor, files={"file": ("kb.zip", good, "application/zip")})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == ["io-test-draft"] and r.json()["applied"] is True
    assert kb.get("io-test-draft").status == "draft"
    assert "io-test-draft" not in {a.id for a in kb.published()}  # a draft is not answered from


def test_hostile_uploads_get_a_4xx_with_a_message(client):
    cases = [
        (zip_of({"../../etc/passwd.md": "x"}), 422, "a path outside the archive's folder"),
        (b"this is not a zip", 422, "not a zip archive"),
        (b"", 422, "the archive is empty"),
        (zip_of({"en/bomb.md": b"\0" * 2_000_000}), 413, "more than the limit of 1000000 for one file"),
        # the request itself: the import route takes archives up to TIER0_IMPORT_MAX_UPLOAD_BYTES (20 MB), more than
        # any other route's TIER0_MAX_REQUEST_BYTES (256 KiB)
        (b"PK" + b"\0" * 300_000, 422, "not a zip archive"),
        (b"PK" + b"\0" * 20_000_000, 413, "larger than 20000000 bytes"),
    ]
    for body, status, message in cases:
        r = client.post("/api/editor/import?dry_run=true", headers=client.editor, content=body)
        assert r.status_code == status and message in r.json()["detail"], (status, r.text)
    latin = zip_of({"fr/ete.md": "---\nid: ete\ntitle: Été\nlang: fr\n---\nL'été.\n".encode("latin-1")})
    r = client.post("/api/editor/import?dry_run=true", headers=client.editor, content=latin)
    assert r.json()["errors"] == [{"file": "fr/ete.md", "line": 3, "message": "not UTF-8 text (save the file as UTF-8)"}]


def test_html_converts_to_markdown_and_only_editors_may_use_these_routes(client):
    page = ("<html><head><title>Returns</title><script>steal()</script></head><body><h1>Returns</h1>"
            "<p onclick='x()'>See <a href='https://shop.example/returns'>the page</a>.</p>"
            "<img src='https://shop.example/label.png' alt='Label'></body></html>")
    r = client.post("/api/editor/convert-html", headers=client.editor, json={"html": page})
    assert r.status_code == 200
    out = r.json()
    assert out["title"] == "Returns" and "[the page](https://shop.example/returns)" in out["markdown"]
    assert "![Label](https://shop.example/label.png)" in out["markdown"] and "steal" not in out["markdown"]
    r = client.post("/api/editor/convert-html", headers=client.editor, json={"html": "x" * 200_001})
    assert r.status_code == 422
    for method, path in (("GET", "/api/editor/export"), ("POST", "/api/editor/import"),
                         ("POST", "/api/editor/convert-html")):
        assert client.request(method, path, headers=client.agent, json={"html": ""}).status_code == 403
        assert client.request(method, path).status_code == 401
