"""Live handover in two real browsers: the customer's chat page and the agent console, both headless Chromium
against a real tier0 server. The agent's reply reaches the open chat page within a second, and the customer's
answer reaches the console the same way (server-sent events)."""

import re
import time

from playwright.sync_api import expect

PASSWORD = "console test password"


def ensure_agent(engine, username):
    from tier0.errors import Conflict

    try:
        engine.services.agents.create(username, PASSWORD, role="agent")
    except Conflict:
        engine.services.agents.set_password(username, PASSWORD)


def test_agent_reply_appears_in_the_customers_chat(server, browser, engine, tmp_path):
    ensure_agent(engine, "bob")  # a tier1 member in data/desk.yml
    customer = browser.new_context(locale="en-GB").new_page()
    customer.goto(server + "/")
    customer.fill("#text", "I want to talk to a human")
    customer.press("#text", "Enter")
    expect(customer.locator("body")).to_have_attribute("data-ticket", re.compile(r"T-\d+"), timeout=20000)
    ref = customer.locator("body").get_attribute("data-ticket")
    expect(customer.locator("body")).to_have_attribute("data-live", "on", timeout=5000)

    agent = browser.new_context(locale="en-GB").new_page()
    agent.goto(server + "/desk")
    agent.fill("#login-user", "bob")
    agent.fill("#login-pass", PASSWORD)
    agent.click("#login-btn")
    row = agent.locator(f'#tickets li[data-ref="{ref}"]')
    expect(row).to_be_visible(timeout=10000)
    row.click()
    expect(agent.locator("#detail h2")).to_contain_text(ref)
    expect(agent.locator("#transcript li.customer").last).to_have_text(re.compile("I want to talk to a human"))
    expect(agent.locator("body")).to_have_attribute("data-live", "on", timeout=5000)

    agent.click("#claim-btn")
    expect(agent.locator("#detail h2")).to_contain_text("@bob")
    agent.fill("#reply-text", "Hi, this is Bob from customer service. How can I help?")
    # a live update of the ticket while the agent types (the customer writes again) keeps the draft
    customer.fill("#text", "hello? is anyone there?")
    customer.press("#text", "Enter")
    expect(agent.locator("#transcript li.customer").last).to_contain_text("anyone there", timeout=3000)
    expect(agent.locator("#reply-text")).to_have_value("Hi, this is Bob from customer service. How can I help?")
    with agent.expect_response(lambda r: r.url.endswith(f"/api/desk/tickets/{ref}/reply")) as sent:
        agent.click("#reply-btn")
    assert sent.value.status == 200
    t0 = time.monotonic()
    reply = customer.locator("li.msg.agent").last
    expect(reply).to_contain_text("Bob from customer service", timeout=1000)  # live: within a second
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, elapsed

    # and back: the customer's answer shows up in the console without a reload
    customer.fill("#text", "My parcel never arrived, order 12345")
    customer.press("#text", "Enter")
    expect(agent.locator("#transcript li.customer").last).to_contain_text("order 12345", timeout=3000)
    agent.click("#resolve-btn")
    expect(agent.locator("#detail h2")).to_contain_text("resolved")
    expect(customer.locator("li.msg.system").last).to_contain_text("resolved", timeout=2000)
    customer.screenshot(path=str(tmp_path / "customer.png"))
    agent.screenshot(path=str(tmp_path / "agent.png"))
    customer.context.close()
    agent.context.close()


def test_the_first_admin_changes_the_generated_password_before_anything_else(server, page, engine):
    """Signed in with the generated password, the console shows only the change-password form (CSP-safe: desk.js),
    then the desk; the password file is gone."""
    file = engine.services.settings.home / "initial-admin-password"
    generated = file.read_text().strip()
    page.goto(server + "/desk")
    page.fill("#login-user", "admin")
    page.fill("#login-pass", generated)
    page.click("#login-btn")
    expect(page.locator("#change-password")).to_be_visible(timeout=5000)
    expect(page.locator("#app")).to_be_hidden()
    page.fill("#pw-old", generated)
    page.fill("#pw-new", "the admin's own password")
    page.fill("#pw-again", "the admin's own password")
    page.click("#pw-btn")
    expect(page.locator("#app")).to_be_visible(timeout=5000)
    expect(page.locator("#me")).to_contain_text("admin")
    expect(page.locator("body")).to_have_attribute("data-live", "on", timeout=5000)  # its stream, by ticket
    assert not file.exists()
