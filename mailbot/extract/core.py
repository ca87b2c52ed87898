"""The extraction stage's entry points: `extract` and `is_closure_report`."""

from __future__ import annotations

import dataclasses
import gc
import logging
import re
from collections.abc import Sequence
from typing import Final

from mailbot.extract.collect import Collector
from mailbot.extract.part import MAIL_BUDGET, read_part
from mailbot.extract.quotes import is_forward_subject, marked_lines, split_lines
from mailbot.extract.sections import heading
from mailbot.extract.values import Context, Finding
from mailbot.extract.zones import ABBREVIATIONS
from mailbot.mail import TextPart

log = logging.getLogger(__name__)

_CLOSURE_WORDS: Final = re.compile(
    r"\b(?:closure|final|closing)[ \t]+(?:incident[ \t]+)?report\b"
    r"|\bincident[ \t]+closure\b|\babschlussbericht\b"
    r"|\brapport[ \t]+(?:de[ \t]+clôture|final)\b"
    r"|\brapporto[ \t]+(?:di[ \t]+)?chiusura\b|\brapporto[ \t]+finale\b"
    r"|\binforme[ \t]+(?:de[ \t]+cierre|final)\b"
    r"|\brelatório[ \t]+(?:de[ \t]+encerramento|final)\b"
    r"|\beindrapport\b|\bslutrapport\b|\braport[ \t]+końcowy\b"
    r"|\bzávěrečná[ \t]+zpráva\b|\bzáverečná[ \t]+správa\b|\braport[ \t]+final\b",
    re.IGNORECASE,
)
# A word that each sign of a line needs (lessons_learnt and resolution as
# sections.py names them, and _CLOSURE_WORDS), in lower case: looked for in
# the lowered text, a plain substring search, many times cheaper than one
# case-blind regex of them all over a pasted log.
_SIGN_WORDS: Final = (
    "lesson", "solution", "closure", "final", "closing", "erkenntnis", "lösung",
    "behebung", "leçon", "lezion", "leccion", "lições", "lessen", "résolution",
    "risoluzion", "resoluci", "resoluç", "oplossing", "abschluss", "clôture",
    "chiusura", "cierre", "encerramento", "eindrapport", "slutrapport", "końcow",
    "naučen", "poučen", "lecții", "řešen", "riešen", "rezolv", "soluțio",
    "závěrečn", "záverečn",
)  # fmt: skip
# The three letters that re.IGNORECASE takes for "i" or "s" and str.lower()
# does not turn into them.
_FOLD: Final = str.maketrans({"İ": "i", "ı": "i", "ſ": "s"})
# "We will send the closure report next week" announces one, it is not one.
_PROMISE: Final = re.compile(
    r"\b(?:will|shall|going[ \t]+to|please|send[ \t]+the|expect|await)\b", re.I
)


def extract(text_parts: Sequence[TextPart], context: Context) -> list[Finding]:
    """Every Analysis Guideline value in the mail's parts, with part and line."""
    return extract_noted(text_parts, context)[0]


def extract_noted(
    text_parts: Sequence[TextPart], context: Context
) -> tuple[list[Finding], list[str]]:
    """`extract`, and what its budgets left unread, a sentence a part (or
    for the parts not read at all), as the log says it."""
    # Reading a mail makes no reference cycles, only many small objects that
    # live until its findings are made (candidates, indicators, times, the
    # line caches' entries): the cyclic collector would walk them again and
    # again and find nothing (7 % of the time on generated text, 10 % with
    # mypyc). Reference counting frees them; the collector waits until the
    # mail is read (at most half a second, see part.MAIL_BUDGET).
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _extract(text_parts, context)
    finally:
        if paused:
            gc.enable()


# The body telling the zone of what it attaches: "the attached auth.log of
# ui01 is in UTC", "the logs are in CET". An attachment's times are then
# read in it, not in the site's (a log's own note still wins: part_clock).
_ATTACHED_ZONE: Final = re.compile(
    r"\b(?:attach\w*|logs?|log[ \t]?files?|records)\b(?:[^.\n]|\.(?=\S)){0,80}?"
    r"\b(?:is|are|in|uses?|run[ \t]+on)[ \t]+(?:in[ \t]+|on[ \t]+)?("
    + "|".join(sorted((z for z in ABBREVIATIONS if z != "Z"), key=len)[::-1])
    + r")\b",
    re.IGNORECASE,
)


def _attached_zone(text_parts: Sequence[TextPart]) -> str | None:
    for part in text_parts:
        if part.kind == "body" and ("ttach" in part.text or "log" in part.text):
            found = _ATTACHED_ZONE.search(part.text[:20_000])
            if found is not None:
                return found.group(1).upper()
    return None


def _extract(
    text_parts: Sequence[TextPart], context: Context
) -> tuple[list[Finding], list[str]]:
    out = Collector()
    zone = _attached_zone(text_parts) if len(text_parts) > 1 else None
    attached = dataclasses.replace(context, timezone=zone) if zone else context
    for index, part in enumerate(text_parts):
        if out.values > MAIL_BUDGET:
            note = (
                f"{len(text_parts) - index} of {len(text_parts)} parts not read:"
                f" the mail's value budget ({MAIL_BUDGET}) is spent"
            )
            out.notes.append(note)
            log.warning("%s", note)
            break
        own = attached if part.kind == "attachment" else context
        read_part(part.part, _lines(part, own), part.kind, own, out)
    findings = out.findings()
    log.debug("extracted %d findings from %d parts", len(findings), len(text_parts))
    return findings, out.notes


def is_closure_report(subject: str, text_parts: Sequence[TextPart]) -> bool:
    """Whether a site's mail is the incident's closure report.

    A closure report gives lessons learnt and the resolution; a mail that only
    talks about the closure report ("will send it next week") is not one.
    Two of three signs must be there: a lessons-learnt heading, a resolution
    heading, and the mail calling itself a closure or final report.
    """
    signs: set[str] = set()
    if _CLOSURE_WORDS.search(subject) and not _PROMISE.search(subject):
        signs.add("named")
    # Every sign a line can give holds one of these words: a mail without
    # any (nearly all mail) is not split into lines and headings here.
    if not any(_may_sign(part.text) for part in text_parts):
        return False
    for part in text_parts:
        for _, line, _ in _lines(part, Context(subject=subject)):
            found = heading(line)
            if found is not None and found.field in ("lessons_learnt", "resolution"):
                signs.add(found.field)
            elif _CLOSURE_WORDS.search(line) and not _PROMISE.search(line):
                signs.add("named")
    return len(signs) >= 2


def _may_sign(text: str) -> bool:
    """Whether `text` holds any of the sign words, in any case."""
    if not text.isascii() and any(letter in text for letter in "İıſ"):
        text = text.translate(_FOLD)
    lowered = text.lower()
    return any(word in lowered for word in _SIGN_WORDS)


def _lines(part: TextPart, context: Context) -> list[tuple[int, str, bool]]:
    if part.kind in ("body", "html"):
        return marked_lines(part.text, is_forward_subject(context.subject))
    forwarded = part.kind == "forward"
    return [
        (number, line, forwarded)
        for number, line in enumerate(split_lines(part.text), start=1)
    ]
