"""The held-out report sets: a lower bar, so regressions show.

tests/reports_heldout (20 reports), tests/reports_heldout2 (15),
tests/reports_heldout3 (10) and tests/reports_heldout5 (15) were written after
the extractor and labelled before it first ran on them (see their READMEs).
The labelled set asserts the targets; these sets assert only that the
extractor has not become worse on text it was not fitted to. The fifth set
also names the reports that still miss, each with its reason, and checks
every other report in full.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from test_extract_reports import INDICATOR_KINDS, all_reports, score

TESTS = Path(__file__).resolve().parent
# Each set: (directory, reports, indicator floors, timestamp floors). Measured
# when the floors were set (docs/extraction.md): the first set 0.906 / 0.906
# on indicators (0.812 before the fixes it revealed) and 1.000 / 1.000 on
# timestamps; the second 0.891 / 0.891 and 1.000 / 0.981 (0.786 / 0.800 and
# 0.561 / 0.426 on its first run); the third 0.829 / 0.829 and 0.935 / 0.906
# (0.600 / 0.600 and 0.852 / 0.719 on its first run); the fifth 0.848 / 0.848
# and 0.883 / 0.883 (0.791 / 0.803 and 0.722 / 0.605 on its first run).
SETS = {
    "reports_heldout": (20, (0.90, 0.85), (0.95, 0.95)),
    "reports_heldout2": (15, (0.87, 0.87), (0.95, 0.95)),
    "reports_heldout3": (10, (0.80, 0.80), (0.90, 0.88)),
    "reports_heldout5": (15, (0.848, 0.848), (0.883, 0.883)),
}
# The fifth set's reports that do not meet their labels yet, with the reason.
KNOWN_MISSES = {
    "q01-cs-thunderbird-reply": "no Czech activity words for evidence (free text)",
    "q02-ro-gmail-reply": "Romanian 'de la' (from) is no cue (Spanish and "
    "French 'of the')",
    "q03-gr-english-outlook": "'on Wednesday' is no date (the times take the "
    "mail's day)",
    "q05-es-wrapped-72": "'apagamos' (shut down) is isolation in its label, not "
    "in reports_heldout h20's ('shut down'), and 'alerta' names the time; "
    "'instanciada con la imagen' is no virtual-appliance text",
    "q08-ie-relative-times": "a WAF flag 'nobody looked at' is read as the "
    "discovery; an access log's client is not named as the attacker",
    "q09-de-inline-nested": "a login node that ran the scanner is read as an "
    "entry point (labelled affected)",
    "q10-nl-template-defanged": "'shut down' is isolation in its label and "
    "evidence in reports_heldout h20's",
    "q12-br-wrapped-sshd": "'nosso UI (ui.site-br1...)': the bare word UI is "
    "no entry-point cue",
    "q13-mx-bilingual": "'comando y control' and 'hacia' no cues",
    "q14-lb-french-outlook-ipv6": "a partner's hosts the attacker went on to "
    "are read as the attacker's (labelled suspected)",
}
TIMESTAMPS = frozenset({"timestamp"})


@pytest.mark.parametrize("name", sorted(SETS))
def test_heldout_set_is_complete(name: str) -> None:
    reports = all_reports(TESTS / name)
    assert len(reports) == SETS[name][0]
    for report in reports:
        assert report.spec["expect"], report.name


@pytest.mark.parametrize("name", sorted(SETS))
def test_heldout_set_stays_above_its_floors(name: str) -> None:
    _, indicator_floors, timestamp_floors = SETS[name]
    total, problems = score(all_reports(TESTS / name))
    for kinds, (precision_floor, recall_floor) in (
        (INDICATOR_KINDS, indicator_floors),
        (TIMESTAMPS, timestamp_floors),
    ):
        precision, recall = total.over(kinds)
        assert precision >= precision_floor, f"precision {precision:.3f}: {problems}"
        assert recall >= recall_floor, f"recall {recall:.3f}: {problems}"


@functools.cache
def _fifth_set_problems() -> dict[str, list[str]]:
    return score(all_reports(TESTS / "reports_heldout5"))[1]


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (TESTS / "reports_heldout5").glob("*.json"))
)
def test_fifth_set_report(name: str) -> None:
    problems = _fifth_set_problems().get(name, [])
    if name in KNOWN_MISSES:
        assert problems, f"{name} meets its labels now: take it off KNOWN_MISSES"
    else:
        assert problems == []
