"""Queued mail looked at again as it leaves (withdraw.py), through real servers.

SITE-A reports at Monday 09:55 UTC (containment due Tuesday 08:10), a
member asks for its analysis at 10:30 (due 14:30). Nobody sweeps before
Tuesday 09:00, when one level-1 reminder listing both is queued; the SMTP
server or the caps keep it in the outbox while the site answers or a
member closes the incident.
"""

from __future__ import annotations

import email.utils
from pathlib import Path
from typing import Any

import test_csirt_env as env
from mailbot_env import make_app
from sqlalchemy import select
from test_csirt_env import SITE_A, World, at
from test_merge import merge, second_report

from mailbot import brake, outbox_admin, render, send, store, summary
from mailbot.db.models import Deadline, Mail, Outbox
from mailbot.deadlines.sweep import sweep

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

SWEEP = at("2026-12-01T09:00:00")


def _chased(w: World, *, smtp_down: bool = False) -> str:
    """The report, the member's request, the sweep that queues level 1."""
    tag = env.site_report(w)
    w.deliver(
        env.member_mail(
            subject=f"Re: [{tag}] [TLP:AMBER] Security incident", to=SITE_A,
            cc="abuse@csirt.example.org", body="Please send the sshd logs.\n",
            when=at("2026-11-30T10:30:00"), message_id="<request@csirt.example.org>",
        ),
        at("2026-11-30T10:30:00"),
    )  # fmt: skip
    w.app.clock.set(SWEEP)
    if smtp_down:
        w.smtp.stop()
    # Both clocks of SITE-A fell due: one mail lists them (together.py).
    assert sweep(w.app)["reminders"] == 1
    return tag


def _answer(w: World, tag: str, when: str) -> None:
    w.deliver(
        env.raw_mail(
            subject=f"Re: [{tag}] [TLP:AMBER] Security incident suspected at SITE-A",
            body="Hello,\n\nthe sshd logs are attached; 203.0.113.77 logged in.\n",
            sender=SITE_A, when=at(when), message_id="<answer@site-a.example.com>",
        ),
        at(when),
    )  # fmt: skip


def _rows(w: World) -> dict[str, tuple[str, str | None]]:
    with w.app.db.transaction() as session:
        rows = session.scalars(select(Outbox).where(Outbox.purpose.like("chase-%")))
        return {r.purpose: (r.state, r.last_error) for r in rows}


def _states(w: World) -> list[tuple[str, str, str | None]]:
    """(purpose, state, last error) of each reminder queued, in order."""
    with w.app.db.transaction() as session:
        rows = session.scalars(
            select(Outbox).where(Outbox.purpose.like("chase-%")).order_by(Outbox.id)
        )
        return [(r.purpose, r.state, r.last_error) for r in rows]


def _chases(w: World, tag: str) -> dict[str, list[Any]]:
    return {d["rule"]: d["chases"] for d in w.show(tag)["deadlines"]}


