import pytest

from knowledge_base.markdown import parse_article
from tier0.errors import ArticleFormatError

GOOD = """---
id: reset-password
title: Reset my password
lang: en
category: account
tags: [login, password]
questions:
  - I forgot my password
  - can't log in
handoff: billing
---
Go to **Account** > Security.

Then follow the link.
"""


def test_parses_every_field():
    a = parse_article(GOOD, "reset.md")
    assert a.id == "reset-password" and a.title == "Reset my password" and a.lang == "en"
    assert a.category == "account" and a.tags == ["login", "password"]
    assert a.questions == ["I forgot my password", "can't log in"]
    assert a.handoff == "billing" and a.status == "published"
    assert a.body.startswith("Go to **Account**") and a.body.endswith("follow the link.")


def test_round_trip_through_markdown_keeps_content_hash():
    a = parse_article(GOOD, "reset.md")
    b = parse_article(a.to_markdown(), "again.md")
    assert a.content_hash() == b.content_hash()


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("no front matter\n", 1, "missing front matter"),
        ("---\nid: x\ntitle: y\nlang: en\n", 1, "not closed"),
        ("---\nid: x\ntitle: [unclosed\nlang: en\n---\nbody\n", 3, "invalid YAML"),
        ("---\nid: x\nlang: en\n---\nbody\n", 2, "'title' is missing"),
        ("---\nid: x\ntitle: y\nlang: english\n---\n", 4, "ISO 639-1"),
        ("---\nid: bad id!\ntitle: y\nlang: en\n---\n", 2, "may use only"),
        ("---\nid: x\ntitle: y\nlang: en\nquestions: {a: 1}\n---\n", 5, "list of strings"),
        ("---\nid: x\ntitle: y\nlang: en\nstatus: live\n---\n", 5, "draft, published or archived"),
    ],
)
def test_defects_are_reported_with_file_and_line(text, line, words):
    with pytest.raises(ArticleFormatError) as e:
        parse_article(text, "kb/bad.md")
    assert e.value.path == "kb/bad.md"
    assert e.value.line == line
    assert words in e.value.message
    assert e.value.message.startswith(f"kb/bad.md:{line}: ")
