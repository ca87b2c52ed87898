"""The rules and the chase policy as configuration (DOMAIN.md, BR-30)."""

from __future__ import annotations

import datetime as dt

import pytest

from mailbot.deadlines.calendar import CalendarTime, Duration, WorkingCalendar
from mailbot.deadlines.rules import (
    DEFAULT_RULES,
    ChasePolicy,
    Interval,
    Rule,
    chase_policy_from_config,
    parse_duration,
    parse_interval,
    reminder_time,
    reminder_times,
    rules_from_config,
)
from mailbot.errors import ConfigError

UTC = dt.UTC
H = dt.timedelta(hours=1)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


PARIS = WorkingCalendar("Europe/Paris", "FR")
UTC_CALENDAR = WorkingCalendar("UTC")


def by_name(rules: tuple[Rule, ...]) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


def test_defaults_are_the_approved_table() -> None:
    table = {
        rule.name: (rule.starts_on, str(rule.duration), rule.calendar, rule.met_by)
        for rule in DEFAULT_RULES
    }
    assert table == {
        "report": ("discovered", "4h", "calendar", "site_report"),
        "containment": ("discovered", "1 day", "calendar", "containment"),
        "downtime": ("isolated", "1 day", "calendar", "downtime"),
        "analysis": ("request", "4h", "working", "site_reply"),
        "closure_report": ("resolved", "1 month", "calendar", "closure_report"),
    }
    assert all(rule.owed_by == "site" and rule.enabled for rule in DEFAULT_RULES)


def test_no_section_gives_the_defaults() -> None:
    assert rules_from_config(None) == DEFAULT_RULES
    assert rules_from_config({}) == DEFAULT_RULES


def test_override_key_by_key() -> None:
    rules = by_name(
        rules_from_config(
            {
                "analysis": {"duration": "8 hours"},
                "containment": {"starts_on": "isolated"},
                "downtime": {"enabled": False},
            }
        )
    )
    assert rules["analysis"].duration == Duration(time=8 * H)
    assert rules["analysis"].calendar == "working"
    assert rules["containment"].starts_on == "isolated"
    assert rules["containment"].duration == Duration(days=1)
    assert "downtime" not in rules
    assert rules["report"] == by_name(DEFAULT_RULES)["report"]


def test_new_rule_needs_all_keys() -> None:
    entry = {
        "duration": "P2D",
        "calendar": "calendar",
        "starts_on": "resolved",
        "met_by": "site_reply",
    }
    rules = by_name(rules_from_config({"follow_up": entry}))
    assert rules["follow_up"] == Rule(
        "follow_up", "resolved", Duration(days=2), "calendar", "site_reply"
    )
    with pytest.raises(ConfigError) as caught:
        rules_from_config({"follow_up": {"duration": "2d", "calendar": "calendar"}})
    assert caught.value.key == "rules.follow_up.starts_on"


def test_working_in_the_duration_sets_the_calendar() -> None:
    rules = by_name(rules_from_config({"report": {"duration": "4 working hours"}}))
    assert rules["report"].calendar == "working"


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({"analysis": {"duration": "soon"}}, "rules.analysis.duration", "PT4H"),
        ({"analysis": {"duration": 4}}, "rules.analysis.duration", "4h"),
        ({"analysis": {"calendar": "lunar"}}, "rules.analysis.calendar", "working"),
        (
            {"analysis": {"starts_on": "birthday"}},
            "rules.analysis.starts_on",
            "request",
        ),
        ({"report": {"met_by": "luck"}}, "rules.report.met_by", "site_report"),
        ({"report": {"owed_by": "ngi"}}, "rules.report.owed_by", "site"),
        ({"report": {"enabled": "maybe"}}, "rules.report.enabled", "true or false"),
        ({"report": {"durration": "4h"}}, "rules.report.durration", "duration"),
        ({"report": "4h"}, "rules.report", "table"),
        ({"Bad-Name": {}}, "rules.Bad-Name", "lower case"),
        (
            {"analysis": {"duration": "1 month"}},
            "rules.analysis.duration",
            "calendar time",
        ),
        (
            {"report": {"duration": "4 working hours", "calendar": "calendar"}},
            "rules.report.duration",
            "working",
        ),
    ],
)
def test_bad_rule_values_name_the_key(section: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        rules_from_config(section)
    assert caught.value.key == key
    assert words in caught.value.problem
    assert str(caught.value).startswith(key + ": ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4h", Duration(time=4 * H)),
        ("4 hours", Duration(time=4 * H)),
        ("30m", Duration(time=dt.timedelta(minutes=30))),
        ("1.5h", Duration(time=dt.timedelta(minutes=90))),
        ("1d", Duration(days=1)),
        ("1 day", Duration(days=1)),
        ("2 days", Duration(days=2)),
        ("1w", Duration(weeks=1)),
        ("1 month", Duration(months=1)),
        ("1 day 4 hours", Duration(days=1, time=4 * H)),
        ("1d, 30m", Duration(days=1, time=dt.timedelta(minutes=30))),
        ("PT4H", Duration(time=4 * H)),
        ("P1D", Duration(days=1)),
        ("P1M", Duration(months=1)),
        ("P1Y", Duration(months=12)),
        ("P1DT12H", Duration(days=1, time=12 * H)),
        ("pt30m", Duration(time=dt.timedelta(minutes=30))),
        ("0h", Duration()),
    ],
)
def test_parse_duration_forms(text: str, expected: Duration) -> None:
    assert parse_duration(text, "k") == expected


