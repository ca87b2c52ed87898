"""Working-hours and calendar arithmetic (BR-30, BR-33, DOMAIN.md scenarios)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.deadlines.calendar import (
    CalendarSettingError,
    CalendarTime,
    Duration,
    WorkingCalendar,
    local_to_utc,
)
from mailbot.errors import ConfigError
from mailbot.sites import Site

UTC = dt.UTC
H = dt.timedelta(hours=1)
FOUR_HOURS = 4 * H


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


AMSTERDAM = WorkingCalendar("Europe/Amsterdam", "NL")
PARIS = WorkingCalendar("Europe/Paris", "FR")
UTC_CALENDAR = WorkingCalendar("UTC")


# BR-33: the day windows of Monday use Monday's offset, not Friday's.
@pytest.mark.parametrize(
    ("start", "due"),
    [
        pytest.param(utc(2026, 3, 27, 14), utc(2026, 3, 30, 9), id="A-spring"),
        pytest.param(utc(2026, 10, 23, 13), utc(2026, 10, 26, 10), id="B-fall"),
        pytest.param(utc(2026, 3, 27, 15, 30), utc(2026, 3, 30, 10, 30), id="C"),
    ],
)
def test_br33_deadlines_across_dst(start: dt.datetime, due: dt.datetime) -> None:
    assert AMSTERDAM.add(start, FOUR_HOURS) == due


# BR-30: business hours 09:00-17:00 UTC, notified Fri 2026-12-04 09:00.
@pytest.mark.parametrize(
    ("hours", "due"),
    [(4, utc(2026, 12, 4, 13)), (6, utc(2026, 12, 4, 15)), (12, utc(2026, 12, 7, 13))],
)
def test_br30_due_times(hours: int, due: dt.datetime) -> None:
    assert UTC_CALENDAR.add(utc(2026, 12, 4, 9), hours * H) == due


def test_scenario_1_responsive_site_in_winter() -> None:
    assert PARIS.add(utc(2026, 12, 7, 10, 30), FOUR_HOURS) == utc(2026, 12, 7, 14, 30)


def test_scenario_2_friday_request_is_due_monday() -> None:
    assert PARIS.add(utc(2026, 12, 4, 14), FOUR_HOURS) == utc(2026, 12, 7, 10)


def test_returns_utc() -> None:
    start = dt.datetime(2026, 12, 4, 15, tzinfo=dt.timezone(H))
    due = PARIS.add(start, FOUR_HOURS)
    assert due.tzinfo is UTC
    assert due == utc(2026, 12, 7, 10)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        PARIS.add(dt.datetime(2026, 12, 4, 14), FOUR_HOURS)


# Mondays 2026-12-07 (CET, UTC+1) in Paris: opens 08:00 UTC, closes 16:00 UTC.
@pytest.mark.parametrize(
    ("start", "due"),
    [
        pytest.param(utc(2026, 12, 7, 6), utc(2026, 12, 7, 12), id="before-opening"),
        pytest.param(utc(2026, 12, 7, 8), utc(2026, 12, 7, 12), id="at-opening"),
        pytest.param(utc(2026, 12, 7, 17), utc(2026, 12, 8, 12), id="after-closing"),
        pytest.param(utc(2026, 12, 7, 16), utc(2026, 12, 8, 12), id="at-closing"),
        pytest.param(utc(2026, 12, 5, 10), utc(2026, 12, 7, 12), id="saturday"),
        pytest.param(utc(2026, 12, 6, 23), utc(2026, 12, 7, 12), id="sunday-night"),
        pytest.param(utc(2026, 12, 7, 15), utc(2026, 12, 8, 11), id="spans-night"),
    ],
)
def test_starts_outside_and_inside_hours(start: dt.datetime, due: dt.datetime) -> None:
    assert PARIS.add(start, FOUR_HOURS) == due


def test_ending_exactly_at_closing_is_the_closing_time() -> None:
    assert PARIS.add(utc(2026, 12, 7, 8), 8 * H) == utc(2026, 12, 7, 16)


def test_zero_duration_is_the_start_itself() -> None:
    assert PARIS.add(utc(2026, 12, 5, 10), dt.timedelta(0)) == utc(2026, 12, 5, 10)


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        PARIS.add(utc(2026, 12, 7, 10), -H)


def test_dutch_kings_day_is_skipped() -> None:
    # Mon 2026-04-27 is King's Day; Fri 16:00 CEST gives one hour.
    assert not AMSTERDAM.is_working_day(dt.date(2026, 4, 27))
    assert AMSTERDAM.add(utc(2026, 4, 24, 14), FOUR_HOURS) == utc(2026, 4, 28, 10)


def test_request_made_on_a_holiday_starts_the_next_working_day() -> None:
    assert AMSTERDAM.add(utc(2026, 4, 27, 10), FOUR_HOURS) == utc(2026, 4, 28, 11)


def test_french_national_day_is_skipped() -> None:
    # Tue 2026-07-14; Monday 15:00 CEST gives two hours.
    assert PARIS.add(utc(2026, 7, 13, 13), FOUR_HOURS) == utc(2026, 7, 15, 9)


def test_christmas_and_observed_boxing_day() -> None:
    london = WorkingCalendar("Europe/London", "GB")
    # Fri 25 Christmas, Mon 28 Boxing Day observed: Thursday, then Tuesday.
    assert london.add(utc(2026, 12, 24, 15), FOUR_HOURS) == utc(2026, 12, 29, 11)


def test_extra_days_off() -> None:
    calendar = WorkingCalendar("Europe/Amsterdam", "NL", days_off=["2026-12-24"])
    # Wed 23 16:00 CET gives one hour; Thu 24 is off; Fri 25 is Christmas.
    assert calendar.add(utc(2026, 12, 23, 15), FOUR_HOURS) == utc(2026, 12, 28, 11)


def test_subdivision_holidays() -> None:
    national = WorkingCalendar("Europe/Madrid", "ES")
    catalonia = WorkingCalendar("Europe/Madrid", "ES", subdivision="CT")
    assert national.is_working_day(dt.date(2026, 9, 11))
    assert not catalonia.is_working_day(dt.date(2026, 9, 11))


def test_custom_hours_and_weekdays() -> None:
    calendar = WorkingCalendar(
        "UTC", opens="08:30", closes="12:30", weekdays=["Sun", "Mon", 2]
    )
    assert calendar.day_length == 4 * H
    # Wed 2026-12-09 10:30: two hours, then Sunday 08:30 + two hours.
    assert calendar.add(utc(2026, 12, 9, 10, 30), FOUR_HOURS) == utc(
        2026, 12, 13, 10, 30
    )


@pytest.mark.parametrize(
    ("zone", "start", "due"),
    [
        # Fri 16:00 JST, one hour; Monday 09:00 JST = 00:00 UTC.
        ("Asia/Tokyo", utc(2026, 12, 4, 7), utc(2026, 12, 7, 3)),
        # Fri 16:00 CST, one hour; Monday 09:00 CST = 15:00 UTC.
        ("America/Chicago", utc(2026, 12, 4, 22), utc(2026, 12, 7, 18)),
        # Chicago springs forward on Sun 2026-03-08: Monday is CDT (UTC-5).
        ("America/Chicago", utc(2026, 3, 6, 22), utc(2026, 3, 9, 17)),
        # Chicago falls back on Sun 2026-11-01: Monday is CST (UTC-6).
        ("America/Chicago", utc(2026, 10, 30, 21), utc(2026, 11, 2, 18)),
        # Sao Paulo has no DST any more: UTC-3 all year.
        ("America/Sao_Paulo", utc(2026, 12, 4, 19), utc(2026, 12, 7, 15)),
        # Auckland falls back on Sun 2026-04-05 (NZDT +13 to NZST +12).
        ("Pacific/Auckland", utc(2026, 4, 3, 2), utc(2026, 4, 5, 23)),
        # Auckland springs forward on Sun 2026-09-27 (NZST +12 to NZDT +13).
        ("Pacific/Auckland", utc(2026, 9, 25, 3), utc(2026, 9, 27, 22)),
    ],
)
def test_zones_east_and_west(zone: str, start: dt.datetime, due: dt.datetime) -> None:
    assert WorkingCalendar(zone).add(start, FOUR_HOURS) == due


def test_auckland_easter_across_dst_end() -> None:
    # Thu 2026-04-02 15:00 NZDT: two hours; Good Friday and Easter Monday
    # are holidays; Tuesday 09:00 NZST is Monday 21:00 UTC.
    auckland = WorkingCalendar("Pacific/Auckland", "NZ")
    assert auckland.add(utc(2026, 4, 2, 2), FOUR_HOURS) == utc(2026, 4, 6, 23)


def test_round_the_clock_day_of_spring_forward_has_23_hours() -> None:
    calendar = WorkingCalendar(
        "Europe/Amsterdam", opens="00:00", closes="24:00", weekdays=range(7)
    )
    start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)
    assert calendar.working_time_between(start, end) == 23 * H
    assert calendar.add(start, 23 * H) == end


def test_window_edge_in_a_dst_gap_moves_to_the_end_of_the_gap() -> None:
    # Sao Paulo jumped from 00:00 to 01:00 on Sun 2018-11-04.
    calendar = WorkingCalendar(
        "America/Sao_Paulo", opens="00:00", closes="08:00", weekdays=range(7)
    )
    assert calendar.window(dt.date(2018, 11, 4)) == (
        utc(2018, 11, 4, 3),
        utc(2018, 11, 4, 10),
    )


def test_local_to_utc_gap_and_fold() -> None:
    amsterdam = AMSTERDAM.zone
    gap = local_to_utc(dt.datetime(2026, 3, 29, 2, 30), amsterdam)
    fold = local_to_utc(dt.datetime(2026, 10, 25, 2, 30), amsterdam)
    assert gap == utc(2026, 3, 29, 1)
    assert fold == utc(2026, 10, 25, 0, 30)


def test_is_open_and_next_open() -> None:
    assert PARIS.is_open(utc(2026, 12, 7, 8))
    assert PARIS.is_open(utc(2026, 12, 7, 15, 59))
    assert not PARIS.is_open(utc(2026, 12, 7, 16))
    assert not PARIS.is_open(utc(2026, 12, 5, 10))
    assert PARIS.next_open(utc(2026, 12, 7, 10)) == utc(2026, 12, 7, 10)
    assert PARIS.next_open(utc(2026, 12, 4, 16)) == utc(2026, 12, 7, 8)
    assert PARIS.next_open(utc(2026, 12, 24, 17)) == utc(2026, 12, 28, 8)


def test_working_time_between() -> None:
    assert PARIS.working_time_between(utc(2026, 12, 4, 14), utc(2026, 12, 7, 10)) == (
        FOUR_HOURS
    )
    assert PARIS.working_time_between(utc(2026, 12, 5), utc(2026, 12, 6)) == 0 * H
    assert PARIS.working_time_between(utc(2026, 12, 7, 10), utc(2026, 12, 7, 9)) == -H


def test_working_week_and_days_count_working_days() -> None:
    start = utc(2026, 12, 7, 10)
    assert PARIS.add(start, Duration(days=1)) == utc(2026, 12, 8, 10)
    assert PARIS.add(start, Duration(weeks=1)) == utc(2026, 12, 14, 10)
    with pytest.raises(ValueError, match="months"):
        PARIS.add(start, Duration(months=1))


def test_no_working_day_in_two_years_raises() -> None:
    mondays = [dt.date(2026, 12, 7) + dt.timedelta(weeks=n) for n in range(160)]
    calendar = WorkingCalendar("UTC", weekdays=["Mon"], days_off=mondays)
    with pytest.raises(ValueError, match="no working day within two years"):
        calendar.add(utc(2026, 12, 7), H)
    with pytest.raises(ValueError, match="no working day"):
        WorkingCalendar("UTC", weekdays=[]).next_open(utc(2026, 12, 7))


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"country": "ZZ"}, "country"),
        ({"country": "DE", "subdivision": "QQ"}, "country"),
        ({"days_off": ["24/12/2026"]}, "holidays"),
        ({"opens": "9am"}, "working_hours"),
        ({"opens": "17:00", "closes": "09:00"}, "working_hours"),
        ({"opens": "24:00"}, "working_hours"),
        ({"weekdays": ["Funday"]}, "weekdays"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict, setting: str) -> None:
    with pytest.raises(CalendarSettingError) as caught:
        WorkingCalendar(**kwargs)
    assert caught.value.setting == setting


def test_for_site() -> None:
    site = Site(
        name="SITE-A",
        timezone="Europe/Amsterdam",
        country="NL",
        holidays=("2026-12-24",),
        working_hours=("08:00", "16:00"),
    )
    calendar = WorkingCalendar.for_site(site)
    assert not calendar.is_working_day(dt.date(2026, 12, 24))
    assert not calendar.is_working_day(dt.date(2026, 4, 27))
    assert calendar.next_open(utc(2026, 12, 7, 5)) == utc(2026, 12, 7, 7)


def test_for_site_with_subdivision_code_and_bad_country() -> None:
    catalan = WorkingCalendar.for_site(Site(name="S", country="ES-CT"))
    assert not catalan.is_working_day(dt.date(2026, 9, 11))
    with pytest.raises(ConfigError) as caught:
        WorkingCalendar.for_site(Site(name="SITE-Z", country="ZZ"))
    assert caught.value.key == "site SITE-Z.country"
    # It said "Country ZZ not available", the holidays library's words.
    assert caught.value.problem == (
        "'ZZ' is no ISO 3166 alpha-2 country code the holidays library knows"
        ' (such as "DE", "IT", or "ES-CT" for a subdivision): correct it, or leave'
        " the key out for a site without public holidays"
    )
    with pytest.raises(ConfigError) as caught:
        WorkingCalendar.for_site(Site(name="SITE-Z", country="ES-ZZ"))
    assert caught.value.problem.startswith(
        "ES has no subdivision 'ZZ' the holidays library knows: write \"ES\" alone,"
        " or one it knows (ES-"
    )


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        (utc(2026, 1, 31, 10), 1, utc(2026, 2, 28, 10)),
        (utc(2028, 1, 31, 10), 1, utc(2028, 2, 29, 10)),
        (utc(2026, 3, 31, 23, 59), 1, utc(2026, 4, 30, 23, 59)),
        (utc(2026, 12, 4, 16), 1, utc(2027, 1, 4, 16)),
        (utc(2026, 11, 30), 3, utc(2027, 2, 28)),
        (utc(2026, 5, 15), 12, utc(2027, 5, 15)),
    ],
)
def test_calendar_months_in_utc(
    start: dt.datetime, months: int, due: dt.datetime
) -> None:
    assert CalendarTime().add(start, Duration(months=months)) == due


def test_calendar_months_in_a_zone_keep_local_time() -> None:
    amsterdam = CalendarTime("Europe/Amsterdam")
    # 10:00 CET on 15 March is 10:00 CEST on 15 April: one hour less in UTC.
    assert amsterdam.add(utc(2026, 3, 15, 9), Duration(months=1)) == utc(2026, 4, 15, 8)


def test_calendar_days_and_hours_are_elapsed_time() -> None:
    calendar = CalendarTime("Europe/Amsterdam")
    assert calendar.add(utc(2026, 3, 28, 12), Duration(days=1)) == utc(2026, 3, 29, 12)
    assert calendar.add(utc(2026, 12, 4, 8, 10), FOUR_HOURS) == utc(2026, 12, 4, 12, 10)
    assert calendar.add(utc(2026, 12, 4), Duration(weeks=1, time=H)) == utc(
        2026, 12, 11, 1
    )
    assert calendar.is_open(utc(2026, 12, 5))
    assert calendar.next_open(utc(2026, 12, 5)) == utc(2026, 12, 5)
    assert calendar.working_time_between(utc(2026, 12, 5), utc(2026, 12, 6)) == 24 * H


def test_duration_text() -> None:
    assert str(Duration(months=1)) == "1 month"
    assert str(Duration(days=2, time=dt.timedelta(hours=4, minutes=30))) == (
        "2 days 4h30m"
    )
    assert str(Duration()) == "0h"
    with pytest.raises(ValueError):
        Duration(days=-1)


ZONES = [
    "UTC",
    "Europe/Amsterdam",
    "Pacific/Auckland",
    "America/Chicago",
    "Asia/Tokyo",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
]
CALENDARS = {zone: WorkingCalendar(zone, "NL") for zone in ZONES}
instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2030, 12, 31)
).map(lambda t: t.replace(tzinfo=UTC))
durations = st.integers(min_value=0, max_value=200 * 60).map(
    lambda minutes: dt.timedelta(minutes=minutes)
)


@settings(max_examples=300, deadline=None, database=None)
@given(zone=st.sampled_from(ZONES), start=instants, duration=durations)
def test_property_between_inverts_add(
    zone: str, start: dt.datetime, duration: dt.timedelta
) -> None:
    calendar = CALENDARS[zone]
    due = calendar.add(start, duration)
    assert calendar.working_time_between(start, due) == duration
    assert due >= start


@settings(max_examples=300, deadline=None, database=None)
@given(
    zone=st.sampled_from(ZONES),
    start=instants,
    later=durations,
    first=durations,
    second=durations,
)
def test_property_add_is_monotonic(
    zone: str,
    start: dt.datetime,
    later: dt.timedelta,
    first: dt.timedelta,
    second: dt.timedelta,
) -> None:
    calendar = CALENDARS[zone]
    short, long = sorted((first, second))
    assert calendar.add(start, short) <= calendar.add(start, long)
    assert calendar.add(start, short) <= calendar.add(start + later, short)
