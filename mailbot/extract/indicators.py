"""Indicators in one line of text: addresses, networks, URLs, hostnames, DNs, CVEs.

Each scanner reports spans of the line so that later steps can read the words
around an indicator. Order matters: DNs claim their spans first (a mail
address may be part of one), then mail addresses are blanked (their domains
are not hosts), URLs claim their spans before the hostname scanner runs, so a
host inside a DN or URL is not reported twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, NamedTuple

from mailbot.extract.addresses import DOTTED, address, dotted_item, v6_item
from mailbot.extract.dn import dn_at, dn_runs, in_url
from mailbot.extract.hosts import is_hostname
from mailbot.extract.shape import has_digit, keep_plan, shape
from mailbot.extract.versions import PACKAGE_FILE, not_version

_MAIL: Final = re.compile(
    r"(?<![\w.+%=-])[\w.+%=-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE
)
_URL: Final = re.compile(
    r"(?<![a-z])(?:https?|ftps?|sftp)://[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE
)
# Speed: a pattern whose first item is a character class lets the regex
# engine skip to the positions where that class occurs; a look-behind first,
# or IGNORECASE on letters, makes it try every position of the line. So the
# look-behinds stand after the first character and cases are spelled out.
_V6: Final = re.compile(
    r"(?=[0-9a-fA-F:])(?<![\w:.])[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]{2,}[0-9a-fA-F]"
    r"(?:%\w+)?"
)
_HOST: Final = re.compile(
    r"(?<![\w@/\\=.:-])(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"(?:[a-zA-Z]{2,63}|[xX][nN]--[a-zA-Z0-9-]{1,59})\.?(?![\w@(-]|\.\w)"
)
_CVE: Final = re.compile(r"\bCVE-(\d{4})-(\d{4,7})\b", re.IGNORECASE)
_VO: Final = re.compile(r"\bVOs?[ \t]+\Z")


# The `host` of a DN whose last value may have run into prose.
UNSURE_DN: Final = "?"


class Indicator(NamedTuple):
    """One indicator and where it stands in its line.

    A named tuple, not a dataclass: a line may give many, and a tuple is made
    several times faster.
    """

    value: str
    kind: str
    start: int
    end: int
    host: str = ""  # for a URL: the host it names (an address or a hostname)
    # (for a DN: UNSURE_DN when where it ends is unsure)


def _made(fields: tuple[str, str, int, int, str]) -> Indicator:
    """`Indicator(*fields)`, without the Python-level `__new__` of a named tuple.

    That `__new__` only hands its arguments to `tuple.__new__`; called
    directly, a compiled scanner (setup.py) makes its indicator in C instead
    of in a Python frame, and an interpreted one saves a frame too.
    """
    return tuple.__new__(Indicator, fields)


def scan(line: str, reference_year: int = 9999) -> list[Indicator]:
    """Every indicator in `line` (already refanged), in order of position."""
    # A line without digits has no shape but itself: the line cache answers it.
    if len(line) > _PLANNED or not has_digit(line):
        return _read(line, reference_year)[0]
    key = shape(line)
    plan = _PLANS.get(key)
    if plan is not None:
        found = _follow_plan(line, reference_year, plan)
        if found is not None:
            return found
        earlier = _EARLIER_PLANS.get(key)
        if earlier is not None:
            for other in reversed(earlier):
                found = _follow_plan(line, reference_year, other)
                if found is not None:
                    return found
    steps: list[_Step] = []
    found, unordered = _read(line, reference_year, steps)
    keep_plan(_PLANS, _EARLIER_PLANS, _PLANS_KEPT, key, (steps, unordered))
    return found


# A line's plan: the candidate runs of each scanner, and which of them were
# indicators. No pattern tells one ASCII digit from another, so a line whose
# digits differ (the next record of a log) has the same candidates; only
# whether each is an indicator (an octet over 255, a date, a suffix such as
# 0.bg) depends on the digits and is checked again. When every candidate
# decides as in the plan, the text blanked between the scanners is the same
# too, and so are the candidates of the next scanner, and which scanners
# its guards let run. Per scanner that found candidates (the index of
# _SCANNERS, _MAILS for the mail addresses blanked after the DNs): its candidate
# runs, and what became of each (_NONE, _KEPT, _REFUSED). A scanner without
# candidates finds nothing in any line of the shape, and is not in the plan.
# And whether the scanners' indicators, one scanner after the other, are out
# of order of position (most lines have one scanner's, in order).
_Step = tuple[int, list[tuple[int, int]], list[int]]
_Plan = tuple[list[_Step], bool]
_PLANS: Final[dict[bytes, _Plan]] = {}
_EARLIER_PLANS: Final[dict[bytes, list[_Plan]]] = {}  # see shape.keep_plan
_PLANS_KEPT: Final = 4096
_PLANNED: Final = 500  # longer lines are read without a plan
_MAILS: Final = -1
_AFTER_DNS: Final = 1  # mail addresses are blanked before this scanner


def _read(
    line: str, year: int, record: list[_Step] | None = None
) -> tuple[list[Indicator], bool]:
    """The indicators of `line`, whether they needed sorting, and the steps of
    the plan of its shape in `record`."""
    found: list[Indicator] = []
    text = line
    for index, (guard, hint, candidates, make, keep, blanks) in enumerate(_SCANNERS):
        if index == _AFTER_DNS and "@" in line:
            # Mail addresses after the DNs: an address in a DN is its value
            # ("CN=David Jones djones@example.nl", "/emailAddress=...").
            spans = [match.span() for match in _MAIL.finditer(text)]
            if record is not None and spans:
                record.append((_MAILS, spans, []))
            text = _blank(text, spans)
        present = guard in text if guard else _may_name_cve(text)
        if not present:
            continue
        # Without the hint there are no candidates.
        runs = candidates(text) if hint is None or hint(text) else []
        if not runs:
            continue
        kept, decided = _decide(text, runs, year, make, keep)
        if record is not None:
            record.append((index, runs, decided))
        if kept:
            found += kept
            if blanks:
                text = _blank(text, _claimed(text, kept))
    unordered = any(found[i - 1].start > found[i].start for i in range(1, len(found)))
    if unordered:
        found.sort(key=_start)
    return found, unordered


def _follow_plan(line: str, year: int, plan: _Plan) -> list[Indicator] | None:
    """The indicators of `line` by the plan of its shape; None where it departs."""
    found: list[Indicator] = []
    text = line
    steps, unordered = plan
    for index, runs, decided in steps:
        if index == _MAILS:
            text = _blank(text, runs)
            continue
        _, _, _, make, keep, blanks = _SCANNERS[index]
        kept = _follow(text, runs, decided, year, make, keep)
        if kept is None:
            return None
        if kept:
            found += kept
            if blanks:
                text = _blank(text, _claimed(text, kept))
    if unordered:
        found.sort(key=_start)
    return found


def _start(item: Indicator) -> int:
    return item.start


# What became of a run: no indicator (the digits may decide), an indicator,
# or an indicator that the words before it refuse (which the digits do not
# change: "version 1.2.3.4", "VO example.eu").
_NONE: Final = 0
_KEPT: Final = 1
_REFUSED: Final = 2


# A scanner's halves, typed so that the compiled build calls them as such.
_Runs = list[tuple[int, int]]
_Make = Callable[[str, int, int, int], Indicator | None]
_Keep = Callable[[str, int], bool] | None


def _decide(
    text: str, runs: _Runs, year: int, make: _Make, keep: _Keep
) -> tuple[list[Indicator], list[int]]:
    kept: list[Indicator] = []
    decided: list[int] = []
    for start, stop in runs:
        item = make(text, start, stop, year)
        if item is None:
            decided.append(_NONE)
        elif keep is not None and not keep(text, start):
            decided.append(_REFUSED)
        else:
            decided.append(_KEPT)
            kept.append(item)
    return kept, decided


def _follow(
    text: str, runs: _Runs, decided: list[int], year: int, make: _Make, keep: _Keep
) -> list[Indicator] | None:
    """The indicators of `runs` as the plan decided them; None where it differs."""
    kept: list[Indicator] = []
    for (start, stop), was in zip(runs, decided, strict=True):
        if was == _REFUSED:
            continue
        item = make(text, start, stop, year)
        if was == _KEPT:
            if item is None:
                return None
            kept.append(item)
        elif item is not None and (keep is None or keep(text, start)):
            return None
    return kept


def _claimed(text: str, kept: list[Indicator]) -> list[tuple[int, int]]:
    """The spans that `kept` claims from the next scanners: all but a DN in a
    URL's query, which the URL holds whole ("...?dn=/DC=org/CN=Jane%20Doe")."""
    return [
        (item.start, item.end)
        for item in kept
        if item.kind != "dn" or not in_url(text, item.start)
    ]


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    # Keep positions: replace each span by as many spaces.
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


