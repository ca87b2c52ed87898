"""Readable plain text from the HTML part of a mail, on the standard library.

The text feeds indicator extraction and the handler's view, so it keeps what
a reader sees (text, line structure, link targets) and drops what a browser
would not show (scripts, styles, comments). It is not a renderer: tables
become tab-separated lines, lists become lines starting with "- ".
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Elements whose content is never shown.
_HIDDEN = frozenset({"script", "style", "template", "noscript"})
# Any other element a reader does not see: the `hidden` attribute, or an
# inline style that hides it. Hidden text (a "preheader" span, addresses
# planted for machines to read) is no evidence.
_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Elements with no content: nothing to hide, no end tag to wait for.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    | {"param", "source", "track", "wbr"}
)

# Elements that end a paragraph (an empty line after them) or a line.
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"}
    | {"ul", "ol", "dl", "hr", "address", "figure", "fieldset", "form"}
)
_LINES = frozenset(
    {"br", "div", "tr", "dt", "dd", "section", "article", "header"}
    | {"footer", "nav", "aside", "main", "center", "caption", "figcaption"}
    | {"title", "legend", "option", "summary", "details"}
)
# Openers only: a list item starts a line, a cell starts a column.
_CELLS = frozenset({"td", "th"})
# The open elements a start tag ends without their end tag, as browsers do
# ("<p>one<p>two"): a hidden paragraph must not hide the rest of the mail.
_ENDED_BY = {
    "p": _PARAGRAPHS | _LINES | {"p", "li", "dl"},
    "li": frozenset({"li"}),
    "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}),
    "td": frozenset({"td", "th", "tr"}),
    "th": frozenset({"td", "th", "tr"}),
    "tr": frozenset({"tr"}),
    "option": frozenset({"option"}),
}

# Link targets worth keeping beside the link text: a phishing report's
# evidence is often only in the href.
_LINK_SCHEMES = ("http:", "https:", "ftp:", "mailto:")

# Line breaks, cell breaks and <pre> spaces the markup asks for are written
# as control characters no decoded text contains (the caller removes NUL),
# so one pass can collapse the source's own white space afterwards.
_LINE = "\x00"
_CELL = "\x01"
_KEPT_SPACE = "\x02"
# A line inside <blockquote>, once per level: written "> " as mail quotes
# are, so that quoted text is known as such (a reply quoting the CSIRT's
# question in a bare blockquote must not state what the question asked).
_QUOTE = "\x03"
# A line or paragraph break inside a table cell of values ("203.0.113.78<br>
# 203.0.113.79"): the values are kept apart without ending the table's row,
# and are written ", " between.
_IN_CELL = "\x04"
# A cell with more text than this, a line longer than _CELL_LINE or a
# table of its own is layout (a whole mail in one cell, as newsletters and
# Outlook send it): its breaks stay lines.
_CELL_TEXT = 300
_CELL_LINE = 80
_CELL_WORDS = 5
# Levels written at most, as mail clients collapse deep quotes: a level more
# is still quoted text, and 100,000 nested <blockquote> (2.2 MB) wrote a
# mark per level on every line break, quadratic time (over 60 s).
MAX_QUOTE_DEPTH = 10
_QUOTED_LINE = re.compile(r"^[ \x03]*\x03 ?")
_KEPT = str.maketrans({_CELL: "\t", _KEPT_SPACE: " "})
_IN_CELL_RUNS = re.compile(r"[ \x04]*\x04[ \x04]*")
_CELL_EDGES = re.compile(r"[ \x04]*\x01[ \x04]*")
_EDGES = " " + _CELL
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
# A tag runs to its ">" but never over another "<": a stray "<" (or a
# million of them) is text, and "<[^>]*>" tried every one to the end of
# the markup, quadratic time.
_TAGS = re.compile(r"<[^<>]*>")


class _TextCollector(HTMLParser):
    """Collects the visible text of one HTML document as a list of pieces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._hidden = 0
        self._pre = 0
        self._quote = 0
        self._links: list[tuple[str | None, int]] = []
        # The open elements (not void, not _HIDDEN), how many of each name,
        # and the depths at which an element hidden by an attribute opened.
        self._open: list[str] = []
        self._open_count: dict[str, int] = {}
        self._hidden_at: list[int] = []
        # The open cells: the depth of each in `_open`, and where its
        # pieces start.
        self._cells: list[tuple[int, int]] = []

    def updatepos(self, i: int, j: int) -> int:
        # The base class counts lines for getpos(), which nothing here asks
        # for; skipping it saves a third of the parse time on large mails.
        return j

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID and tag not in _HIDDEN:
            while self._open and tag in _ENDED_BY.get(self._open[-1], ()):
                self._pop()
            self._open.append(tag)
            self._open_count[tag] = self._open_count.get(tag, 0) + 1
            if _hides(attrs):
                self._hidden_at.append(len(self._open))
                self._hidden += 1
                return
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "blockquote" and not self._hidden:
            self._quote += 1
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.pieces)))
        elif self._hidden:
            return
        elif tag == "li":
            self.pieces.append(_LINE + "- ")
        elif tag in _CELLS:
            self.pieces.append(_CELL)
            self._cells.append((len(self._open), len(self.pieces)))
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closed <script/> hides nothing; <br/> still breaks the line.
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open_count.get(tag):
            # Up to its start tag: what is left open inside ends with it.
            while self._pop() != tag:
                pass
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag == "blockquote" and not self._hidden:
            self._quote = max(0, self._quote - 1)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())
        # A row's start breaks the line; its end would leave an empty line
        # between rows, which ends what a table's header says of them.
        if tag != "tr":
            self._break(tag)

    def _pop(self) -> str:
        """End the innermost open element; shown again past a hidden one."""
        tag = self._open.pop()
        self._open_count[tag] -= 1
        if self._hidden_at and self._hidden_at[-1] > len(self._open):
            self._hidden_at.pop()
            self._hidden = max(0, self._hidden - 1)
        if self._cells and self._cells[-1][0] > len(self._open):
            self.end_cell()
        return tag

    def end_cell(self) -> None:
        """The innermost cell ended: its breaks separate its values, unless
        it is layout (long, or holding a table)."""
        start = self._cells.pop()[1]
        text = "".join(self.pieces[start:])
        if len(text) > _CELL_TEXT or _CELL in text:
            return
        if all(_value_line(line) for line in text.split(_LINE)):
            self.pieces[start:] = [text.replace(_LINE, _IN_CELL)]

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if self._pre:
            data = data.replace("\n", _LINE + self._marks())
            data = data.replace(" ", _KEPT_SPACE)
        self.pieces.append(data)

    def _break(self, tag: str) -> None:
        if self._hidden:
            return
        if tag in _PARAGRAPHS:
            self.pieces.append(_LINE + _LINE + self._marks())
        elif tag in _LINES:
            self.pieces.append(_LINE + self._marks())

    def _marks(self) -> str:
        return _QUOTE * min(self._quote, MAX_QUOTE_DEPTH)

    def _close_link(self, href: str | None, start: int) -> None:
        if self._hidden or not href:
            return
        target = href.strip()
        if not target.lower().startswith(_LINK_SCHEMES):
            return
        shown = "".join(self.pieces[start:])
        if target not in shown:
            self.pieces.append(f" <{target}>")


