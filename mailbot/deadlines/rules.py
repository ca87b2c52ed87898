"""The procedure's clocks and the chase policy, as configuration.

Rules (one TOML table per rule under `[rules]`; every key optional for the
five default rules, all of `duration`, `calendar`, `starts_on` and `met_by`
required for a new one)::

    [rules.analysis]
    duration = "4h"          # see "Durations" below
    calendar = "working"     # "working" (site's opening hours) or "calendar"
    starts_on = "request"    # discovered | isolated | request | resolved
    met_by = "site_reply"    # site_report | containment | downtime
                             # | site_reply | closure_report
    owed_by = "site"         # only "site" for now
    enabled = true           # false drops the rule

Chasing (the escalation of DOMAIN.md)::

    [chase]
    level_intervals = ["0h", "1 working day", "1 working day"]
    within_working_hours = true
    max_lateness = "7d"

`level_intervals` has one entry per level: level 1 comes that long after
the due time, each further level that long after the previous level's
reminder. An interval with the word "working" ("2 working hours",
"1 working day") counts the site's working time; without it, calendar
time. A working day is the site's daily opening hours of working time
(8 hours for 09:00-17:00): from inside working hours, the same local time on
the next working day. When `within_working_hours` is true, every reminder
time is pushed to the next opening of the site's working hours, and the next
level counts from the pushed time. A deadline first seen more than
`max_lateness` (calendar time) past due is recorded missed and not chased;
seen by the sweep, or in the mail that starts it when that mail arrived (a
fresh mail stating an old discovery is chased from now).
The list may also be one comma-separated string (handy in environment
variables): "0h, 1 working day, 1 working day".

Durations: a number and a unit, several of them in a row if wanted ("1d 4h"):
s, m (minutes), h, d, w, mo or month, y; the units spelled out ("4 hours",
"2 days", "1 month") work too. Hours, minutes and seconds may be decimal
("1.5h"). ISO 8601 durations work too: "PT4H", "P1D", "P1M", "P1DT12H". On a
working-time rule a day is one working day and months are refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from mailbot.config_env import closest, flag_of, nearest
from mailbot.deadlines.calendar import (
    CalendarTime,
    Duration,
    Timekeeper,
    as_utc,
)
from mailbot.errors import ConfigError

log = logging.getLogger(__name__)

START_EVENTS = frozenset({"discovered", "isolated", "request", "resolved"})
MET_BY_EVENTS = frozenset(
    {"site_report", "containment", "downtime", "site_reply", "closure_report"}
)
CALENDARS = frozenset({"calendar", "working"})
OWERS = frozenset({"site"})
RULE_KEYS = frozenset(
    {"duration", "calendar", "starts_on", "met_by", "owed_by", "enabled"}
)
REQUIRED_NEW_RULE_KEYS = ("duration", "calendar", "starts_on", "met_by")
CHASE_KEYS = frozenset({"level_intervals", "within_working_hours", "max_lateness"})
MAX_LEVELS = 10

ACCEPTED_FORMS = (
    'write a number and a unit such as "30m", "4h", "4 hours", "1d", "2 days", '
    '"1w", "1 month", or an ISO 8601 duration such as "PT4H", "P1D", "P1M"'
)

_UNITS = {
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds",
    "seconds": "seconds", "m": "minutes", "min": "minutes", "mins": "minutes",
    "minute": "minutes", "minutes": "minutes", "h": "hours", "hr": "hours",
    "hrs": "hours", "hour": "hours", "hours": "hours", "d": "days", "day": "days",
    "days": "days", "w": "weeks", "wk": "weeks", "week": "weeks", "weeks": "weeks",
    "mo": "months", "mon": "months", "month": "months", "months": "months",
    "y": "years", "yr": "years", "year": "years", "years": "years",
}  # fmt: skip
_TIME_UNITS = frozenset({"seconds", "minutes", "hours"})
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(working\s+)?([a-z]+)")
_SEPARATOR_RE = re.compile(r"[\s,]*(?:and\s+)?")
_ISO_RE = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rule:
    """One clock: what a site owes, from which event, by when."""

    name: str
    starts_on: str
    duration: Duration
    calendar: str
    met_by: str
    owed_by: str = "site"
    enabled: bool = True

    def due_at(
        self,
        started_at: dt.datetime,
        working: Timekeeper,
        calendar_time: Timekeeper | None = None,
    ) -> dt.datetime:
        """The due time of a clock started at `started_at`.

        `working` is the site's WorkingCalendar; `calendar_time` defaults to
        CalendarTime in UTC.
        """
        if self.calendar == "working":
            return working.add(started_at, self.duration)
        return (calendar_time or CalendarTime()).add(started_at, self.duration)


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("report", "discovered", Duration(time=dt.timedelta(hours=4)), "calendar",
         "site_report"),
    Rule("containment", "discovered", Duration(days=1), "calendar", "containment"),
    Rule("downtime", "isolated", Duration(days=1), "calendar", "downtime"),
    Rule("analysis", "request", Duration(time=dt.timedelta(hours=4)), "working",
         "site_reply"),
    Rule("closure_report", "resolved", Duration(months=1), "calendar",
         "closure_report"),
)  # fmt: skip


@dataclass(frozen=True)
class Interval:
    """A span of calendar time, or of the site's working time."""

    duration: Duration
    working: bool = False

    def after(self, t: dt.datetime, working: Timekeeper) -> dt.datetime:
        """The instant this interval after `t`; `working` is the site's."""
        if self.working:
            return working.add(t, self.duration)
        return CalendarTime().add(t, self.duration)

    def __str__(self) -> str:
        if not self.working or self.duration.is_zero:
            return str(self.duration)
        return f"{self.duration} of working time"


