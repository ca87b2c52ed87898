"""The labelled set of invented reports (tests/reports): recall and precision.

Each report runs through `extract()` with a Context built from its JSON. Per
report the expected indicators must be found in their field, no unexpected
indicator may appear, every labelled free-text field must be present and the
closure verdict must match. Over the whole set the aggregate precision and
recall of addresses, hosts, URLs, DNs and CVEs must stay above the targets.
`bench/extract_score.py` prints the per-field table from the same functions.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailbot import extract
from mailbot.mail import TextPart

REPORTS = Path(__file__).resolve().parent / "reports"
INDICATOR_KINDS = frozenset({"ipv4", "ipv6", "hostname", "url", "dn", "cve"})
SCORED_KINDS = INDICATOR_KINDS | {"timestamp"}
# mailbot's and the CSIRT's own names, as fields.context_for gives them.
CSIRT_ADDRESSES = frozenset({"abuse@csirt.example.org", "alice@csirt.example.org"})
CSIRT_DOMAINS = frozenset({"csirt.example.org"})
PRECISION_TARGET, RECALL_TARGET = 0.98, 0.95

# Reports whose labels the extractor does not meet yet, each with its reason.
KNOWN_MISSES: dict[str, str] = {}


@dataclass(frozen=True)
class Report:
    name: str
    spec: dict
    parts: tuple[TextPart, ...]
    context: extract.Context


def load_report(path: Path) -> Report:
    spec = json.loads(path.read_text(encoding="utf-8"))
    text = path.with_suffix(".txt").read_text(encoding="utf-8")
    parts = [TextPart("1", "text/plain", spec["kind"], text)]
    for number, extra in enumerate(spec.get("parts", []), start=2):
        content = (path.parent / extra["file"]).read_text(encoding="utf-8")
        content_type = extra.get("content_type", "text/plain")
        parts.append(
            TextPart(str(number), content_type, extra["kind"], content, extra["file"])
        )
    reference = spec.get("reference_time")
    context = extract.Context(
        site_networks=tuple(ipaddress.ip_network(n) for n in spec["site_networks"]),
        ignored_addresses=CSIRT_ADDRESSES,
        ignored_ips=frozenset(spec.get("ignored_ips", ())),
        ignored_domains=CSIRT_DOMAINS,
        timezone=spec["timezone"],
        reference_time=dt.datetime.fromisoformat(reference.replace("Z", "+00:00"))
        if reference
        else None,
        site_domains=tuple(spec.get("site_domains", ())),
        subject=spec["subject"],
    )
    return Report(path.stem, spec, tuple(parts), context)


def all_reports(directory: Path = REPORTS) -> list[Report]:
    return [load_report(path) for path in sorted(directory.glob("*.json"))]


def kind_of(value: str) -> str:
    """The indicator kind of an expected value."""
    if value.startswith("/"):
        return "dn"
    if value.upper().startswith("CVE-"):
        return "cve"
    if "://" in value:
        return "url"
    if value[:4].isdigit() and "T" in value and value.endswith("Z"):
        return "timestamp"
    try:
        return f"ipv{ipaddress.ip_network(value, strict=False).version}"
    except ValueError:
        return "hostname"


def expected_pairs(report: Report) -> set[tuple[str, str]]:
    return {
        (field, value)
        for field, values in report.spec["expect"].items()
        for value in values
    }


def found_pairs(findings: list[extract.Finding]) -> set[tuple[str, str]]:
    return {(f.field, f.value) for f in findings if f.kind in SCORED_KINDS}


@dataclass
class Score:
    """True positives, false positives and false negatives per field and kind."""

    tp: Counter
    fp: Counter
    fn: Counter

    @staticmethod
    def ratio(good: int, bad: int) -> float:
        return good / (good + bad) if good + bad else 1.0

    def over(self, kinds: frozenset[str]) -> tuple[float, float]:
        tp = sum(n for (_, kind), n in self.tp.items() if kind in kinds)
        fp = sum(n for (_, kind), n in self.fp.items() if kind in kinds)
        fn = sum(n for (_, kind), n in self.fn.items() if kind in kinds)
        return self.ratio(tp, fp), self.ratio(tp, fn)


def score(reports: list[Report]) -> tuple[Score, dict[str, list[str]]]:
    """The whole set's score, and per report what went wrong."""
    total = Score(Counter(), Counter(), Counter())
    problems: dict[str, list[str]] = {}
    for report in reports:
        findings = extract.extract(report.parts, report.context)
        expected, found = expected_pairs(report), found_pairs(findings)
        for name, pairs in (("tp", expected & found), ("fp", found - expected)):
            for field, value in pairs:
                getattr(total, name)[(field, kind_of(value))] += 1
        for field, value in expected - found:
            total.fn[(field, kind_of(value))] += 1
        wrong = [f"missing {f}={v}" for f, v in sorted(expected - found)]
        wrong += [f"unexpected {f}={v}" for f, v in sorted(found - expected)]
        present = {f.field for f in findings if f.kind == "text"}
        wrong += [f"no text for {name}" for name in report.spec["text"]]
        wrong = [w for w in wrong if not _text_present(w, present)]
        closure = extract.is_closure_report(report.spec["subject"], report.parts)
        if closure != report.spec["closure"]:
            wrong.append(f"closure {closure}, expected {report.spec['closure']}")
        if wrong:
            problems[report.name] = wrong
    return total, problems


def _text_present(problem: str, present: set[str]) -> bool:
    return problem.startswith("no text for ") and problem[12:] in present


@pytest.fixture(scope="module")
def scored() -> tuple[Score, dict[str, list[str]]]:
    return score(all_reports())


@pytest.mark.parametrize("name", [p.stem for p in sorted(REPORTS.glob("*.json"))])
def test_report(name: str, scored) -> None:
    if name in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[name])
    _, problems = scored
    assert problems.get(name, []) == []


def test_aggregate_thresholds(scored) -> None:
    total, _ = scored
    precision, recall = total.over(INDICATOR_KINDS)
    assert precision >= PRECISION_TARGET, f"precision {precision:.3f}"
    assert recall >= RECALL_TARGET, f"recall {recall:.3f}"


def test_known_misses_are_few() -> None:
    assert len(KNOWN_MISSES) <= 5
