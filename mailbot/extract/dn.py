"""X.509 distinguished names in slash form and in RFC 2253 (comma) form.

Both forms name the same DN; mailbot writes the slash form, most general
attribute first (/DC=org/DC=example/CN=Jane Doe 1234). RFC 2253 lists the
most specific attribute first, so a comma DN that starts with CN is reversed;
OpenSSL's "C = ES, O = Example, ..." is already in slash order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

_ATTRS: Final = {
    name.lower(): name
    for name in (
        "DC", "C", "ST", "L", "O", "OU", "CN", "UID", "SN", "GN", "E",
        "emailAddress", "serialNumber", "title", "street", "postalCode",
    )
}  # fmt: skip
_ATTR: Final = r"(?:" + "|".join(sorted(_ATTRS, key=len, reverse=True)) + r")"
# A slash DN: two or more /ATTR=value components. A value may itself hold a
# slash ("CN=host/ui01.example.org"), so a slash only opens a new component
# when an attribute name and "=" follow it.
# A run of more than 16 components is a dump of attributes, not a DN: the
# lookaheads refuse it whole instead of cutting it into many 16-part DNs, and
# a comma DN never starts right after a comma (it would be part of the run).
_SLASH: Final = re.compile(
    r"(?<![\w/])(?:/" + _ATTR + r"=[^/\n\"'()<>,;\t]+(?:/(?!" + _ATTR + r"=)"
    r"[^/\n\"'()<>,;\t]+)*){2,16}(?!/" + _ATTR + r"=)",
    re.IGNORECASE,
)
_COMMA: Final = re.compile(
    r"(?<![\w,])(?<!,[ \t])(?<!,[ \t]{2})" + _ATTR + r"[ \t]*=[ \t]*[^,=\n\"'()<>;/+]+"
    r"(?:,[ \t]*" + _ATTR + r"[ \t]*=[ \t]*[^,=\n\"'()<>;/+]+){1,15}"
    r"(?![ \t]*,[ \t]*" + _ATTR + r"[ \t]*=)",
    re.IGNORECASE,
)
_COMPONENT: Final = re.compile(r"(" + _ATTR + r")[ \t]*=[ \t]*", re.IGNORECASE)
# Compiled once: re.split with a pattern's text looks it up in re's cache in
# Python at every call.
_SLASH_SPLIT: Final = re.compile(r"/(?=" + _ATTR + r"=)", re.IGNORECASE)
# Where the last value ends when prose follows it. A slash DN's last value
# runs to the end of its line ("/CN=host/ui01.example.org" may hold a slash,
# "CN=John Smith 5678" spaces), and a DN in a sentence is followed by words:
# "/DC=org/DC=example/CN=John Smith 5678 logged in to ui01", "CN=..., DC=org
# and the host ui01". Grid CNs are names (capitalised words, name particles,
# a number), host and service names, robot names after a label ("Robot:"),
# mail addresses. The value ends before a function word or verb of prose
# (_PROSE, in the languages of the cue words), and before a lower-case word
# after a number, an address or a host name ("... 5678 authenticated"). A
# lower-case word after a capitalised name that is none of these ("John
# Smith authenticated") leaves the end unsure: the DN is not given as one
# (it stays unclassified), a wrong DN is not sent to a CA.
_PROSE_WORDS: Final = (
    # English
    "and or but nor also logged log logs login logins was were is are has"
    " have had been be being from to in on at with via which who whose that"
    " the an of for by as when while since after before used using it its"
    " this these his her their we our not"
    # German
    " und oder aber hat haben hatte wurde wurden ist sind war waren mit auf"
    " im am an aus bei für über seit nach vom zum zur ins sich wir ein eine"
    " die dem des"
    # French, Italian, Spanish, Portuguese
    " et ou mais a ont été est sont était avec sur pour par qui que depuis"
    " dans chez il elle nous ed ma ha hanno è sono era stato stata con su per"
    " che nel sul pero han fue está para por desde foi com em"
    # Dutch
    " en of maar heeft hebben werd zijn met op voor door bij naar uit dat"
    " het een"
)
_PROSE: Final = frozenset(_PROSE_WORDS.split())
# Lower-case words of names: "Jean-Pierre de la Fontaine", "Ludwig van Beethoven".
_PARTICLE_WORDS: Final = (
    "de la le du des del della di da dos das do van von der den ter ten zu af"
    " av al el bin ibn"
)
_PARTICLES: Final = frozenset(_PARTICLE_WORDS.split())
_TOKEN: Final = re.compile(r"\S+")
_GENERAL: Final = frozenset({"dc", "c"})
_SPECIFIC: Final = frozenset({"cn", "uid", "emailaddress", "e"})


def find_dns(line: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, DN in slash form) for every DN written in `line` whose
    end is sure."""
    for start, stop in dn_runs(line):
        item = dn_at(line, start, stop)
        if item is not None and not item[3]:
            yield item[:3]


