"""Reading one text part line by line: sections, indicators, times, free text.

The reader follows what the lines say of the ones below them (a section's
heading, a block's intro line, a table's header row, a pasted block of
Received headers) and hands each line's indicators to assign.py, its times
to times.py and its words to items.py. What a line's shape means is in
layout.py, whose a value is in owners.py. The caps on what one part and
one mail may cost are here, with what they left unread.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Final

from mailbot.extract import relays, roles
from mailbot.extract.assign import Assigner
from mailbot.extract.collect import Collector
from mailbot.extract.dates import last_date
from mailbot.extract.dn import continuation, ends_whole, wrap_width, wraps_dn
from mailbot.extract.facts import FACT_AFTER, fact_of
from mailbot.extract.fang import defanged_lines, refang
from mailbot.extract.hours import PROSE_PART, hour_only_hint, may_have_times
from mailbot.extract.indicators import UNSURE_DN, Indicator, scan
from mailbot.extract.items import EVIDENCE_CAP, TextItems
from mailbot.extract.layout import (
    CSV_HEADER,
    METADATA,
    NEXT_ITEM,
    RECEIVED,
    RECORD,
    RELAY_COLUMNS,
    TIMED,
    continues,
    opens_with_word,
    tab_header,
)
from mailbot.extract.owners import Owners
from mailbot.extract.partclock import PartClock, part_clock
from mailbot.extract.reading import Line, State, Tally
from mailbot.extract.sections import Heading, heading
from mailbot.extract.timeplan import MAX_TIMES
from mailbot.extract.times import Stamp, may_write_times, plans_made, times_in
from mailbot.extract.values import UNCLASSIFIED, Context
from mailbot.extract.zones import block_zone

log = logging.getLogger(__name__)

_PIECE: Final = 4000
# Values read from one part, and from one mail, before the rest is skipped:
# a dump of a hundred thousand addresses would cost seconds and tell the
# CSIRT nothing more. A value costs 25 to 55 microseconds (2026-12: logs in
# an attachment with warm caches, a syslog pasted into a body with cold
# ones), so a mail takes half a second at most on a quiet machine.
_BUDGET: Final = 5_000
MAIL_BUDGET: Final = 10_000
# Lines read from one mail, over all its parts and archive members: the value
# budget bounds a log full of values, this one text that gives few or none.
# 9 MB of newlines in each of three zips (a 386 KB mail) made 15 million
# lines, 27 s and 1 GB; 100 members of 50,000 "x" lines, 20 s. A line that
# gives no value costs 1 to 23 microseconds (blank, a word, a sentence of
# prose), so a mail's lines take two seconds at most. The rest is not split
# into lines at all (core.py), and a defect names what was left.
MAIL_LINES: Final = 100_000
# Lines that look timed ("12:61 3:5 27:40") but give no time cost their
# part a plan each when their shapes are new, and count towards no value
# budget: a megabyte of them took 2 s (found by a tester). After this many,
# and twice as many as the lines that gave a time, the rest of the part is
# not read for times (logged with the other caps): 0.1 to 0.2 s of plans.
# No part of the labelled sets, the corpus or the generated text comes near.
_WASTED_PLANS: Final = 2_000


def read_part(
    part_id: str,
    lines: list[tuple[int, str, bool]],
    kind: str,
    context: Context,
    out: Collector,
    unread: int = 0,
) -> None:
    """Add the findings of one part's lines (already without quoted text) to
    `out`; `unread` lines of the part were left out for the mail's line budget."""
    lines = list(_pieces(lines))
    text = "\n".join(line for _, line, _ in lines)
    # What a part says of its times as a whole (its zone, date, order of
    # dates: read over the whole part) matters only if a line writes a time.
    # A part longer than a mail's prose is a log, with its own clock times: an
    # hour alone ("10pm") is looked for in shorter ones (a search of a long
    # log's digits cost generated text 3 %).
    hours_alone = len(text) <= PROSE_PART and hour_only_hint(text) is not None
    clock = PartClock(context.timezone, context.reference_time)
    if hours_alone or may_write_times(text):
        clock = part_clock(text, context.timezone, context.reference_time)
    reader = _Reader(part_id, kind, context, clock._replace(hours=hours_alone), out)
    if unread:
        reader.skipped["lines after the mail's line budget"] = unread
    refanged = text.split("\n")
    if "=" in text:
        reader.width = wrap_width(refanged)
    for index in defanged_lines(text):
        refanged[index] = refang(refanged[index], hinted=True)
    reader.lines = refanged
    for index, (number, _, forwarded) in enumerate(lines):
        if reader.tally.items > _BUDGET or out.values > MAIL_BUDGET:
            over = "the" if reader.tally.items > _BUDGET else "the mail's"
            reader.skipped[f"lines after {over} value budget"] = len(lines) - index
            break
        previous = refanged[index - 1] if index else ""
        following = refanged[index + 1] if index + 1 < len(lines) else ""
        # A named tuple's own __new__ is a Python frame: tuple.__new__ makes
        # the same tuple in C (one a line).
        line = (number, refanged[index], previous, following, forwarded)
        reader.line(tuple.__new__(Line, line))
    reader.end_hops()
    reader.texts.flush_item()
    _note_skipped(part_id, reader, out)


