"""What a part says of its times as a whole: its zone, its date, the order
of its numeric dates, and the mail's defaults behind them (PartClock).

The part's reader (part.py) makes one for a part and hands it with each
line to times.py; utc.py completes a time of day from it.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from mailbot.extract.date_spellings import DATES, EARLIEST_YEAR, safe_date
from mailbot.extract.dates import only_date
from mailbot.extract.month_first import date_order
from mailbot.extract.zones import PART_ZONE


class PartClock(NamedTuple):
    """What a part says about its times as a whole, and the mail's defaults.

    A named tuple: it is part of the key of the line caches, and a tuple
    hashes in C where a frozen dataclass calls Python at every look-up.
    """

    zone: str
    reference: dt.datetime | None
    date: dt.date | None = None
    # Of "4/12/2026": "md", "dm", "zmd", "zdm" or "" (month_first.date_order).
    order: str = ""
    local: str = ""  # the site's zone, for "local time" ("" : `zone`)
    # Whether the part may write an hour alone ("10pm", "22h"): only then
    # are its lines searched for one (`hours.hour_only_hint` over the part).
    hours: bool = True


def part_clock(text: str, zone: str, reference: dt.datetime | None) -> PartClock:
    """What the part says of its times as a whole.

    The zone and date of a note such as "(times are UTC, 2026-12-04)"; else
    the only date the part writes, when it is not after the mail ("El 4 de
    diciembre ... a las 02:40 ... aislado a las 03:10": the same day); the
    order of its numeric dates (`month_first.date_order`).
    """
    lowered = text.lower()
    match = PART_ZONE.search(lowered) if "time" in lowered else None
    order = date_order(text, zone)
    date = only_date(text, reference, order)
    if match is None:
        return PartClock(zone, reference, date, order, zone)
    window = text[match.end() : match.end() + 30]
    found = DATES[0][1].search(window)
    if found and int(found[1]) >= EARLIEST_YEAR:
        date = safe_date(int(found[1]), int(found[2]), int(found[3]))
    return PartClock(match.group(1).upper(), reference, date, order, zone)
