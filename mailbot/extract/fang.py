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
# Every form has a bracket before ".", ":", "/" or "dot", or "xp" in some case:
# two patterns that the regex engine scans fast rule out most text at once.
_BRACKET_HINT = re.compile(r"[\[({][.:/dD]")
_XP_HINT = re.compile(r"[xX][pP]")


def _replacement(match: re.Match[str]) -> str:
    text = match.group(0).strip().lower()
    if text.startswith("h"):
        return "http"
    if text == "fxp":
        return "ftp"
    inner = text.strip("[](){}")
    return {"dot": ".", ":": ":", "://": "://", "/": "/"}.get(inner, ".")


def refang(text: str) -> str:
    """`text` with defanged dots, colons and schemes written plainly again."""
    if not _BRACKET_HINT.search(text) and not _XP_HINT.search(text):
        return text
    return _DEFANGED.sub(_replacement, text)
