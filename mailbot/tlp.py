"""Traffic Light Protocol labels: reading them in their many spellings.

The order of LABELS is strictness: a thread's label is the strictest seen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbot.mail import ParsedMail

LABELS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
DEFAULT = "AMBER"

_ALIASES = {"WHITE": "CLEAR"}

# What may stand between "TLP" and its label: a colon, a dash of any width
# (Outlook turns " - " into an en dash), a slash, an underscore or a space,
# and the full-width and small forms of the colon (find_labels also reads
# the text in NFKC, which folds full-width letters).
_SEPARATOR = r"[:\-_ /\u2010-\u2015\u2212\u2044\u2215\ufe13\ufe55\uff1a\uff0d\uff0f]"
# `TLP: AMBER`, `TLP:AMBER+STRICT`, `[TLP:RED]`, `TLP-GREEN`, `TLP – RED`,
# `[TLP/RED]`, `TLP 2.0 RED`, `TLP v2: AMBER`, `_TLP:AMBER information_`.
_TLP_RE = re.compile(
    r"\bTLP\s*(?:v?[12](?:\.0)?\b\s*)?"
    + _SEPARATOR
    + r"?\s*(RED|AMBER\s*\+\s*STRICT|AMBER|GREEN|CLEAR|WHITE)\b",
    re.IGNORECASE,
)
# TLP 1.0 banners: `** AMBER information - Limited distribution **`.
_BANNER_RE = re.compile(
    r"\b(RED|AMBER|GREEN|WHITE)\s+information\b\s*[-:]?\s*"
    r"(?:limited\s+distribution|restricted|community\s+wide|unlimited\s+distribution"
    r"|personal\s+for\s+named\s+recipients\s+only)?",
    re.IGNORECASE,
)


def normalise(label: str) -> str | None:
    """Return the TLP 2.0 name of `label` (any accepted spelling), or None."""
    text = re.sub(r"\s+", "", label.upper())
    text = text.removeprefix("TLP:").removeprefix("TLP")
    text = _ALIASES.get(text, text)
    return text if text in LABELS else None


def find_labels(text: str) -> list[str]:
    """Every TLP label written in `text`, in TLP 2.0 names, in order."""
    text = unicodedata.normalize("NFKC", text)
    found: list[tuple[int, str]] = []
    for match in _TLP_RE.finditer(text):
        found.append((match.start(), match.group(1)))
    for match in _BANNER_RE.finditer(text):
        found.append((match.start(), match.group(1)))
    return [n for _, raw in sorted(found) if (n := normalise(raw)) is not None]


# What may stand before a banner's label on its line: decoration, and a short
# key ("Classification:", "Sensitivity -").
_DECORATION_RE = re.compile(r"[\s*#=_~\-\u2010-\u2015\[\](){}<>|.]*")
_KEY_RE = re.compile(r"[A-Za-z][A-Za-z ]{0,24}\s*[:\-\u2010-\u2015]\s*")
_TITLE_END_RE = re.compile(
    r"(?:\s[-\u2013|:/]\s*|[\[(]\s*)" + _TLP_RE.pattern + r"\s*[\])]?[\s*.]*$",
    re.IGNORECASE,
)


def banner_labels(text: str) -> list[str]:
    """The labels of `text`'s banner lines: lines that start with a label
    ("TLP:AMBER", "** RED information **", "Classification: TLP:RED").

    A label inside a sentence ("we shared the IOCs as TLP:GREEN") speaks of
    something else and is not the text's own label.
    """
    found: list[str] = []
    for line in unicodedata.normalize("NFKC", text).splitlines():
        if "tlp" not in line.lower() and "information" not in line.lower():
            continue
        if _is_banner(line):
            found.extend(find_labels(line))
    return found


def _is_banner(line: str) -> bool:
    rest = line[_DECORATION_RE.match(line).end() :]  # type: ignore[union-attr]
    if _starts_with_label(rest):
        return True
    key = _KEY_RE.match(rest)
    if key is not None and _starts_with_label(rest[key.end() :]):
        return True
    # A title that ends with its label, set apart: "Closure report - TLP:AMBER".
    return len(line) <= 120 and _TITLE_END_RE.search(line) is not None


def _starts_with_label(text: str) -> bool:
    return bool(_TLP_RE.match(text) or _BANNER_RE.match(text))


# An attachment's own label is written at its head.
_HEAD_LINES = 20


def part_labels(mail: ParsedMail) -> list[str]:
    """The labels of what `mail` carries besides its own text: the subject
    and text of a mail it forwards whole (message/rfc822), the banner lines
    at the head of a text attachment, an attachment's file name
    ("proxy-info-TLP-RED.txt")."""
    found: list[str] = []
    for subject in mail.forwarded_subjects:
        found.extend(find_labels(subject))
    for part in mail.text_parts:
        if part.kind == "forward":
            found.extend(find_labels(part.text[:100_000]))
        elif part.kind == "attachment":
            head = part.text[:20_000].splitlines()[:_HEAD_LINES]
            found.extend(banner_labels("\n".join(head)))
    for attachment in mail.attachments:
        found.extend(find_labels(re.sub(r"[_.]", " ", attachment.filename)))
    return found


def strictest(labels: Iterable[str | None]) -> str | None:
    """The strictest of `labels`, or None when there is none."""
    ranked = [LABELS.index(label) for label in labels if label in LABELS]
    return LABELS[max(ranked)] if ranked else None


def strip_markers(subject: str) -> str:
    """`subject` without TLP markers such as `[TLP:AMBER]` or `TLP: RED`."""
    cleaned = re.sub(r"\[\s*" + _TLP_RE.pattern + r"\s*\]", " ", subject, flags=re.I)
    cleaned = _TLP_RE.sub(" ", cleaned)
    return re.sub(r"\s{2,}", " ", cleaned).strip()
