"""Daily jobs at a local time: exactly once per calendar day (BR-33 case D)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from mailbot.deadlines.daily import daily_run_on, next_daily_run, parse_local_time

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def runs_between(
    first: dt.datetime, last: dt.datetime, local_time: str, tz: str
) -> list[dt.datetime]:
    runs, t = [], first
    while (t := next_daily_run(t, local_time, tz)) < last:
        runs.append(t)
    return runs


def local_dates(runs: list[dt.datetime], tz: str) -> list[dt.date]:
    zone = zoneinfo.ZoneInfo(tz)
    return [run.astimezone(zone).date() for run in runs]


def every_day(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range(count)]


def test_br33_d_spring_forward_runs_once_a_day_at_0300_on_the_gap_day() -> None:
    tz = "Europe/Amsterdam"
    runs = runs_between(utc(2026, 3, 26, 23), utc(2026, 3, 31, 22), "02:30", tz)
    assert local_dates(runs, tz) == every_day(dt.date(2026, 3, 27), 5)
    assert runs[2] == utc(2026, 3, 29, 1)  # 03:00 CEST
    assert runs[2].astimezone(zoneinfo.ZoneInfo(tz)).strftime("%H:%M") == "03:00"
    assert runs[3] == utc(2026, 3, 30, 0, 30)  # 02:30 CEST again


def test_br33_d_fall_back_runs_at_the_first_occurrence_only() -> None:
    tz = "Europe/Amsterdam"
    runs = runs_between(utc(2026, 10, 22, 22), utc(2026, 10, 27, 23), "02:30", tz)
    assert local_dates(runs, tz) == every_day(dt.date(2026, 10, 23), 5)
    assert runs[2] == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET
    assert runs[1] == utc(2026, 10, 24, 0, 30)
    assert runs[3] == utc(2026, 10, 26, 1, 30)


def test_second_occurrence_of_the_ambiguous_time_does_not_run_again() -> None:
    after_first = utc(2026, 10, 25, 0, 31)
    assert next_daily_run(after_first, "02:30", "Europe/Amsterdam") == utc(
        2026, 10, 26, 1, 30
    )


def test_midnight_job_does_not_skip_monday_after_spring_forward() -> None:
    tz = "Europe/Amsterdam"
    runs = runs_between(utc(2026, 3, 26, 12), utc(2026, 4, 1, 12), "00:00", tz)
    assert local_dates(runs, tz) == every_day(dt.date(2026, 3, 27), 6)
    assert utc(2026, 3, 29, 22) in runs  # Mon 2026-03-30 00:00 CEST


def test_midnight_that_does_not_exist_runs_at_0100() -> None:
    # Sao Paulo jumped from 00:00 to 01:00 on 2018-11-04.
    tz = "America/Sao_Paulo"
    assert next_daily_run(utc(2018, 11, 3, 12), "00:00", tz) == utc(2018, 11, 4, 3)
    runs = runs_between(utc(2018, 11, 1, 12), utc(2018, 11, 7, 12), "00:00", tz)
    assert local_dates(runs, tz) == every_day(dt.date(2018, 11, 2), 6)


def test_strictly_after() -> None:
    tz = "Europe/Amsterdam"
    run = daily_run_on(dt.date(2026, 12, 4), dt.time(7), tz)
    assert run == utc(2026, 12, 4, 6)
    assert next_daily_run(run - dt.timedelta(seconds=1), "07:00", tz) == run
    assert next_daily_run(run, "07:00", tz) == utc(2026, 12, 5, 6)


@pytest.mark.parametrize(
    ("tz", "local_time"),
    [
        ("Europe/Amsterdam", "02:30"),
        ("Pacific/Auckland", "02:15"),
        ("America/Chicago", "02:00"),
        ("Australia/Lord_Howe", "02:15"),
        ("America/Sao_Paulo", "23:59"),
        ("UTC", "00:00"),
    ],
)
def test_one_run_per_day_for_a_whole_year(tz: str, local_time: str) -> None:
    runs = runs_between(utc(2025, 12, 31, 12), utc(2027, 1, 1, 12), local_time, tz)
    dates = local_dates(runs, tz)
    assert dates == every_day(dates[0], len(dates))
    assert dates[0] <= dt.date(2026, 1, 1) and dates[-1] >= dt.date(2026, 12, 31)


def test_lord_howe_half_hour_gap() -> None:
    # Lord Howe Island moves from 02:00 to 02:30 on 2026-10-04.
    tz = "Australia/Lord_Howe"
    run = next_daily_run(utc(2026, 10, 3, 12), "02:15", tz)
    local = run.astimezone(zoneinfo.ZoneInfo(tz))
    assert (local.date(), local.strftime("%H:%M")) == (dt.date(2026, 10, 4), "02:30")


@pytest.mark.parametrize("text", ["2:30pm", "24:00", "12:60", "", "noon"])
def test_bad_local_time(text: str) -> None:
    with pytest.raises(ValueError, match="time of day"):
        parse_local_time(text)


def test_bad_zone_and_naive_after() -> None:
    with pytest.raises(ValueError, match="time zone"):
        next_daily_run(utc(2026, 1, 1), "02:30", "Europe/Atlantis")
    with pytest.raises(ValueError, match="naive"):
        next_daily_run(dt.datetime(2026, 1, 1), "02:30", "UTC")
