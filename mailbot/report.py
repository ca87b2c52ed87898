"""`mailbot report`: how the sites kept the procedure's deadlines.

Per site and per NGI, for each rule: how many deadlines fell in the period,
how many were met in time, missed (answered late or not at all), still
pending or cancelled, and how long the site took to meet them (median and
worst, in hours of calendar time, counting late answers too). Beside them,
the incidents opened, resolved and closed in the period: the numbers a
CSIRT puts into its reports.

A deadline belongs to the period when its clock started in it; an incident
when it was opened, resolved or closed in it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import Audit, Deadline, Incident, IncidentSite
from mailbot.health import not_in_file

UNKNOWN = "(unknown)"
# Trail actions that close an incident (the CSIRT's #close and #false-positive).
CLOSING_ACTIONS = ("close", "false-positive", "false_positive", "closed")
RULE_COLUMNS = (
    "deadlines",
    "met",
    "missed",
    "answered_late",
    "unanswered",
    "pending",
    "cancelled",
    "median_hours",
    "worst_hours",
)
INCIDENT_COLUMNS = ("incidents_opened", "incidents_resolved", "incidents_closed")
# A site's: false for one the sites file no longer lists (health.not_in_file).
IN_FILE = "in_sites_file"
NOT_IN_FILE = "no longer in the sites file"


@dataclass
class RuleStats:
    deadlines: int = 0
    met: int = 0
    missed: int = 0
    answered_late: int = 0
    unanswered: int = 0
    pending: int = 0
    cancelled: int = 0
    hours: list[float] = field(default_factory=list)

    def add(self, deadline: Deadline) -> None:
        self.deadlines += 1
        state = deadline.state
        if state in ("met", "missed", "pending", "cancelled"):
            setattr(self, state, getattr(self, state) + 1)
        if state == "missed":
            if deadline.met_at is None:
                self.unanswered += 1
            else:
                self.answered_late += 1
        if deadline.met_at is not None:
            taken = deadline.met_at - deadline.started_at
            self.hours.append(max(taken.total_seconds(), 0) / 3600)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            k: getattr(self, k) for k in RULE_COLUMNS if k not in _HOUR_KEYS
        }
        data["median_hours"] = _round(
            statistics.median(self.hours) if self.hours else None
        )
        data["worst_hours"] = _round(max(self.hours, default=None))
        return data


_HOUR_KEYS = ("median_hours", "worst_hours")


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@dataclass
class Unit:
    """One site or one NGI: its incidents and its deadlines by rule."""

    name: str
    ngi: str | None = None
    # A site's: None for an NGI and for the incidents of no known site.
    in_sites_file: bool | None = None
    opened: int = 0
    resolved: int = 0
    closed: int = 0
    rules: dict[str, RuleStats] = field(default_factory=dict)

    def rule(self, name: str) -> RuleStats:
        return self.rules.setdefault(name, RuleStats())

    def as_dict(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = {key: self.name}
        if key == "site":
            data["ngi"] = self.ngi
            data["in_sites_file"] = self.in_sites_file
        data.update(
            incidents_opened=self.opened,
            incidents_resolved=self.resolved,
            incidents_closed=self.closed,
            rules=[
                {"rule": name, **stats.as_dict()}
                for name, stats in sorted(self.rules.items(), key=_rule_order)
            ],
        )
        return data


def _rule_order(item: tuple[str, RuleStats]) -> tuple[int, str]:
    order = ["report", "containment", "downtime", "analysis", "closure_report"]
    name = item[0]
    return (order.index(name) if name in order else len(order), name)


class _Window:
    def __init__(self, since: dt.datetime | None, until: dt.datetime) -> None:
        self.since, self.until = since, until

    def __contains__(self, when: dt.datetime | None) -> bool:
        if when is None:
            return False
        return (self.since is None or when >= self.since) and when < self.until


def build(
    app: App, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict[str, Any]:
    """The report as plain data (what --format json prints)."""
    window = _Window(since, until or app.clock.now())
    sites: dict[str, Unit] = {}
    ngis: dict[str, Unit] = {}
    # (site, tag) of each incident a site's numbers count, for the sites the
    # file no longer lists: their NGI is the one stored with the incident.
    counted: list[tuple[str | None, str]] = []

    def units(site: str | None, incident: Incident) -> tuple[Unit, Unit]:
        counted.append((site, incident.tag))
        name = site or UNKNOWN
        known = app.sites.site(site) if site else None
        ngi = (known.ngi if known else None) or incident.ngi or UNKNOWN
        in_file = known is not None if site else None
        unit = sites.setdefault(name, Unit(name, ngi, in_file))
        return unit, ngis.setdefault(ngi, Unit(ngi))

    with app.db.transaction() as session:
        closing = _closing_times(session)
        for incident, site in _incident_sites(session):
            for unit in units(site, incident):
                unit.opened += incident.opened_at in window
                unit.resolved += incident.resolved_at in window
                unit.closed += closing.get(incident.id) in window
        for deadline, incident in session.execute(
            select(Deadline, Incident).join(
                Incident, Incident.id == Deadline.incident_id
            )
        ).all():
            if deadline.started_at not in window:
                continue
            for unit in units(deadline.site, incident):
                unit.rule(deadline.rule).add(deadline)
    return {
        "since": iso(since),
        "until": iso(window.until),
        "sites": [sites[k].as_dict("site") for k in sorted(sites)],
        "ngis": [ngis[k].as_dict("ngi") for k in sorted(ngis)],
        "sites_not_in_file": not_in_file(app, counted),
    }


def _incident_sites(session: Any) -> list[tuple[Incident, str | None]]:
    """Each incident with each site involved (once with None when none is)."""
    involved: dict[int, list[str]] = defaultdict(list)
    for incident_id, site in session.execute(
        select(IncidentSite.incident_id, IncidentSite.site).order_by(IncidentSite.id)
    ):
        involved[incident_id].append(site)
    pairs: list[tuple[Incident, str | None]] = []
    for incident in session.scalars(
        select(Incident).where(Incident.merged_into_id.is_(None))
    ):
        names = involved.get(incident.id) or [incident.site]
        pairs.extend((incident, name) for name in dict.fromkeys(names))
    return pairs


def _closing_times(session: Any) -> dict[int, dt.datetime]:
    """When each closed incident was closed: its trail, else its resolution."""
    times: dict[int, dt.datetime] = {}
    for incident_id, at in session.execute(
        select(Audit.incident_id, Audit.at)
        .where(Audit.action.in_(CLOSING_ACTIONS))
        .order_by(Audit.at)
    ):
        times[incident_id] = at
    for incident in session.scalars(
        select(Incident).where(Incident.status.in_(("closed", "false_positive")))
    ):
        fallback = incident.resolved_at or incident.opened_at
        times.setdefault(incident.id, fallback)
    return times


def as_csv(data: dict[str, Any]) -> str:
    """One row per site or NGI and rule; one row per site or NGI for incidents.

    Rule rows leave the incident columns empty and incident rows the rule
    columns, so that sums over a column count nothing twice.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["scope", "name", "ngi", "rule", *RULE_COLUMNS, *INCIDENT_COLUMNS, IN_FILE]
    )
    for scope, key in (("site", "site"), ("ngi", "ngi")):
        for unit in data[key + "s"]:
            head = [scope, unit[key], unit["ngi"] or ""]
            tail = [_csv_flag(unit.get(IN_FILE))]
            counts = [unit[c] for c in INCIDENT_COLUMNS]
            writer.writerow([*head, "", *[""] * len(RULE_COLUMNS), *counts, *tail])
            for rule in unit["rules"]:
                values = ["" if rule[c] is None else rule[c] for c in RULE_COLUMNS]
                writer.writerow([*head, rule["rule"], *values, *[""] * 3, *tail])
    return out.getvalue()


