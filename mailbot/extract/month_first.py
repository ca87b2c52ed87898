"""Which numeric dates put the month first, and how an open one is read.

"12/6/2026" is 6 December in US writing, 12 June in most of the world, and
nothing in the date itself tells. `date_order` reads what a part says of
its dates once; `ordered` settles each open date by it, by the mail's Date
and by the site's zone.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from mailbot.extract.date_spellings import EARLIEST_YEAR

# A numeric date between slashes or hyphens, its first two numbers in groups.
# The look-behind stands after the first digit, so that the regex engine skips
# to digits (this pattern reads a whole part).
_SLASHED: Final = re.compile(r"(\d(?<![\d.]\d)\d?)[/-](\d{1,2})[/-]\d{4}(?![\d.])")
# What every such date holds, starting with a rare character: most parts
# (logs) have none, and the engine skips to the slashes and hyphens.
_SLASHED_HINT: Final = re.compile(r"[/-]\d{1,2}[/-]\d{4}").search
# Sites whose zone says their people write the month first, or the day first
# (with a 12-hour clock too, so that AM/PM cannot say month first there).
_MONTH_FIRST_ZONES: Final = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "America/Detroit",
    "America/Indiana/", "America/Kentucky/", "America/Boise", "Pacific/Honolulu",
    "US/",
)  # fmt: skip
_DAY_FIRST_12H_ZONES: Final = ("Australia/", "Pacific/Auckland", "Asia/Kolkata")


def date_order(text: str, site_zone: str) -> str:
    """The order of a part's ambiguous numeric dates: "md", "dm" or "" (open).

    A date of the part whose first number is over 12 ("13/12/2026") settles
    it day first, one whose second is ("12/13/2026") month first; when the
    part says both or neither, the site's zone gives "zmd" or "zdm", which
    the mail's Date outweighs (`ordered`).
    """
    orders = set()
    if ("/" in text or "-" in text) and _SLASHED_HINT(text):
        for first, second in _SLASHED.findall(text):
            if int(first) > 12 >= int(second):
                orders.add("dm")
            elif int(second) > 12 >= int(first):
                orders.add("md")
    if len(orders) == 1:
        return orders.pop()
    # The zone's word is weaker than the mail's Date (see `ordered`).
    if site_zone.startswith(_MONTH_FIRST_ZONES):
        return "zmd"
    if site_zone.startswith(_DAY_FIRST_12H_ZONES):
        return "zdm"
    return ""


def ordered(
    ymd: tuple, separator: str, order: str, twelve_hour: bool, reference=None
) -> tuple:
    """`ymd`, read day first by `date_spellings.date_of`, in the order that applies.

    Only a date of two numbers up to 12 between slashes or hyphens is open.
    What settles it, in this order: the part's other dates (`order` "md" or
    "dm", from `date_order`); the mail's Date `reference`, when only one
    reading is not after it (a day's grace), or only one falls in the 31
    days up to it (evidence is not from after the mail, and mostly recent):
    "03/12/2026" in a mail of 4 December is 3 December even from a US site;
    the site's zone (`order` "zmd" or "zdm"); a 12-hour clock on its time
    (Windows' en-US "12/6/2026 11:47:03 PM") says month first; else day
    first, as most of the world writes. Dotted dates are always day first.
    """
    year, month, day = ymd
    if separator == "." or day > 12 or month > 12 or day == month:
        return ymd
    swapped = (year, day, month)
    if order in ("md", "dm"):
        return swapped if order == "md" else ymd
    later = [_later(date, reference) for date in (ymd, swapped)]
    if later[0] != later[1]:
        return swapped if later[0] else ymd
    recent = [_recent(date, reference) for date in (ymd, swapped)]
    if recent[0] != recent[1]:
        return ymd if recent[0] else swapped
    if order:
        return swapped if order == "zmd" else ymd
    return swapped if twelve_hour else ymd


def _later(ymd: tuple, reference) -> bool:
    # More than a day after the mail: no evidence is (`utc._complete`).
    if reference is None or ymd[0] is None:
        return False
    return dt.date(*ymd) > reference.date() + dt.timedelta(days=1)


def _recent(ymd: tuple, reference) -> bool:
    if reference is None or ymd[0] is None or ymd[0] < EARLIEST_YEAR:
        return False
    date = dt.date(*ymd)
    latest = reference.date() + dt.timedelta(days=1)
    return latest - dt.timedelta(days=31) <= date <= latest