def _value_line(line: str) -> bool:
    """Whether a line of a cell may be a value (an address, a name, a time),
    not a sentence of prose."""
    line = line.strip()
    return len(line) <= _CELL_LINE and line.count(" ") < _CELL_WORDS


def _hides(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if name == "hidden" or (
            name == "style" and value and _HIDING_STYLE.search(value)
        ):
            return True
    return False


def html_to_text(markup: str) -> str:
    """The visible text of `markup`, one paragraph per block, entities decoded.

    Never raises: markup the parser cannot follow is stripped of its tags
    with a regular expression instead.
    """
    for mark in (_LINE, _CELL, _KEPT_SPACE, _QUOTE, _IN_CELL):
        markup = markup.replace(mark, "")
    try:
        collector = _TextCollector()
        collector.feed(markup)
        collector.close()
        while collector._cells:
            collector.end_cell()
        text = "".join(collector.pieces)
    except Exception:  # noqa: BLE001 - any parser failure falls back to tag stripping
        text = html.unescape(_TAGS.sub(" ", markup))
    return _tidy(text)


def _tidy(text: str) -> str:
    """Collapses the source's white space, then applies the markup's breaks;
    trims every line and keeps at most one empty line between paragraphs."""
    text = _SPACES.sub(" ", text)
    if _IN_CELL in text:
        text = _IN_CELL_RUNS.sub(", ", _CELL_EDGES.sub(_CELL, text))
        text = text.replace(_LINE + ", ", _LINE).replace(", " + _LINE, _LINE)
    lines = [_quoted(line.strip(_EDGES)) for line in text.split(_LINE)]
    text = "\n".join(lines).translate(_KEPT)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _quoted(line: str) -> str:
    """A line's blockquote marks as "> " (one a level); none on empty lines."""
    if _QUOTE not in line:
        return line
    marks = _QUOTED_LINE.match(line)
    depth = line[: marks.end()].count(_QUOTE) if marks else 0
    rest = line.replace(_QUOTE, "").strip(_EDGES)
    return ("> " * depth + rest) if rest and depth else rest
