"""The extraction stage's entry points: `extract` and `is_closure_report`."""

from __future__ import annotations

import dataclasses
import gc
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Final

from mailbot.extract.collect import Collector
from mailbot.extract.part import MAIL_BUDGET, MAIL_LINES, read_part
from mailbot.extract.quotes import is_forward_subject, marked_lines, split_lines
from mailbot.extract.sections import heading
from mailbot.extract.values import Context, Finding
from mailbot.extract.zones import attached_zones, attachment_zone
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


# Parts named in the note of those not read, at most.
_NAMED: Final = 3


def _extract(
    text_parts: Sequence[TextPart], context: Context
) -> tuple[list[Finding], list[str]]:
    out = Collector()
    notes = _attached_zones(text_parts, context) if len(text_parts) > 1 else []
    for index, (part, text, unread) in enumerate(_within_lines(text_parts)):
        if out.values > MAIL_BUDGET or text is None:
            _note_unread(text_parts[index:], len(text_parts), out, text is None)
            break
        own = context
        zone = attachment_zone(notes, part.filename) if notes else None
        if part.kind == "attachment" and zone:
            own = dataclasses.replace(context, timezone=zone)
        read_part(part.part, _lines(part, text, own), part.kind, own, out, unread)
    findings = out.findings()
    log.debug("extracted %d findings from %d parts", len(findings), len(text_parts))
    return findings, out.notes


def _within_lines(
    text_parts: Sequence[TextPart],
) -> Iterator[tuple[TextPart, str | None, int]]:
    """Each part with the text of it that the mail's line budget (MAIL_LINES)
    leaves to read, None once it is spent, and the count of its lines left
    out. The text beyond is never split: 5 million blank lines made lists
    of a gigabyte before any budget could stop reading them."""
    left = MAIL_LINES
    for part in text_parts:
        if left <= 0:
            yield part, None, 0
            continue
        text, unread = _head(part.text, left)
        left -= text.count("\n") + 1
        yield part, text, unread


def _head(text: str, lines: int) -> tuple[str, int]:
    """The first `lines` lines of `text`, and the count of the lines after."""
    if text.count("\n") < lines:
        return text, 0
    rest = text.split("\n", lines)[-1]
    return text[: len(text) - len(rest) - 1], rest.count("\n") + 1


def _note_unread(
    unread: Sequence[TextPart], total: int, out: Collector, lines: bool
) -> None:
    budget = (
        f"line budget ({MAIL_LINES} lines)"
        if lines
        else f"value budget ({MAIL_BUDGET})"
    )
    named = ", ".join(part.part for part in unread[:_NAMED])
    more = ", ..." if len(unread) > _NAMED else ""
    note = (
        f"{len(unread)} of {total} parts not read: the mail's {budget} is spent"
        f" ({named}{more})"
    )
    out.notes.append(note)
    log.warning("%s", note)


def _attached_zones(
    text_parts: Sequence[TextPart], context: Context
) -> list[tuple[str, frozenset[str]]]:
    # An attachment's times are read in the zone its mail's body gives it,
    # not in the site's (a log's own note still wins: part_clock); quoted
    # mail is not the author's word.
    notes = []
    for part in text_parts:
        if part.kind == "body" and ("ttach" in part.text or "log" in part.text):
            own = "\n".join(
                line for _, line, _ in _lines(part, part.text[:20_000], context)
            )
            notes.extend(attached_zones(own))
    return notes


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
    for part, text, _ in _within_lines(text_parts):
        if text is None:
            break
        for _, line, _ in _lines(part, text, Context(subject=subject)):
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


def _lines(part: TextPart, text: str, context: Context) -> list[tuple[int, str, bool]]:
    if part.kind in ("body", "html"):
        return marked_lines(text, is_forward_subject(context.subject))
    forwarded = part.kind == "forward"
    return [
        (number, line, forwarded)
        for number, line in enumerate(split_lines(text), start=1)
    ]
