"""Reading one text part line by line: sections, indicators, times, free text."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from mailbot.extract import prose, relays, roles
from mailbot.extract.collect import Collector
from mailbot.extract.dates import last_date
from mailbot.extract.dn import end_entity, ends_whole, wrap_width, wraps_dn
from mailbot.extract.fang import defanged_lines, refang
from mailbot.extract.hosts import is_within
from mailbot.extract.hours import PROSE_PART, hour_only_hint, may_have_times
from mailbot.extract.indicators import UNSURE_DN, Indicator, ipv4_number, scan
from mailbot.extract.sections import Heading, heading
from mailbot.extract.times import (
    MAX_TIMES,
    PartClock,
    Stamp,
    may_write_times,
    part_clock,
    plans_made,
    times_in,
)
from mailbot.extract.values import UNCLASSIFIED, Context
from mailbot.extract.zones import block_zone

log = logging.getLogger(__name__)

INDICATOR_SECTIONS: Final = frozenset(
    {roles.AFFECTED, roles.ATTACKER, roles.ENTRY, roles.SUSPECTED}
)
TEXT_SECTIONS: Final = frozenset(
    {
        "detected_by", "evidence", "actions_taken", "losses", "virtual_appliances",
        "vulnerabilities", "lessons_learnt", "resolution",
    }
)  # fmt: skip
# Indicators joined by these words are one group and share a role:
# "ui01.example.org (192.0.2.15)", "203.0.113.5, 203.0.113.6 and 203.0.113.7".
# A port written after the first keeps them one ("pool.example.net:3333
# (203.0.113.150)").
_GROUP_GAP: Final = re.compile(
    r"\A(?::\d{1,5})?[\s,;/()\[\]]*(?:(?:and|or|und|et|y|e|&|resolving[ \t]+to"
    r"|resolves[ \t]+to|i\.e\.|aka)[\s,;/()\[\]]*)?(?:host|ip|address)?[\s(\[]*\Z",
    re.IGNORECASE,
)
# Pasted mail headers and report metadata: no indicator of the incident.
_METADATA: Final = re.compile(
    r"^[ \t]*(?:schema-url|user-agent|reported-from|message-id|return-path"
    r"|references|in-reply-to|x-mailer|dkim-signature|authentication-results"
    r"|content-type|mime-version|arc-[\w-]+|x-[\w-]+)[ \t]*:",
    re.IGNORECASE,
)
_RECEIVED: Final = re.compile(r"^[ \t]*received[ \t]*:", re.IGNORECASE)
_RECORD: Final = re.compile(
    r"^[ \t]*(?:\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}:\d{2}|[A-Z][a-z]{2}[ \t]+\d{1,2}[ \t]"
    r"|\d{1,3}(?:\.\d{1,3}){3}|tcp|udp)",
)
# A log record starts with its stamp, bracketed or not, with or without a
# weekday: "[Thu Dec 03 21:14:07.123456 2026] [php:error] ...".
_STAMPED: Final = re.compile(
    r"^[ \t]*\[?(?:[A-Z][a-z]{2}[ \t]+(?=[A-Z]))?"
    r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}:\d{2}|[A-Z][a-z]{2}[ \t]+\d{1,2}[ \t])"
)
# A line that opens with a time, or a date and a time: a record of a log or
# of a timeline ("08:00 UTC login ...", "2026-12-03 21:14 ...", "[09:12]",
# "12/3/2026 12:30 PM ...", "22h10 : ...").
_TIMED: Final = re.compile(
    r"[ \t]*+[\[(]?(?:[A-Z][a-z]{2},?[ \t]+)?"
    r"(?:(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}[./]\d{1,2}[./]\d{1,2}"
    r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})[ \t,T]+)?\d{1,2}(?::\d{2}|h\d{2})(?!\d)"
)
_ADDRESS_FIRST: Final = re.compile(r"[ \t]*\d{1,3}(?:\.\d{1,3}){3}")
_CSV_HEADER: Final = re.compile(
    r"^[A-Za-z_][\w.-]{0,30}([,;\t])[A-Za-z_][\w.-]{0,30}(?:\1[A-Za-z_][\w.-]{0,30})+$"
)
# The header row of a table written with tabs (an HTML table as html_text
# writes it): names may hold spaces ("Source IP", "Target host").
_TAB_HEADER: Final = re.compile(
    r"^[A-Za-z_][\w .()#/-]{0,30}(?:\t+[A-Za-z_][\w .()#/-]{0,30})+$"
)
_RELAY_COLUMNS: Final = frozenset({"hop", "relay", "relay time", "with", "by"})
_WRAPPED_ADDRESS: Final = re.compile(r"[ \t]*\([ \t]*([0-9A-Fa-f:.]{3,39})[ \t]*\)")
_EVIDENCE_CAP: Final = 200
# Lines of one written line that a mail client wrapped, at most.
_WRAPPED_LINES: Final = 12
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
# A table's row (tab-separated, as html_text writes an HTML table) is an
# item too: a key-value table's next row ends the section of the one above.
_NEXT_ITEM: Final = re.compile(
    r"^[ \t]*(?:[-*•]|\d{1,2}[.)]|[a-h][.)][ \t]|\(\d{1,2}\)"
    r"|[A-Za-z][\w ./-]{0,30}:[ \t]|[A-Za-z][\w ./()-]{0,30}\t)"
)


@dataclass
class _State:
    section: str | None = None
    section_used: bool = False
    block: roles.Cue = roles.NO_CUE
    block_used: bool = False
    block_to_end: bool = False
    columns: list[str] | None = None
    delimiter: str = ","
    received: bool = False
    # The Received headers of the block being read (relays.py), and whether
    # the line above was a metadata header (its folded lines are its own).
    hops: list[relays.Hop] = field(default_factory=list)
    metadata: bool = False
    zone: str | None = None  # named by a log's intro line for the lines below
    date: dt.date | None = None  # the last date of the paragraph's prose
    inline: bool = False
    item: list = field(default_factory=list)  # [field, text, line]
    # The pieces of a prose line that the mail client wrapped, so far: (line
    # number, text, whether the piece had an indicator or a time).
    prose: list[tuple[int, str, bool]] = field(default_factory=list)
    evidence_items: int = 0
    # Characters at the start of the line that end a DN of the line above.
    carried: int = 0


class Line(NamedTuple):  # a tuple: one is made per line
    number: int
    text: str
    previous: str
    following: str
    forwarded: bool


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
        if reader.items > _BUDGET or out.values > MAIL_BUDGET:
            over = "the" if reader.items > _BUDGET else "the mail's"
            reader.skipped[f"lines after {over} value budget"] = len(lines) - index
            break
        previous = refanged[index - 1] if index else ""
        following = refanged[index + 1] if index + 1 < len(lines) else ""
        # A named tuple's own __new__ is a Python frame: tuple.__new__ makes
        # the same tuple in C (one a line).
        line = (number, refanged[index], previous, following, forwarded)
        reader.line(tuple.__new__(Line, line))
    reader.end_hops()
    reader.flush_item()
    _note_skipped(part_id, reader, out)


def _note_skipped(part_id: str, reader: _Reader, out: Collector) -> None:
    # What the caps left out is said once per part, with how much: in the
    # log, and to the mail's record (a defect).
    if reader.skipped:
        skipped = sorted(reader.skipped.items())
        note = f"part {part_id}: {reader.items} values read; not read: " + ", ".join(
            f"{n} {what}" for what, n in skipped
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
            _EVIDENCE_CAP,
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
        self.clock, self.out, self.state = clock, out, _State()
        self.year = context.reference_time.year if context.reference_time else 9999
        self.items = 0
        self.wasted = 0  # lines of new shapes read for times that had none
        self.timed = 0  # lines that had a time
        self.spoken = 0  # where the current line's last indicator ends
        self.ignored_domains = tuple(context.ignored_domains)
        self.networks = tuple(str(network) for network in context.site_networks)
        self.ignoring = bool(
            context.ignored_ips or context.ignored_domains or context.reporter_domains
        )
        self.owned: dict[tuple[str, str], bool] = {}  # (value, kind): the site's?
        self.clocks: dict[tuple[str | None, dt.date | None], PartClock] = {}
        self.skipped: Counter[str] = Counter()
        self.lines: list[str] = []  # the part's lines, refanged
        self.bad_mail: bool | None = None  # relays.calls_mail_bad, once asked
        self.width = 72  # the mail client's (dn.wrap_width)

    def line(self, line: Line) -> None:
        state = self.state
        if not line.text.strip():
            self._blank()
            return
        # Both need a colon (most lines of a log have one, most prose none)
        # and open with a word: not a record that opens with a date or address.
        colon = ":" in line.text and _opens_with_word(line.text)
        folded = line.text[:1] in " \t"
        if (colon and _METADATA.match(line.text)) or (state.metadata and folded):
            self.flush_prose()
            state.metadata = True
            return
        state.metadata = False
        self._hops(line, colon and _RECEIVED.match(line.text) is not None, folded)
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
        found = relays.origin(hops, self._owned)
        if found is not None:
            number, value, kind = found
            self._add_at(number, roles.ATTACKER, value, kind, roles.WORDS)

    def _bad_mail(self) -> bool:
        if self.bad_mail is None:
            self.bad_mail = relays.calls_mail_bad(self.lines)
        return self.bad_mail

    def _blank(self) -> None:
        state = self.state
        self.end_hops()
        self.flush_item()
        if state.section_used:
            state.section, state.section_used = None, False
        if state.block_used and not state.block_to_end:
            state.block, state.block_used = roles.NO_CUE, False
        state.columns = None
        state.zone = None
        state.date = None

    def _open_section(self, found: Heading, line: Line) -> None:
        self.flush_item()
        self.state.section = found.field or None
        self.state.section_used = False
        self.state.inline = bool(found.value)

    def _end_inline_section(self, text: str) -> None:
        # "* Affected VM: x" then "* Destination: y": a heading that carried
        # its value ends at the next bullet or "Key: value" line.
        state = self.state
        if state.section and state.inline and _NEXT_ITEM.match(text):
            self.flush_item()
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
        if start or self.ignoring:
            indicators = [i for i in indicators if i.start >= start and self._kept(i)]
        if state.received:
            # A relay's address says no role by the header's words ("from").
            for i in indicators:
                if i.kind in ("ipv4", "ipv6"):
                    self._add_at(line.number, UNCLASSIFIED, i.value, i.kind, roles.NONE)
            indicators = ()
        if indicators:
            self.spoken = max([i.end for i in indicators])
            self._indicators(line, indicators)
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
        record = self.kind != "attachment" and _RECORD.match(text) is not None
        if self.kind != "attachment" and not record:
            clock = self.clock
            state.date = last_date(text, clock.order, clock.reference) or state.date
        self._text(line, body, bool(indicators or stamps), record)

    def _wrapped_dn(
        self, line: Line, indicators: Sequence[Indicator]
    ) -> Sequence[Indicator]:
        """The indicators of `line` with its last DN read on into the next
        line, which a mail client's hard wrap broke it onto (dn.wraps_dn)."""
        following = line.following
        if _NEXT_ITEM.match(following) or heading(following) is not None:
            return indicators
        text = line.text
        lead = len(following) - len(following.lstrip())
        # A line broken after a DN's "/" goes on with no blank ("/O=Example/"
        # then "CN=Jane Doe 1234"): a component never opens after one.
        gap = "" if text.rstrip().endswith("/") else " "
        if not gap:
            text = text.rstrip()
        joined = text + gap + following[lead:]
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
            # ("CN=David") may be cut, or whole before a sentence ("Please
            # ..."): read on, it is sure only if it then ends as whole DNs
            # end ("Jones 1234").
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

    def _kept(self, indicator: Indicator) -> bool:
        context = self.context
        for value in (indicator.value, indicator.host):
            if not value:
                continue
            if value in context.ignored_ips:
                return False
            if is_within(value, self.ignored_domains):
                return False
            if self._reporters(value):
                return False
        return True

    def _reporters(self, name: str) -> bool:
        # A third party's own names (Shadowserver's download link, its wiki)
        # are boilerplate of its report; a site's name below the reporter's
        # domain (a university's grid site) is still the site's.
        context = self.context
        return is_within(name, context.reporter_domains) and not is_within(
            name, context.site_domains
        )

    def _columns(self, text: str, following: str) -> None:
        # A CSV header (a line without indicators) names what each column of
        # the rows below holds.
        state = self.state
        if state.columns is not None:
            return
        if len(text) >= 300:
            return
        match = _CSV_HEADER.match(text.strip())
        if match:
            state.delimiter = match.group(1)
        elif "\t" in text and _tab_header(text, following):
            state.delimiter = "\t"
        else:
            return
        names = [c.strip().replace("_", " ") for c in text.split(state.delimiter)]
        # A mail's relay trace (a bounce's "HOP  TIME  FROM  TO  WITH"): its
        # FROM is the relay before, not an attacker; no column says a role.
        if _RELAY_COLUMNS & {name.lower() for name in names}:
            names = ["" for _ in names]
        state.columns = names

    def _indicators(self, line: Line, indicators: Sequence[Indicator]) -> None:
        # A table's cells are apart whatever joins them: each has its column.
        cells = self.state.delimiter if self.state.columns else None
        groups = _groups(line.text, indicators, cells)
        if ";" in line.text:
            groups = _clauses(line.text, groups)
        for index, group in enumerate(groups):
            before_end = group[0].start
            cut = groups[index - 1][-1].end if index else 0
            before = line.text[cut:before_end]
            if not index and not self.state.columns and _continues(line.text):
                before = line.previous[-80:] + " " + before
            if index + 1 < len(groups):
                after = line.text[group[-1].end : groups[index + 1][0].start]
            else:
                after = line.text[group[-1].end :]
                # A line ending in ":" introduces the next: those words are
                # not about this line's indicators.
                if not after.rstrip().endswith(":"):
                    after += " " + line.following[:80]
            cue = self._cue(line.text, group, before, after, index + 1 < len(groups))
            # "ui01 and then compromised wn17": the host the attack went on
            # from is the way in, if it is the site's.
            hint = roles.PIVOT_HINT.search(after, 0, 120)
            if hint and cue.name != roles.PATH and self._pivots(groups, index, after):
                cue = roles.Cue(roles.PATH, cue.name)
            # "ui01.example.org (192.0.2.15)": a name beside one of the site's
            # addresses names the same machine, and goes where the address goes.
            site_machine = _is_pair(group) and any(map(self._site_address, group))
            if index + 1 == len(groups) and not site_machine:
                site_machine = self._pair_wraps(group, line)
            for indicator in group:
                self._emit(line, indicator, cue, site_machine)

    def _cue(
        self,
        text: str,
        group: list[Indicator],
        before: str,
        after: str,
        object_follows: bool = False,
    ) -> roles.Cue:
        state = self.state
        if state.columns:
            column = _column_of(text, group[0].start, state.delimiter)
            if column is not None and column < len(state.columns):
                return roles.column_cue(state.columns[column])
        cue = roles.cue_before(before[-100:])
        if not cue.strong and roles.passive_agent(before, after):
            return roles.Cue(roles.PATH, "attacker")
        if not cue.strong or cue.name == "on":
            after_cue = roles.cue_after(after[:80], object_follows)
            if after_cue.strong:
                return after_cue
        if cue.name is None and state.block.name is not None:
            return state.block
        return cue

    def _pivots(self, groups: list[list[Indicator]], index: int, after: str) -> bool:
        """Whether the words after group `index`, one of the site's, say the
        attack went on from it to another host ("ui01 and then compromised
        wn17"). Another's keeps its cue whatever they say."""
        if not any(self._owned(i.value, i.kind) for i in groups[index]):
            return False
        pivot = roles.pivot(after[:120])
        if pivot != roles.ONWARD:
            return pivot is not None
        return index + 1 < len(groups) and any(
            self._owned(i.value, i.kind) for i in groups[index + 1]
        )

    def _pair_wraps(self, group: list[Indicator], line: Line) -> bool:
        # The same pair wrapped by the mail client: "ui01.example.org" at the
        # end of one line, "(192.0.2.15)" opening the next.
        if len(group) != 1 or group[0].kind != "hostname":
            return False
        if line.text[group[0].end :].strip():
            return False
        match = _WRAPPED_ADDRESS.match(line.following)
        return match is not None and self._owned(match.group(1), "ipv4")

    def _site_address(self, indicator: Indicator) -> bool:
        return (
            indicator.kind in ("ipv4", "ipv6")
            and "/" not in indicator.value
            and self._owned(indicator.value, indicator.kind)
        )

    def _emit(
        self, line: Line, indicator: Indicator, cue: roles.Cue, site_machine: bool
    ) -> None:
        if indicator.kind == "dn":
            # A DN whose end is unsure is not sent to a CA as if it were one.
            name = UNCLASSIFIED if indicator.host == UNSURE_DN else "x509_dns"
            # A proxy's DN comes with the end-entity DN that the CA acts on.
            owner = end_entity(indicator.value)
            if owner is not None:
                self._add_at(line.number, name, owner, "dn", roles.SECTION)
            self._add_at(line.number, name, indicator.value, "dn", roles.SECTION)
            return
        if indicator.kind == "cve":
            self._add_at(
                line.number, "vulnerabilities", indicator.value, "cve", roles.SECTION
            )
            return
        machine = site_machine and indicator.kind == "hostname"
        if not indicator.host:
            # Most indicators: one value (a URL also gives its host).
            owned = machine or self._owned(indicator.value, indicator.kind)
            target, strength = self._field(indicator, cue, owned, machine)
            name = target or UNCLASSIFIED
            self._add_at(line.number, name, indicator.value, indicator.kind, strength)
            return
        values = [
            (indicator.value, indicator.kind),
            (indicator.host, _host_kind(indicator.host)),
        ]
        owned = machine
        for value, kind in values:
            owned = owned or self._owned(value, kind)
        target, strength = self._field(indicator, cue, owned, machine)
        for value, kind in values:
            self._add_at(line.number, target or UNCLASSIFIED, value, kind, strength)

    def _field(
        self, indicator: Indicator, cue: roles.Cue, owned: bool, machine: bool
    ) -> tuple[str | None, int]:
        section = self.state.section
        if section in INDICATOR_SECTIONS:
            if owned and section == roles.ATTACKER:
                return roles.AFFECTED, roles.SECTION
            return section, roles.SECTION
        if "/" in indicator.value and indicator.kind in ("ipv4", "ipv6"):
            return None, roles.NONE  # a network names no single host
        is_address = machine or indicator.kind in ("ipv4", "ipv6")
        return roles.field_for(cue, owned, is_address)

    def _owned(self, value: str, kind: str) -> bool:
        known = self.owned.get((value, kind))
        if known is None:
            known = self.owned[value, kind] = self._is_sites(value, kind)
        return known

    def _is_sites(self, value: str, kind: str) -> bool:
        context = self.context
        if kind in ("ipv4", "ipv6"):
            return _in_networks(value, self.networks)
        if kind == "hostname":
            return is_within(value, context.site_domains)
        return False

    def _stamps(self, line: Line, stamps: Sequence[Stamp]) -> None:
        if not stamps:
            return
        facts = not line.forwarded and self.kind != "forward"
        previous = following = ""
        # A record of a timeline or log ("10:00 UTC host isolated", then
        # "08:00 UTC login") is named by its own words only.
        if facts and not _TIMED.match(line.text):
            # Prose wraps: the word naming the event may be on either side.
            following = line.following
            if heading(following) or not _continues(following):
                following = ""  # a heading, a new bullet or record
            # A new bullet or log record does not continue the line above.
            if _continues(line.text) and not _TIMED.match(line.previous):
                previous = line.previous[-80:]
        for stamp in stamps:
            fact = None
            if facts:
                before = previous + " " + line.text[: stamp.start]
                after = line.text[stamp.end :] + " " + following[:60]
                fact = prose.fact_of(before[-80:], after[: prose.FACT_AFTER])
            self._add_at(
                line.number, fact or "evidence", stamp.value, "timestamp", roles.NONE
            )

    def _text(self, line: Line, body: str, has_indicator: bool, record: bool) -> None:
        # `record`: the line opens as a log or timeline record (_RECORD).
        state = self.state
        if state.section in TEXT_SECTIONS:
            self._section_item(line, body)
            return
        if state.section in INDICATOR_SECTIONS or state.section == "x509_dns":
            return
        # A line of this length is a dump, not prose with free-text items.
        if self.kind == "attachment" or state.columns or len(line.text) > 1000:
            self.flush_prose()
            return
        run = state.prose
        if record and not _wraps_onto(run, line.text):
            # A record of a log or a timeline is an item of its own.
            self.flush_prose()
            self._text_item(line.number, line.text, has_indicator, True)
            return
        # Mail clients wrap long lines: a line is read whole, whichever
        # lines the client cut it into.
        if run and (not _continues(line.text) or prose.starts_item(line.text)):
            self.flush_prose()
        run.append((line.number, line.text, has_indicator))
        if not prose.wrapped(line.text) or len(run) > _WRAPPED_LINES:
            self.flush_prose()

    def flush_prose(self) -> None:
        """Read the line gathered so far, joined as its writer wrote it."""
        run = self.state.prose
        if not run:
            return
        text = " ".join(piece.strip() for _, piece, _ in run)
        has_indicator = any(had for _, _, had in run)
        number = run[0][0]
        run.clear()
        self._text_item(number, text, has_indicator, False)

    def _text_item(
        self, number: int, text: str, has_indicator: bool, is_record: bool
    ) -> None:
        state = self.state
        if not has_indicator and prose.labelled_non_answer(text):
            return
        for name in prose.text_fields(text, has_indicator, is_record):
            if name == "evidence":
                if state.evidence_items >= _EVIDENCE_CAP:
                    self.skipped["evidence lines beyond the cap"] += 1
                    continue
                state.evidence_items += 1
            self._add_at(number, name, prose.item_text(text), "text", roles.NONE)

    def _section_item(self, line: Line, body: str) -> None:
        item = self.state.item
        text, bullet = prose.item_and_bullet(body)
        if not text:
            return
        joins = (
            item
            and not bullet
            and not item[1].endswith((".", "!", "?", ":"))
            and text[:1].islower()
        )
        if joins:
            item[1] = item[1] + " " + text
            return
        self.flush_item()
        self.state.item = [self.state.section, text, line.number]

    def flush_item(self) -> None:
        self.flush_prose()
        item = self.state.item
        if item and not prose.non_answer(item[1]):
            self.out.add(item[0], item[1], "text", self.part_id, item[2], roles.NONE)
        self.state.item = []

    def _add_at(
        self, number: int, name: str, value: str, kind: str, strength: int
    ) -> None:
        self.items += 1
        self.out.values += 1
        self.out.add(name, value, kind, self.part_id, number, strength)


