"""Header values made safe: 8-bit bytes repaired, encoded words decoded, cleaned.

Every function here takes the raw value as the compat32 parser stores it (a
str in which undecodable bytes are surrogate escapes, folded with CRLF) and
appends a short note to `defects` for each repair or guess.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.utils
import hashlib
import re

from mailparser.dates import parse_mail_date

from mailbot.limits import OVER_LIMIT
from mailbot.mail import Address
from mailbot.parse import charsets

# Folding is CRLF (or a bare LF) followed by white space; unfolding removes
# only the line break, as RFC 5322 section 2.2.3 says.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"[\r\n]+")
# Control characters (tab included, it becomes a space first), DEL, C1
# controls and lone surrogates have no place in a stored or logged value.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
SURROGATES = re.compile(r"[\ud800-\udfff]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=")
_MSG_ID = re.compile(r"<[^<>]*>")


def clean(value: str) -> str:
    """`value` on one line, without control characters or surrogates."""
    if "\r" in value or "\n" in value:
        value = _LINE_BREAKS.sub(" ", value)
    value = value.replace("\t", " ")
    if _UNSAFE.search(value):
        value = _UNSAFE.sub("", value)
    return value.strip()


def unfold(value: str) -> str:
    return _FOLD.sub("", value) if "\n" in value else value


def repair_8bit(value: str, what: str, defects: list[str]) -> str:
    """Turns surrogate-escaped raw bytes back into text: UTF-8, else Latin-1."""
    if value.isascii() or not SURROGATES.search(value):
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        defects.append(f"invalid characters in {what}: replaced")
        return SURROGATES.sub("\ufffd", value)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"undecodable header {what}: latin-1 fallback")
        return charsets.latin1(data)


def decode_value(raw: str, what: str, defects: list[str]) -> str:
    """The display text of one header value: repaired, decoded, cleaned."""
    value = repair_8bit(unfold(str(raw)), what, defects)
    return clean(decode_words(value, what, defects))


def decode_words(value: str, what: str, defects: list[str]) -> str:
    """Decodes RFC 2047 encoded words, also where RFC 2047 forbids them.

    White space between two encoded words is dropped, and adjacent words in
    one charset are decoded together, because some mailers split a
    multi-byte character across two words.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    run: list[bytes] = []
    run_charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        if gap and not (run and gap.isspace()):
            out.append(_decode_run(run, run_charset, what, defects))
            run = []
            out.append(gap)
        charset = match[1].split("*", 1)[0].lower()
        data = _word_bytes(match[2], match[3])
        if data is None:
            defects.append(f"broken encoded word in {what}: kept as is")
            out.append(_decode_run(run, run_charset, what, defects))
            run = []
            out.append(match[0])
        elif run and charset != run_charset:
            out.append(_decode_run(run, run_charset, what, defects))
            run, run_charset = [data], charset
        else:
            run.append(data)
            run_charset = charset
        position = match.end()
    out.append(_decode_run(run, run_charset, what, defects))
    out.append(value[position:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(text.encode("ascii"), header=True)
        padded = text + "=" * (-len(text) % 4)
        return binascii.a2b_base64(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _decode_run(run: list[bytes], charset: str, what: str, defects: list[str]) -> str:
    if not run:
        return ""
    text, notes = charsets.decode(b"".join(run), charset)
    defects.extend(f"{what}: {note}" for note in notes)
    return text


def message_ids(raw: str | None, what: str, defects: list[str]) -> tuple[str, ...]:
    """Message-IDs in order, verbatim with their angle brackets.

    A value without brackets (a bare id@host) is kept as it stands, since
    threading on a slightly wrong id beats not threading at all.
    """
    if not raw:
        return ()
    value = clean(repair_8bit(unfold(str(raw)), what, defects))
    ids = tuple(_MSG_ID.findall(value))
    if not ids:
        ids = tuple(token for token in value.split() if "@" in token)
        if ids:
            defects.append(f"{what} without angle brackets: kept verbatim")
    return tuple(bounded_id(one, what, defects) for one in ids)


# RFC 5322 lines end at 998 characters: a longer id is garbage. The bound is
# in UTF-8 bytes, as indexes count: PostgreSQL refuses an index entry over
# 2,704 bytes, which 998 characters of three bytes each exceed.
MAX_ID_BYTES = 998


def bounded_id(value: str, what: str, defects: list[str]) -> str:
    """`value` within MAX_ID_BYTES bytes of UTF-8 (with a note), the same
    wherever the id is read, so a reply's References still find it. A cut
    id ends with a digest of the whole: two ids alike in their first 998
    bytes stay two (a reply would thread into the other's incident)."""
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_ID_BYTES:
        return value
    defects.append(f"{OVER_LIMIT} {what} of {len(encoded)} bytes cut")
    digest = hashlib.sha256(encoded).hexdigest()[:32]
    kept = encoded[: MAX_ID_BYTES - len(digest) - 1].decode("utf-8", "ignore")
    return f"{kept}~{digest}"


def address(name: str, addr: str, what: str, defects: list[str]) -> Address:
    """An Address from a parsed (name, addr) pair, both cleaned."""
    name = repair_8bit(name, what, defects)
    if "=?" in name:
        # mail-parser keeps encoded words inside quotes literal, as RFC 2047
        # asks; senders put them there anyway.
        name = decode_words(name, what, defects)
    addr = clean(repair_8bit(addr, what, defects)).lower()
    return Address(clean(name), addr.replace(" ", ""))


# Zones in use lie between -12:00 and +14:00; RFC 5322's syntax allows
# +9959, and mail-parser reads such an offset as hours ahead.
MAX_ZONE = dt.timedelta(hours=14)

# mail-parser's verdicts on a Date that has the form of one but names no
# day: the stdlib would read the year 0001 as 2001, so none is asked.
_NO_DAY = frozenset({"date-out-of-range", "invalid-calendar-date"})


def parse_date(raw: str | None, defects: list[str]) -> dt.datetime | None:
    """The Date header as an aware UTC datetime, or None (with a note).

    Never raises. A Date no datetime holds in UTC (31 Dec 9999 22:00 EST),
    before 1900, or in a zone more than 14 hours from UTC, is implausible:
    None, and the arrival time stands for it (DOMAIN.md).
    """
    if raw is None:
        return None
    result = parse_mail_date(str(raw))
    defects.extend(f"Date: {reason}" for reason in result.reasons)
    if result.value is not None:
        zone = dt.timedelta(hours=float(result.timezone))
        return _instant(result.value, zone, defects)
    if _NO_DAY.intersection(result.reasons):
        defects.append("Date implausible: ignored")
        return None
    return stdlib_date(raw, defects)


def stdlib_date(raw: str, defects: list[str]) -> dt.datetime | None:
    """Second opinion for dates mail-parser rejects (asctime, missing zone)."""
    value = clean(repair_8bit(unfold(str(raw)), "Date", defects))
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        defects.append(f"Date unparseable: {value[:80]!r}")
        return None
    if parsed.tzinfo is None:
        defects.append("Date without time zone: UTC assumed")
        parsed = parsed.replace(tzinfo=dt.UTC)
    defects.append("Date read by the stdlib fallback")
    return _instant(parsed, parsed.utcoffset() or dt.timedelta(), defects)


def _instant(
    value: dt.datetime, zone: dt.timedelta, defects: list[str]
) -> dt.datetime | None:
    """`value` in UTC, or None (with a note) when it is no plausible instant."""
    if abs(zone) > MAX_ZONE:
        defects.append("Date implausible: zone offset beyond 14 hours, ignored")
        return None
    try:
        instant = value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        defects.append("Date implausible: out of range, ignored")
        return None
    if instant.year < 1900:
        defects.append("Date implausible: before 1900, ignored")
        return None
    return instant
