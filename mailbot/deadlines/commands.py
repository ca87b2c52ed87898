"""`mailbot deadlines`: the forecast of reminders, for a person to check."""

from __future__ import annotations

import argparse

from mailbot.deadlines.calendar import CalendarTime
from mailbot.deadlines.forecast import forecast, forecast_text
from mailbot.deadlines.rules import parse_duration
from mailbot.errors import ConfigError, UsageError


def deadlines(args: argparse.Namespace) -> int:
    from mailbot.cli import print_json
    from mailbot.commands import app_from

    # Parse the argument before touching the database: a typo exits 2 at once.
    try:
        window = (
            parse_duration(args.due_within, "--due-within") if args.due_within else None
        )
    except ConfigError as exc:
        raise UsageError("--due-within", exc.problem) from None
    app = app_from(args, servers=False)
    try:
        now = app.clock.now()
        try:
            until = CalendarTime().add(now, window) if window is not None else None
        except (OverflowError, ValueError):
            raise UsageError(
                "--due-within",
                f"{args.due_within!r} reaches past the calendar; "
                "give a window of days or weeks, such as 4 days",
            ) from None
        planned = forecast(app, until)
    finally:
        app.close()
    if args.json:
        print_json([p.as_dict() for p in planned])
    else:
        print(forecast_text(planned))
    return 0