def test_reminder_of_a_clock_met_during_an_outage_is_withdrawn(w: World) -> None:
    tag = _chased(w, smtp_down=True)
    w.new_mail()
    # The site answers while the SMTP server is down: the analysis clock is
    # met (late); containment is still owed.
    waiting = summary.summary_text(w.show(tag))
    assert waiting.count("not sent yet: in the outbox") == 1
    _answer(w, tag, "2026-12-01T09:10:00")
    # The poll after the answer looked at the reminder (SMTP is down): it
    # would ask for the answer received, so it is withdrawn, and says why;
    # the clock still owed is reminded at once, in a mail of its own.
    assert {p: s for p, (s, _) in _rows(w).items()} == {
        "chase-analysis+containment-1": "withdrawn",
        "chase-containment-1": "pending",
    }

    # Containment, the one clock still owed, was reminded at once, alone:
    # the mail leaves when the server is back at 09:40; no sweep adds one.
    w.smtp.start()
    w.app.clock.set(at("2026-12-01T09:40:00"))
    assert sweep(w.app)["reminders"] == 0
    assert send.deliver_due(w.app).sent == 1
    rows = _rows(w)
    state, reason = rows["chase-analysis+containment-1"]
    assert state == "withdrawn"
    assert reason is not None and "analysis clock of SITE-A was met" in reason
    assert "the 1 clock(s) still owed are reminded anew" in reason
    assert rows["chase-containment-1"] == ("sent", None)
    listed = {r["purpose"]: r["state"] for r in outbox_admin.undelivered(w.app)}
    assert listed == {"chase-analysis+containment-1": "withdrawn"}
    [reminder] = w.new_mail()
    assert reminder.recipients == (SITE_A, "admin-old@site-a.example.com")
    assert "isolate" in env.body_of(reminder)
    assert "answer EGI CSIRT's request" not in env.body_of(reminder)
    assert reminder.message["Date"] == email.utils.format_datetime(
        at("2026-12-01T09:40:00")
    )
    with w.app.db.transaction() as session:
        stored = session.scalars(
            select(Mail).where(Mail.message_id == reminder.message["Message-ID"])
        ).one()
        # The stored mail is the one sent: a copy coming back is known.
        assert stored.raw.replace(b"\r\n", b"\n") in reminder.data.replace(
            b"\r\n", b"\n"
        )
        assert stored.date == at("2026-12-01T09:40:00")
        assert stored.dedupe_key == store.dedupe_key(stored.raw)
    # `show` lists the reminders sent, not the one withdrawn.
    assert _chases(w, tag) == {
        "report": [],
        "containment": ["2026-12-01T09:11:00Z"],
        "analysis": [],
    }
    # Its mail is listed withdrawn, never as one the site got.
    shown = w.show(tag)
    out = {m["message_id"]: m for m in shown["messages"] if m["direction"] == "out"}
    assert out.pop(reminder.message["Message-ID"])["delivery"] == "sent"
    [withdrawn] = [m for m in out.values() if m["delivery"] == "withdrawn"]
    assert "analysis clock of SITE-A was met" in withdrawn["delivery_note"]
    assert {m["delivery"] for m in out.values()} == {"sent", "withdrawn"}
    text = summary.summary_text(shown)
    entry = text.split(f"(mail {withdrawn['id']})", 1)[1].split("(mail ", 1)[0]
    assert "WITHDRAWN, never sent (withdrawn at 2026-12-01T09:11:00Z" in entry
    assert text.count("WITHDRAWN") == 1 and "not sent" not in text.lower()


def test_the_rest_of_a_reminder_withdrawn_as_it_leaves_goes_at_once(
    w: World,
) -> None:
    # The 09:00 sweep queued the reminder of both clocks; the site's answer
    # comes before it left. The poll that reads the answer withdraws it and
    # sends at once the reminder of containment alone, the clock still
    # owed: it no longer waits for the next sweep.
    tag = _chased(w)
    w.new_mail()
    _answer(w, tag, "2026-12-01T09:02:00")
    [reminder] = w.new_mail()
    assert reminder.recipients == (SITE_A, "admin-old@site-a.example.com")
    said = env.body_of(reminder)
    assert "isolate" in said and "answer EGI CSIRT's request" not in said
    rows = _rows(w)
    assert rows["chase-analysis+containment-1"][0] == "withdrawn"
    assert rows["chase-containment-1"] == ("sent", None)
    # Each level once: the sweeps after it send nothing more today, and
    # the met clock is never reminded.
    for when in ("2026-12-01T09:03:00", "2026-12-01T12:00:00"):
        w.app.clock.set(at(when))
        assert sweep(w.app)["reminders"] == 0
        send.deliver_due(w.app)
    assert w.new_mail() == []
    assert _chases(w, tag) == {
        "report": [],
        "containment": ["2026-12-01T09:03:00Z"],
        "analysis": [],
    }


def test_the_rest_of_a_held_reminder_withdrawn_goes_when_released(w: World) -> None:
    # The brake held the reminder of both clocks; the site answered the
    # request meanwhile. The release withdraws it, and reminds of
    # containment alone once the brake is off: it is not held again.
    with w.app.db.transaction() as session:
        brake.engage(w.app, session, 51)
    tag = _chased(w)
    assert [s for _, s, _ in _states(w)] == ["held"]
    _answer(w, tag, "2026-12-01T09:10:00")
    w.new_mail()
    w.app.clock.set(at("2026-12-01T09:30:00"))
    assert brake.release(w.app)[1] == 1
    assert [(p, s) for p, s, _ in _states(w)] == [
        ("chase-analysis+containment-1", "withdrawn"),
        ("chase-containment-1", "pending"),
    ]
    send.deliver_due(w.app)
    [reminder] = [m for m in w.new_mail() if m.headline.startswith("Reminder")]
    said = env.body_of(reminder)
    assert "isolate" in said and "answer EGI CSIRT's request" not in said


