"""The website widget's files through the app, without a model (#23 W2): /widget.js is versioned and cacheable (ETag,
304, a year's cache only when pinned to its current hash, gzip), /demo embeds it with one pinned script tag in
French or English, and an unknown language is a 422 with a message. The script itself is checked for what the
project promises of it: self-contained (no import, no eval, no inline-style attribute), its texts in both languages."""

import gzip
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tier0.config import Settings

    settings = Settings(home=tmp_path_factory.mktemp("widget-files"), classifier_extra_models="")
    return TestClient(create_app(settings))  # no lifespan: these routes never reach the engine


def test_widget_js_is_cacheable_and_versioned(client):
    from api.embed import LATEST_CACHE, PINNED_CACHE, SCRIPT, WidgetScript

    version = WidgetScript().version
    r = client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["cache-control"] == LATEST_CACHE
    assert r.headers["etag"] == f'"{version}"'
    assert r.content == SCRIPT.read_bytes()
    assert r.headers["x-content-type-options"] == "nosniff"

    pinned = client.get(f"/widget.js?v={version}", headers={"Accept-Encoding": "identity"})
    assert pinned.headers["cache-control"] == PINNED_CACHE
    stale = client.get("/widget.js?v=0123456789abcdef", headers={"Accept-Encoding": "identity"})
    assert stale.headers["cache-control"] == LATEST_CACHE  # an old pinned tag is fetched again soon
    assert stale.content == SCRIPT.read_bytes()

    again = client.get("/widget.js", headers={"If-None-Match": f'W/"{version}", "other"'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == f'"{version}"'
    assert client.get("/widget.js", headers={"If-None-Match": '"stale"'}).status_code == 200

    assert client.get("/widget.js?v=" + "x" * 65).status_code == 422


def test_widget_js_is_sent_gzipped_when_accepted():
    from api.embed import SCRIPT, WidgetScript

    status, body, headers = WidgetScript().response(None, None, "gzip, deflate, br")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == SCRIPT.read_bytes()
    assert len(body) < 20_000, f"widget.js is {len(body)} bytes gzipped"


def test_a_changed_file_gets_a_new_version(tmp_path):
    from api.embed import WidgetScript

    f = tmp_path / "widget.js"
    f.write_text("console.log(1);")
    script = WidgetScript(f)
    first = script.version
    f.write_text("console.log(2);")
    import os

    os.utime(f, ns=(1, 10**18))  # a different modification time, as a deployment gives
    assert script.version != first
    assert script.response(first, f'"{first}"', "")[0] == 200


@pytest.mark.parametrize("lang,words", [("en", "New this season"), ("fr", "Nouveautés de la saison")])
def test_demo_page_embeds_the_widget_with_one_pinned_script_tag(client, lang, words):
    from api.embed import WidgetScript

    r = client.get(f"/demo?lang={lang}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert f'<html lang="{lang}">' in page and words in page
    tags = re.findall(r"<script[^>]*>", page)
    assert len(tags) == 1
    assert f'src="/widget.js?v={WidgetScript().version}"' in tags[0] and f'data-lang="{lang}"' in tags[0]
    assert "{{" not in page  # every placeholder filled
    assert "script-src 'self'" in r.headers["content-security-policy"]  # the page's strict CSP: no inline script


def test_demo_page_defaults_to_english_and_refuses_an_unknown_language(client):
    assert '<html lang="en">' in client.get("/demo").text
    r = client.get("/demo?lang=de")
    assert r.status_code == 422
    assert "lang" in r.text


def test_widget_script_is_self_contained_and_bilingual():
    from api.embed import SCRIPT

    source = SCRIPT.read_text(encoding="utf-8")
    assert not re.search(r"\bimport\s*\(|^\s*import\s|\beval\s*\(|new Function\(|document\.write", source, re.M)
    assert "setAttribute(\"style\"" not in source and ".innerHTML" not in source and "DOMParser" in source
    assert "attachShadow" in source and "adoptedStyleSheets" in source
    catalogue = re.search(r"const TEXTS = \{(.*?)\n  \};", source, re.S).group(1)
    en = set(re.findall(r"(?:^|\s)(\w+): [\"`]", re.search(r"en: \{(.*?)\n    \},", catalogue, re.S).group(1)))
    fr = set(re.findall(r"(?:^|\s)(\w+): [\"`]", re.search(r"fr: \{(.*?)\n    \},", catalogue, re.S).group(1)))
    assert en and en == fr, f"texts missing in one language: {sorted(en ^ fr)}"


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_widget_script_parses():
    from api.embed import SCRIPT

    r = subprocess.run(["node", "--check", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
