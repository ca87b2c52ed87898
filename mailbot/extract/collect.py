"""The findings of one mail: each value once per field, the best-supported role.

The same address may be named in several places of a mail: under the
template's "Attacker IP(s)" heading, in a sentence, in a pasted log. The
assignment with the most support wins (a heading over words, words over the
site-address default); an indicator that nothing classifies anywhere in the
mail stays `unclassified`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from mailbot.extract.roles import NONE
from mailbot.extract.values import UNCLASSIFIED, Finding

_CLASSIFIED_KINDS: Final = frozenset({"ipv4", "ipv6", "hostname", "url"})
_new: Final = object.__new__
_set: Final = object.__setattr__


@dataclass
class Collector:
    """Candidate findings, resolved into the mail's findings by `findings()`."""

    # (field, value, kind, part, line, strength): a `Finding` is made only
    # for what `findings()` keeps, since a log repeats most of its values.
    _candidates: list[tuple[str, str, str, str, int, int]] = field(default_factory=list)
    values: int = 0  # values read (the reader counts them against its budget)
    # What the caps of the value budget and of the times left unread, a
    # sentence a part (logged too): the mail's record keeps it as a defect.
    notes: list[str] = field(default_factory=list)

    def add(
        self, field: str, value: str, kind: str, part: str, line: int, strength: int
    ) -> None:
        self._candidates.append((field, value, kind, part, line, strength))

    def findings(self) -> list[Finding]:
        best: dict[str, int] = {}
        for _, value, kind, _, _, strength in self._candidates:
            if kind in _CLASSIFIED_KINDS and best.get(value, NONE) < strength:
                best[value] = strength
        seen: set[tuple[str, str]] = set()
        result = []
        for name, value, kind, part, line, strength in self._candidates:
            if kind in _CLASSIFIED_KINDS:
                top = best.get(value, NONE)
                if strength < top:
                    continue
                if top == NONE:
                    name = UNCLASSIFIED
            key = (name, value)
            if key not in seen:
                seen.add(key)
                result.append(_finding(name, value, kind, part, line))
        return result


def _finding(name: str, value: str, kind: str, part: str, line: int) -> Finding:
    """`Finding(name, value, kind, part, line)`, the same object made faster.

    Finding is a frozen dataclass of values.py, which stays interpreted
    (setup.py): its `__init__` sets each field through `object.__setattr__`,
    0.6 microseconds a finding, and a mail of logs makes a thousand. Its
    attributes set at once as its `__dict__` take a third less
    (tests/test_extract_collect.py checks the two are alike).
    """
    found = _new(Finding)
    _set(
        found,
        "__dict__",
        {"field": name, "value": value, "kind": kind, "part": part, "line": line},
    )
    return found
