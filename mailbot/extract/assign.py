"""Which field each indicator of a line goes to.

Indicators joined by "and", ",", "(...)" are one group and share a role;
";" may open a clause of its own. A group's role comes from its table
column, the words before or after it (roles.py), or the block it is in; the
section it is under decides before any of them. A name beside one of the
site's addresses names the site's machine. The reader (part.py) hands each
line's indicators here once they are scanned and filtered.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from mailbot.extract import onward, roles
from mailbot.extract.dn import end_entity
from mailbot.extract.indicators import UNSURE_DN, Indicator
from mailbot.extract.layout import column_of, continues
from mailbot.extract.owners import Owners
from mailbot.extract.reading import Add, Line, State
from mailbot.extract.values import UNCLASSIFIED

INDICATOR_SECTIONS: Final = frozenset(
    {roles.AFFECTED, roles.ATTACKER, roles.ENTRY, roles.SUSPECTED}
)
# Indicators joined by these words are one group and share a role:
# "ui01.example.org (192.0.2.15)", "203.0.113.5, 203.0.113.6 and 203.0.113.7".
# A port written after the first keeps them one ("pool.example.net:3333
# (203.0.113.150)").
_GROUP_GAP: Final = re.compile(
    r"\A(?::\d{1,5})?[\s,;/()\[\]]*(?:(?:and|or|und|et|y|e|&|resolving[ \t]+to"
    r"|resolves[ \t]+to|i\.e\.|aka)[\s,;/()\[\]]*)?(?:host|ip|address)?[\s(\[]*\Z",
    re.IGNORECASE,
)
_WRAPPED_ADDRESS: Final = re.compile(r"[ \t]*\([ \t]*([0-9A-Fa-f:.]{3,39})[ \t]*\)")


class Assigner:
    """Gives the indicators of one part's lines their fields."""

    def __init__(self, state: State, owners: Owners, add: Add) -> None:
        self.state, self.owners, self.add = state, owners, add

    def assign(self, line: Line, indicators: Sequence[Indicator]) -> None:
        # A table's cells are apart whatever joins them: each has its column.
        cells = self.state.delimiter if self.state.columns else None
        groups = _groups(line.text, indicators, cells)
        if ";" in line.text:
            groups = _clauses(line.text, groups)
        for index, group in enumerate(groups):
            before_end = group[0].start
            cut = groups[index - 1][-1].end if index else 0
            before = line.text[cut:before_end]
            if not index and not self.state.columns and continues(line.text):
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
            # "wn17 wurde über ui01 kompromittiert": the passive's subject.
            if not cue.strong and index + 1 < len(groups):
                beyond = groups[index + 1][-1].end
                if onward.passive_subject(after, line.text, beyond):
                    cue = roles.Cue("affected")
            # "ui01 and then compromised wn17": the host the attack went on
            # from is the way in, if it is the site's.
            if cue.name != roles.PATH:
                moved = onward.pivot(after)
                if moved is not None and self._pivots(groups, index, moved):
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
            column = column_of(text, group[0].start, state.delimiter)
            if column is not None and column < len(state.columns):
                return roles.column_cue(state.columns[column])
        # "als Sprungbrett genutzt, um wn18 zu erreichen": gone on to.
        if onward.purpose_target(before, after):
            return roles.Cue("onto")
        cue = roles.cue_before(before[-100:])
        # "not attacked by X but by Y": X did not do it, Y did.
        if onward.agent_last(before):
            if onward.denied_agent(before):
                return roles.NO_CUE
            if onward.instead_agent(before, text[: group[0].start]):
                return roles.Cue(roles.PATH, "attacker")
        # "Der Angreifer hat sich über ui01 eingeloggt": the verb comes last.
        weak = not cue.strong or cue.name == "attacker"
        if weak and onward.passive_agent(before, after):
            return roles.Cue(roles.PATH, "attacker")
        if not cue.strong or cue.name == "on":
            after_cue = roles.cue_after(after[:80], object_follows)
            if after_cue.strong:
                return after_cue
        if cue.name is None and state.block.name is not None:
            return state.block
        return cue

    def _pivots(self, groups: list[list[Indicator]], index: int, moved: str) -> bool:
        """Whether group `index`, one of the site's, is the host the attack
        went on from, as the words after it say (`moved`, onward.pivot:
        "ui01 and then compromised wn17"). Another's keeps its cue whatever
        they say."""
        if not any(self.owners.owned(i.value, i.kind) for i in groups[index]):
            return False
        if moved != onward.ONWARD:
            return True
        return index + 1 < len(groups) and any(
            self.owners.owned(i.value, i.kind) for i in groups[index + 1]
        )

    def _pair_wraps(self, group: list[Indicator], line: Line) -> bool:
        # The same pair wrapped by the mail client: "ui01.example.org" at the
        # end of one line, "(192.0.2.15)" opening the next.
        if len(group) != 1 or group[0].kind != "hostname":
            return False
        if line.text[group[0].end :].strip():
            return False
        match = _WRAPPED_ADDRESS.match(line.following)
        return match is not None and self.owners.owned(match.group(1), "ipv4")

    def _site_address(self, indicator: Indicator) -> bool:
        return (
            indicator.kind in ("ipv4", "ipv6")
            and "/" not in indicator.value
            and self.owners.owned(indicator.value, indicator.kind)
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
                self.add(line.number, name, owner, "dn", roles.SECTION)
            self.add(line.number, name, indicator.value, "dn", roles.SECTION)
            return
        if indicator.kind == "cve":
            self.add(
                line.number, "vulnerabilities", indicator.value, "cve", roles.SECTION
            )
            return
        machine = site_machine and indicator.kind == "hostname"
        if not indicator.host:
            # Most indicators: one value (a URL also gives its host).
            owned = machine or self.owners.owned(indicator.value, indicator.kind)
            target, strength = self._field(indicator, cue, owned, machine)
            name = target or UNCLASSIFIED
            self.add(line.number, name, indicator.value, indicator.kind, strength)
            return
        values = [
            (indicator.value, indicator.kind),
            (indicator.host, _host_kind(indicator.host)),
        ]
        owned = machine
        for value, kind in values:
            owned = owned or self.owners.owned(value, kind)
        target, strength = self._field(indicator, cue, owned, machine)
        for value, kind in values:
            self.add(line.number, target or UNCLASSIFIED, value, kind, strength)

    def _field(
        self, indicator: Indicator, cue: roles.Cue, owned: bool, machine: bool
    ) -> tuple[str | None, int]:
        section = self.state.section
        if section in INDICATOR_SECTIONS:
            if owned and section == roles.ATTACKER:
                # The site's host is never the attacker's: what words say
                # of it ("came through 192.0.2.27") still holds below an
                # "Attacker:" line; else it is a host the attack touched.
                if roles.field_for(cue, owned, True)[0] == roles.ENTRY:
                    return roles.ENTRY, roles.SECTION
                return roles.AFFECTED, roles.SECTION
            return section, roles.SECTION
        if "/" in indicator.value and indicator.kind in ("ipv4", "ipv6"):
            return None, roles.NONE  # a network names no single host
        is_address = machine or indicator.kind in ("ipv4", "ipv6")
        return roles.field_for(cue, owned, is_address)


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
    attacker", "came through 192.0.2.27; 192.0.2.28 and 192.0.2.29 were
    infected". The indicators after ";" (to the next ";") stay in the list
    before them ("a; b") unless the words after them say their role; a
    plural verb there ("... 192.0.2.28; 192.0.2.29 were infected") takes
    the list from the first ";" on as its subject."""
    split: list[list[Indicator]] = []
    for group in groups:
        runs = [[group[0]]]
        for index in range(1, len(group)):
            if ";" in text[group[index - 1].end : group[index].start]:
                runs.append([group[index]])
            else:
                runs[-1].append(group[index])
        opens = [False] * len(runs)
        for index in range(1, len(runs)):
            following = runs[index + 1][0].start if index + 1 < len(runs) else None
            words = text[runs[index][-1].end : following]
            opens[index] = roles.cue_after(words).strong
        last = len(runs) - 1
        if last > 1 and opens[last] and _PLURAL.match(text, runs[last][-1].end):
            first = last
            while first > 1 and not opens[first - 1]:
                first -= 1
            opens[first + 1 : last + 1] = [False] * (last - first)
            opens[first] = True
        split.append(runs[0])
        for run, own in zip(runs[1:], opens[1:], strict=True):
            if own:
                split.append(list(run))
            else:
                split[-1].extend(run)
    return split


# A plural verb after a host: its subject is the list it ends.
_PLURAL: Final = re.compile(
    r"[ \t,)]*(?:\([^()]{0,40}\)[ \t,]*)?(?:were|are|have|had|wurden|sind"
    r"|waren|haben|ont|sont|étaient)\b",
    re.IGNORECASE,
)


def _is_pair(group: list[Indicator]) -> bool:
    """Whether `group` is one name and one address, as in "host (192.0.2.5)"."""
    if len(group) != 2:
        return False
    kinds = sorted(indicator.kind for indicator in group)
    return kinds[0] == "hostname" and kinds[1] in ("ipv4", "ipv6")


@functools.lru_cache(maxsize=4096)
def _host_kind(value: str) -> str:
    try:
        return "ipv4" if ipaddress.ip_address(value).version == 4 else "ipv6"
    except ValueError:
        return "hostname"