@pytest.mark.parametrize(
    "text", ["", "4", "4x", "P", "PT", "P1.5D", "1.5d", "4h 4h", "-1h", "soon", "4 h x"]
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "rules.analysis.duration")
    assert caught.value.key == "rules.analysis.duration"


def test_parse_duration_refuses_working_and_interval_accepts_it() -> None:
    with pytest.raises(ConfigError, match="working"):
        parse_duration("1 working day", "chase.max_lateness")
    assert parse_interval("1 working day", "k") == Interval(Duration(days=1), True)
    assert parse_interval("2 working hours", "k") == Interval(
        Duration(time=2 * H), True
    )
    assert parse_interval("1d", "k") == Interval(Duration(days=1), False)
    with pytest.raises(ConfigError, match="months"):
        parse_interval("1 working month", "k")


def test_chase_defaults() -> None:
    policy = chase_policy_from_config(None)
    assert policy == ChasePolicy()
    assert policy.levels == 3
    assert [str(i) for i in policy.level_intervals] == [
        "0h",
        "1 day of working time",
        "1 day of working time",
    ]
    assert policy.within_working_hours
    assert policy.max_lateness == Duration(days=7)


def test_chase_from_config() -> None:
    policy = chase_policy_from_config(
        {
            "level_intervals": "4 working hours, 2 working hours, 6 working hours",
            "within_working_hours": "false",
            "max_lateness": "3d",
        }
    )
    assert policy.level_intervals[2] == Interval(Duration(time=6 * H), True)
    assert not policy.within_working_hours
    assert policy.max_lateness == Duration(days=3)


