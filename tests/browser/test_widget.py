"""The website widget (#23 W2) in headless Chromium against a real tier0 (the session's engine: Rasa, the models).

The host page is on ANOTHER origin (a second small HTTP server on another loopback port, with hostile CSS) and embeds
``http://127.0.0.1:<tier0>/widget.js`` with one script tag; tier0 runs with that origin allowed
(TIER0_WIDGET_ORIGINS). In English, on that page: suggestions while typing, an answer with its link and the article
inside the panel, 👎 -> a hand-off with its ticket, an agent's reply live (the desk API), reload -> the conversation
intact, a message sent while offline delivered once when the network returns, the survey after the agent resolves.
In French, on tier0's own /demo page, with the keyboard only: open, type, choose a quick reply, ask for a person,
close with Escape, focus kept in the panel; no CSP violation. Both run an accessibility check of our own (names,
roles, live region, contrast AA, visible focus); the first also runs axe-core (npm, installed by .ci/install-browser)
over the open panel: no serious or critical violation. Screenshots of each
state in both languages go to docs/screenshots/widget-*.png.
"""

import http.server
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "widget test password"
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host shop</title>
<style>/* a host page's CSS that must not leak into the widget */
button { background: #ff0000 !important; font-size: 30px !important; }
div, li { color: #00ff00; font-family: "Comic Sans MS", cursive; }
</style></head>
<body><h1>Another origin's shop</h1><p><a href="/page2">Another page of the shop</a></p>
<script src="{tier0}/widget.js" async data-lang="en" data-greeting="Hi! How can we help?"></script>
</body></html>"""
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
# Our accessibility check (axe-core is not available offline): what is wrong, as a list of sentences.
AUDIT = r"""() => {
  const root = document.querySelector("tier0-widget").shadowRoot;
  const problems = [];
  const shown = e => e.getClientRects().length > 0 && !e.closest("[hidden]");
  const text = e => (e ? e.textContent.trim() : "");
  const name = e => (e.getAttribute("aria-label") || "").trim()
    || text(e.getAttribute("aria-labelledby") && root.getElementById(e.getAttribute("aria-labelledby")))
    || text(e.id && root.querySelector('label[for="' + e.id + '"]')) || text(e.closest("label"))
    || (["BUTTON", "A"].includes(e.tagName) ? text(e) : "") || (e.getAttribute("title") || "").trim();
  root.querySelectorAll("button, a[href], input, textarea, select").forEach(e => {
    if (shown(e) && !name(e)) problems.push("no accessible name: " + e.outerHTML.slice(0, 80));
  });
  const dialog = root.querySelector("[role=dialog]");
  if (!dialog || dialog.getAttribute("aria-modal") !== "true"
      || !text(root.getElementById(dialog.getAttribute("aria-labelledby")))) problems.push("the panel is no labelled modal dialog");
  if (!root.querySelector("[role=log][aria-live=polite]")) problems.push("no live region for new messages");
  const launcher = root.querySelector(".launcher");
  if (!launcher.hasAttribute("aria-expanded") || !launcher.hasAttribute("aria-controls")) problems.push("launcher state not exposed");
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const f = x => (x /= 255) <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
                     return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = e => {
    for (let n = e; n; n = n.parentElement || (n.getRootNode() && n.getRootNode().host)) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  root.querySelectorAll(".launcher, .head h2, .head button, .msg .text, .msg .who:not(.sr), .sources a, .quick button,"
      + " .helpful span, .helpful button, .ticket p, .suggest button, .suggest small, .actions button, .composer button,"
      + " .composer input, .extra p, .extra label, .extra legend, .article h3, .article .backbtn, .state").forEach(e => {
    if (!shown(e) || e.disabled) return;
    const fg = lum(rgb(getComputedStyle(e).color)), bg = lum(background(e));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push("contrast " + ratio.toFixed(2) + " < 4.5: " + (e.className || e.tagName) + " " + text(e).slice(0, 30));
  });
  const hostButton = getComputedStyle(launcher).backgroundColor;
  if (hostButton === "rgb(255, 0, 0)") problems.push("the host page's CSS reached the widget");
  return problems;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sites(engine):
    """tier0 on one loopback port allowing the host page's origin, and the host page on another port."""
    import uvicorn

    from api.app import create_app

    host_port, tier0_port = _free_port(), _free_port()
    host, tier0 = f"http://127.0.0.1:{host_port}", f"http://127.0.0.1:{tier0_port}"
    settings = engine.services.settings.copy(update={"widget_origins": host})
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=tier0_port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    page = HOST_PAGE.replace("{tier0}", tier0).encode()

    class Host(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - every path is a page of the shop embedding the widget
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    shop = http.server.ThreadingHTTPServer(("127.0.0.1", host_port), Host)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    deadline = time.time() + 30
    while not srv.started:
        assert time.time() < deadline, "tier0 did not start"
        time.sleep(0.05)
    yield {"host": host, "tier0": tier0}
    shop.shutdown()
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def bob(engine, sites):
    """An agent of tier1 (data/desk.yml) signed in through the desk API."""
    from tier0.errors import Conflict

    try:
        engine.services.agents.create("bob", PASSWORD, role="agent")
    except Conflict:
        engine.services.agents.set_password("bob", PASSWORD)
    r = httpx.post(sites["tier0"] + "/api/desk/login", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def w(page, selector):
    """A part of the widget (Playwright's CSS locators pierce its open shadow root)."""
    return page.locator("tier0-widget " + selector)


def stored(page):
    return page.evaluate("""() => JSON.parse(localStorage.getItem(
        Object.keys(localStorage).find(k => k.startsWith('tier0.widget:'))))""")


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"widget-{name}.png"))


def check_offline_contact(page, lang_words, tab_to=None):
    """Nobody online (the team closed at this hour, or nobody signed in): the e-mail form validates, then promises.
    ``tab_to(id)``: reach the field with the keyboard (Tab) and send with Enter, instead of the mouse."""
    ticket = stored(page)["conv"]["ticket"]
    form = w(page, "form.contact")
    if not ticket.get("offline"):
        expect(form).to_have_count(0)
        return False
    expect(form).to_be_visible()
    field = w(page, "#t0-email")
    for address in ("not an address", "ada@example.com"):
        if tab_to is None:
            field.fill(address)
            w(page, "form.contact button").click()
        else:
            tab_to("t0-email")
            page.keyboard.press("Control+A")
            page.keyboard.type(address)
            page.keyboard.press("Enter")
        if address == "not an address":
            expect(w(page, "#t0-email-error")).to_contain_text(lang_words)
            expect(field).to_have_attribute("aria-invalid", "true")
    expect(w(page, ".promise")).to_contain_text("ada@example.com", timeout=5000)
    return True


def test_the_widget_on_another_origin_answers_hands_off_and_survives_reload_and_offline(sites, browser, bob, engine):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    api_calls = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
    page.goto(sites["host"] + "/")
    launcher = w(page, ".launcher")
    expect(launcher).to_have_text("Chat with us")
    assert not [u for u in api_calls], "the widget calls nothing before it is opened"

    launcher.click()
    expect(w(page, ".panel")).to_be_visible()
    expect(w(page, ".greeting")).to_contain_text("Hi! How can we help?")  # data-greeting
    expect(launcher).to_have_attribute("aria-expanded", "true")

    # suggestions while typing: debounced, at most three, an article opens inside the panel
    w(page, "#t0-input").press_sequentially("I forgot my passw", delay=20)
    suggestions = w(page, ".suggest button")
    expect(suggestions.first).to_be_visible(timeout=5000)
    assert 1 <= suggestions.count() <= 3
    searches = [u for u in api_calls if "/api/search?" in u]
    assert 1 <= len(searches) <= 3, searches  # one per pause in the typing, not one per key
    title = suggestions.first.locator("span").inner_text()
    suggestions.first.click()
    expect(w(page, ".article h3")).to_have_text(title)
    w(page, ".article .backbtn").click()
    expect(w(page, ".log")).to_be_visible()

    # a question: the answer with its link, the full text inside the panel, 👍 👎 under it
    w(page, "#t0-input").fill("I forgot my password")
    w(page, "#t0-input").press("Enter")
    link = w(page, ".msg.bot .sources a").last
    expect(link).to_have_attribute("href", sites["tier0"] + "/api/articles/reset-password-en", timeout=20000)
    expect(w(page, ".msg.bot strong").filter(has_text="Reset my password").first).to_be_visible()  # safe HTML
    down = w(page, ".helpful button.down").last
    expect(down).to_be_enabled()
    shot(page, "answer-en")
    link.click()
    expect(w(page, ".article h3")).to_have_text("Reset my password")
    w(page, ".article .backbtn").click()

    # 👎: "no" to "did this answer your question?" -> hand-off, the ticket shown
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    bar = w(page, ".ticket")
    expect(bar).to_have_attribute("data-ticket", re.compile(r"T-\d+"), timeout=20000)
    expect(bar).to_contain_text(re.compile(r"Request T-\d+ · Team: customer service"))
    ref = bar.get_attribute("data-ticket")
    expect(w(page, ".msg.customer .text").last).to_have_text("no")
    offline = check_offline_contact(page, "valid e-mail address")
    shot(page, "handoff-en")

    # an agent's reply arrives live, with the agent's name
    expect(page.locator("tier0-widget")).to_have_attribute("data-live", "on", timeout=5000)
    desk = sites["tier0"] + f"/api/desk/tickets/{ref}"
    expect(bar).to_contain_text("Position in the queue")
    assert httpx.post(desk + "/claim", headers=bob).status_code == 200
    expect(bar).to_contain_text("Bob is looking after you", timeout=3000)  # the stream's status: before any reply
    expect(bar).not_to_contain_text("Position in the queue")
    t0 = time.monotonic()
    assert httpx.post(desk + "/reply", headers=bob, json={"text": "Hello, Bob here. Let me help."}).status_code == 200
    reply = w(page, ".msg.agent").last
    expect(reply).to_contain_text("Bob here", timeout=3000)
    live_s = time.monotonic() - t0

    # reload (and another page of the site): the conversation is intact, the panel still open
    page.goto(sites["host"] + "/page2")
    expect(w(page, ".panel")).to_be_visible()
    expect(w(page, ".msg.customer .text").first).to_have_text("I forgot my password", timeout=5000)
    expect(w(page, ".msg.agent").last).to_contain_text("Bob here")
    expect(w(page, ".ticket")).to_have_attribute("data-ticket", ref)
    if offline:
        expect(w(page, "form.contact")).to_have_count(0)  # the address was given: not asked again

    # offline for a message: "not sent yet", then delivered once when the network returns
    expect(page.locator("tier0-widget")).to_have_attribute("data-live", "on", timeout=5000)
    context.set_offline(True)
    w(page, "#t0-input").fill("Are you still there?")
    w(page, "#t0-input").press("Enter")
    pending = w(page, ".msg.pending")
    expect(pending).to_have_attribute("data-state", "failed", timeout=5000)
    expect(pending.locator(".retry")).to_be_visible()
    context.set_offline(False)
    expect(w(page, ".msg.pending")).to_have_count(0, timeout=10000)
    expect(w(page, ".msg.customer .text").last).to_have_text("Are you still there?")
    conv = stored(page)["conv"]
    transcript = httpx.get(sites["tier0"] + f"/api/conversations/{conv['id']}/messages?limit=200",
                           headers={"Authorization": "Bearer " + conv["token"]}).json()["messages"]
    assert [m["text"] for m in transcript].count("Are you still there?") == 1
    assert stored(page)["outbox"] == []

    # the agent resolves: the survey, answered
    assert httpx.post(desk + "/resolve", headers=bob).status_code == 200
    survey = w(page, "form.survey")
    expect(survey).to_be_visible(timeout=5000)
    w(page, "form.survey button.primary").click()
    expect(w(page, "form.survey .error")).to_contain_text("choose a rating")
    w(page, "form.survey label").nth(3).click()  # 4 out of 5
    w(page, "#t0-comment").fill("Quick and kind.")
    w(page, "form.survey button.primary").click()
    expect(w(page, ".thanks")).to_contain_text("Thank you", timeout=5000)
    from sqlalchemy import select

    from tier0.conversations import SurveyAnswer

    with engine.services.db.session() as s:
        rows = s.execute(select(SurveyAnswer).where(SurveyAnswer.conversation_id == conv["id"])).scalars().all()
        assert [(r.rating, r.comment, r.resolved_by) for r in rows] == [(4, "Quick and kind.", "agent")]

    assert page.evaluate(AUDIT) == []
    assert axe_violations(page, "tier0-widget") == []  # axe-core: no serious or critical violation in the panel
    page.set_viewport_size({"width": 360, "height": 740})
    box = w(page, ".panel").bounding_box()
    assert box["width"] == 360 and box["height"] == 740  # full screen on a phone
    shot(page, "phone-en")
    print(f"agent reply shown after {live_s:.2f} s")

    page.set_viewport_size({"width": 1280, "height": 800})  # the closed and open widget on the demo shop, for the docs
    page.goto(sites["tier0"] + "/demo")
    shot(page, "closed-en")
    w(page, ".launcher").click()
    expect(w(page, ".greeting")).to_be_visible()
    shot(page, "open-en")
    context.close()


def test_keyboard_only_in_french_on_the_demo_page(sites, browser, bob, engine):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(sites["tier0"] + "/demo?lang=fr")
    launcher = w(page, ".launcher")
    expect(launcher).to_have_text("Discuter avec nous")
    shot(page, "closed-fr")

    def focused():
        return page.evaluate("""() => { const h = document.activeElement;
            if (!h || h.tagName !== 'TIER0-WIDGET') return null;
            const e = h.shadowRoot.activeElement, panel = h.shadowRoot.querySelector('.panel');
            return e ? (e.id || e.className || e.tagName) + (panel && panel.contains(e) ? '@panel' : '') : null; }""")

    for _ in range(20):  # Tab through the page to the launcher (the widget comes last in the page)
        page.keyboard.press("Tab")
        if focused() == "launcher":
            break
    assert focused() == "launcher"
    outline = page.evaluate("() => getComputedStyle(document.querySelector('tier0-widget').shadowRoot.activeElement)"
                            ".outlineStyle")
    assert outline != "none"  # visible focus
    page.keyboard.press("Enter")
    assert focused() == "t0-input@panel"
    shot(page, "open-fr")

    page.keyboard.type("commande")  # one word: an unsure guess and a way out (tests/integration/test_chat_api.py)
    page.keyboard.press("Enter")
    quick = w(page, ".msg.bot .quick button")
    expect(quick.first).to_be_visible(timeout=20000)
    first_title = quick.first.inner_text()
    for _ in range(40):  # Tab (within the panel) to the first quick reply
        page.keyboard.press("Tab")
        if page.evaluate("() => { const a = document.querySelector('tier0-widget').shadowRoot.activeElement; "
                         "return !!(a && a.closest('.quick')); }"):
            break
    assert page.evaluate("() => document.querySelector('tier0-widget').shadowRoot.activeElement.textContent") \
        == first_title
    page.keyboard.press("Enter")
    expect(w(page, ".msg.customer .text").last).to_have_text(first_title)
    expect(w(page, ".msg.bot .sources a").last).to_be_visible(timeout=20000)
    shot(page, "answer-fr")

    for _ in range(25):  # focus stays in the panel, whatever the number of Tabs, both ways
        page.keyboard.press("Tab")
        assert (focused() or "").endswith("@panel"), focused()
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
        assert (focused() or "").endswith("@panel"), focused()

    # "Parler à un conseiller", by keyboard, with nobody of the team signed in: the e-mail form and its promise
    assert httpx.post(sites["tier0"] + "/api/desk/logout", headers=bob).status_code in (200, 204)
    assert engine.services.agents.online(["alice", "bob"]) == []  # tier1's members (data/desk.yml)
    for _ in range(40):
        if focused() == "human@panel":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(w(page, ".ticket")).to_have_attribute("data-ticket", re.compile(r"T-\d+"), timeout=20000)
    expect(w(page, ".ticket")).to_contain_text(re.compile(r"Demande T-\d+ · Équipe : service client"))
    expect(w(page, ".msg.customer .text").last).to_have_text("je veux parler à un conseiller")
    def tab_to(element_id):
        for _ in range(40):
            if focused() == element_id + "@panel":
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached #{element_id}: {focused()}")

    assert check_offline_contact(page, "adresse e-mail valide", tab_to)
    shot(page, "handoff-fr")
    assert page.evaluate(AUDIT) == []

    page.keyboard.press("Escape")
    expect(w(page, ".panel")).to_be_hidden()
    assert focused() == "launcher"
    page.keyboard.press("Enter")
    expect(w(page, ".panel")).to_be_visible()
    page.set_viewport_size({"width": 360, "height": 740})
    shot(page, "phone-fr")
    assert page.evaluate("window.__csp") == []  # the demo page's strict CSP: the widget needs no inline style
    context.close()
