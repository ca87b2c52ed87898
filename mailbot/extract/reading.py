"""What a part's reader (part.py) shares with its helpers (assign.py,
items.py): the line being read with its neighbours, the state kept from
one line to the next (the section, block, table and paragraph it is in),
and the tally of the values they add.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from mailbot.extract.collect import Collector
from mailbot.extract.relays import Hop
from mailbot.extract.roles import NO_CUE, Cue

# How a helper adds a value of a line: (line number, field, value, kind,
# strength), counted towards the part's value budget.
Add = Callable[[int, str, str, str, int], None]


class Tally:
    """The values added from one part: each goes to the mail's collector,
    counted for the part's budget and the mail's.

    The helpers hold this, not the reader: a reader that its helpers held
    would be a cycle, kept with all its lines until the garbage collector
    found it.
    """

    def __init__(self, part_id: str, out: Collector) -> None:
        self.part_id, self.out, self.items = part_id, out, 0

    def add(self, number: int, name: str, value: str, kind: str, strength: int) -> None:
        self.items += 1
        self.out.values += 1
        self.out.add(name, value, kind, self.part_id, number, strength)


@dataclass
class State:
    section: str | None = None
    section_used: bool = False
    block: Cue = NO_CUE
    block_used: bool = False
    block_to_end: bool = False
    columns: list[str] | None = None
    delimiter: str = ","
    received: bool = False
    # The Received headers of the block being read (relays.py), and whether
    # the line above was a metadata header (its folded lines are its own).
    hops: list[Hop] = field(default_factory=list)
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
