"""Mail held by the daemon's sweep job is said when it is held.

The sweep job queues reminders and delivers nothing: what the caps held was
logged only at the next delivery pass (the outbox job, up to half a minute
later, or never when the daemon stopped first), and what the engaged brake
held was never logged at all, only its engagement once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_sweep_brake import new_app, open_incidents, states

from mailbot.app import App
from mailbot.daemon import Daemon
from mailbot.deadlines.sweep import sweep

THEN = "`mailbot brake` lists them, `mailbot brake release` queues them"


def _held_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "mailbot.brake" and r.levelno == logging.WARNING
    ]


def test_the_sweep_job_says_what_a_cap_held_at_once(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbot")
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=2)
    open_incidents(app, 5)
    Daemon(app)._sweep()
    # No delivery pass and no close yet: the job itself said it.
    assert states(app) == ["pending"] * 2 + ["held"] * 3
    assert _held_lines(caplog) == [
        "3 outgoing mails held by brake.max_per_recipient_per_day, the first"
        " (chase-analysis-1): 2 mails to admin@site-a.example.com in 24 hours"
        f" (brake.max_per_recipient_per_day 2); {THEN}"
    ]
    app.close()
    assert len(_held_lines(caplog)) == 1  # said once, not again at the close


def test_the_sweep_job_says_what_the_engaged_brake_held(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbot")
    app = new_app(tmp_path, database_url, max_per_hour=3)
    open_incidents(app, 6)
    Daemon(app)._sweep()
    assert states(app) == ["pending"] * 3 + ["held"] * 3
    engaged = [r for r in caplog.records if r.getMessage().startswith("brake engaged")]
    assert len(engaged) == 1 and engaged[0].levelno == logging.ERROR
    # The mail that engaged it is in that ERROR line; the two after it
    # were held by the brake engaged.
    assert _held_lines(caplog) == [
        "2 outgoing mails held by the engaged brake, the first (chase-analysis-1);"
        f" {THEN}"
    ]
    app.close()
    assert len(_held_lines(caplog)) == 1  # said once, not again at the close


def _refuse_held_mail(app: App) -> None:
    """Make the database refuse to keep a held mail, as a level another
    sweeper recorded meanwhile is refused (a unique violation)."""
    with app.db.engine.begin() as connection:
        if app.db.is_sqlite:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_held BEFORE INSERT ON outbox"
                " WHEN NEW.state = 'held'"
                " BEGIN SELECT RAISE(ABORT, 'held mail refused'); END"
            )
            return
        connection.exec_driver_sql(
            "CREATE FUNCTION refuse_held() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'held mail refused'"
            " USING ERRCODE = 'unique_violation'; END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_held BEFORE INSERT ON outbox FOR EACH ROW"
            " WHEN (NEW.state = 'held') EXECUTE FUNCTION refuse_held()"
        )


def test_mail_held_in_a_transaction_undone_is_not_said_held(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The count was taken as each mail was held, inside the sweep's
    transaction: the batch refused at its commit and redone incident by
    incident, each refused in its savepoint, said "6 outgoing mails held"
    of a sweep that held none."""
    caplog.set_level(logging.INFO, logger="mailbot")
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=2)
    open_incidents(app, 5)
    _refuse_held_mail(app)
    sweep(app)
    assert states(app) == ["pending"] * 2
    assert any("redoing 5 apart" in r.getMessage() for r in caplog.records)
    assert _held_lines(caplog) == []
    app.close()
    assert _held_lines(caplog) == []