def _groups(
    text: str, indicators: Sequence[Indicator], cells: str | None = None
) -> list[list[Indicator]]:
    """The indicators of `text` in groups that share a role; none spans the
    delimiter `cells` of a table's columns."""
    groups: list[list[Indicator]] = []
    for indicator in indicators:
        if indicator.kind in ("dn", "cve"):
            groups.append([indicator])
            continue
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and last.kind not in ("dn", "cve")
            and indicator.start >= last.end
            and _GROUP_GAP.match(text[last.end : indicator.start])
            and not (cells and cells in text[last.end : indicator.start])
        ):
            groups[-1].append(indicator)
        else:
            groups.append([indicator])
    return groups


def _clauses(text: str, groups: list[list[Indicator]]) -> list[list[Indicator]]:
    """`groups` split where ";" opens a clause of its own: "through ui01;
    wn17 was compromised", "Affected: 192.0.2.5; 203.0.113.9 is the
    attacker". An indicator after ";" stays in the list before it ("a; b")
    unless the words after it say its role."""
    split: list[list[Indicator]] = []
    for group in groups:
        split.append([group[0]])
        for index in range(1, len(group)):
            indicator = group[index]
            gap = text[group[index - 1].end : indicator.start]
            if ";" in gap:
                following = group[index + 1].start if index + 1 < len(group) else None
                if roles.cue_after(text[indicator.end : following]).strong:
                    split.append([indicator])
                    continue
            split[-1].append(indicator)
    return split


