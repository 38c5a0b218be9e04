"""The pages work under their strict Content-Security-Policy (no inline script or style): headless Chromium loads the
chat page and signs in to the desk, and the browser reports no violation. No model: the server runs a real engine
without Rasa or embedders (what the pages do here needs neither)."""

import socket
import threading
import time

import pytest
from playwright.sync_api import expect

PASSWORD = "csp test password"
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));
"""


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    import uvicorn

    from api.app import create_app
    from bot.engine import ConversationEngine
    from bot.services import build_services
    from tier0.config import Settings

    home = tmp_path_factory.mktemp("csp-home")
    settings = Settings(home=home, classifier_extra_models="", widget_origins="https://shop.example")
    services = build_services(settings, import_sample=False, embedder=[])
    services.agents.create("bob", PASSWORD)  # a tier1 member in data/desk.yml
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


def test_the_pages_run_under_their_csp_without_a_violation(bare_server, page):
    page.add_init_script(RECORD_VIOLATIONS)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    r = page.goto(bare_server + "/")
    assert "frame-ancestors 'self' https://shop.example" in r.headers["content-security-policy"]
    expect(page.locator("#text")).to_be_visible()
    page.fill("#text", "hello")  # the page's script runs: the composer takes input
    assert page.evaluate("window.__csp") == [] and errors == []

    r = page.goto(bare_server + "/desk")
    assert r.headers["content-security-policy"].endswith("frame-ancestors 'none'")
    page.fill("#login-user", "bob")
    page.fill("#login-pass", PASSWORD)
    page.click("#login-btn")
    expect(page.locator("body")).to_have_attribute("data-live", "on", timeout=10000)  # signed in, stream open
    assert page.evaluate("window.__csp") == [] and errors == []
