"""Refanging: undo the ways reporters defang indicators so that nobody clicks them."""

from __future__ import annotations

import re
from typing import Final

# Each form keeps the line structure: no replacement adds or removes a newline.
# Every alternative starts with a literal character, so that the regex engine
# skips to those ("[", "(", "{", a space, a tab, "h", "f" in either case): a
# part full of brackets (a dump, HTML) was read at a microsecond a character.
# Cases are spelled out, with what IGNORECASE would also match ("ſ" is an "s";
# "İ", "ı", "ſ" and the Kelvin sign are letters of A-Z in any case); the
# look-behinds stand after the first letter.
_LETTER: Final = "A-Za-z\u0130\u0131\u017f\u212a"
_DOT: Final = r"[dD][oO][tT][\])}][ \t]?"
_DEFANGED: Final = re.compile(
    r"\[\.\]|\(\.\)|\{\.\}"
    rf"| [\[({{]{_DOT}|\t[\[({{]{_DOT}|\[{_DOT}|\({_DOT}|\{{{_DOT}"
    r"|\[:\]|\[://\]|\[/\]"
    # A mail address: "helpdesk[@]example.net", "helpdesk[at]example.net".
    r"|\[@\]|\(@\)|\{@\}"
    + "".join(
        rf"|{o}(?<=\w{o})[aA][tT]{c}" for o, c in (("\\[", "\\]"), ("\\(", "\\)"))
    )
    + "".join(
        rf"|{h}(?<![{_LETTER}]{h})[xX]{{2}}[pP](?=[sS\u017f]?(?:\[?:|://))"
        for h in "hH"
    )
    + "".join(rf"|{f}(?<![{_LETTER}]{f})[xX][pP](?=[sS\u017f]?://)" for f in "fF")
)
# Every form has a bracket before ".", ":", "/", "@", "dot]" or "at]", or "xxp" or "fxp"
# in some case: two patterns that start with a rare character (so the regex
# engine skips to it) rule out most text at once.
_BRACKET_HINT: Final = re.compile(r"[\[({](?:[.:/@]|(?i:dot|at)[\])}])")
_XP_HINT: Final = re.compile(r"[xX](?<=[xXfF][xX])[pP]")
_HINTS: Final = (_BRACKET_HINT.search, _XP_HINT.search)


def _replacement(match: re.Match[str]) -> str:
    text = match.group(0).strip().lower()
    if text.startswith("h"):
        return "http"
    if text == "fxp":
        return "ftp"
    inner = text.strip("[](){}")
    return {"dot": ".", ":": ":", "://": "://", "/": "/", "@": "@", "at": "@"}.get(
        inner, "."
    )


def may_be_defanged(text: str) -> bool:
    """False when `text` holds no defanged form (a cheap test, no false "False")."""
    return bool(_BRACKET_HINT.search(text) or _XP_HINT.search(text))


def defanged_lines(text: str) -> list[int]:
    """The indices of the lines of `text` that may be defanged, in order.

    One search of the whole text: no sign of defanging spans a line break,
    and after a line's first sign the search goes on at the next line.
    """
    lines: list[int] = []
    line = counted = 0
    signs = [_BRACKET_HINT.search(text), _XP_HINT.search(text)]
    while True:
        found = [sign.start() for sign in signs if sign is not None]
        if not found:
            return lines
        sign = min(found)
        line += text.count("\n", counted, sign)
        lines.append(line)
        start = text.find("\n", sign) + 1
        if not start:
            return lines
        line, counted = line + 1, start
        # Each pattern searches again only if its sign was on the line just read.
        signs = [
            old if old is None or old.start() >= start else hint(text, start)
            for old, hint in zip(signs, _HINTS, strict=True)
        ]


def refang(text: str, hinted: bool = False) -> str:
    """`text` with defanged dots, colons and schemes written plainly again.

    `hinted`: `text` is known to show a sign of defanging (`defanged_lines`).
    """
    if not hinted and not may_be_defanged(text):
        return text
    return _DEFANGED.sub(_replacement, text)