def _opens_with_word(text: str) -> bool:
    """Whether `text` may open with a word, after blanks: what _METADATA and
    _RECEIVED look for, in any case (only letters have other cases)."""
    lead = text.lstrip(" \t")[:1]
    return lead.isalpha() or not lead.isascii()


def _is_pair(group: list[Indicator]) -> bool:
    """Whether `group` is one name and one address, as in "host (192.0.2.5)"."""
    if len(group) != 2:
        return False
    kinds = sorted(indicator.kind for indicator in group)
    return kinds[0] == "hostname" and kinds[1] in ("ipv4", "ipv6")


def _wraps_onto(run: list[tuple[int, str, bool]], text: str) -> bool:
    """Whether `text`, opening with an address, ends a line wrapped there.

    "the scans went to" then "198.51.100.0/24 only.": the piece above (`run`
    holds only wrapped ones) stops on a lower-case word.
    """
    return bool(
        run and run[-1][1].rstrip()[-1:].islower() and _ADDRESS_FIRST.match(text)
    )


# A line is asked as the line itself and as the next line of the one above.
@functools.lru_cache(maxsize=16)
def _continues(text: str) -> bool:
    """Whether `text` may continue the sentence of the line before it."""
    return not _NEXT_ITEM.match(text) and not _STAMPED.match(text)


