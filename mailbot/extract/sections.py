"""Headings of the recommended report template, in the ways sites write them.

"2. Systems affected:", "-- Host(s) affected --", "## Detection", "* Attacker
IP(s): 203.0.113.7", "| Detected by | Wazuh |" and a bare "Lessons learned"
line all open a section for one field. A heading with a colon may carry the
first value on its own line; one without a colon must stand alone.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from mailbot.extract.shape import has_digit, shape

_NAMES: Final = {
    "detected_by": (
        r"detect(?:ed|ion)(?:[ \t]+by)?|discovered[ \t]+by|found[ \t]+by"
        r"|reported[ \t]+by|how[ \t]+(?:was[ \t]+it[ \t]+)?detected"
        r"|detection[ \t]+method"
    ),
    "affected_hosts": (
        r"(?:systems?|hosts?|machines?|nodes?|servers?|vms?)[ \t]+affected"
        r"|(?:affected|compromised)[ \t]+(?:systems?|hosts?|machines?|nodes?"
        r"|servers?|vms?|ips?|addresses)(?:[ \t]+and[ \t]+ips?)?"
        r"|postižen[éá][ \t]+(?:stroje|systémy|uzly|servery|počítače)"
    ),
    "evidence": r"evidences?(?:[ \t]+of[ \t]+(?:the[ \t]+)?compromise)?|timeline",
    # Actions and losses also in German, French, Italian, Spanish and Dutch,
    # as sites label them ("Maßnahmen: keine", "Perte de données : non").
    "actions_taken": (
        r"actions?(?:[ \t]+(?:taken|entreprises|prises|menées))?"
        r"|measures(?:[ \t]+taken)?|countermeasures|mitigations?"
        r"|response[ \t]+actions?|(?:ergriffene[ \t]+|getroffene[ \t]+|gegen)?"
        r"ma(?:ß|ss)nahmen|(?:contre-)?mesures(?:[ \t]+(?:prises|adoptées))?"
        r"|azioni(?:[ \t]+intraprese)?|misure(?:[ \t]+adottate)?"
        r"|acciones(?:[ \t]+(?:tomadas|realizadas))?"
        r"|medidas(?:[ \t]+(?:tomadas|adoptadas))?"
        r"|(?:genomen[ \t]+)?maatregelen"
    ),
    "x509_dns": r"(?:x\.?509[ \t]+)?(?:certificate[ \t]+)?(?:dns?|subjects?)",
    "entry_points": r"(?:local[ \t]+)?entry[ \t]+points?",
    "attacker_ips": (
        r"attacker(?:'s)?(?:[ \t]+ip[ \t]+address(?:es)?|[ \t]+ips?"
        r"|[ \t]+address(?:es)?)?"
        r"|attacking[ \t]+ips?|(?:remote[ \t]+)?ips?[ \t]+of[ \t]+the[ \t]+attacker"
        r"|útočníci|útočník|ip[ \t]+(?:adresy[ \t]+)?útočníka"
    ),
    "virtual_appliances": (
        r"virtual[ \t]+appliances?(?:[ \t]*/[ \t]*vm[ \t]+images?)?|vm[ \t]+images?"
        r"|appliances?|images?"
    ),
    "losses": (
        r"(?:data[ \t]+)?loss(?:es)?|damages?|datenverlust(?:e)?|verluste?"
        r"|schäden|schaden|pertes?(?:[ \t]+de[ \t]+données)?|dommages?|dégâts"
        r"|perdit[ae](?:[ \t]+di[ \t]+dati)?|danni|pérdidas?(?:[ \t]+de[ \t]+datos)?"
        r"|daños|dataverlies|verliezen"
    ),
    "suspected_ips": (
        r"suspected[ \t]+(?:ips?|hosts?|addresses)|(?:remote[ \t]+)?ips?[ \t]+suspected"
        r"(?:[ \t]+to[ \t]+be[ \t]+affected)?|possibly[ \t]+affected[ \t]+ips?"
    ),
    "vulnerabilities": (
        r"(?:exploited[ \t]+)?vulnerabilit(?:y|ies)(?:[ \t]+exploited)?|vulns?|cves?"
    ),
    # Also in German, French, Italian, Spanish, Portuguese, Dutch, Czech,
    # Slovak and Romanian: a closure report in another language is still one.
    "lessons_learnt": (
        r"lessons?[ \t]+learn(?:t|ed)|erkenntnisse|leçons[ \t]+(?:apprises|tirées)"
        r"|lezioni[ \t]+apprese|lecciones[ \t]+aprendidas|lições[ \t]+aprendidas"
        r"|geleerde[ \t]+lessen|lessen[ \t]+geleerd|po(?:na)?učení|poučenie"
        r"|lecții[ \t]+învățate"
    ),
    "resolution": (
        r"resolution|solution|lösung|behebung|résolution|risoluzione|resolución"
        r"|resolução|oplossing|řešení|riešenie|rezolvare|soluționare"
    ),
    # Headings that end a section without opening one for a field.
    "": r"summary|description|details|iocs?|indicators|notes?|comments?|status",
}
_HEADING: Final = re.compile(
    "|".join(rf"(?P<{name or 'other'}>{pattern})" for name, pattern in _NAMES.items()),
    re.IGNORECASE,
)
# Numbering, bullets, markdown and dash decorations around a heading.
_LEAD: Final = re.compile(
    r"^[ \t]*(?:#{1,6}|[-*•>]{1,3}|\d{1,2}[.)]|[a-h][.)](?=[ \t])|\(\d{1,2}\)|--+)?"
    r"[ \t]*(?:\d{1,2}[.)][ \t]*)?(?:\*\*|__)?[ \t]*"
)
_TAIL: Final = re.compile(
    r"[ \t]*(?:\([^()\n]{0,60}\))?[ \t]*(?:\*\*|__)?[ \t]*(?:--+|=+)?[ \t]*(?::[ \t]*)?"
)
_PLURAL: Final = re.compile(r"\((?:s|es)\)", re.IGNORECASE)


@dataclass(frozen=True)
class Heading:
    """A template heading: its field ("" for one that only ends a section)."""

    field: str
    value: str  # the text after the heading on the same line
    value_start: int  # where `value` starts in the line


def heading(line: str) -> Heading | None:
    """The heading that `line` opens, or None (cached: a part asks twice a line)."""
    # No heading is this long; a long line would only fill the cache.
    if len(line) > _CACHED:
        return _read_heading(line)
    if line in _KNOWN:
        return _KNOWN[line]
    # Most lines are none, and whether a line is one does not depend on its
    # digits (the patterns have no digit but those of "x509"): log records
    # that differ only in their numbers share one answer.
    found = None
    if not has_digit(line) or "509" in line or not _no_heading(shape(line)):
        found = _read_heading(line)
    if len(_KNOWN) >= _KEPT:
        _KNOWN.clear()  # bounded; the next lines make it again
    _KNOWN[line] = found
    return found


_CACHED: Final = 300
_KEPT: Final = 4096
_KNOWN: Final[dict[str, Heading | None]] = {}


@functools.lru_cache(maxsize=4096)
def _no_heading(line_shape: bytes) -> bool:
    # Keyed by the shape's bytes: a line that is no heading (most) is not
    # decoded again.
    return _read_heading(line_shape.decode("utf-8", "surrogatepass")) is None


def _read_heading(line: str) -> Heading | None:
    if "|" in line and line.lstrip().startswith("|"):
        return _table_row(line)
    # "Host(s)" and "address(es)": blanked, keeping every position.
    plain = _PLURAL.sub(lambda m: " " * len(m.group(0)), line)
    lead = _LEAD.match(plain)
    start = lead.end() if lead else 0
    match = _HEADING.match(plain, start)
    if match is None:
        return None
    tail = _TAIL.match(plain, match.end())
    end = tail.end() if tail else match.end()
    rest = line[end:]
    has_colon = ":" in plain[match.end() : end]
    if rest.strip() and not has_colon:
        return None
    field = match.lastgroup or ""
    return Heading("" if field == "other" else field, rest.strip(), end)


def _table_row(line: str) -> Heading | None:
    # "| Affected hosts | web01.example.org, 192.0.2.7 |" as HTML tables become.
    cells = line.split("|")
    if len(cells) < 3:
        return None
    first = cells[1]
    found = heading(first.strip())
    if found is None or found.value:
        return None
    value_start = len(cells[0]) + len(first) + 2
    value = "|".join(cells[2:]).strip(" |\t")
    return Heading(found.field, value, value_start)