def _csv_flag(value: bool | None) -> str:
    return "" if value is None else str(value).lower()


def as_text(data: dict[str, Any]) -> str:
    """Tables for people: one block per site, then one per NGI."""
    period = f"from {data['since']}" if data["since"] else "from the beginning"
    lines = [f"Deadlines and incidents {period} until {data['until']}"]
    for title, key in (("Sites", "site"), ("NGIs", "ngi")):
        lines += ["", f"{title}:"]
        if not data[key + "s"]:
            lines.append("  (none)")
        for unit in data[key + "s"]:
            lines += _unit_text(unit, key)
    return "\n".join(lines) + "\n"


_HEADER = (
    f"    {'rule':<15}{'due':>5}{'met':>5}{'missed':>8}{'late':>6}"
    f"{'unanswered':>12}{'pending':>9}{'median':>9}{'worst':>9}"
)


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def _unit_text(unit: dict[str, Any], key: str) -> list[str]:
    name = _unit_name(unit, key)
    lines = [
        f"  {name}: {unit['incidents_opened']} incident(s) opened, "
        f"{unit['incidents_resolved']} resolved, {unit['incidents_closed']} closed"
    ]
    if not unit["rules"]:
        return lines
    lines.append(_HEADER)
    for r in unit["rules"]:
        lines.append(
            f"    {r['rule']:<15}{r['deadlines']:>5}{r['met']:>5}{r['missed']:>8}"
            f"{r['answered_late']:>6}{r['unanswered']:>12}{r['pending']:>9}"
            f"{_hours(r['median_hours']):>9}{_hours(r['worst_hours']):>9}"
        )
    return lines


