"""The editor console's articles panel in headless Chromium (#22 A): an editor signs in, writes a new article with a
live preview, saves the draft, publishes it; then a customer's question (through the chat API) is answered from it.

Its own tier0 (module-scoped, on a copy of the session engine's index) rather than the shared `server`: publishing
changes the KB, and the session's engine must keep the sample KB for the other tests."""

import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _free_port
from tests.conftest import make_settings, seed_index

PASSWORD = "editor test password"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "editor.png"
GAPS_SCREENSHOT = SCREENSHOT.with_name("gaps.png")
# questions the sample KB does not answer (two topics), each asked in a conversation of its own
UNANSWERED = ["Are you hiring at the moment?", "How can I apply for a job with your company?",
              "Do you have any job vacancies?", "Can I bring my dog into the shop?", "Are dogs allowed in your stores?"]


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory, embedder, engine):
    import uvicorn

    from api.app import create_app
    from bot.runtime import build_engine

    home = tmp_path_factory.mktemp("editor-browser")
    seed_index(engine, home / "index")
    settings = make_settings(home)
    own = build_engine(settings, embedder=embedder)
    own.services.agents.create("erin", PASSWORD, role="editor")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, engine=own), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "tier0 did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def signed_in_editor(browser, server):
    """The editor console, signed in as erin; the page's script errors are gathered in the list returned."""
    page = browser.new_context(locale="en-GB", viewport={"width": 1440, "height": 1000}).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/editor")
    page.fill("#login-user", "erin")
    page.fill("#login-pass", PASSWORD)
    page.click("#login-btn")
    return page, errors


def ask(server, question):
    """A customer's first question in a new English conversation, through the chat API: the turn."""
    with httpx.Client(base_url=server, timeout=60) as http:
        r = http.post("/api/conversations", json={"language": "en"})
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        return http.post(f"/api/conversations/{r.json()['conversation_id']}/messages", headers=auth,
                         json={"text": question}).json()


def test_an_editor_publishes_an_article_and_the_bot_answers_from_it(editor_server, browser):
    page, errors = signed_in_editor(browser, editor_server)
    rows = page.locator(".art-table tbody tr")
    expect(rows.first).to_be_visible(timeout=10000)
    assert rows.count() >= 30  # the sample KB

    page.click("#art-new")
    page.fill("#art-form [name=title]", "Gift wrapping")
    page.select_option("#art-form [name=lang]", "en")
    page.fill("#art-form [name=category]", "orders")
    page.fill("#art-form [name=questions]", "can you gift wrap my order?\nis gift wrapping available?")
    page.fill("#art-form [name=body]", "Tick **gift wrap** at checkout: 3 euros, with a card.\n\n<script>x()</script>")
    # the live preview: rendered and sanitised by the server
    expect(page.locator(".preview strong")).to_have_text("gift wrap", timeout=5000)
    assert page.locator(".preview script").count() == 0
    page.fill("#art-form [name=note]", "new article")
    page.click("#art-save")
    expect(page.locator("#status")).to_contain_text("gift-wrapping", timeout=10000)
    expect(page.locator("#art-status")).to_have_text("draft")
    # publishing: the index follows the change (a refit on main without the incremental update: allow for it)
    with page.expect_response(lambda r: r.url.endswith("/api/editor/articles/gift-wrapping/publish"),
                              timeout=240000) as published:
        page.click("#art-publish")
    assert published.value.status == 200
    expect(page.locator("#art-status")).to_have_text("published", timeout=10000)
    live_version = published.value.json()["article"]["version"]
    expect(page.locator(".art-versions tbody tr")).to_have_count(2)
    expect(page.locator(".art-versions tbody tr").first).to_contain_text("erin")
    page.locator(".art-versions tbody tr").first.locator("button", has_text=re.compile("^Diff$")).click()
    expect(page.locator(".diff .add").first).to_be_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []

    turn = ask(editor_server, "can you gift wrap my order?")
    assert turn["outcome"]["type"] == "answer" and turn["outcome"]["article_id"] == "gift-wrapping", turn
    assert "3 euros" in turn["messages"][0]["text"]
    source = turn["messages"][0]["sources"][0]
    assert source["article_id"] == "gift-wrapping"
    assert source["version"] == live_version  # the citation names the version answered from