def dn_runs(line: str) -> list[tuple[int, int]]:
    """(start, end) of the runs of `line` that may write a DN.

    Whether a run is a DN does not depend on which digits it holds, so the
    runs of a line whose digits differ are the same (see indicators.scan).
    """
    found, taken = [], -1
    for match in _SLASH.finditer(line):
        text = match.group(0)
        stop = match.start() + _last_value_end(text)[0]
        found.append((match.start(), stop))
        if _from_slash(line[match.start() : stop]):
            taken = stop
    for match in _COMMA.finditer(line):
        if match.start() >= taken:
            found.append(
                (match.start(), match.start() + _last_value_end(match.group(0))[0])
            )
    return found


def _last_value_end(text: str) -> tuple[int, bool]:
    """Where the DN written at the start of `text` ends (its last value cut
    before prose), and whether that end is unsure (see _PROSE)."""
    # The last value follows the last "=" (a value with "=" in it is cut
    # there too, the same way for every line).
    value = text.rfind("=") + 1
    if not value or " " not in text[value:].strip(" \t"):
        return len(text), False  # one word: nothing to cut
    end, unsure, named = len(text), False, False
    previous = ""
    for index, token in enumerate(_TOKEN.finditer(text, value)):
        word = token.group(0)
        if index and word in _PROSE:
            return token.start(), unsure
        if index and word.isalpha() and word.islower() and word not in _PARTICLES:
            if previous.isdigit() or any(c in previous for c in ".@/"):
                return token.start(), unsure
            unsure = unsure or named
        if word.endswith(":"):
            named = False  # "Robot: cvmfs-publisher": a label, then the name
        elif word[:1].isupper():
            named = True
        previous = word.rstrip(",.;:")
    return end, unsure


def dn_at(line: str, start: int, stop: int) -> tuple[int, int, str, bool] | None:
    """(start, end, DN in slash form, whether its end is unsure) of the run
    `line[start:stop]`, if it is one."""
    text = line[start:stop]
    # A slash DN starts with its slash, a comma DN with an attribute name.
    value = _from_slash(text) if text[:1] == "/" else _from_comma(text)
    if not value:
        return None
    return start, start + len(text.rstrip(" .:")), value, _last_value_end(text)[1]


def _pairs(text: str, separator: str) -> list[tuple[str, str]]:
    starts = list(_COMPONENT.finditer(text))
    pairs = []
    for index, match in enumerate(starts):
        stop = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        value = text[match.end() : stop].strip().rstrip(separator).strip()
        pairs.append((_ATTRS[match.group(1).lower()], value.rstrip(" .:")))
    return pairs


def _from_slash(text: str) -> str:
    # Split only at "/ATTR=": other slashes belong to the value before them.
    pieces = _SLASH_SPLIT.split(text)
    pairs = []
    for piece in pieces:
        if not piece:
            continue
        attr, _, value = piece.partition("=")
        pairs.append((_ATTRS[attr.lower()], value.strip().rstrip(" .:")))
    return _render(pairs)


def _from_comma(text: str) -> str:
    pairs = _pairs(text, ",")
    if not pairs:
        return ""
    first, last = pairs[0][0].lower(), pairs[-1][0].lower()
    if first not in _GENERAL and (last in _GENERAL or first in _SPECIFIC):
        pairs.reverse()
    return _render(pairs)


def _render(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) < 2 or any(not value for _, value in pairs):
        return ""
    # A DN names a person or a host: without a CN (or UID) it is a path.
    if not any(attr.lower() in _SPECIFIC for attr, _ in pairs):
        return ""
    return "".join(f"/{attr}={value}" for attr, value in pairs)
