"""A line's shape: the line with every ASCII digit written 0.

No pattern of the extractor tells one ASCII digit from another (the few
that name digits, "C2" and "x509", are checked by their callers), so what
the patterns find in a line they find in its shape. Log records that differ
only in their numbers share a shape, and what depends on the shape alone is
worked out once per shape.
"""

from __future__ import annotations

import re
from typing import Final, TypeVar

# Bytes: translating UTF-8 bytes is several times cheaper than translating a
# str, and bytes 0x31-0x39 are ASCII digits only (other characters are
# written with bytes from 0x80), so the shape is as distinct as the text.
_ZEROS: Final = bytes.maketrans(b"123456789", b"000000000")
has_digit = re.compile("[1-9]").search


def shape(text: str) -> bytes:
    """The shape of `text`, as a dictionary key."""
    return text.encode("utf-8", "surrogatepass").translate(_ZEROS)


# The plans of a shape that are kept: a line whose digits decide otherwise
# than every plan of its shape (a date that is none, an octet over 255) is
# read afresh and its plan kept beside the others, up to this many, latest
# last, so that lines that alternate between two decisions (digit variants
# of a log) are not read afresh each time. Each plan holds for the lines
# that decide as the line it was made from: which one answers does not
# change what a line gives. The latest plan is the one plan that was kept
# per shape before (see times.times_in, which counts the plans made).
SHAPE_PLANS: Final = 4
_Key = TypeVar("_Key")
_Plan = TypeVar("_Plan")


def keep_plan(
    plans: dict[_Key, list[_Plan]],
    kept: int,
    key: _Key,
    known: list[_Plan] | None,
    plan: _Plan,
) -> None:
    """Keep `plan` as the latest of `known`, the plans of the shape `key` in
    `plans` (None: none yet); `plans` holds at most `kept` shapes."""
    if len(plans) >= kept:
        plans.clear()  # bounded; the next lines make them again
        known = None
    if known is None:
        plans[key] = [plan]
        return
    if len(known) >= SHAPE_PLANS:
        del known[0]
    known.append(plan)


def zeroed(text: str) -> str:
    """`text` with every ASCII digit written 0."""
    return shape(text).decode("utf-8", "surrogatepass")