def _note_skipped(part_id: str, reader: _Reader, out: Collector) -> None:
    # What the caps left out is said once per part, with how much: in the
    # log, and to the mail's record (a defect).
    if reader.skipped:
        skipped = sorted(reader.skipped.items())
        note = (
            f"part {part_id}: {reader.tally.items} values read; not read: "
            + ", ".join(f"{n} {what}" for what, n in skipped)
        )
        out.notes.append(note)
        log.warning(
            "%s (budget %d values a part, %d a mail, %d lines a mail, %d times a"
            " line, %d evidence lines, %d lines of new shapes without a time)",
            note,
            _BUDGET,
            MAIL_BUDGET,
            MAIL_LINES,
            MAX_TIMES,
            EVIDENCE_CAP,
            _WASTED_PLANS,
        )


def _pieces(lines: list[tuple[int, str, bool]]):
    # A megabyte on one line (a dump, HTML without line breaks) is read in
    # pieces cut at spaces, so that no step ever works on more than a piece.
    for number, line, forwarded in lines:
        while len(line) > _PIECE:
            cut = line.rfind(" ", _PIECE // 2, _PIECE)
            cut = cut if cut > 0 else _PIECE
            yield number, line[:cut], forwarded
            line = line[cut:]
        yield number, line, forwarded


class _Reader:
    def __init__(
        self,
        part_id: str,
        kind: str,
        context: Context,
        clock: PartClock,
        out: Collector,
    ) -> None:
        self.part_id, self.kind, self.context = part_id, kind, context
        self.clock, self.out, self.state = clock, out, State()
        self.year = context.reference_time.year if context.reference_time else 9999
        self.tally = Tally(part_id, out)
        self.wasted = 0  # lines of new shapes read for times that had none
        self.timed = 0  # lines that had a time
        self.spoken = 0  # where the current line's last indicator ends
        self.owners = Owners(context)
        self.clocks: dict[tuple[str | None, dt.date | None], PartClock] = {}
        self.skipped: Counter[str] = Counter()
        self.lines: list[str] = []  # the part's lines, refanged
        self.bad_mail: bool | None = None  # relays.calls_mail_bad, once asked
        self.width = 72  # the mail client's (dn.wrap_width)
        self.assigner = Assigner(self.state, self.owners, self.tally.add)
        self.texts = TextItems(
            part_id, kind, self.state, out, self.tally.add, self.skipped
        )

    def line(self, line: Line) -> None:
        state = self.state
        if not line.text.strip():
            self._blank()
            return
        # Both need a colon (most lines of a log have one, most prose none)
        # and open with a word: not a record that opens with a date or address.
        colon = ":" in line.text and opens_with_word(line.text)
        folded = line.text[:1] in " \t"
        if (colon and METADATA.match(line.text)) or (state.metadata and folded):
            self.texts.flush_prose()
            state.metadata = True
            return
        state.metadata = False
        self._hops(line, colon and RECEIVED.match(line.text) is not None, folded)
        found = heading(line.text)
        if found is not None:
            self._open_section(found, line)
            line = Line(line.number, line.text, "", line.following, line.forwarded)
            self._content(line, found.value_start)
        else:
            self._end_inline_section(line.text)
            self._content(line, 0)
        if state.block.name is None:
            state.block = roles.block_cue(line.text, self.spoken)
            # Only a block's intro line says whether the block runs on past
            # blank lines (no block, nothing to keep).
            if state.block.name is not None:
                state.block_to_end = "below" in line.text.lower()
        else:
            state.block_used = True
        state.zone = block_zone(line.text) or state.zone

    def _hops(self, line: Line, received: bool, folded: bool) -> None:
        """Follow a pasted block of Received headers (relays.py)."""
        state = self.state
        if received:
            state.hops.append([(line.number, line.text)])
        elif state.received and folded:
            state.hops[-1].append((line.number, line.text))
        elif state.received:
            self.end_hops()
        state.received = received or (state.received and folded)

    def end_hops(self) -> None:
        """The block of Received headers ended: its first hop's sender is
        the attacker's if the text says the mail was bad (relays.py)."""
        state = self.state
        hops, state.hops, state.received = state.hops, [], False
        if not hops:
            return
        if state.block.name != "attacker" and not self._bad_mail():
            return
        found = relays.origin(hops, self.owners.owned)
        if found is not None:
            number, value, kind = found
            self.tally.add(number, roles.ATTACKER, value, kind, roles.WORDS)

    def _bad_mail(self) -> bool:
        if self.bad_mail is None:
            self.bad_mail = relays.calls_mail_bad(self.lines)
        return self.bad_mail

    def _blank(self) -> None:
        state = self.state
        self.end_hops()
        self.texts.flush_item()
        if state.section_used:
            state.section, state.section_used = None, False
        if state.block_used and not state.block_to_end:
            state.block, state.block_used = roles.NO_CUE, False
        state.columns = None
        state.zone = None
        state.date = None

    def _open_section(self, found: Heading, line: Line) -> None:
        self.texts.flush_item()
        self.state.section = found.field or None
        self.state.section_used = False
        self.state.inline = bool(found.value)

    def _end_inline_section(self, text: str) -> None:
        # "* Affected VM: x" then "* Destination: y": a heading that carried
        # its value ends at the next bullet or "Key: value" line.
        state = self.state
        if state.section and state.inline and NEXT_ITEM.match(text):
            self.texts.flush_item()
            state.section, state.inline = None, False

    def _content(self, line: Line, start: int) -> None:
        state = self.state
        body = line.text[start:]
        if body.strip():
            state.section_used = True
        text = line.text
        indicators: Sequence[Indicator] = _scan(text, self.year)
        if state.carried:
            # The start of this line ended the DN of the line above.
            indicators = [i for i in indicators if i.start >= state.carried]
            state.carried = 0
        if "=" in text and wraps_dn(text, line.following, self.width):
            indicators = self._wrapped_dn(line, indicators)
        if start or self.owners.ignoring:
            indicators = [
                i for i in indicators if i.start >= start and self.owners.kept(i)
            ]
        if state.received:
            # A relay's address says no role by the header's words ("from").
            for i in indicators:
                if i.kind in ("ipv4", "ipv6"):
                    self.tally.add(
                        line.number, UNCLASSIFIED, i.value, i.kind, roles.NONE
                    )
            indicators = ()
        if indicators:
            self.spoken = max([i.end for i in indicators])
            self.assigner.assign(line, indicators)
        else:
            self.spoken = 0
            self._columns(line.text, line.following)
        stamps: Sequence[Stamp] = ()
        timed = may_have_times(line.text) or (
            self.clock.hours and hour_only_hint(line.text) is not None
        )
        if not state.received and timed and self._times_spent():
            self.skipped["lines not read for times after the part's budget"] += 1
        elif not state.received and timed:
            clock = self.clock
            if state.zone is not None or state.date is not None:
                clock = self._clock_of(state.zone, state.date)
            made = plans_made()
            stamps, skipped = _times(text, clock, line.following[:40])
            if stamps:
                self.timed += 1
            elif plans_made() != made:
                self.wasted += 1
            if skipped:
                self.skipped["times beyond a line's first"] += skipped
        if stamps:
            self._stamps(line, stamps)
        # "rilevato il 28/11/2026 alle 07:40" then "isolato alle 08:05": a time
        # without a date takes the last date of the paragraph's prose.
        record = self.kind != "attachment" and RECORD.match(text) is not None
        if self.kind != "attachment" and not record:
            clock = self.clock
            state.date = last_date(text, clock.order, clock.reference) or state.date
        self.texts.text(line, body, bool(indicators or stamps), record)

    def _wrapped_dn(
        self, line: Line, indicators: Sequence[Indicator]
    ) -> Sequence[Indicator]:
        """The indicators of `line` with its last DN read on into the next
        line, which a mail client's hard wrap broke it onto (dn.wraps_dn)."""
        following = line.following
        if NEXT_ITEM.match(following) or heading(following) is not None:
            return indicators
        text = line.text
        lead = len(following) - len(following.lstrip())
        # A line broken after a DN's "/" goes on with no blank ("/O=Example/"
        # then "CN=Jane Doe 1234"): a component never opens after one.
        gap = "" if text.rstrip().endswith("/") else " "
        if not gap:
            text = text.rstrip()
        joined = text + gap + continuation(following[lead:])
        wrapped = [
            i
            for i in _scan(joined, self.year)
            if i.kind == "dn" and i.start < len(text) < i.end
        ]
        if not wrapped:
            return indicators
        dn = wrapped[-1]
        alone = [i for i in indicators if i.kind == "dn" and i.start == dn.start]
        if alone and alone[-1].host != UNSURE_DN and text.rstrip()[-1] != ",":
            # The line gives a DN by itself (not one that ends in a comma).
            # One that ends as whole DNs end ("CN=Jane Doe 1234") is whole:
            # the next line is not read on. One that ends in a name
            # ("CN=David") may be cut, or whole before a sentence whose
            # first word does not say so ("Jones was ...", see
            # dn.opens_sentence): read on, it is sure only if it then ends
            # as whole DNs end ("Jones 1234").
            if ends_whole(text[dn.start :]):
                return indicators
            if not ends_whole(joined[dn.start : dn.end]):
                dn = dn._replace(host=UNSURE_DN)
        # The next line's indicators inside the DN are pieces of it.
        self.state.carried = dn.end - len(text) - len(gap) + lead
        kept = [i for i in indicators if i.end <= dn.start]
        return [*kept, dn._replace(end=len(text))]

    def _clock_of(self, zone: str | None, date: dt.date | None) -> PartClock:
        """The part's clock with the zone of a log's intro line and the date
        of the paragraph's prose, made once for each pair (_replace is slow)."""
        clock = self.clocks.get((zone, date))
        if clock is None:
            clock = self.clock
            if zone is not None:
                clock = clock._replace(zone=zone)
            if date is not None:
                clock = clock._replace(date=date)
            self.clocks[zone, date] = clock
        return clock

    def _times_spent(self) -> bool:
        # A log whose times the reader cannot take (a format it does not know)
        # still has lines it can: the budget holds while they are a third.
        return self.wasted >= _WASTED_PLANS and self.wasted > 2 * self.timed

    def _columns(self, text: str, following: str) -> None:
        # A CSV header (a line without indicators) names what each column of
        # the rows below holds.
        state = self.state
        if state.columns is not None:
            return
        if len(text) >= 300:
            return
        match = CSV_HEADER.match(text.strip())
        if match:
            state.delimiter = match.group(1)
        elif "\t" in text and tab_header(text, following):
            state.delimiter = "\t"
        else:
            return
        names = [c.strip().replace("_", " ") for c in text.split(state.delimiter)]
        # A mail's relay trace (a bounce's "HOP  TIME  FROM  TO  WITH"): its
        # FROM is the relay before, not an attacker; no column says a role.
        if RELAY_COLUMNS & {name.lower() for name in names}:
            names = ["" for _ in names]
        state.columns = names

    def _stamps(self, line: Line, stamps: Sequence[Stamp]) -> None:
        if not stamps:
            return
        facts = not line.forwarded and self.kind != "forward"
        previous = following = ""
        # A record of a timeline or log ("10:00 UTC host isolated", then
        # "08:00 UTC login") is named by its own words only.
        if facts and not TIMED.match(line.text):
            # Prose wraps: the word naming the event may be on either side.
            following = line.following
            if heading(following) or not continues(following):
                following = ""  # a heading, a new bullet or record
            # A new bullet or log record does not continue the line above.
            if continues(line.text) and not TIMED.match(line.previous):
                previous = line.previous[-80:]
        for stamp in stamps:
            fact = None
            if facts:
                before = previous + " " + line.text[: stamp.start]
                after = line.text[stamp.end :] + " " + following[:60]
                fact = fact_of(before[-80:], after[:FACT_AFTER])
            self.tally.add(
                line.number, fact or "evidence", stamp.value, "timestamp", roles.NONE
            )


# Mails repeat lines (templates, signatures, log records, a pasted dump): what
# the scanners find in a line is a function of the line alone and is read
# once. A line is at most a piece (4,000 characters), so each cache holds at
# most a few megabytes; lines that differ only in their digits are answered
# by the scanners' plans instead (see indicators.scan).
@functools.lru_cache(maxsize=1024)
def _scan(text: str, year: int) -> tuple[Indicator, ...]:
    return tuple(scan(text, year))


@functools.lru_cache(maxsize=1024)
def _times(
    text: str, clock: PartClock, following: str
) -> tuple[tuple[Stamp, ...], int]:
    stamps, skipped = times_in(text, clock, following)
    return tuple(stamps), skipped