def _default_intervals() -> tuple[Interval, ...]:
    one_day = Interval(Duration(days=1), working=True)
    return (Interval(Duration()), one_day, one_day)


@dataclass(frozen=True)
class ChasePolicy:
    """The escalation: reminder levels, and when they may go out."""

    level_intervals: tuple[Interval, ...] = field(default_factory=_default_intervals)
    within_working_hours: bool = True
    max_lateness: Duration = Duration(days=7)

    def __post_init__(self) -> None:
        if not 1 <= len(self.level_intervals) <= MAX_LEVELS:
            raise ValueError(f"a chase needs 1 to {MAX_LEVELS} levels")

    @property
    def levels(self) -> int:
        return len(self.level_intervals)

    def too_late(self, due_at: dt.datetime, seen_at: dt.datetime) -> bool:
        """Whether a deadline first seen at `seen_at` is past chasing."""
        return as_utc(seen_at) > CalendarTime().add(due_at, self.max_lateness)


def reminder_time(
    due_at: dt.datetime, level: int, policy: ChasePolicy, calendar: Timekeeper
) -> dt.datetime:
    """When the reminder of `level` (1-based) may go out.

    `calendar` is the site's WorkingCalendar: it counts working intervals,
    and bounds reminders to its working hours when the policy says so.
    """
    if not 1 <= level <= policy.levels:
        raise ValueError(f"level {level} is not in 1..{policy.levels}")
    t = as_utc(due_at)
    for interval in policy.level_intervals[:level]:
        t = interval.after(t, calendar)
        if policy.within_working_hours:
            t = calendar.next_open(t)
    return t


def reminder_times(
    due_at: dt.datetime, policy: ChasePolicy, calendar: Timekeeper
) -> tuple[dt.datetime, ...]:
    """The times of every level's reminder, level 1 first."""
    return tuple(
        reminder_time(due_at, level, policy, calendar)
        for level in range(1, policy.levels + 1)
    )


def parse_duration(text: object, key: str) -> Duration:
    """Parse a duration of configuration; ConfigError naming `key` if bad."""
    interval = parse_interval(text, key)
    if interval.working:
        raise ConfigError(key, f"{text!r}: no 'working' here; {ACCEPTED_FORMS}")
    return interval.duration