def _tab_header(text: str, following: str) -> bool:
    """Whether `text` names the columns of a table of tabs whose next row is
    `following`: one name at least says a role ("Source IP", "Target host"),
    and the next row has as many cells and is no key-value table's next
    row, whose first cell would say a role too ("Site  SITE-A" then
    "Affected hosts  wn17")."""
    if not _TAB_HEADER.match(text.strip(" \t")):
        return False
    if text.count("\t") != following.count("\t"):
        return False
    names = text.strip(" \t").split("\t")
    if not any(roles.column_cue(name).name for name in names if name):
        return False
    first = following.strip(" \t").split("\t", 1)[0]
    return roles.column_cue(first).name is None and heading(following) is None


def _column_of(text: str, position: int, delimiter: str) -> int | None:
    return text.count(delimiter, 0, position)


@functools.lru_cache(maxsize=4096)
def _in_networks(value: str, names: tuple[str, ...]) -> bool:
    """Whether address or network `value` lies inside one of the networks `names`.

    The networks come as their names: a tuple of strings hashes in C, one of
    ipaddress networks calls Python for every member at every look-up.
    """
    if "/" not in value:
        # An address: its number under each network's mask, several times
        # cheaper than making it a network of one address.
        number, ip_version = ipv4_number(value), 4
        if number is None:
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                return False
            number, ip_version = int(ip), ip.version
        for version, mask, firsts in _network_masks(names):
            if version == ip_version and number & mask in firsts:
                return True
        return False
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return any(
        network.version == net.version and network.subnet_of(net)
        for net in _networks(names)
    )


@functools.lru_cache(maxsize=256)
def _networks(names: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(name) for name in names)


@functools.lru_cache(maxsize=256)
def _network_masks(names: tuple[str, ...]) -> tuple[tuple[int, int, frozenset], ...]:
    """(version, mask, first addresses) of the networks, one entry a mask.

    Networks of one size share a mask: an address is looked up among their
    first addresses at once, a loop over the sizes rather than the networks.
    """
    firsts: dict[tuple[int, int], set[int]] = {}
    for net in _networks(names):
        key = (net.version, int(net.netmask))
        firsts.setdefault(key, set()).add(int(net.network_address))
    return tuple((v, mask, frozenset(f)) for (v, mask), f in firsts.items())


@functools.lru_cache(maxsize=4096)
def _host_kind(value: str) -> str:
    try:
        return "ipv4" if ipaddress.ip_address(value).version == 4 else "ipv6"
    except ValueError:
        return "hostname"


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
