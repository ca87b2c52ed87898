"""The shapes of a part's lines, which tell the reader how to take each.

A pasted mail header or report metadata, a Received header, a log or
timeline record, a bullet or `Key: value` item, the header row of a CSV or
tab-separated table: the reader (part.py) asks these of a line before it
reads its words, and asks whether a line goes on with the sentence of the
line above (a mail client wraps long lines).
"""

from __future__ import annotations

import functools
import re
from typing import Final

from mailbot.extract import roles
from mailbot.extract.sections import heading

METADATA: Final = re.compile(
    r"^[ \t]*(?:schema-url|user-agent|reported-from|message-id|return-path"
    r"|references|in-reply-to|x-mailer|dkim-signature|authentication-results"
    r"|content-type|mime-version|arc-[\w-]+|x-[\w-]+)[ \t]*:",
    re.IGNORECASE,
)
RECEIVED: Final = re.compile(r"^[ \t]*received[ \t]*:", re.IGNORECASE)
RECORD: Final = re.compile(
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
TIMED: Final = re.compile(
    r"[ \t]*+[\[(]?(?:[A-Z][a-z]{2},?[ \t]+)?"
    r"(?:(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}[./]\d{1,2}[./]\d{1,2}"
    r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})[ \t,T]+)?\d{1,2}(?::\d{2}|h\d{2})(?!\d)"
)
_ADDRESS_FIRST: Final = re.compile(r"[ \t]*\d{1,3}(?:\.\d{1,3}){3}")
CSV_HEADER: Final = re.compile(
    r"^[A-Za-z_][\w.-]{0,30}([,;\t])[A-Za-z_][\w.-]{0,30}(?:\1[A-Za-z_][\w.-]{0,30})+$"
)
# The header row of a table written with tabs (an HTML table as html_text
# writes it): names may hold spaces ("Source IP", "Target host").
_TAB_HEADER: Final = re.compile(
    r"^[A-Za-z_][\w .()#/-]{0,30}(?:\t+[A-Za-z_][\w .()#/-]{0,30})+$"
)
RELAY_COLUMNS: Final = frozenset({"hop", "relay", "relay time", "with", "by"})
# A table's row (tab-separated, as html_text writes an HTML table) is an
# item too: a key-value table's next row ends the section of the one above.
NEXT_ITEM: Final = re.compile(
    r"^[ \t]*(?:[-*•]|\d{1,2}[.)]|[a-h][.)][ \t]|\(\d{1,2}\)"
    r"|[A-Za-z][\w ./-]{0,30}:[ \t]|[A-Za-z][\w ./()-]{0,30}\t)"
)


def opens_with_word(text: str) -> bool:
    """Whether `text` may open with a word, after blanks: what METADATA and
    RECEIVED look for, in any case (only letters have other cases)."""
    lead = text.lstrip(" \t")[:1]
    return lead.isalpha() or not lead.isascii()


def wraps_onto(run: list[tuple[int, str, bool]], text: str) -> bool:
    """Whether `text`, opening with an address, ends a line wrapped there.

    "the scans went to" then "198.51.100.0/24 only.": the piece above (`run`
    holds only wrapped ones) stops on a lower-case word.
    """
    return bool(
        run and run[-1][1].rstrip()[-1:].islower() and _ADDRESS_FIRST.match(text)
    )


# A line is asked as the line itself and as the next line of the one above.
@functools.lru_cache(maxsize=16)
def continues(text: str) -> bool:
    """Whether `text` may continue the sentence of the line before it."""
    return not NEXT_ITEM.match(text) and not _STAMPED.match(text)


def tab_header(text: str, following: str) -> bool:
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


def column_of(text: str, position: int, delimiter: str) -> int | None:
    return text.count(delimiter, 0, position)