def parse_interval(text: object, key: str) -> Interval:
    """Parse a duration that may say "working" ("2 working hours")."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(key, f"{text!r} is not a duration; {ACCEPTED_FORMS}")
    cleaned = text.strip()
    found = _parse_iso(cleaned) if cleaned[:1] in "Pp" else _parse_words(cleaned)
    if found is None:
        raise ConfigError(key, f"{text!r} is not a duration; {ACCEPTED_FORMS}")
    amounts, working = found
    if working and (amounts.get("months") or amounts.get("years")):
        raise ConfigError(key, f"{text!r}: months are calendar time, never working")
    if any(amounts.get(u, 0) % 1 for u in ("years", "months", "weeks", "days")):
        raise ConfigError(key, f"{text!r}: days, weeks and months must be whole")
    return Interval(_duration_of(amounts), working)


def _parse_iso(text: str) -> tuple[dict[str, float], bool] | None:
    match = _ISO_RE.fullmatch(text)
    if match is None or not any(match.groupdict().values()):
        return None
    return {u: float(v) for u, v in match.groupdict().items() if v}, False


def _parse_words(text: str) -> tuple[dict[str, float], bool] | None:
    amounts: dict[str, float] = {}
    working = False
    position = 0
    text = text.lower()
    while position < len(text):
        match = _PART_RE.match(text, position)
        unit = _UNITS.get(match.group(3)) if match else None
        if match is None or unit is None or unit in amounts:
            return None
        amounts[unit] = float(match.group(1))
        working = working or bool(match.group(2))
        position = _SEPARATOR_RE.match(text, match.end()).end()  # type: ignore[union-attr]
    return amounts, working


def _duration_of(amounts: Mapping[str, float]) -> Duration:
    time = dt.timedelta(
        hours=amounts.get("hours", 0),
        minutes=amounts.get("minutes", 0),
        seconds=amounts.get("seconds", 0),
    )
    return Duration(
        months=int(amounts.get("months", 0) + 12 * amounts.get("years", 0)),
        weeks=int(amounts.get("weeks", 0)),
        days=int(amounts.get("days", 0)),
        time=time,
    )


def rules_from_config(
    section: Mapping[str, object] | None, variables: Collection[str] = ()
) -> tuple[Rule, ...]:
    """The rules of the `[rules]` table: defaults, overridden key by key.

    `variables` are the entries of `section` set by the environment
    (MAILBOT_RULES_ANALYSIS_DURATION gives "analysis_duration"): an error
    in one names the variable. Rules with `enabled = false` are left out of
    the result.
    """
    rules = {rule.name: rule for rule in DEFAULT_RULES}
    for name, entry in _folded(section or {}).items():
        where = f"rules.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(where, "a rule name is lower case letters, digits, _")
        if not isinstance(entry, Mapping):
            raise _not_a_table(name, set(rules), variables)
        from_env = {key for key in entry if f"{name}_{key}" in variables}
        rules[name] = _rule(name, entry, rules, from_env)
    return tuple(rule for rule in rules.values() if rule.enabled)


def _variable(rule: str, key: str) -> str:
    return f"MAILBOT_RULES_{rule}_{key}".upper()


def _not_a_table(name: str, rules: set[str], variables: Collection[str]) -> ConfigError:
    """The error for a [rules] entry that is a value, not a rule's table."""
    settings = {f"{rule}_{key}": (rule, key) for rule in rules for key in RULE_KEYS}
    guess = closest(name, settings)
    if name in variables and name not in rules:
        # MAILBOT_RULES_ANALYSIS_DURATON=8h: no rule setting's name ends it.
        fix = f"; did you mean {_variable(*settings[guess])}?" if guess else ""
        return ConfigError(
            f"MAILBOT_RULES_{name.upper()}",
            f"sets no rule setting{fix} (MAILBOT_RULES_<RULE>_<KEY>, RULE one of"
            f" {_listed(rules)}, KEY one of {_listed(RULE_KEYS)})",
        )
    return ConfigError(
        f"MAILBOT_RULES_{name.upper()}" if name in variables else f"rules.{name}",
        "must be a table of rule settings ([rules.NAME] in the file);"
        " from the environment set one setting as MAILBOT_RULES_<RULE>_<KEY>"
        f" (MAILBOT_RULES_ANALYSIS_DURATION=8h), KEY one of"
        f" {_listed(RULE_KEYS)}",
    )


def _folded(section: Mapping[str, object]) -> dict[str, object]:
    """`section` with each one-setting entry ("analysis_duration", which
    MAILBOT_RULES_ANALYSIS_DURATION gives) put into its rule's table, over
    the file's value for that setting."""
    folded = dict(section)
    for name, value in section.items():
        rule, key = _setting(name)
        table = folded.get(rule, {}) if rule else None
        if isinstance(value, Mapping) or not isinstance(table, Mapping):
            continue
        folded[rule] = {**table, key: value}
        del folded[name]
    return folded


def _setting(name: str) -> tuple[str, str]:
    """("analysis", "duration") for "analysis_duration"; ("", "") for a name
    that ends in no rule setting."""
    for key in sorted(RULE_KEYS, key=len, reverse=True):
        rule = name.removesuffix(f"_{key}")
        if rule != name and rule:
            return rule, key
    return "", ""


def _rule(
    name: str, entry: Mapping[str, object], rules: Mapping[str, Rule], from_env: set
) -> Rule:
    where = f"rules.{name}"

    def named(key: str) -> str:
        # An error names the variable that set the key, or the file's key.
        return _variable(name, key) if key in from_env else f"{where}.{key}"

    unknown = sorted(set(entry) - RULE_KEYS)
    if unknown:
        raise ConfigError(
            named(unknown[0]),
            f"is no rule setting{nearest(unknown[0], RULE_KEYS)} (the settings"
            f" are {_listed(RULE_KEYS)})",
        )
    base = rules.get(name)
    if base is None:
        missing = [key for key in REQUIRED_NEW_RULE_KEYS if key not in entry]
        if missing:
            raise _new_rule_missing(name, missing, rules, named(sorted(entry)[0]))
        base = Rule(name, "request", Duration(), "calendar", "site_reply")
    changes: dict[str, object] = {}
    for key in ("starts_on", "met_by", "owed_by", "calendar"):
        if key in entry:
            changes[key] = _choice(entry[key], named(key), _CHOICES[key])
    if "enabled" in entry:
        changes["enabled"] = _flag(entry["enabled"], named("enabled"))
    rule = replace(base, **changes)  # type: ignore[arg-type]
    return _with_duration(rule, entry, named("duration"))