# Each scanner has two halves: the candidate runs of a text, which do not
# depend on its digits, and the indicator of one run (or None), which may.


def _dotted_runs(text: str) -> list[tuple[int, int]]:
    runs = []
    for match in DOTTED.finditer(text):
        start, end = match.span()
        following = text[end : end + 1]
        if following.isalpha() or following == "_":
            continue
        if following == "." and PACKAGE_FILE.match(text, end):
            continue
        runs.append((start, end))
    return runs


def _ipv4(text: str, start: int, end: int, year: int) -> Indicator | None:
    item = dotted_item(text[start:end])
    return None if item is None else _made((item[0], item[1], start, end, ""))


def _v6_runs(text: str) -> list[tuple[int, int]]:
    runs = []
    for match in _V6.finditer(text):
        candidate = match.group(0).split("%", 1)[0]
        colons = candidate.count(":")
        # An address has "::", or eight groups, or six and an IPv4 tail:
        # "02:33:07" is a time whatever its digits.
        if (colons >= 6 or "::" in candidate) and len(candidate) <= 60:
            runs.append(match.span())
    return runs


def _ipv6(text: str, start: int, end: int, year: int) -> Indicator | None:
    item = v6_item(text[start:end])
    return None if item is None else _made((item[0], item[1], start, end, ""))


