"""HTML parts as the plain text that extraction and quote detection read."""

from __future__ import annotations

from mailbot.extract import own_text
from mailbot.html_text import html_to_text


def test_a_blockquote_is_quoted_text() -> None:
    # A reply that quotes the CSIRT's question in a bare <blockquote>, with
    # no "On ... wrote:" line: the question is not the site's statement.
    text = html_to_text(
        "<p>Still collecting logs.</p><blockquote><p>Was wn12 isolated at "
        "08:10?</p><p>Please confirm.<br>Thanks</p><blockquote>deeper"
        "</blockquote></blockquote><p>Regards</p>"
    )
    assert text.splitlines() == [
        "Still collecting logs.", "",
        "> Was wn12 isolated at 08:10?", "",
        "> Please confirm.", "> Thanks", "",
        "> > deeper", "",
        "Regards",
    ]  # fmt: skip
    assert "isolated" not in own_text(text)


def test_text_without_blockquotes_is_unchanged() -> None:
    assert html_to_text("<div>plain<br>text</div><ul><li>a</li></ul>") == (
        "plain\ntext\n\n- a"
    )
    # Marks of our own in the input are not taken for quotes.
    assert html_to_text("a\x03b") == "ab"
