"""A real tier0 server on a loopback port and Debian's headless Chromium driven by Playwright."""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(engine):
    import uvicorn

    from api.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(engine=engine), host="127.0.0.1", port=port, ws="wsproto", log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started:
        if time.time() > deadline:
            raise RuntimeError("tier0 server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API runs an event loop on this thread while it is open, which would stop
    later tests from calling asyncio.run()."""
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.skip("Debian chromium is not installed (make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    pg = context.new_page()
    yield pg
    context.close()


AXE = Path(__file__).resolve().parents[2] / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, selector: str, impacts=("serious", "critical")) -> list:
    """axe-core's violations of ``impacts`` inside ``selector`` (shadow DOM included), as "rule: help (n nodes)".
    axe-core comes from npm through .ci/install-browser (var/npm), never from the network at test time; the page must
    allow an injected script (no CSP of its own)."""
    if not AXE.is_file():
        pytest.skip("axe-core is not installed (var/npm): run .ci/install-browser")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (sel) => await axe.run(document.querySelector(sel), {resultTypes: ['violations']})", selector)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['target']})"
            for v in result["violations"] if v["impact"] in impacts]
