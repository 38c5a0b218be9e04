"""Import and export of the KB (knowledge_base.transfer) on a real SQLite file: zip round trip, dry run, all or
nothing, hostile archives, HTML to Markdown, and the `tier0 kb export` / `tier0 kb import --dry-run` commands."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge_base import transfer
from knowledge_base.markdown import ArticleData
from knowledge_base.service import KnowledgeBase
from tier0.db import Database
from tier0.errors import InvalidInput

REPO = Path(__file__).resolve().parents[2]
SAMPLE_KB = REPO / "data" / "sample_kb"

ARTICLE = "---\nid: {id}\ntitle: {title}\nlang: {lang}\n---\n{body}\n"


def new_kb(tmp_path: Path, name: str = "kb") -> KnowledgeBase:
    db = Database(f"sqlite:///{tmp_path / (name + '.db')}")
    db.migrate()
    return KnowledgeBase(db)


def zip_of(files: dict, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content if isinstance(content, bytes) else content.encode())
    return buf.getvalue()


def everything(kb: KnowledgeBase) -> dict:
    return {a.id: replace(a, version=None) for a in transfer.export_articles(kb)}


@pytest.fixture
def sample(tmp_path) -> KnowledgeBase:
    kb = new_kb(tmp_path, "sample")
    assert kb.import_folder(SAMPLE_KB).ok
    kb.set_status("contact-hours-fr", "draft")
    kb.set_status("create-account-en", "archived")
    return kb


# -- export and round trip ------------------------------------------------------------------------------------------
def test_export_then_import_into_an_empty_kb_gives_the_same_articles(sample, tmp_path):
    data, count = transfer.export_zip(sample)
    assert count == sample.count() == 44
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "fr/contact-hours-fr.md" in names and "en/create-account-en.md" in names
    assert {n.split("/")[0] for n in names} == {"en", "fr"}  # one folder per language

    empty = new_kb(tmp_path, "empty")
    changes = []
    empty.on_change(changes.append)
    dry = transfer.plan_import(empty, *transfer.read_zip(data))
    assert len(dry.created) == 44 and not dry.updated and not dry.errors and not dry.applied
    assert empty.count() == 0  # the dry run wrote nothing
    done = transfer.apply_import(empty, dry)
    assert done.applied and sorted(done.created) == sorted(everything(sample))
    assert everything(empty) == everything(sample)  # statuses included: the draft and the archived one
    assert empty.get("contact-hours-fr").status == "draft"
    # one change notice for the whole import, naming what the bot may now answer from (not the draft, not the archived)
    assert len(changes) == 1 and len(changes[0]) == 42

    again = transfer.apply_import(empty, transfer.plan_import(empty, *transfer.read_zip(data)))
    assert len(again.unchanged) == 44 and not again.created and not again.updated  # idempotent
    assert len(changes) == 1


def test_export_of_one_status_and_to_a_folder(sample, tmp_path):
    drafts, count = transfer.export_zip(sample, "draft")
    assert count == 1 and zipfile.ZipFile(io.BytesIO(drafts)).namelist() == ["fr/contact-hours-fr.md"]
    assert transfer.export_folder(sample, tmp_path / "out", "published") == 42
    text = (tmp_path / "out" / "en" / "contact-hours-en.md").read_text(encoding="utf-8")
    assert text.startswith("---\nid: contact-hours-en\n") and "status:" not in text
    with pytest.raises(InvalidInput, match="status 'live' is not one of"):
        transfer.export_articles(sample, "live")


def test_an_article_named_readme_survives_the_round_trip(tmp_path):
    kb = new_kb(tmp_path)
    kb.upsert(ArticleData(id="readme", title="Read me first", lang="en", body="Hello."))
    data, _ = transfer.export_zip(kb)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["en/readme.article.md"]
    other = new_kb(tmp_path, "other")
    transfer.apply_import(other, transfer.plan_import(other, *transfer.read_zip(data)))
    assert other.get("readme").title == "Read me first"


# -- import: plan, all or nothing ------------------------------------------------------------------------------------
def test_dry_run_says_created_updated_unchanged_and_errors_with_file_and_line(tmp_path):
    kb = new_kb(tmp_path)
    kb.upsert(ArticleData(id="same", title="Same", lang="en", body="Unchanged body."))
    kb.upsert(ArticleData(id="edited", title="Edited", lang="en", body="Old body."))
    archive = zip_of({
        "en/same.md": ARTICLE.format(id="same", title="Same", lang="en", body="Unchanged body."),
        "en/edited.md": ARTICLE.format(id="edited", title="Edited", lang="en", body="New body."),
        "fr/nouveau.md": ARTICLE.format(id="nouveau", title="Nouveau", lang="fr", body="Corps."),
        "fr/bad.md": "---\nid: bad\nlang: fr\n---\nNo title.\n",
        "fr/latin1.md": ARTICLE.format(id="l1", title="Latin", lang="fr", body="x").encode() + "été".encode("latin-1"),
        "en/twin.md": ARTICLE.format(id="same", title="Twin", lang="en", body="Another."),
        "en/long.md": ARTICLE.format(id="long", title="T" * 501, lang="en", body="b"),
        "README.md": "Notes about this KB, not an article.",
        "images/logo.png": b"\x89PNG...",
    })
    plan = transfer.plan_import(kb, *transfer.read_zip(archive))
    assert plan.created == ["nouveau"] and plan.updated == ["edited"] and plan.unchanged == ["same"]
    assert sorted(plan.ignored) == ["README.md", "images/logo.png"]
    assert sorted(str(p) for p in plan.errors) == [
        "en/long.md: 'title' is longer than 500 characters",
        "en/twin.md: duplicate id 'same' (also in en/same.md)",
        "fr/bad.md:2: required key 'title' is missing or empty",
        "fr/latin1.md:7: not UTF-8 text (save the file as UTF-8)",
    ]
    # all or nothing: nothing is written while one file is wrong
    changes = []
    kb.on_change(changes.append)
    with pytest.raises(InvalidInput, match=r"4 file\(s\) with errors, nothing imported: .*fr/bad.md:2"):
        transfer.apply_import(kb, plan)
    assert kb.get("edited").body == "Old body." and kb.count() == 2 and not changes


def test_folders_import_with_the_same_checks(tmp_path):
    folder = tmp_path / "kb"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "a.md").write_text(ARTICLE.format(id="a", title="A", lang="en", body="Body."))
    (folder / "en" / "notes.txt").write_text("not an article")
    (folder / ".git").mkdir()
    (folder / ".git" / "x.md").write_text("hidden")
    kb = new_kb(tmp_path)
    entries, ignored = transfer.read_folder(folder)
    assert [n for n, _ in entries] == ["en/a.md"] and "en/notes.txt" in ignored
    assert transfer.apply_import(kb, transfer.plan_import(kb, entries, ignored)).created == ["a"]
    with pytest.raises(InvalidInput, match="not a folder"):
        transfer.read_folder(tmp_path / "nope")


# -- hostile archives -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../evil.md", "en/../../evil.md", "/etc/evil.md", "C:/evil.md", "en\\..\\evil.md"])
def test_paths_out_of_the_archive_refuse_it_whole(name):
    archive = zip_of({"en/ok.md": ARTICLE.format(id="ok", title="OK", lang="en", body="b"), name: "x"})
    with pytest.raises(InvalidInput, match="a path outside the archive's folder"):
        transfer.read_zip(archive)


def test_a_symbolic_link_in_the_archive_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("en/link.md")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidInput, match="en/link.md: a symbolic link"):
        transfer.read_zip(buf.getvalue())


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    bomb = zip_of({"en/bomb.md": b"\0" * 5_000_000})  # 5 MB of zeros: ~5 KB compressed
    assert len(bomb) < 10_000
    with pytest.raises(transfer.TooLarge, match="more than the limit of 1000000 for one file") as e:
        transfer.read_zip(bomb)
    assert e.value.status_code == 413
    small = zip_of({"en/bomb.md": b"\0" * 500_000})  # under the file limit, but compressed ~1000 to 1
    with pytest.raises(transfer.TooLarge, match="to 1, more than 100 to 1"):
        transfer.read_zip(small)
    many = zip_of({f"en/a{i}.md": ARTICLE.format(id=f"a{i}", title="A", lang="en", body="b") for i in range(12)})
    with pytest.raises(transfer.TooLarge, match="12 entries, more than the limit of 10"):
        transfer.read_zip(many, transfer.ImportLimits(max_files=10))
    with pytest.raises(transfer.TooLarge, match="more than 300 bytes uncompressed"):
        transfer.read_zip(many, transfer.ImportLimits(max_total_bytes=300))


def test_a_file_that_lies_about_its_size_is_read_no_further_than_the_limit():
    archive = bytearray(zip_of({"en/big.md": b"a" * 3000}))
    # patch the declared uncompressed size (central directory and local header) down to 100 bytes
    archive = archive.replace((3000).to_bytes(4, "little"), (100).to_bytes(4, "little"))
    try:
        entries, _ = transfer.read_zip(bytes(archive), transfer.ImportLimits(max_file_bytes=200))
    except InvalidInput as e:  # zipfile notices the mismatch (a bad CRC): refused, fine too
        assert "cannot be read" in e.message or "more than the limit" in e.message
    else:
        assert all(len(content) <= 200 for _, content in entries)


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04broken"])
def test_what_is_not_a_zip_is_refused_with_a_message(data):
    with pytest.raises(InvalidInput, match="empty|not a zip archive"):
        transfer.read_zip(data)


def test_an_upload_as_multipart_or_json(tmp_path):
    archive = zip_of({"en/a.md": ARTICLE.format(id="a", title="A", lang="en", body="b")})
    boundary = "----tier0boundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"kb.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode() + archive + f"\r\n--{boundary}--\r\n".encode()
    entries, _ = transfer.read_upload(form, f"multipart/form-data; boundary={boundary}")
    assert entries == transfer.read_zip(archive)[0]
    body = json.dumps({"files": [{"name": "en/a.md", "content": ARTICLE.format(id="a", title="A", lang="en",
                                                                                 body="b")}]}).encode()
    assert transfer.read_upload(body, "application/json")[0] == entries
    for bad in (b"{", b"[]", b'{"files": [{"name": 1}]}', b'{"files": []}', b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(InvalidInput):
            transfer.read_upload(bad, "application/json")
    with pytest.raises(InvalidInput, match="a path outside"):
        transfer.read_upload(json.dumps({"files": [{"name": "../x.md", "content": "x"}]}).encode(), "application/json")
    no_file = f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}--\r\n"
    with pytest.raises(InvalidInput, match="the form has 0 files: send exactly one .zip"):
        transfer.read_upload(no_file.encode(), f"multipart/form-data; boundary={boundary}")
    with pytest.raises(InvalidInput, match="a multipart form with no parts"):
        transfer.read_upload(b"garbage", "multipart/form-data")


# -- HTML -------------------------------------------------------------------------------------------------------------
PAGE = """<!doctype html><html lang="fr-FR"><head><title>Retourner un produit</title>
<style>p { color: red }</style><script>alert("head")</script></head>
<body><h1>Retourner un produit</h1>
<p onclick="steal()">Lisez <a href="https://shop.example/retours" onmouseover="x()">la page des retours</a>
et <a href="javascript:alert(1)">ceci</a>.</p>
<img src="https://shop.example/etiquette.png" alt="Étiquette"><img src="data:image/png;base64,AAAA" alt="pixel">
<ul><li>Imprimez l'étiquette</li><li>Déposez le colis</li></ul>
<script>document.cookie</script><iframe src="https://evil.example"></iframe></body></html>"""


def test_html_becomes_markdown_with_links_and_images_and_no_script():
    md = transfer.html_to_markdown(PAGE)
    assert "[la page des retours](https://shop.example/retours)" in md
    assert "![Étiquette](https://shop.example/etiquette.png)" in md
    assert "- Imprimez l'étiquette\n- Déposez le colis" in md
    for gone in ("alert", "steal", "cookie", "javascript", "color: red", "evil.example", "data:", "pixel", "<"):
        assert gone not in md, gone
    assert transfer.html_title(PAGE) == "Retourner un produit"
    assert transfer.html_title("<p>no title here</p>") is None


def test_an_html_file_of_an_archive_is_an_article(tmp_path):
    kb = new_kb(tmp_path)
    archive = zip_of({
        "fr/Retourner un produit.html": PAGE,
        "en/shipping.htm": "<h1>Shipping times</h1><p>Two <b>days</b>.</p>",
        "misc/untitled.html": "<html lang='en'><p>no title</p></html>",
        "misc/nolang.html": "<title>Somewhere</title><p>x</p>",
    })
    plan = transfer.plan_import(kb, *transfer.read_zip(archive))
    assert sorted(str(p) for p in plan.errors) == [
        "misc/nolang.html:1: no language: give <html lang=\"en\"> or put the file in a folder named after its "
        "language (en/, fr/)",
        "misc/untitled.html:1: no title: give the page a <title> or an <h1>",
    ]
    arts = {a.id: a for _, a in plan.articles}
    assert arts["retourner-un-produit"].title == "Retourner un produit" and arts["retourner-un-produit"].lang == "fr"
    assert not arts["retourner-un-produit"].body.startswith("#")  # the <h1> is the title, not the body's heading
    assert arts["shipping"].title == "Shipping times" and arts["shipping"].body == "Two **days**."
    assert arts["shipping"].lang == "en"  # from its folder


# -- the CLI ----------------------------------------------------------------------------------------------------------
def test_kb_export_and_import_dry_run_commands(tmp_path, capsys):
    from cli.main import main
    from tier0.config import Settings

    home = tmp_path / "home"
    db = Database(Settings(home=home).db_url)
    db.migrate()
    KnowledgeBase(db).upsert(ArticleData(id="a", title="A", lang="en", body="Body."))
    assert main(["--home", str(home), "kb", "export", str(tmp_path / "kb.zip")]) == 0
    assert "exported 1 articles" in capsys.readouterr().out
    assert zipfile.ZipFile(tmp_path / "kb.zip").namelist() == ["en/a.md"]
    assert main(["--home", str(home), "kb", "export", str(tmp_path / "folder"), "--status", "draft"]) == 0
    assert "exported 0 articles" in capsys.readouterr().out

    archive = zip_of({"en/a.md": ARTICLE.format(id="a", title="A", lang="en", body="Changed."),
                      "en/b.md": "---\nid: b\n---\n"})
    (tmp_path / "new.zip").write_bytes(archive)
    assert main(["--home", str(home), "kb", "import", "--dry-run", str(tmp_path / "new.zip")]) == 1
    out = capsys.readouterr()
    assert "dry run: 0 created, 1 updated, 0 unchanged, 1 errors" in out.out
    assert "error: en/b.md:2: required key 'title' is missing or empty" in out.err
    assert KnowledgeBase(db).get("a").body == "Body."
    (tmp_path / "bomb.zip").write_bytes(zip_of({"en/x.md": b"\0" * 2_000_000}))
    assert main(["--home", str(home), "kb", "import", "--dry-run", str(tmp_path / "bomb.zip")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tier0: error: en/x.md: 2000000 bytes uncompressed")


def test_hostile_html_is_refused_with_a_message_not_a_crash(tmp_path):
    deep = "<div>" * 5000 + "x" + "</div>" * 5000
    assert transfer.html_to_markdown("<div>" * 200 + "fine" + "</div>" * 200) == "fine"
    with pytest.raises(InvalidInput, match="more than 200 levels deep"):
        transfer.html_to_markdown(deep)
    with pytest.raises(InvalidInput, match="longer than 200000 characters"):
        transfer.html_to_markdown("<p>" + "a" * 200_000 + "</p>")
    kb = new_kb(tmp_path)
    archive = zip_of({"en/deep.html": "<title>Deep</title>" + deep, "en/long.html": "<title>L</title>" + "a" * 200_001},
                     zipfile.ZIP_STORED)
    plan = transfer.plan_import(kb, *transfer.read_zip(archive))
    assert sorted(str(p) for p in plan.errors) == [
        "en/deep.html: the HTML nests elements more than 200 levels deep",
        "en/long.html: an HTML page of more than 200000 characters: split it",
    ]