def _url_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _URL.finditer(text)]


def _url(text: str, start: int, end: int, year: int) -> Indicator | None:
    url = _trim_url(text[start:end])
    scheme, _, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = _url_host(authority.rpartition("@")[2])
    if not host:
        return None
    path = rest[len(authority) :]
    value = f"{scheme.lower()}://{authority.lower()}{path}"
    return _made((value, "url", start, start + len(url), host))


def _trim_url(url: str) -> str:
    url = url.rstrip(".,;:!?'\"")
    # A closing parenthesis belongs to the URL only when it opened one.
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1].rstrip(".,;:!?")
    return url


def _url_host(authority: str) -> str:
    if authority.startswith("["):
        ip = address(authority[1:].partition("]")[0])
        return str(ip) if ip else ""
    name = authority.rpartition(":")[0] if authority.count(":") == 1 else authority
    ip = address(name)
    if ip is not None:
        return str(ip)
    name = name.lower().rstrip(".")
    return name if is_hostname(name) else ""


def _may_name_cve(text: str) -> bool:
    return "cve" in text or "CVE" in text or "Cve" in text


def _host_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _HOST.finditer(text)]


def _host(text: str, start: int, end: int, year: int) -> Indicator | None:
    name = text[start:end].lower().rstrip(".")
    return _made((name, "hostname", start, end, "")) if is_hostname(name) else None


def _not_vo(text: str, start: int) -> bool:
    # Virtual organisations have names like domains: "VO example.eu".
    return not _VO.search(text, max(0, start - 6), start)


def _cve_runs(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _CVE.finditer(text)]


def _cve(text: str, start: int, end: int, reference_year: int) -> Indicator | None:
    match = _CVE.match(text[start:end])
    if match is None:
        return None
    year, number = int(match.group(1)), match.group(2)
    if not 1999 <= year <= reference_year + 1:
        return None
    if len(number) > 4 and number.startswith("0"):
        return None
    return _made((f"CVE-{year}-{number}", "cve", start, end, ""))


def _dn(text: str, start: int, end: int, year: int) -> Indicator | None:
    found = dn_at(text, start, end)
    if found is None:
        return None
    # A DN whose end is unsure (dn._PROSE) says so where a URL names its host.
    return _made((found[2], "dn", start, found[1], UNSURE_DN if found[3] else ""))


def _may_hold_v6(text: str) -> bool:
    # An IPv6 candidate has "::" or six colons (see _v6_runs).
    return "::" in text or text.count(":") >= 6


# A name's last label starts with a letter after a dot after a letter or
# digit: most prose has dots only before spaces, and _HOST tries every
# position of a line.
_MAY_NAME_HOST: Final = re.compile(r"[a-zA-Z0-9]\.[a-zA-Z]").search

# (guard, hint, candidate runs, indicator of a run, test of the words before
# it, blanked for the next scanners). The guard is a string that the text
# holds (the same for every line of a shape, as the plans need), the hint
# (if any) a cheap test that candidates need, tried only when a line is
# read without a plan.
# DNs and URLs claim their spans before the hostname scanner runs; IPv6 goes
# before IPv4, so that "::ffff:192.0.2.9" does not also yield 192.0.2.9.
_Scanner = tuple[
    str, Callable[[str], object] | None, Callable[[str], _Runs], _Make, _Keep, bool
]
_SCANNERS: tuple[_Scanner, ...] = (
    ("=", None, dn_runs, _dn, None, True),
    ("://", None, _url_runs, _url, None, True),
    (":", _may_hold_v6, _v6_runs, _ipv6, None, True),
    (".", None, _dotted_runs, _ipv4, not_version, False),
    (".", _MAY_NAME_HOST, _host_runs, _host, _not_vo, False),
    ("", None, _cve_runs, _cve, None, False),  # "" stands for _may_name_cve
)