def test_the_gap_report_groups_the_questions_the_bot_could_not_answer(editor_server, browser):
    for question in UNANSWERED:
        turn = ask(editor_server, question)
        assert turn["outcome"]["type"] != "answer", (question, turn["outcome"])
    page, errors = signed_in_editor(browser, editor_server)
    page.locator("#panels button", has_text="Feedback and gaps").click()
    groups = page.locator("#fb-gaps li.gap")
    expect(groups.first).to_be_visible(timeout=30000)
    shown = " ".join(groups.all_inner_texts())
    assert any(q in shown for q in UNANSWERED), shown
    page.screenshot(path=str(GAPS_SCREENSHOT), full_page=True)
    assert errors == []


BIKE = """---
id: bike-puncture-en
title: Repairing a bicycle puncture in store
lang: en
category: services
questions:
  - can you fix a flat tyre on my bike?
  - do you repair bicycle punctures?
---
Bring the bicycle to any store: a puncture is **repaired in 20 minutes** for 8 euros, inner tube included.
"""


def test_an_editor_tries_a_draft_then_imports_it_from_a_zip(editor_server, browser, tmp_path):
    """"Try it": what the bot would do with an unpublished draft, with its rank among the candidates; then the KB's
    export downloaded from the console, the article added to the zip, checked (dry run), applied, and answered."""
    import zipfile

    page, errors = signed_in_editor(browser, editor_server)
    page.locator("#panels button", has_text="Try it").click()
    page.fill("#try-question", "do you repair bicycle punctures?")
    page.select_option("#try-language", "en")
    page.check("#try-with-draft")
    page.fill("#try-draft-id", "bike-puncture-en")
    page.fill("#try-draft-title", "Repairing a bicycle puncture in store")
    page.fill("#try-draft-body", "Bring the bicycle to any store: a puncture is repaired in 20 minutes for 8 euros.")
    page.fill("#try-draft-questions", "can you fix a flat tyre on my bike?\ndo you repair bicycle punctures?")
    page.click("#try-run")
    expect(page.locator("#try-draft-rank")).to_have_text(re.compile(r"#1$"), timeout=30000)
    expect(page.locator("#try-decision")).to_have_attribute("data-decision", re.compile(r"\w+"))
    expect(page.locator("#try-candidates")).to_contain_text("Repairing a bicycle puncture")

    page.locator("#panels button", has_text="Import").click()
    with page.expect_download(timeout=30000) as got:
        page.click("#io-export")
    exported = tmp_path / "kb.zip"
    got.value.save_as(exported)
    with zipfile.ZipFile(exported) as z:
        names = z.namelist()
    assert len([n for n in names if n.endswith(".md")]) >= 30 and any(n.startswith("fr/") for n in names)
    with zipfile.ZipFile(exported, "a") as z:
        z.writestr("en/bike-puncture-en.md", BIKE)
    page.set_input_files("#io-file", str(exported))
    page.click("#io-check")
    created = page.locator("#io-outcomes tr[data-outcome=created]")
    expect(created).to_contain_text("bike-puncture-en", timeout=30000)
    expect(page.locator("#io-outcomes tr[data-outcome=created] td").nth(1)).to_have_text("1")
    with httpx.Client(base_url=editor_server, timeout=60) as http:
        r = http.get("/api/articles/bike-puncture-en")
        assert r.status_code == 404  # a dry run writes nothing
    expect(page.locator("#io-apply")).to_be_enabled()
    page.click("#io-apply")
    expect(page.locator("#status")).to_contain_text("Imported: 1 created", timeout=60000)
    assert errors == []

    turn = ask(editor_server, "can you fix a flat tyre on my bike?")
    assert turn["outcome"]["type"] == "answer" and turn["outcome"]["article_id"] == "bike-puncture-en", turn
