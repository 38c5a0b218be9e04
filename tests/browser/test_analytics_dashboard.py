"""The escalation dashboard in headless Chromium: a team lead signs in to /analytics and finds the seeded history's
figures as tiles, inline SVG plots carrying their data and tables that download as CSV; the language filter and the
French interface work; the page runs under its strict CSP without a violation. An agent gets no dashboard.

No model: the server runs a real engine without Rasa or embedders (as tests/browser/test_csp.py does), on its own
SQLite file with the history of tests/unit/analytics_history.py and a FrozenClock at its "now" (Thursday 5 March
2026), so the dashboard's default period (the 30 days up to today) holds all of it. Screenshot:
docs/screenshots/analytics.png.
"""

import socket
import threading
import time

import pytest
import yaml
from playwright.sync_api import expect

from tests.conftest import REPO
from tests.unit.analytics_history import DESK, NOW, PASSWORD, History, seed

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));
"""


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory):
    import uvicorn

    from api.app import create_app
    from bot.engine import ConversationEngine
    from bot.services import build_services
    from tier0.clock import FrozenClock
    from tier0.config import Settings

    home = tmp_path_factory.mktemp("analytics-home")
    (home / "desk.yml").write_text(yaml.safe_dump(DESK, allow_unicode=True))
    settings = Settings(home=home, classifier_extra_models="", desk_config=home / "desk.yml")
    services = build_services(settings, import_sample=False, embedder=[], clock=FrozenClock(NOW))
    seed(History.of(services))
    services.agents.create("lena", PASSWORD, role="lead")
    services.agents.create("alfred", PASSWORD, role="agent")
    engine = ConversationEngine(services, None, turn_threads=1)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    engine.close()


def sign_in(page, base, username):
    page.goto(base + "/analytics")
    page.fill("#login-user", username)
    page.fill("#login-pass", PASSWORD)
    page.click("#login-btn")


def values(page, selector):
    return page.eval_on_selector_all(selector, "els => els.map(e => Number(e.getAttribute('data-value')))")


def test_a_lead_reads_the_dashboard(dashboard_server, browser, tmp_path):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, dashboard_server, "lena")
    section = page.locator("#panel-dashboard")
    expect(section).to_have_attribute("data-loaded", "yes", timeout=10000)
    expect(page.locator("#status")).to_contain_text("2026-02-04 to 2026-03-05 (Europe/Paris)")

    # the 30 days, C1-C7 and C9-C11 (C8 is tier0 eval's); T0 (27 February) is inside this period too
    expect(page.locator('[data-tile="conversations"] .tile-value')).to_have_text("10")
    expect(page.locator('[data-tile="tickets"] .tile-value')).to_have_text("4")
    expect(page.locator('[data-tile="escalations"] .tile-sub')).to_have_text("1 functional · 1 hierarchical")
    daily = 'svg.plot[data-figure="daily"] circle[data-series="conversations"]'
    assert len(values(page, daily)) == 30 and sum(values(page, daily)) == 10
    assert sum(values(page, 'svg.plot[data-figure="daily"] circle[data-series="handed_off"]')) == 4
    assert page.locator('svg.plot[data-figure="daily"] path.line').count() == 3
    reasons = page.eval_on_selector_all('svg.plot[data-figure="reasons"] rect.bar',
                                        "els => els.map(e => [e.dataset.label, Number(e.dataset.value)])")
    assert reasons == [["customer_request", 2], ["needs_authority", 1], ["not_helpful", 1]]
    assert values(page, 'svg.plot[data-figure="sla"] rect[data-series="first_response_breaches"]') == [3, 2]
    assert values(page, 'svg.plot[data-figure="sla"] rect[data-series="resolution_breaches"]') == [0, 1]
    assert values(page, 'svg.plot[data-figure="agents"] rect[data-series="functional"]') == [1, 0]
    assert values(page, 'svg.plot[data-figure="csat"] circle') == [1.0, 4.5, 2.0, 3.0]  # 28 Feb, 2, 3, 4 March
    page.screenshot(path=str(REPO / "docs" / "screenshots" / "analytics.png"), full_page=True)

    # a table as CSV, through the session's token
    with page.expect_download() as dl:
        page.click('button[data-csv="sla"]')
    assert dl.value.suggested_filename == "tier0-sla-2026-02-04-2026-03-05.csv"
    text = open(dl.value.path(), encoding="utf-8", newline="").read()
    assert text.startswith("level,stints,responded,") and "\r\nall,7,3," in text

    # one language, then the French interface
    page.select_option("#an-lang", "fr")
    page.click("#an-show")
    expect(page.locator('[data-tile="conversations"] .tile-value')).to_have_text("3")
    assert sum(values(page, daily)) == 3
    page.select_option("#an-ui", "fr")
    expect(page.locator("#panel-dashboard h2")).to_have_text("Tableau de bord")
    expect(page.locator('[data-tile="escalations"] .tile-sub')).to_have_text("1 fonctionnelles · 1 hiérarchiques")
    assert page.evaluate("document.documentElement.lang") == "fr"
    assert page.evaluate("window.__csp") == []
    context.close()


def test_an_agent_gets_no_dashboard(dashboard_server, page):
    sign_in(page, dashboard_server, "alfred")
    expect(page.locator("#status")).to_contain_text("has nothing to do on this page")
    assert page.locator("svg.plot").count() == 0
