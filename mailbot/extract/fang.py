"""Refanging: undo the ways reporters defang indicators so that nobody clicks them."""

from __future__ import annotations

import re

# Each form keeps the line structure: no replacement adds or removes a newline.
_DEFANGED = re.compile(
    r"\[\.\]|\(\.\)|\{\.\}"
    r"|[ \t]?[\[({]dot[\])}][ \t]?"
    r"|\[:\]|\[://\]|\[/\]"
    r"|(?<![A-Za-z])h[xX]{2}p(?=s?(?:\[?:|://))"
    r"|(?<![A-Za-z])fxp(?=s?://)",
    re.IGNORECASE,
)
# Every form has a bracket before ".", ":", "/" or "dot]", or "xxp" or "fxp"
# in some case: two patterns that start with a rare character (so the regex
# engine skips to it) rule out most text at once.
_BRACKET_HINT = re.compile(r"[\[({](?:[.:/]|(?i:dot)[\])}])")
_XP_HINT = re.compile(r"[xX](?<=[xXfF][xX])[pP]")


def _replacement(match: re.Match[str]) -> str:
    text = match.group(0).strip().lower()
    if text.startswith("h"):
        return "http"
    if text == "fxp":
        return "ftp"
    inner = text.strip("[](){}")
    return {"dot": ".", ":": ":", "://": "://", "/": "/"}.get(inner, ".")


def may_be_defanged(text: str) -> bool:
    """False when `text` holds no defanged form (a cheap test, no false "False")."""
    return bool(_BRACKET_HINT.search(text) or _XP_HINT.search(text))


def defanged_lines(text: str) -> list[int]:
    """The indices of the lines of `text` that may be defanged, in order.

    One search of the whole text: no sign of defanging spans a line break.
    """
    hints = [match.start() for match in _BRACKET_HINT.finditer(text)]
    hints += [match.start() for match in _XP_HINT.finditer(text)]
    lines, line, counted = [], 0, 0
    for hint in sorted(hints):
        line += text.count("\n", counted, hint)
        counted = hint
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def refang(text: str, hinted: bool = False) -> str:
    """`text` with defanged dots, colons and schemes written plainly again.

    `hinted`: `text` is known to show a sign of defanging (`defanged_lines`).
    """
    if not hinted and not may_be_defanged(text):
        return text
    return _DEFANGED.sub(_replacement, text)
