"""The caps and the brake on reminders that one sweep queues together.

The sweep counts the day's and the hour's mail once per transaction and
keeps the counts as it queues (brake.keep_tally); a batch must then hold
exactly the mail that queuing one reminder at a time would have held.
Incidents and their due clocks are written directly, as many at once as a
sweep after a long weekend would find.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from mailbot_env import make_app
from opsenv import cli_env, run_cli
from sqlalchemy import event

from mailbot import brake, health, outbox_admin, respond, send, views
from mailbot.app import App
from mailbot.cli import main
from mailbot.clock import Clock
from mailbot.db.models import Chase, Deadline, Incident, Mail, Outbox
from mailbot.deadlines.forecast import forecast, forecast_text
from mailbot.deadlines.sweep import sweep

UTC = dt.UTC
# Monday 10:00 UTC, 12:00 at SITE-A (Europe/Helsinki): working hours.
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CONTACTS = ["admin@site-a.example.com", "admin-old@site-a.example.com"]


def new_app(tmp_path: Path, database_url: str, **caps: int) -> App:
    extra = {f"MAILBOT_BRAKE_{name.upper()}": str(n) for name, n in caps.items()}
    return make_app(tmp_path, database_url, now=NOW, extra=extra)


def open_incidents(
    app: App,
    count: int,
    rules: tuple[str, ...] = ("analysis",),
    chased: dict[str, int] | None = None,
) -> None:
    """`count` incidents at SITE-A, each with a CSIRT request and due clocks.

    A rule written "containment@SITE-C" is owed by that site; one of
    `chased` has reached that level days ago, so the next one is due: the
    clocks of one site and audience due together are one mail (together.py).
    """
    chased = chased or {}
    with app.db.transaction() as session:
        for n in range(1, count + 1):
            incident = Incident(
                tag=f"EGI-20261204-{n:02d}",
                site="SITE-A",
                subject=f"Compromised host {n}",
                opened_at=NOW - dt.timedelta(days=3),
            )
            session.add(incident)
            session.flush()
            session.add(_request(incident.id, n))
            for owed in rules:
                rule, _, site = owed.partition("@")
                level = chased.get(rule, 0)
                due = NOW - dt.timedelta(minutes=5, days=4 if level else 0)
                session.add(
                    Deadline(
                        incident_id=incident.id,
                        rule=rule,
                        site=site or "SITE-A",
                        started_at=NOW - dt.timedelta(days=5),
                        due_at=due,
                        next_action_at=due,
                        state="missed" if level else "pending",
                        level=level,
                    )
                )


def _request(incident_id: int, n: int) -> Mail:
    raw = f"Subject: request {n}\r\n\r\nWhich account?\r\n".encode()
    return Mail(
        direction="in",
        dedupe_key=f"request-{n}",
        raw_sha256="0" * 64,
        raw=raw,
        size=len(raw),
        message_id=f"<request-{n}@csirt.example.org>",
        from_addr="alice@csirt.example.org",
        recipients=CONTACTS,
        arrived_at=NOW - dt.timedelta(days=1),
        event_at=NOW - dt.timedelta(days=1),
        state="processed",
        role="csirt",
        incident_id=incident_id,
    )


def outbox(app: App) -> list[tuple[str, str, str | None]]:
    """(purpose, state, reason held) of every outbox row, in order."""
    with app.db.transaction() as session:
        return [
            (r.purpose, r.state, r.last_error)
            for r in session.query(Outbox).order_by(Outbox.id)
        ]


def states(app: App) -> list[str]:
    return [state for purpose, state, _ in outbox(app) if purpose.startswith("chase")]


def test_the_recipient_cap_counts_earlier_mail_and_the_batch_itself(
    tmp_path: Path, database_url: str
) -> None:
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=3)
    open_incidents(app, 5)
    # One mail to the site's contacts went out earlier today, outside the sweep.
    with app.db.transaction() as session:
        incident = session.query(Incident).filter_by(tag="EGI-20261204-05").one()
        respond.send_in_thread(
            app, session, incident, None, CONTACTS, "Question", "Text\n", "notification"
        )
    assert sweep(app)["reminders"] == 5
    assert states(app) == ["pending", "pending", "held", "held", "held"]
    reasons = {reason for _, state, reason in outbox(app) if state == "held"}
    assert reasons == {
        "3 mails to admin@site-a.example.com in 24 hours "
        "(brake.max_per_recipient_per_day 3)"
    }


def test_the_incident_cap_in_one_sweep(tmp_path: Path, database_url: str) -> None:
    app = new_app(tmp_path, database_url, max_per_incident_per_day=1)
    # Two mails an incident: a reminder to the site, and the duty team told
    # the site is silent on containment.
    open_incidents(app, 2, rules=("analysis", "containment"), chased={"containment": 2})
    assert sweep(app)["reminders"] == 4
    by_tag = _reminders_by_tag(app)
    assert [s for s, _ in by_tag["EGI-20261204-01"]] == ["pending", "held"]
    assert [s for s, _ in by_tag["EGI-20261204-02"]] == ["pending", "held"]
    # The second reminder of an incident answers the first, queued just before.
    first, second = (message for _, message in by_tag["EGI-20261204-01"])
    assert second["In-Reply-To"] == first["Message-ID"]
    assert first["In-Reply-To"] == "<request-1@csirt.example.org>"


def _reminders_by_tag(app: App) -> dict[str, list[tuple[str, email.message.Message]]]:
    found: dict[str, list[tuple[str, email.message.Message]]] = {}
    with app.db.transaction() as session:
        rows = session.query(Outbox, Mail).join(Mail, Mail.id == Outbox.mail_id)
        for row, mail in rows.order_by(Outbox.id):
            message = email.message_from_bytes(mail.raw, policy=email.policy.default)
            tag = str(message["Subject"]).split("]")[0].lstrip("[")
            found.setdefault(tag, []).append((row.state, message))
    return found


def test_the_brake_engages_once_inside_a_sweep(
    tmp_path: Path, database_url: str
) -> None:
    app = new_app(tmp_path, database_url, max_per_hour=3)
    open_incidents(app, 6)
    assert sweep(app)["reminders"] == 6
    assert states(app) == ["pending"] * 3 + ["held"] * 3
    alerts = [row for row in outbox(app) if row[0] == "alert-brake"]
    assert alerts == [("alert-brake", "pending", None)]
    assert brake.state(app)["engaged_at"] is not None
    # Released, the held reminders go; the sweep sends none of them again.
    assert brake.release(app) == (3, 0)
    assert sweep(app)["reminders"] == 0


class TickingClock(Clock):
    """A clock that moves one second each time it is read, as real time does."""

    def now(self) -> dt.datetime:
        self.set(super().now() + dt.timedelta(seconds=1))
        return super().now()


def test_a_moving_clock_counts_again_and_holds_the_same_mail(
    tmp_path: Path, database_url: str
) -> None:
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=3)
    app.clock = TickingClock(NOW)
    open_incidents(app, 5)
    assert sweep(app)["reminders"] == 5
    assert states(app) == ["pending"] * 3 + ["held"] * 2


def test_a_sweep_reads_once_per_batch_not_once_per_reminder(
    tmp_path: Path, database_url: str
) -> None:
    lifted = 1_000
    app = new_app(
        tmp_path,
        database_url,
        max_per_hour=lifted,
        max_per_recipient_per_day=lifted,
        max_per_incident_per_day=lifted,
    )
    open_incidents(app, 40)
    with app.db.transaction() as session:
        # Ten of them are not due yet: a first sweep of thirty, then ten.
        for deadline in session.query(Deadline).filter(Deadline.incident_id > 30):
            deadline.next_action_at = NOW + dt.timedelta(minutes=1)
    first = _selects(app)
    app.clock.advance(dt.timedelta(minutes=1))
    second = _selects(app)
    assert states(app) == ["pending"] * 40
    assert first == second, (first, second)


def _selects(app: App) -> int:
    """How many SELECT statements one sweep runs."""
    count = 0

    def counted(*args: object) -> None:
        nonlocal count
        count += str(args[2]).lstrip().upper().startswith("SELECT")

    event.listen(app.db.engine, "before_cursor_execute", counted)
    try:
        sweep(app)
    finally:
        event.remove(app.db.engine, "before_cursor_execute", counted)
    return count


def test_a_held_level_is_not_passed_by_the_next(
    tmp_path: Path, database_url: str
) -> None:
    # A breaker's repro-5: one site with 3 incidents, each owing
    # containment and analysis. The cap held level 2 of some clocks; the
    # next day the duty team was told the site was silent on them, and
    # `show` listed the held level 2 among the reminders sent. (Six mails a
    # day reached the default cap of 10; the two clocks of an incident now
    # go in one mail, three a day, so the cap here is lower.)
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=4)
    open_incidents(app, 3, rules=("containment", "analysis"))
    for day in range(3):
        app.clock.set(NOW + dt.timedelta(days=day))
        sweep(app)
    with app.db.transaction() as session:
        rows = session.query(Chase, Outbox).join(
            Outbox, Outbox.mail_id == Chase.mail_id
        )
        levels: dict[int, dict[int, str]] = {}
        for chase, row in rows:
            levels.setdefault(chase.deadline_id, {})[chase.level] = row.state
    held = [d for d, by_level in levels.items() if by_level.get(2) == "held"]
    assert held, "the scenario holds a level 2"
    for deadline_id in held:
        assert 3 not in levels[deadline_id]
    # `mailbot deadlines` says that they wait.
    waiting = [p for p in forecast(app) if p.action == "held"]
    assert len(waiting) == len(held)
    assert "the next level waits" in forecast_text(waiting)
    # The others went on to level 3.
    assert any(3 in by_level for by_level in levels.values())
    # `show` lists no held level among the times reminders were sent.
    tag = "EGI-20261204-03"
    with app.db.transaction() as session:
        incident = session.query(Incident).filter_by(tag=tag).one()
        ids = [d.id for d in session.query(Deadline).filter_by(incident_id=incident.id)]
    shown = views.show(app, tag)["deadlines"]
    for deadline_id, entry in zip(sorted(ids), shown, strict=True):
        sent = [
            lvl for lvl, state in levels.get(deadline_id, {}).items() if state != "held"
        ]
        assert len(entry["chases"]) == len(sent)
    # Released, the level 2 goes, and level 3 follows a working day later.
    released = NOW + dt.timedelta(days=2, hours=2)
    app.clock.set(released)
    brake.release(app)
    app.clock.set(released + dt.timedelta(hours=1))
    sweep(app)
    planned = {
        (p.tag, rule, level): p.at for p in forecast(app) for rule, level, _ in p.clocks
    }
    assert planned[(tag, "analysis", 3)] == released + dt.timedelta(days=1)
    app.clock.set(released + dt.timedelta(days=1) - dt.timedelta(seconds=1))
    assert sweep(app)["reminders"] == 0
    app.clock.set(released + dt.timedelta(days=1))
    assert sweep(app)["reminders"] >= 1


def three_held(tmp_path: Path, database_url: str) -> App:
    """Six reminders due at NOW, three sent and three held by the brake."""
    app = new_app(tmp_path, database_url, max_per_hour=3)
    open_incidents(app, 6)
    sweep(app)
    send.deliver_due(app)
    assert states(app) == ["sent"] * 3 + ["held"] * 3
    return app


def test_a_reminder_released_at_night_waits_for_the_sites_morning(
    tmp_path: Path, database_url: str
) -> None:
    # F16: `brake release` at 23:00 in Helsinki let held reminders go at
    # once, mailing the site at night, though a reminder is only ever
    # queued for its working hours.
    app = three_held(tmp_path, database_url)
    night = dt.datetime(2026, 12, 7, 21, 0, tzinfo=UTC)  # 23:00 in Helsinki
    app.clock.set(night)
    assert brake.release(app) == (3, 0)
    sent = send.deliver_due(app)
    assert states(app) == ["sent"] * 3 + ["pending"] * 3, sent
    morning = dt.datetime(2026, 12, 8, 7, 0, tzinfo=UTC)  # 09:00 in Helsinki
    with app.db.transaction() as session:
        waiting = session.query(Outbox).filter(Outbox.state == "pending")
        assert {row.next_try_at for row in waiting} == {morning}
    # Waiting for the morning is no stuck outbox.
    app.clock.set(night + dt.timedelta(hours=5))
    assert views.status(app, night + dt.timedelta(hours=5))["healthy"]
    app.clock.set(morning - dt.timedelta(minutes=1))
    send.deliver_due(app)
    assert states(app) == ["sent"] * 3 + ["pending"] * 3
    app.clock.set(morning)
    send.deliver_due(app)
    assert states(app) == ["sent"] * 6
    # Mail to the CSIRT (the brake's alert) went as queued, at any hour.
    assert ("alert-brake", "sent", None) in outbox(app)


def _chase_mails(app: App) -> list[tuple[str, str, str, str | None]]:
    """(tag, purpose, state, reason held) of every reminder queued, in order."""
    with app.db.transaction() as session:
        rows = (
            session.query(Outbox, Incident)
            .join(Mail, Mail.id == Outbox.mail_id)
            .join(Incident, Incident.id == Mail.incident_id)
            .filter(Outbox.purpose.startswith("chase-"))
            .order_by(Outbox.id)
        )
        return [(i.tag, r.purpose, r.state, r.last_error) for r, i in rows]


def _sweep_as_forecast(app: App) -> None:
    """Forecast, sweep at each forecast time, and check that the sweep
    queued and held exactly the mails the forecast said, for the reason it
    said (a breaker's report: `mailbot deadlines` listed reminders the
    caps then held)."""
    planned = [p for p in forecast(app) if p.at > app.clock.now() or p.to]
    assert planned
    before = len(_chase_mails(app))
    for moment in sorted({p.at for p in planned}):
        app.clock.set(moment)
        sweep(app)
        send.deliver_due(app)
    queued = [
        (tag, purpose, "held" if state == "held" else "sent", reason)
        for tag, purpose, state, reason in _chase_mails(app)[before:]
    ]
    expected = [
        (
            p.tag,
            f"chase-{p.rule}-{p.level}",
            "held" if p.action == "held" else "sent",
            p.reason,
        )
        for p in planned
    ]
    assert queued == expected


def test_the_forecast_holds_what_the_incident_cap_will_hold(
    tmp_path: Path, database_url: str
) -> None:
    app = new_app(tmp_path, database_url, max_per_incident_per_day=1)
    # Two sites asked in each incident: a mail each.
    open_incidents(app, 2, rules=("analysis", "containment@SITE-C"))
    with app.db.transaction() as session:
        for deadline in session.query(Deadline):
            deadline.due_at = deadline.next_action_at = NOW + dt.timedelta(hours=1)
    planned = forecast(app)
    assert [(p.tag, p.rule, p.level, p.action, p.cap) for p in planned] == [
        ("EGI-20261204-01", "analysis", 1, "reminder", None),
        ("EGI-20261204-01", "containment", 1, "held", "max_per_incident_per_day"),
        ("EGI-20261204-02", "analysis", 1, "reminder", None),
        ("EGI-20261204-02", "containment", 1, "held", "max_per_incident_per_day"),
        # A day after the first reminder the day's window still holds it.
        ("EGI-20261204-01", "analysis", 2, "held", "max_per_incident_per_day"),
        ("EGI-20261204-02", "analysis", 2, "held", "max_per_incident_per_day"),
    ]
    text = forecast_text(planned)
    assert "level 1 held by brake.max_per_incident_per_day" in text
    assert "held: 1 mails in this incident in 24 hours" in text
    _sweep_as_forecast(app)
    # What waits now: the held levels, for the reason the sweep held them.
    waiting = forecast(app)
    assert {(p.action, p.cap) for p in waiting} == {
        ("held", "max_per_incident_per_day")
    }
    assert len(waiting) == 4


def test_the_forecast_holds_what_the_recipient_cap_will_hold(
    tmp_path: Path, database_url: str
) -> None:
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=3)
    open_incidents(app, 5)
    planned = forecast(app)
    assert [(p.level, p.action, p.cap) for p in planned] == [
        *[(1, "reminder", None)] * 3,
        *[(1, "held", "max_per_recipient_per_day")] * 2,
        # A day later, the three reminders sent count still.
        *[(2, "held", "max_per_recipient_per_day")] * 3,
    ]
    _sweep_as_forecast(app)


def test_the_forecast_holds_what_the_brake_will_hold(
    tmp_path: Path, database_url: str
) -> None:
    app = new_app(tmp_path, database_url, max_per_hour=3)
    open_incidents(app, 6)
    planned = forecast(app)
    # The fourth engages the brake, which then holds everything after it.
    assert [(p.level, p.action, p.cap) for p in planned] == [
        *[(1, "reminder", None)] * 3,
        (1, "held", "max_per_hour"),
        *[(1, "held", "brake")] * 2,
        # Still engaged a day later: level 2 of the three sent is held too.
        *[(2, "held", "brake")] * 3,
    ]
    _sweep_as_forecast(app)
    # What waits then: each held level, with what held it.
    ahead = forecast(app)
    assert sorted((p.level, p.action, p.cap) for p in ahead) == [
        (1, "held", "brake"),
        (1, "held", "brake"),
        (1, "held", "max_per_hour"),
        *[(2, "held", "brake")] * 3,
    ]


def test_a_release_at_night_is_no_stuck_outbox_before_the_next_pass(
    tmp_path: Path, database_url: str
) -> None:
    # A retester's repro: held at 10:00 UTC, released at 20:00 (22:00 in
    # Helsinki); until a pass looked at the reminder, `status` was UNHEALTHY
    # with "outbox stuck ... waiting since" the hold, though the mail only
    # waits for the site's morning. `status` and `outbox` say when it leaves.
    app = three_held(tmp_path, database_url)
    night = dt.datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    app.clock.set(night)
    assert brake.release(app) == (3, 0)
    for later in (dt.timedelta(minutes=1), dt.timedelta(hours=2)):
        app.clock.set(night + later)
        data = views.status(app, night + later)
        assert data["healthy"], data["problems"]
        assert data["outbox_next_leaves_at"] == "2026-12-08T07:00:00Z"
        assert "next leaves at 2026-12-08T07:00:00Z" in health.status_text(data)
    listed = [r for r in outbox_admin.undelivered(app) if r["state"] == "pending"]
    assert [r["leaves_at"] for r in listed] == ["2026-12-08T07:00:00Z"] * 3
    # The pass at night leaves them waiting; the morning's sends them.
    assert send.deliver_due(app).sent == 0
    app.clock.set(dt.datetime(2026, 12, 8, 7, 0, tzinfo=UTC))  # 09:00 there
    send.deliver_due(app)
    assert states(app) == ["sent"] * 6


def test_the_help_of_brake_says_release_queues(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Release sends nothing itself (README): the daemon or the next poll or
    # sweep does. The help said "send the held mails".
    with pytest.raises(SystemExit):
        main(["brake", "--help"])
    with pytest.raises(SystemExit):
        main(["--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "send the held mails" not in said and "release sends them" not in said
    assert "queue the held mails for the daemon or the next poll or sweep" in said


def test_a_released_mail_no_longer_lists_the_brake_as_its_error(
    tmp_path: Path, database_url: str
) -> None:
    # `mailbot outbox` kept "the brake is engaged" as the LAST ERROR of the
    # mails `brake release` had queued again, for as long as they waited.
    app = three_held(tmp_path, database_url)
    held = [r for r in outbox_admin.undelivered(app) if r["state"] == "held"]
    assert len(held) == 3 and all(r["last_error"] for r in held)
    night = dt.datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    app.clock.set(night)
    assert brake.release(app) == (3, 0)
    listed = outbox_admin.undelivered(app)
    assert [(r["state"], r["last_error"]) for r in listed] == [("pending", None)] * 3
    done = run_cli(cli_env(app), "--now", night.isoformat(), "outbox")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and all("brake" not in line for line in lines), lines
    # Sent in the site's morning, as before.
    app.clock.set(dt.datetime(2026, 12, 8, 7, 0, tzinfo=UTC))
    send.deliver_due(app)
    assert states(app) == ["sent"] * 6


def test_mail_held_by_a_cap_is_logged_once_per_pass_with_the_count(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One WARNING per held mail made 2,984 lines of one poll: each pass
    (a poll, a sweep) now says how many each cap held, once."""
    import logging

    from mailbot.mail import RawMail
    from mailbot.process import process_delivery

    caplog.set_level(logging.INFO, logger="mailbot")
    app = new_app(tmp_path, database_url, max_per_recipient_per_day=2)
    for n in range(6):
        report = (
            "From: cert@cert.example.net\r\nTo: abuse@csirt.example.org\r\n"
            f"Subject: Scans from 203.0.113.{n}\r\nMessage-ID: <scan-{n}@x>\r\n"
            f"Date: Mon, 07 Dec 2026 09:0{n}:00 +0000\r\n\r\nScans.\r\n"
        ).encode()
        process_delivery(app, RawMail(report, app.clock.now(), f"t{n}"))
    # The poll's end: its delivery pass reports what the poll held.
    send.deliver_due(app)
    open_incidents(app, 5)
    assert sweep(app)["reminders"] == 5
    app.close()  # a sweep command's end, before any delivery
    held = [r.getMessage() for r in caplog.records if r.name == "mailbot.brake"]
    assert [state for _, state, _ in outbox(app)].count("held") == 4 + 3
    then = "`mailbot brake` lists them, `mailbot brake release` queues them"
    assert held == [
        "4 outgoing mails held by brake.max_per_recipient_per_day, the first"
        " (acknowledgement): 2 mails to cert@cert.example.net in 24 hours"
        f" (brake.max_per_recipient_per_day 2); {then}",
        "3 outgoing mails held by brake.max_per_recipient_per_day, the first"
        " (chase-analysis-1): 2 mails to admin@site-a.example.com in 24 hours"
        f" (brake.max_per_recipient_per_day 2); {then}",
    ], held
