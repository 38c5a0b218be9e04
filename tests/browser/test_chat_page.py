"""The chat page in a real headless Chromium against a real server: answers with sources, hand-off with ticket."""

import re

from playwright.sync_api import expect


def test_customer_gets_a_cited_answer_then_a_handoff(server, page, tmp_path):
    page.goto(server + "/")
    page.fill("#text", "I forgot my password")
    page.click("#send")
    bot = page.locator("li.msg.bot")
    expect(bot.first).to_contain_text("Here is what I found", timeout=20000)
    expect(bot.first.locator("strong").first).to_have_text("Reset my password")  # Markdown bold, rendered safely
    link = page.locator("li.msg.bot .sources a").first
    expect(link).to_have_attribute("href", "/api/articles/reset-password-en")
    expect(page.locator("li.msg.customer").first).to_have_text("I forgot my password")

    page.fill("#text", "I want to talk to a human")
    page.press("#text", "Enter")
    expect(bot.last).to_contain_text(re.compile(r"customer service.*T-\d+"), timeout=20000)
    expect(page.locator("body")).to_have_attribute("data-ticket", re.compile(r"T-\d+"))
    page.screenshot(path=str(tmp_path / "chat.png"))


def test_bad_input_is_not_sent(server, page):
    page.goto(server + "/")
    page.click("#send")  # empty: the form refuses it (required field), nothing is sent
    page.wait_for_timeout(300)
    assert page.locator("li.msg").count() == 0


def test_quick_replies_are_buttons_that_send_their_payload(server, page):
    page.goto(server + "/")
    page.fill("#text", "delivery")  # one word: the bot offers the articles about it, and a way out
    page.click("#send")
    buttons = page.locator("li.msg.bot button")
    expect(buttons.last).to_have_text("None of these", timeout=20000)
    expect(buttons.first).to_have_text("Delivery times and costs by country")
    buttons.last.click()
    expect(page.locator("li.msg.customer").last).to_have_text("None of these")
    expect(page.locator("li.msg.bot").last).to_contain_text("in other words", timeout=20000)
    page.fill("#text", "no")
    page.press("#text", "Enter")
    expect(page.locator("li.msg.bot").last).to_contain_text(re.compile(r"T-\d+"), timeout=20000)
    expect(page.locator("body")).to_have_attribute("data-ticket", re.compile(r"T-\d+"))
