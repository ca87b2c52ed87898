"""The procedure's clocks without I/O: working hours, rules, daily runs.

Everything here takes and returns aware UTC datetimes and touches neither
the database nor the network, so the sweep and the tests share one core.
"""

from mailbot.deadlines.calendar import (
    CalendarSettingError,
    CalendarTime,
    Duration,
    Timekeeper,
    WorkingCalendar,
    local_to_utc,
)
from mailbot.deadlines.daily import daily_run_on, next_daily_run
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

__all__ = [
    "DEFAULT_RULES",
    "CalendarSettingError",
    "CalendarTime",
    "ChasePolicy",
    "Duration",
    "Interval",
    "Rule",
    "Timekeeper",
    "WorkingCalendar",
    "chase_policy_from_config",
    "daily_run_on",
    "local_to_utc",
    "next_daily_run",
    "parse_duration",
    "parse_interval",
    "reminder_time",
    "reminder_times",
    "rules_from_config",
]