def _new_rule_missing(
    name: str, missing: list[str], rules: Mapping[str, Rule], given: str
) -> ConfigError:
    """A rule of a new name lacks a key: a misspelt rule's name, most likely."""
    needs = f"a new rule needs {_listed(REQUIRED_NEW_RULE_KEYS)}"
    guess = closest(name, rules)
    if given.startswith("MAILBOT_"):
        key = given.removeprefix(_variable(name, ""))
        fix = f"; did you mean {_variable(guess, key)}?" if guess else ""
        return ConfigError(
            given,
            f"{name.upper()} is no rule of mailbot's{fix} ({needs}; the rules are"
            f" {_listed(rules)})",
        )
    if guess:
        return ConfigError(
            f"rules.{name}",
            f"is no rule of mailbot's; did you mean rules.{guess}? ({needs}; the"
            f" rules are {_listed(rules)})",
        )
    return ConfigError(f"rules.{name}.{missing[0]}", f"{needs}: this key is missing")


def _with_duration(rule: Rule, entry: Mapping[str, object], key: str) -> Rule:
    if "duration" in entry:
        interval = parse_interval(entry["duration"], key)
        if interval.working and entry.get("calendar", "working") != "working":
            raise ConfigError(key, 'says "working" but calendar is "calendar"')
        calendar = "working" if interval.working else rule.calendar
        rule = replace(rule, duration=interval.duration, calendar=calendar)
    if rule.calendar == "working" and rule.duration.months:
        raise ConfigError(key, "months are calendar time; give hours, days or weeks")
    return rule


_CHOICES = {
    "starts_on": START_EVENTS,
    "met_by": MET_BY_EVENTS,
    "owed_by": OWERS,
    "calendar": CALENDARS,
}


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _choice(value: object, key: str, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        guess = (
            nearest(value.strip().lower(), allowed) if isinstance(value, str) else ""
        )
        raise ConfigError(key, f"{value!r} is not one of {_listed(allowed)}{guess}")
    return value.strip().lower()


def _flag(value: object, key: str) -> bool:
    # Environment overrides arrive as text, so accept the usual spellings.
    if isinstance(value, bool):
        return value
    flag = flag_of(str(value))
    if flag is None:
        raise ConfigError(key, f"{value!r} is not true or false")
    return flag


def chase_policy_from_config(
    section: Mapping[str, object] | None, variables: Collection[str] = ()
) -> ChasePolicy:
    """The `[chase]` table as a ChasePolicy; missing keys keep the defaults.

    `variables` are the keys set by the environment: an error names the
    variable (MAILBOT_CHASE_MAX_LATENESS)."""
    section = section or {}

    def named(key: str) -> str:
        return f"MAILBOT_CHASE_{key.upper()}" if key in variables else f"chase.{key}"

    unknown = sorted(set(section) - CHASE_KEYS)
    if unknown:
        raise ConfigError(
            named(unknown[0]),
            f"is no key of [chase]{nearest(unknown[0], CHASE_KEYS)} (the keys are"
            f" {_listed(CHASE_KEYS)})",
        )
    policy = ChasePolicy()
    if "level_intervals" in section:
        intervals = _intervals(section["level_intervals"], named("level_intervals"))
        policy = replace(policy, level_intervals=intervals)
    if "within_working_hours" in section:
        flag = _flag(section["within_working_hours"], named("within_working_hours"))
        policy = replace(policy, within_working_hours=flag)
    if "max_lateness" in section:
        lateness = parse_duration(section["max_lateness"], named("max_lateness"))
        policy = replace(policy, max_lateness=lateness)
    return policy


def _intervals(value: object, key: str) -> tuple[Interval, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LEVELS:
        raise ConfigError(key, f"must be a list of 1 to {MAX_LEVELS} durations")
    intervals = []
    for number, text in enumerate(value, start=1):
        try:
            intervals.append(parse_interval(text, key))
        except ConfigError as exc:
            raise ConfigError(key, f"level {number}: {exc.problem}") from None
    return tuple(intervals)