def test_a_rest_whose_template_fails_leaves_the_outbox_going(
    tmp_path: Path, database_url: str, dovecot: Any, smtp_sink: Any
) -> None:
    # An operator's reminder-1 fails for a mail of one clock to this SITE-A
    # (it passed the start-up check's sample values): the rest of the
    # withdrawn reminder cannot be written. The withdrawal holds, the poll
    # goes on sending, and the clock stays due for the sweep.
    own = tmp_path / "own-templates"
    own.mkdir()
    shipped = Path(render.__file__).with_name("templates") / "reminder-1.txt.j2"
    trap = (
        '{% if items | length == 1 and "admin-old@site-a.example.com" in contacts %}'
        "{{ nope }}{% endif %}\n"
    )
    text = shipped.read_text(encoding="utf-8")
    (own / "reminder-1.txt.j2").write_text(text + trap, encoding="utf-8")
    app = make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink,
        now=at("2026-11-30T08:00:00"), sites=env.SITES,
        extra={"MAILBOT_TEMPLATES_DIRECTORY": str(own)},
    )  # fmt: skip
    w = World(app, dovecot, smtp_sink)
    try:
        tag = _chased(w)
        w.new_mail()
        _answer(w, tag, "2026-12-01T09:02:00")
        assert [(p, s) for p, s, _ in _states(w)] == [
            ("chase-analysis+containment-1", "withdrawn")
        ]
        with app.db.transaction() as session:
            due = session.scalars(
                select(Deadline.next_action_at).where(Deadline.rule == "containment")
            ).one()
        assert due == at("2026-12-01T09:03:00")
    finally:
        app.close()


def test_held_reminders_of_a_closed_incident_are_withdrawn_on_release(
    tmp_path: Path, database_url: str, dovecot: Any, smtp_sink: Any
) -> None:
    # One automatic mail a day to a contact: the acknowledgement was it.
    app = make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink,
        now=at("2026-11-30T08:00:00"), sites=env.SITES,
        extra={"MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "1"},
    )  # fmt: skip
    w = World(app, dovecot, smtp_sink)
    try:
        tag = _chased(w)
        assert {s for s, _ in _rows(w).values()} == {"held"}
        w.new_mail()
        w.deliver(
            env.member_mail(
                subject=f"Re: [{tag}] [TLP:AMBER] Security incident",
                body="#close\n", when=at("2026-12-01T09:20:00"),
                message_id="<close@csirt.example.org>",
            ),
            at("2026-12-01T09:20:00"),
        )  # fmt: skip
        assert [m.headline for m in w.new_mail()] == ["Done: #close"]
        app.clock.set(at("2026-12-01T09:30:00"))
        assert brake.release(app) == (0, 1)
        assert send.deliver_due(app).sent == 0
        assert w.new_mail() == []
        for state, reason in _rows(w).values():
            assert state == "withdrawn"
            assert reason is not None and f"incident {tag} is closed" in reason
    finally:
        app.close()


def test_a_reminder_that_waited_is_dated_when_it_leaves(w: World) -> None:
    _chased(w, smtp_down=True)
    w.new_mail()
    w.smtp.start()
    w.app.clock.set(at("2026-12-01T11:15:00"))
    assert send.deliver_due(w.app).sent == 1
    dates = {m.message["Date"] for m in w.new_mail()}
    assert dates == {email.utils.format_datetime(at("2026-12-01T11:15:00"))}


def test_reminder_of_an_incident_merged_meanwhile_goes_under_the_kept_tag(
    w: World,
) -> None:
    source = _chased(w, smtp_down=True)
    target = second_report(w, "2026-12-01T09:05:00")
    merge(w, source, target, "2026-12-01T09:10:00")
    # The poll after the merge looked at the reminders first (SMTP is down):
    # withdrawn, and both clocks, still owed, reminded at once under the
    # kept tag, in one mail.
    [(purpose, state, reason), again] = _states(w)
    assert (purpose, state) == ("chase-analysis+containment-1", "withdrawn")
    assert reason is not None and f"{source} was merged into {target}" in reason
    assert again == ("chase-analysis+containment-1", "pending", None)
    w.smtp.start()
    w.app.clock.set(at("2026-12-01T09:40:00"))
    assert sweep(w.app)["reminders"] == 0
    send.deliver_due(w.app)
    sent = [m for m in w.new_mail() if m.headline.startswith("Reminder")]
    subjects = [m.message["Subject"] for m in sent]
    assert len(subjects) == 1
    assert all(s.startswith(f"[{target}] [TLP:AMBER] ") for s in subjects)