@pytest.mark.parametrize(
    ("section", "key", "words"),
    [
        ({"level_intervals": ["0h", "later"]}, "chase.level_intervals", "level 2"),
        ({"level_intervals": []}, "chase.level_intervals", "1 to 10"),
        ({"level_intervals": 3}, "chase.level_intervals", "list"),
        ({"within_working_hours": "often"}, "chase.within_working_hours", "true"),
        ({"max_lateness": "1 working day"}, "chase.max_lateness", "working"),
        ({"max_lateness": "a week"}, "chase.max_lateness", "PT4H"),
        ({"levels": 3}, "chase.levels", "level_intervals"),
    ],
)
def test_bad_chase_values_name_the_key(section: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        chase_policy_from_config(section)
    assert caught.value.key == key
    assert words in caught.value.problem


def test_br30_chase_schedule_after_the_due_time() -> None:
    # Notified Fri 09:00 UTC; the analysis clock falls due 4 working hours on.
    analysis = by_name(DEFAULT_RULES)["analysis"]
    due = analysis.due_at(utc(2026, 12, 4, 9), UTC_CALENDAR)
    policy = chase_policy_from_config(
        {"level_intervals": ["0h", "2 working hours", "6 working hours"]}
    )
    assert due == utc(2026, 12, 4, 13)
    assert reminder_times(due, policy, UTC_CALENDAR) == (
        utc(2026, 12, 4, 13),
        utc(2026, 12, 4, 15),
        utc(2026, 12, 7, 13),
    )


def test_br30_chase_schedule_from_the_notification() -> None:
    policy = chase_policy_from_config(
        {"level_intervals": ["4 working hours", "2 working hours", "6 working hours"]}
    )
    notified = utc(2026, 12, 4, 9)
    assert [reminder_time(notified, n, policy, UTC_CALENDAR) for n in (1, 2, 3)] == [
        utc(2026, 12, 4, 13),
        utc(2026, 12, 4, 15),
        utc(2026, 12, 7, 13),
    ]


def test_scenario_2_escalation_with_the_default_policy() -> None:
    analysis = by_name(DEFAULT_RULES)["analysis"]
    due = analysis.due_at(utc(2026, 12, 4, 14), PARIS)
    assert due == utc(2026, 12, 7, 10)
    assert reminder_times(due, ChasePolicy(), PARIS) == (
        utc(2026, 12, 7, 10),
        utc(2026, 12, 8, 10),
        utc(2026, 12, 9, 10),
    )


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        pytest.param(utc(2026, 12, 5, 12), utc(2026, 12, 7, 8), id="saturday"),
        pytest.param(utc(2026, 12, 7, 16), utc(2026, 12, 8, 8), id="at-closing"),
        pytest.param(utc(2026, 12, 7, 15, 59), utc(2026, 12, 7, 15, 59), id="open"),
        pytest.param(utc(2026, 12, 7, 5), utc(2026, 12, 7, 8), id="early"),
        pytest.param(utc(2026, 12, 24, 18), utc(2026, 12, 28, 8), id="christmas"),
    ],
)
def test_reminder_pushed_into_working_hours(
    due: dt.datetime, expected: dt.datetime
) -> None:
    assert reminder_time(due, 1, ChasePolicy(), PARIS) == expected


def test_levels_follow_the_pushed_reminder() -> None:
    # A containment clock falls due on Saturday: level 1 waits for Monday,
    # level 2 comes one working day after that, not on the same morning.
    due = utc(2026, 12, 5, 12)
    assert reminder_times(due, ChasePolicy(), PARIS) == (
        utc(2026, 12, 7, 8),
        utc(2026, 12, 8, 8),
        utc(2026, 12, 9, 8),
    )
    calendar_days = chase_policy_from_config({"level_intervals": ["0h", "1d"]})
    assert reminder_time(due, 2, calendar_days, PARIS) == utc(2026, 12, 8, 8)


def test_reminder_outside_hours_when_allowed() -> None:
    policy = ChasePolicy(within_working_hours=False)
    assert reminder_time(utc(2026, 12, 5, 12), 1, policy, PARIS) == utc(2026, 12, 5, 12)


def test_reminder_level_out_of_range() -> None:
    with pytest.raises(ValueError, match="level 4"):
        reminder_time(utc(2026, 12, 7, 10), 4, ChasePolicy(), PARIS)
    with pytest.raises(ValueError, match="level 0"):
        reminder_time(utc(2026, 12, 7, 10), 0, ChasePolicy(), PARIS)


def test_too_late() -> None:
    policy = ChasePolicy()
    due = utc(2026, 12, 4, 14)
    assert not policy.too_late(due, utc(2026, 12, 11, 14))
    assert policy.too_late(due, utc(2026, 12, 11, 14, 1))


def test_rule_due_at_uses_the_right_kind_of_time() -> None:
    rules = by_name(DEFAULT_RULES)
    resolved = utc(2027, 1, 31, 12)
    assert rules["closure_report"].due_at(resolved, PARIS) == utc(2027, 2, 28, 12)
    discovered = utc(2026, 12, 4, 8, 10)
    assert rules["report"].due_at(discovered, PARIS) == utc(2026, 12, 4, 12, 10)
    assert rules["containment"].due_at(discovered, PARIS) == utc(2026, 12, 5, 8, 10)
    amsterdam = CalendarTime("Europe/Amsterdam")
    assert rules["closure_report"].due_at(utc(2026, 3, 15, 9), PARIS, amsterdam) == (
        utc(2026, 4, 15, 8)
    )
