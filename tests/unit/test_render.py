"""Articles' Markdown rendered to HTML that is safe to show a customer (knowledge_base.render)."""

import pytest

from knowledge_base.render import render_markdown, sanitize_html

pytestmark = pytest.mark.unit


def test_markdown_renders_with_links_in_a_new_tab_without_opener():
    html = render_markdown("Read [the guide](https://example.com/guide) **now**.")
    assert '<a href="https://example.com/guide" target="_blank" rel="noopener noreferrer nofollow">the guide</a>' in html
    assert "<strong>now</strong>" in html


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[x](javascript:alert(1))",
    '<svg onload="alert(1)"></svg>',
])
def test_nothing_that_runs_survives(hostile):
    html = render_markdown(hostile).lower()
    for bad in ("<script", "onerror", "onload", 'href="javascript:', "<iframe", "style=", "<svg"):
        assert bad not in html, (hostile, html)


def test_images_tables_and_lists_are_kept():
    html = render_markdown("![a map](https://example.com/m.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two")
    assert '<img src="https://example.com/m.png" alt="a map">' in html
    assert "<table>" in html and "<td>2</td>" in html
    assert "<li>one</li>" in html


def test_sanitize_keeps_safe_pasted_html():
    assert sanitize_html('<p class="x">Hi <b>there</b></p>') == "<p>Hi <b>there</b></p>"
