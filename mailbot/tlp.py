"""Traffic Light Protocol labels: reading them in their many spellings.

The order of LABELS is strictness: a thread's label is the strictest seen.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mailbot.extract.quotes import is_forward_subject, marked_lines

if TYPE_CHECKING:
    from mailbot.mail import ParsedMail

LABELS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
DEFAULT = "AMBER"

_ALIASES = {"WHITE": "CLEAR"}

# What may stand between "TLP" and its label: a colon, a dash of any width
# (Outlook turns " - " into an en dash), a slash, an underscore or a space,
# and the full-width and small forms of the colon (find_labels also reads
# the text in NFKC, which folds full-width letters).
_SEPARATOR = r"[:=\-_ /\u2010-\u2015\u2212\u2044\u2215\ufe13\ufe55\uff1a\uff0d\uff0f]"
# `TLP: AMBER`, `TLP:AMBER+STRICT`, `[TLP:RED]`, `TLP-GREEN`, `TLP – RED`,
# `[TLP/RED]`, `TLP 2.0 RED`, `TLP v2: AMBER`, `_TLP:AMBER information_`,
# `TLP=RED`, `TLP AMBER STRICT`; the name written out takes a separator
# (`Traffic Light Protocol: RED`, `Traffic Light Protocol (TLP): RED`), as
# "the Traffic Light Protocol red level" is prose.
_TLP_RE = re.compile(
    r"(?:\bTLP\s*(?:v?[12](?:\.0)?\b\s*)?"
    + _SEPARATOR
    + r"?|\bTraffic\s+Light\s+Protocol(?:\s*\(\s*TLP\s*\))?"
    + r"\s*(?:v?[12](?:\.0)?\b\s*)?[:=\-\u2010-\u2015\uff1a])"
    + r"\s*(RED|AMBER(?:\s*\+\s*|\s+)STRICT|AMBER|GREEN|CLEAR|WHITE)\b",
    re.IGNORECASE,
)
# Format characters (Unicode category Cf: zero-width space and joiners,
# U+200E/U+200F, the BOM, the soft hyphen, bidi controls) are invisible in a
# label and taken out before it is read ("TLP:\u200bRED" is TLP:RED). The
# class is Python 3.11's (Unicode 14) Cf, written out: computing it costs
# 70 ms at start.
_FORMAT_RE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def readable(text: str) -> str:
    """`text` as its labels are read: NFKC (full-width letters folded), and
    without format characters."""
    return _FORMAT_RE.sub("", unicodedata.normalize("NFKC", text))


# TLP 1.0 banners: `** AMBER information - Limited distribution **`.
_BANNER_RE = re.compile(
    r"\b(RED|AMBER|GREEN|WHITE)\s+information\b\s*[-:]?\s*"
    r"(?:limited\s+distribution|restricted|community\s+wide|unlimited\s+distribution"
    r"|personal\s+for\s+named\s+recipients\s+only)?",
    re.IGNORECASE,
)


def normalise(label: str) -> str | None:
    """Return the TLP 2.0 name of `label` (any accepted spelling), or None."""
    text = re.sub(r"\s+", "", readable(label).upper())
    text = text.removeprefix("TLP:").removeprefix("TLP")
    text = _ALIASES.get(text, text)
    text = "AMBER+STRICT" if text == "AMBERSTRICT" else text
    return text if text in LABELS else None


def find_labels(text: str) -> list[str]:
    """Every TLP label written in `text`, in TLP 2.0 names, in order."""
    text = readable(text)
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


def may_hold_label(text: str) -> bool:
    """False when `text` can hold no label: every label and banner has
    "TLP", "Traffic" or "information" in it, and ASCII text is already as
    `readable` makes it (no full-width letters, no format characters)."""
    if not text.isascii():
        return True
    lower = text.lower()
    return "tlp" in lower or "information" in lower or "traffic" in lower


def banner_labels(text: str) -> list[str]:
    """The labels of `text`'s banner lines: lines that start with a label
    ("TLP:AMBER", "** RED information **", "Classification: TLP:RED").

    A label inside a sentence ("we shared the IOCs as TLP:GREEN") speaks of
    something else and is not the text's own label.
    """
    found: list[str] = []
    for line in readable(text).splitlines():
        lower = line.lower()
        if "tlp" not in lower and "information" not in lower and "traffic" not in lower:
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


# An attachment's own label is written at its head or its foot.
_HEAD_LINES = 20
_FOOT_LINES = 5
# A last line that ends with its label: "This document is TLP:RED.".
_FOOTER_RE = re.compile(_TLP_RE.pattern + r"[\s*.\])]*$", re.IGNORECASE)


def footer_labels(text: str) -> list[str]:
    """The labels of `text`'s last lines that are banners or end with a
    label ("This document is TLP:RED.")."""
    lines = [line for line in readable(text).splitlines() if line.strip()]
    found: list[str] = []
    for line in lines[-_FOOT_LINES:]:
        if _is_banner(line) or len(line) <= 120 and _FOOTER_RE.search(line):
            found.extend(find_labels(line))
    return found


def part_labels(mail: ParsedMail) -> list[str]:
    """The labels of what `mail` carries besides its own text: the subject
    and text of a mail it forwards whole (message/rfc822) or inline (a
    Gmail banner, an Outlook "Original Message" separator or From/Sent/
    Subject block), the subject and banner lines of a mail it quotes in an
    Outlook block, the banner lines at the head and foot of a text
    attachment, an attachment's file name ("proxy-info-TLP-RED.txt")."""
    found: list[str] = []
    for subject in mail.forwarded_subjects:
        found.extend(find_labels(subject))
    for part in mail.text_parts:
        if part.kind == "forward":
            found.extend(find_labels(part.text[:100_000]))
        elif part.kind == "attachment":
            head = part.text[:20_000].splitlines()[:_HEAD_LINES]
            found.extend(banner_labels("\n".join(head)))
            found.extend(footer_labels(part.text[-20_000:]))
    found.extend(_inline_labels(mail))
    for attachment in mail.attachments:
        found.extend(find_labels(re.sub(r"[_.]", " ", attachment.filename)))
    return found


def _inline_labels(mail: ParsedMail) -> list[str]:
    # A mail forwarded inline is read as the author's own text when a
    # forward banner opens it (Gmail), but own_text cuts an Outlook block as
    # a quote unless it is asked to read it as forwarded: it is asked here,
    # whatever the subject. A forward (Fwd:, FW:, ...) is read whole; a
    # reply's quoted block, by its Subject: and banner lines only.
    text = mail.body_text[:100_000]
    if not may_hold_label(text):
        return []
    inside = "\n".join(line for _, line, kept in marked_lines(text, True) if kept)
    if is_forward_subject(mail.subject):
        return find_labels(inside)
    return banner_labels(inside)


def strictest(labels: Iterable[str | None]) -> str | None:
    """The strictest of `labels`, or None when there is none."""
    ranked = [LABELS.index(label) for label in labels if label in LABELS]
    return LABELS[max(ranked)] if ranked else None


def strip_markers(subject: str) -> str:
    """`subject` without TLP markers such as `[TLP:AMBER]` or `TLP: RED`
    (and without format characters, which may stand inside one)."""
    subject = _FORMAT_RE.sub("", subject)
    cleaned = re.sub(r"\[\s*" + _TLP_RE.pattern + r"\s*\]", " ", subject, flags=re.I)
    cleaned = _TLP_RE.sub(" ", cleaned)
    return re.sub(r"\s{2,}", " ", cleaned).strip()
