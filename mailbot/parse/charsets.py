"""Charset labels as real mail writes them, mapped onto Python codecs.

Decoding here never raises: a label Python does not know goes through the
alias table first, then falls back to UTF-8 with replacement characters, and
the caller gets a short note saying what was guessed.
"""

from __future__ import annotations

import codecs
import functools
from typing import NamedTuple

# Labels seen in mail that Python's codec registry does not know, or knows
# as a narrower charset than the one senders really use (Outlook's
# ks_c_5601-1987 is cp949, gb2312 mail contains GBK characters, iso-8859-1
# mail contains windows-1252 quotes).
_ALIASES: dict[str, str] = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "x-windows-949": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "x-euc-cn": "gb18030",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "x-x-big5": "big5",
    "windows-874": "cp874",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-cp1250": "cp1250",
    "x-cp1251": "cp1251",
    "win-1251": "cp1251",
    "cp-850": "cp850",
    "unicode-1-1-utf-7": "utf-7",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "uft-8": "utf-8",
    "utf8mb4": "utf-8",
    "ucs-2": "utf-16",
    "iso-10646-ucs-2": "utf-16-be",
    "unicode": "utf-16",
}

# Labels that say nothing about the bytes: read them as if no charset was
# given (UTF-8 if it decodes, else Latin-1).
_UNDECLARED = frozenset(
    {"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "646"}
    | {"unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default"}
    | {"none", "charset", "7bit", "8bit", "binary", "text", "plain"}
)

# Codecs Python knows that are not charsets: they reinterpret backslashes,
# refuse every input, or exist for host names.
_REFUSED = frozenset({"unicode-escape", "raw-unicode-escape", "undefined"})
_REFUSED_TOO = frozenset({"idna", "punycode", "mbcs", "oem"})


class Codec(NamedTuple):
    """What a label resolved to: a codec name (None: guess) and a note."""

    name: str | None
    note: str | None
    known: bool


@functools.lru_cache(maxsize=512)
def resolve(label: str | None) -> Codec:
    """The codec for a charset label; cached, labels repeat across mails."""
    if label is None:
        return Codec(None, None, True)
    name = label.strip().strip("\"'").strip().lower().removeprefix("charset=")
    if not name or name in _UNDECLARED:
        return Codec(None, None, True)
    target = _ALIASES.get(name) or _ALIASES.get(name.replace("_", "-")) or name
    codec = _lookup(target)
    if codec is None:
        return Codec(None, f"unknown charset {name!r}: utf-8 with replacement", False)
    # An alias Python could have done without (a wider superset) is silent;
    # one that rescues a label Python rejects is a repair worth recording.
    note = None
    if target != name and _lookup(name) is None:
        note = f"charset alias applied: {name} -> {target}"
    return Codec(codec, note, True)


def _lookup(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    if info.name in _REFUSED or info.name in _REFUSED_TOO:
        return None
    return info.name


def decode(data: bytes, label: str | None) -> tuple[str, list[str]]:
    """`data` as text under charset `label`, with notes on every guess."""
    codec = resolve(label)
    notes = [codec.note] if codec.note else []
    if codec.name is None and not codec.known:
        return data.decode("utf-8", "replace"), notes
    name = codec.name
    if name is not None and name.startswith(("utf-16", "utf-32")) and _narrow(data):
        # Plain ASCII read as UTF-16 is CJK mojibake that decodes "fine".
        notes.append(f"text declared {name} is 8-bit text: read as utf-8")
        name = None
    elif name is None and data.startswith(_BOMS):
        notes.append("text with a UTF-16 byte-order mark: read as utf-16")
        name = "utf-16"
    if name is None:
        text, note = _guess(data)
    else:
        text, note = _declared(data, name)
    if note:
        notes.append(note)
    return text, notes


# The byte-order marks of UTF-16, which no 8-bit text opens with.
_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _narrow(data: bytes) -> bool:
    """Whether `data`, declared UTF-16 or UTF-32, is 8-bit text instead:
    valid UTF-8 (ASCII too) without a byte-order mark or a NUL byte, which
    every space, line break and Latin letter holds in UTF-16 and UTF-32."""
    if not data or data.startswith(_BOMS) or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _declared(data: bytes, name: str) -> tuple[str, str | None]:
    try:
        return data.decode(name), None
    except (UnicodeError, ValueError, TypeError, LookupError):
        pass
    # windows-1252 leaves five bytes undefined; Latin-1 takes them all.
    if name == "cp1252":
        return data.decode("latin-1"), None
    if name != "utf-8":
        try:
            return data.decode("utf-8"), f"text invalid as {name}: utf-8 used"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(name, "replace"), f"text invalid as {name}: replaced"
    except (UnicodeError, ValueError, TypeError, LookupError):
        return data.decode("utf-8", "replace"), f"{name} failed: utf-8 used"


def _guess(data: bytes) -> tuple[str, str | None]:
    """Undeclared 8-bit text: UTF-8 if it decodes, else windows-1252/Latin-1."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    return latin1(data), "8-bit text without a usable charset: latin-1 fallback"


def latin1(data: bytes) -> str:
    """Latin-1 with the windows-1252 printable characters where they apply."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")