def _unit_name(unit: dict[str, Any], key: str) -> str:
    """A site with its NGI, or an NGI, as a person reads it: the incidents
    of no known site (or NGI) are said to be so, not "(unknown) ((unknown))"."""
    if key == "ngi":
        return "no NGI known" if unit["ngi"] == UNKNOWN else unit["ngi"]
    ngi = "no NGI known" if unit["ngi"] in (None, UNKNOWN) else unit["ngi"]
    if unit["site"] == UNKNOWN:
        # The data keeps UNKNOWN (JSON, CSV); the text says what to do.
        return f"no site known ({ngi}; #site NAME in an incident's thread sets it)"
    if unit[IN_FILE] is False:
        # Its NGI is the one stored with its incidents, which may be stale.
        return f"{unit['site']} ({ngi}; {NOT_IN_FILE})"
    return f"{unit['site']} ({ngi})"


def parse_day_or_instant(
    text: str, key: str, tz: str, *, day_end: bool = False
) -> dt.datetime:
    """`2026-01-01` (local midnight in `tz`) or an ISO 8601 instant with zone.

    With `day_end`, a date is the end of that day (the next midnight): the
    period a person means by `--until 2026-12-31` holds 31 December.
    """
    from mailbot.clock import in_range, parse_instant
    from mailbot.deadlines.calendar import load_zone, local_to_utc
    from mailbot.errors import UsageError

    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        try:
            return parse_instant(text)
        except ValueError as exc:
            raise UsageError(key, f"{exc}; or give a date like 2026-01-01") from None
    try:
        if day_end:
            day += dt.timedelta(days=1)
        instant = local_to_utc(dt.datetime.combine(day, dt.time()), load_zone(tz))
    except OverflowError:
        instant = None
    try:
        return in_range(instant, text)
    except ValueError as exc:
        raise UsageError(key, str(exc)) from None


def report_command(args: Any) -> int:
    """`mailbot report [--since DATE] [--until DATE] [--format text|csv|json]`."""
    from mailbot.cli import print_json
    from mailbot.commands import app_from
    from mailbot.errors import UsageError

    app = app_from(args, servers=False)
    try:
        tz = app.settings.mailbot.timezone
        since = parse_day_or_instant(args.since, "--since", tz) if args.since else None
        until = (
            parse_day_or_instant(args.until, "--until", tz, day_end=True)
            if args.until
            else None
        )
        if since is not None and until is not None and since >= until:
            raise UsageError(
                "--until", f"{args.until} is not after --since {args.since}"
            )
        if since is not None and until is None and since >= app.clock.now():
            # An empty report of a period that ended before it began, exit 0.
            raise UsageError(
                "--since",
                f"{args.since} is not before now ({iso(app.clock.now())}): give"
                " a --since in the past, or an --until after it",
            )
        data = build(app, since, until)
    finally:
        app.close()
    if args.format == "json":
        print_json(data)
    else:
        print(as_csv(data) if args.format == "csv" else as_text(data), end="")
    return 0
