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
# than its shape's plan (a date that is none, an octet over 255) is read
# afresh and its plan becomes the shape's latest, as when one plan was kept
# per shape; the plan it replaces joins the shape's earlier plans, up to
# this many, which are tried before a line is read afresh, so that lines
# that alternate between two decisions (digit variants of a log) are not
# read afresh each time. Each plan holds for the lines that decide as the
# line it was made from: which one answers does not change what a line
# gives. The earlier plans are kept apart, so that a shape with one plan
# (nearly all) costs what it did.
EARLIER_PLANS: Final = 3
_Key = TypeVar("_Key")
_Plan = TypeVar("_Plan")


def keep_plan(
    plans: dict[_Key, _Plan],
    earlier: dict[_Key, list[_Plan]],
    kept: int,
    key: _Key,
    plan: _Plan,
) -> None:
    """Make `plan` the latest plan of the shape `key` in `plans`; the plan it
    replaces joins the shape's earlier ones in `earlier`. `plans` holds at
    most `kept` shapes, `earlier` only shapes of `plans`."""
    if len(plans) >= kept:
        plans.clear()  # bounded; the next lines make them again
        earlier.clear()
    replaced = plans.get(key)
    plans[key] = plan
    if replaced is None:
        return
    others = earlier.get(key)
    if others is None:
        earlier[key] = [replaced]
        return
    if len(others) >= EARLIER_PLANS:
        del others[0]
    others.append(replaced)


def zeroed(text: str) -> str:
    """`text` with every ASCII digit written 0."""
    return shape(text).decode("utf-8", "surrogatepass")
