"""The findings of one mail: each value once per field, the best-supported role.

The same address may be named in several places of a mail: under the
template's "Attacker IP(s)" heading, in a sentence, in a pasted log. The
assignment with the most support wins (a heading over words, words over the
site-address default); an indicator that nothing classifies anywhere in the
mail stays `unclassified`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbot.extract.roles import NONE
from mailbot.extract.values import UNCLASSIFIED, Finding

_CLASSIFIED_KINDS = frozenset({"ipv4", "ipv6", "hostname", "url"})


@dataclass
class Collector:
    """Candidate findings, resolved into the mail's findings by `findings()`."""

    _candidates: list[tuple[Finding, int]] = field(default_factory=list)

    def add(self, finding: Finding, strength: int = NONE) -> None:
        self._candidates.append((finding, strength))

    def findings(self) -> list[Finding]:
        best: dict[str, int] = {}
        for finding, strength in self._candidates:
            if finding.kind in _CLASSIFIED_KINDS:
                best[finding.value] = max(best.get(finding.value, NONE), strength)
        seen: set[tuple[str, str]] = set()
        result = []
        for finding, strength in self._candidates:
            if finding.kind in _CLASSIFIED_KINDS:
                if strength < best[finding.value]:
                    continue
                if best[finding.value] == NONE and finding.field != UNCLASSIFIED:
                    finding = _unclassified(finding)
            key = (finding.field, finding.value)
            if key not in seen:
                seen.add(key)
                result.append(finding)
        return result


def _unclassified(finding: Finding) -> Finding:
    return Finding(
        UNCLASSIFIED, finding.value, finding.kind, finding.part, finding.line
    )
