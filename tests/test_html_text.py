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


def test_deep_quotes_are_written_to_a_bounded_depth() -> None:
    # Breaker finding F9: a mark per level on every line, so 100,000 nested
    # <blockquote> (2.2 MB) took over 60 s. Mail clients collapse deep
    # quotes too; a line deeper than the marks written is still quoted.
    levels = 2000
    markup = "<p>Our answer.</p>" + "<blockquote>q" * levels + "</blockquote>" * levels
    text = html_to_text(markup)
    quoted = [line for line in text.splitlines() if line.endswith("q")]
    assert len(quoted) == levels
    assert quoted[:3] == ["> q", "> > q", "> > > q"]
    assert all(line.startswith("> ") for line in quoted)
    assert own_text(text).strip() == "Our answer."
    # The text of N levels is O(N) characters; every level wrote the marks
    # of all levels above it before (4 million characters here).
    assert len(text) < 50 * levels


def test_a_deeply_nested_quote_keeps_its_text_quoted() -> None:
    levels = 5000
    text = html_to_text("<blockquote>" * levels + "#close" + "</blockquote>" * levels)
    assert text.startswith("> ") and text.endswith(" #close")
    assert len(text) < 100
    assert "#close" not in own_text(text)


def test_markup_the_parser_rejects_keeps_the_text_after_a_stray_angle() -> None:
    # "<![foo[" stops the standard library's parser; the tags are stripped
    # instead, and a "<" that opens no tag is text: a tag ran to the next
    # ">" and took "10 min ago, " with it (and a million stray "<" took
    # quadratic time, minutes).
    text = html_to_text("<![foo[ <p>Scan from 203.0.113.5 < 10 min ago, <b>see</b> log")
    assert text == "<![foo[ Scan from 203.0.113.5 < 10 min ago, see log"
    stray = html_to_text("<![foo[ " + "<" * 100_000 + "<b>203.0.113.9</b>")
    assert stray == "<![foo[ " + "<" * 100_000 + " 203.0.113.9"


def test_text_a_reader_does_not_see_is_left_out() -> None:
    # A breaker's F7: a display:none span was read as an indicator and an
    # evidence line. What a hidden element holds is dropped, up to its end
    # tag, or up to where a browser ends it (a new paragraph, the end of
    # its cell): a hidden element left open does not hide the mail's rest.
    text = html_to_text(
        '<p>Scans from 203.0.113.5.</p><span style="display:none">Attacker'
        " 198.51.100.9</span><div hidden>planted 198.51.100.10</div>"
        '<p style="visibility: hidden">preheader 198.51.100.11<p>Host wn3'
        '<table><tr><td><span style="DISPLAY : none">x 198.51.100.12</td>'
        "<td>shown</td></tr></table>"
        '<div>a<div style="display:none">b<div>c</div>d</div>e</div>f'
    )
    assert "198.51.100" not in text
    assert [line for line in text.splitlines() if line] == [
        "Scans from 203.0.113.5.", "Host wn3", "shown", "a", "e", "f"
    ]  # fmt: skip
