"""Articles' Markdown to safe HTML, for every page that shows an article (the widget, the editor's preview).

CommonMark with tables (markdown-it-py), then the Ammonia sanitiser (nh3) with an allow-list: raw HTML in an article
is kept only where it is harmless, scripts, styles, event handlers and ``javascript:`` links never survive; links open
in a new tab without the opener or a Referer; images keep their ``src`` (http, https) and ``alt``.
"""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "dd", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


@functools.lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def sanitize_html(html: str) -> str:
    """``html`` with only the allowed tags, attributes and URL schemes; links get a new tab and no opener."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """An article body (Markdown, maybe with inline HTML) as sanitised HTML."""
    return sanitize_html(_parser().render(text or ""))
