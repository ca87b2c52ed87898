"""Reminders of one site falling due together: one mail in the thread.

SITE-P (Europe/Paris) reports a compromised host on Sunday evening and
does not isolate it: containment is due Monday 20:00 UTC, after its
working hours. A member asks a question on Monday at 12:00 UTC, due four
working hours later, at 17:00 in Paris, when the site closes. Both
reminders wait for Tuesday's opening (08:00 UTC) and fell due in the same
sweep: they went out as two mails into the same thread a second apart,
then two second reminders, then two notices to the duty team. The site
now gets one mail listing both, and the duty team one notice; each clock
still records its own level with that mail.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from email.message import Message
from pathlib import Path

import pytest
from mailbot_env import T, make_app
from sqlalchemy import select
from test_sweep_reminders import DUTY, NGI_CONTACT, SITE_CONTACTS, SITES
from test_together_env import (
    OWN_LEVEL_ONE,
    REPORT,
    TAG,
    TUESDAY,
    csirt_request,
    feed,
    third_party_report,
    with_templates,
)

from mailbot import render, send, views
from mailbot.app import App
from mailbot.db.models import Chase, Deadline, Mail, Outbox
from mailbot.deadlines import DEFAULT_RULES, chase
from mailbot.deadlines.forecast import forecast, forecast_text
from mailbot.deadlines.sweep import sweep
from mailbot.send.claim import LEASE, claim_next
from mailbot.send.transport import transport_for

# The `site_p` fixture: SITE-P's report, and Alice's request on Monday.
pytest_plugins = ("test_together_env",)


@pytest.fixture
def app(site_p: App) -> App:
    return site_p


def chase_mails(app: App) -> list[tuple[str, list[str], Message]]:
    """(purpose, envelope recipients, parsed mail) of every reminder queued."""
    with app.db.transaction() as session:
        rows = session.execute(
            select(Outbox.purpose, Outbox.recipients, Mail.raw)
            .join(Mail, Mail.id == Outbox.mail_id)
            .where(Outbox.purpose.like("chase-%"))
            .order_by(Outbox.id)
        ).all()
    policy = email.policy.default
    return [
        (purpose, list(rcpts), email.message_from_bytes(raw, policy=policy))
        for purpose, rcpts, raw in rows
    ]


def text_of(message: Message) -> str:
    return " ".join(message.get_content().split())  # type: ignore[attr-defined]


def chased(app: App) -> dict[str, list[tuple[int, int | None]]]:
    """Each rule's chase rows: (level, mail id)."""
    with app.db.transaction() as session:
        rows = session.execute(
            select(Deadline.rule, Chase.level, Chase.mail_id)
            .join(Chase, Chase.deadline_id == Deadline.id)
            .order_by(Chase.level, Deadline.id)
        ).all()
    found: dict[str, list[tuple[int, int | None]]] = {}
    for rule, level, mail_id in rows:
        found.setdefault(rule, []).append((level, mail_id))
    return found


def planned_at(app: App, when: str) -> list[tuple[str, str, int, int, list[str]]]:
    """The forecast's mails at `when`: (tag, rule, level, deadlines, to+cc)."""
    return [
        (p.tag, p.rule, p.level, p.deadlines, [*p.to, *p.cc])
        for p in forecast(app)
        if p.at == T(when)
    ]


def test_two_clocks_due_in_one_sweep_go_in_one_mail(app: App) -> None:
    with app.db.transaction() as session:
        dues = {d.rule: d.due_at for d in session.query(Deadline)}
    assert dues["containment"] == T("2026-12-07T20:00:00")
    assert dues["analysis"] == T("2026-12-07T16:00:00")
    # The forecast shows one mail for both, before the sweep sends it.
    app.clock.set(T("2026-12-07T17:00:00"))
    assert planned_at(app, TUESDAY) == [
        (TAG, "analysis+containment", 1, 2, SITE_CONTACTS)
    ]
    app.clock.set(T(TUESDAY))
    result = sweep(app)
    assert (result["missed"], result["reminders"]) == (2, 1)
    [(purpose, rcpts, message)] = chase_mails(app)
    assert purpose == "chase-analysis+containment-1"
    assert rcpts == SITE_CONTACTS and message["Cc"] is None
    assert message["Subject"] == (
        f"[{TAG}] [TLP:AMBER] Security incident suspected at SITE-P"
    )
    assert message["In-Reply-To"] == "<request-1@csirt.example.org>"
    said = text_of(message)
    # Every clock owed, with its own due time.
    assert "EGI CSIRT is still waiting for SITE-P to: 1. answer EGI CSIRT's" in said
    assert "2. isolate the compromised systems while keeping the forensic" in said
    assert "Due at 2026-12-07T16:00:00Z (Mon 2026-12-07 17:00 CET)" in said
    assert "Due at 2026-12-07T20:00:00Z (Mon 2026-12-07 21:00 CET)" in said
    # Each clock records its level, with the one mail.
    levels = chased(app)
    assert [level for level, _ in levels["analysis"]] == [1]
    assert [level for level, _ in levels["containment"]] == [1]
    assert levels["analysis"][0][1] == levels["containment"][0][1] is not None
    # Nothing more, however often it sweeps.
    assert sweep(app)["reminders"] == 0


def test_the_next_levels_go_together_too(app: App) -> None:
    app.clock.set(T(TUESDAY))
    sweep(app)
    second, third = "2026-12-09T08:00:00", "2026-12-10T08:00:00"
    assert planned_at(app, second) == [
        (TAG, "analysis+containment", 2, 2, [*SITE_CONTACTS, NGI_CONTACT])
    ]
    assert planned_at(app, third) == [(TAG, "analysis+containment", 3, 2, [DUTY])]
    for when in (second, third):
        app.clock.set(T(when))
        assert sweep(app)["reminders"] == 1
    sent = chase_mails(app)
    assert [purpose for purpose, _, _ in sent] == [
        "chase-analysis+containment-1",
        "chase-analysis+containment-2",
        "chase-analysis+containment-3",
    ]
    _, rcpts, notice = sent[2]
    assert rcpts == [DUTY]
    said = text_of(notice)
    assert "Escalation: SITE-P silent on " in said
    assert f"SITE-P has not answered the reminders about incident {TAG}" in said
    assert "1. answer EGI CSIRT's request" in said
    assert "2. isolate the compromised systems" in said
    assert said.count("2 reminders about it unanswered") == 2
    assert "Suspension of SITE-P should be considered" in said
    # `show` lists every clock's reminders.
    shown = {d["rule"]: d["chases"] for d in views.show(app, TAG)["deadlines"]}
    expected = ["2026-12-08T08:00:00Z", "2026-12-09T08:00:00Z", "2026-12-10T08:00:00Z"]
    assert shown["analysis"] == shown["containment"] == expected


def test_the_forecast_agrees_with_what_the_sweep_sends(app: App) -> None:
    # Each forecast mail is one the sweeps at those times queue: its
    # recipients, and the deadlines it chases.
    app.clock.set(T("2026-12-07T17:00:00"))
    planned = [p for p in forecast(app) if p.action != "unsent"]
    for moment in sorted({p.at for p in planned}):
        app.clock.set(moment)
        sweep(app)
    with app.db.transaction() as session:
        rows = session.execute(
            select(Outbox.queued_at, Outbox.recipients, Chase.deadline_id)
            .join(Chase, Chase.mail_id == Outbox.mail_id)
            .order_by(Outbox.id, Chase.deadline_id)
        ).all()
    queued: dict[tuple[dt.datetime, tuple[str, ...]], list[int]] = {}
    for at, rcpts, deadline_id in rows:
        queued.setdefault((at, tuple(rcpts)), []).append(deadline_id)
    assert [(p.at, (*p.to, *p.cc), sorted(p.deadline_ids)) for p in planned] == [
        (at, rcpts, ids) for (at, rcpts), ids in queued.items()
    ]
    assert len(planned) == 3


def test_a_first_reminder_goes_with_a_second_one(
    tmp_path: Path, database_url: str
) -> None:
    # A national CSIRT reports the host, a member records the discovery on
    # Monday evening: the 4-hour report is first reminded on Tuesday, and
    # its second reminder falls together with containment's first, on
    # Wednesday's opening: one mail, the NGI in copy.
    app = make_app(tmp_path, database_url, now=T("2026-12-07T19:00:00"), sites=SITES)
    tag = third_party_report(app)
    wednesday = "2026-12-09T08:00:00"
    assert planned_at(app, wednesday) == [
        (tag, "report+containment", 2, 2, [*SITE_CONTACTS, NGI_CONTACT])
    ]
    for when in (TUESDAY, wednesday):
        app.clock.set(T(when))
        assert sweep(app)["reminders"] == 1
    [first, (purpose, rcpts, second)] = chase_mails(app)
    assert first[0] == "chase-report-1"
    assert purpose == "chase-report+containment-2"
    assert rcpts == [*SITE_CONTACTS, NGI_CONTACT] and second["Cc"] == NGI_CONTACT
    said = text_of(second)
    assert "Your NGI security officer is in copy" in said
    assert "1. report the incident to its local security team" in said
    assert "2. isolate the compromised systems" in said
    assert said.count("(A first reminder for this one.)") == 1
    assert said.index("2. isolate") < said.index("(A first reminder")
    levels = chased(app)
    assert [level for level, _ in levels["report"]] == [1, 2]
    assert [level for level, _ in levels["containment"]] == [1]
    assert levels["report"][1][1] == levels["containment"][0][1]
    # Thursday: report's notice to the duty team, containment's second
    # reminder to the site: two audiences, two mails.
    app.clock.set(T("2026-12-10T08:00:00"))
    assert sweep(app)["reminders"] == 2
    assert [p for p, _, _ in chase_mails(app)][2:] == [
        "chase-report-3",
        "chase-containment-2",
    ]
    app.close()


def test_other_incidents_keep_their_own_threads(app: App) -> None:
    second = REPORT.replace(b"<report@", b"<report-2@").replace(b"wn3", b"wn4")
    second = second.replace(b"Subject: Security", b"Subject: Another security")
    other = feed(app, second, "2026-12-06T20:00:00")
    assert other not in (None, TAG)
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 2
    subjects = sorted(str(m["Subject"]) for _, _, m in chase_mails(app))
    assert [s.split("]")[0] for s in subjects] == [f"[{TAG}", f"[{other}"]


def test_a_crash_after_sending_sends_nothing_twice(app: App, tmp_path: Path) -> None:
    # The sender took the combined reminder and handed it to the server,
    # then died before it recorded the outcome: the row's lease runs out,
    # it becomes uncertain, and neither the sender nor the sweep sends it
    # (or another for those levels) again.
    send.deliver_due(app)  # the acknowledgement of the site's report
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 1
    letter = claim_next(app)
    assert letter is not None and letter.message_id
    transport = transport_for(app)
    transport.send(letter.sender, letter.recipients, letter.raw)
    transport.close()
    app.clock.set(T(TUESDAY) + LEASE + dt.timedelta(minutes=1))
    counts = send.deliver_due(app)
    assert (counts.sent, counts.uncertain) == (0, 1)
    assert sweep(app)["reminders"] == 0
    app.clock.set(T("2026-12-08T15:00:00"))
    assert sweep(app)["reminders"] == 0
    send.deliver_due(app)
    delivered = [p.read_bytes() for p in (tmp_path / "sent" / "new").iterdir()]
    assert sum(letter.message_id.encode() in raw for raw in delivered) == 1
    with app.db.transaction() as session:
        states = session.scalars(select(Outbox.state)).all()
    assert list(states).count("uncertain") == 1
    levels = chased(app)
    assert [level for level, _ in levels["analysis"]] == [1]
    assert [level for level, _ in levels["containment"]] == [1]


def test_metrics_count_each_rule_of_a_mail(app: App) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from mailbot.metrics import DatabaseCollector

    app.clock.set(T(TUESDAY))
    sweep(app)
    send.deliver_due(app)
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(app))
    scraped = generate_latest(registry).decode()
    lines = [line for line in scraped.splitlines() if "reminders_sent_total{" in line]
    assert sorted(lines) == [
        'mailbot_reminders_sent_total{level="1",rule="analysis"} 1.0',
        'mailbot_reminders_sent_total{level="1",rule="containment"} 1.0',
    ]


@pytest.mark.parametrize(
    ("files", "purposes"),
    [
        # An operator's reminder-1 written for one clock (no `items`): a
        # mail each, as before, none naming a clock it does not remind of.
        (
            {"reminder-1.txt.j2": OWN_LEVEL_ONE},
            {
                "chase-analysis-1": "SITE-P: analysis.",
                "chase-containment-1": "SITE-P: containment.",
            },
        ),
        # A rule's own template: that clock keeps its own mail.
        (
            {"reminder-1-analysis.txt.j2": OWN_LEVEL_ONE},
            {
                "chase-containment-1": "isolate the compromised systems",
                "chase-analysis-1": "SITE-P: analysis.",
            },
        ),
    ],
)
def test_templates_written_for_one_clock_keep_a_mail_each(
    tmp_path: Path, database_url: str, files: dict[str, str], purposes: dict[str, str]
) -> None:
    app = with_templates(tmp_path, database_url, files)
    assert sorted(p.rule for p in forecast(app) if p.at == T(TUESDAY)) == sorted(
        ["analysis", "containment"]
    )
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 2
    sent = chase_mails(app)
    assert [purpose for purpose, _, _ in sent] == list(purposes)
    for purpose, _, message in sent:
        assert purposes[purpose] in text_of(message)
    app.close()


def test_the_forecast_text_names_each_clock(app: App) -> None:
    app.clock.set(T("2026-12-07T17:00:00"))
    text = forecast_text(forecast(app))
    assert "analysis+containment  SITE-P  level 1 reminder for 2 deadlines" in text
    assert (
        "reminds of analysis level 1 due 2026-12-07T16:00:00Z,"
        " containment level 1 due 2026-12-07T20:00:00Z"
    ) in text
    rows = json.loads(json.dumps([p.as_dict() for p in forecast(app)]))
    assert rows[0]["clocks"] == [
        {"rule": "analysis", "level": 1, "due_at": "2026-12-07T16:00:00Z"},
        {"rule": "containment", "level": 1, "due_at": "2026-12-07T20:00:00Z"},
    ]


RULES = [rule.name for rule in DEFAULT_RULES]


def _item(rule: str, level: int) -> dict[str, object]:
    from mailbot.deadlines import together

    return {
        "rule": rule,
        "level": level,
        "duration": "1 day",
        "working_time": rule == "analysis",
        "started_at": "2026-12-04T14:00:00Z",
        "due_at": "2026-12-07T10:00:00Z",
        "due_local": "Mon 2026-12-07 11:00 CET",
        "reached": None if level <= together.SITE_LEVELS else level - 1,
    }


@pytest.mark.parametrize("level", [1, 2, 3])
@pytest.mark.parametrize("first", RULES)
def test_every_pair_of_clocks_renders_in_one_mail(level: int, first: str) -> None:
    from mailbot.deadlines import together

    env = render.environment()
    second = RULES[(RULES.index(first) + 1) % len(RULES)]
    lower = level - 1 if level == together.SITE_LEVELS else level
    items = [_item(first, level), _item(second, lower)]
    values = {
        **{k: v for k, v in items[0].items() if k != "reached"},
        "tag": TAG,
        "site": "SITE-WITH-A-LONG-NAME",
        "levels": 3,
        "missing": ["detected_by"],
        "subject": "Compromised host",
        "tlp": "AMBER",
        "mailbox": "abuse@csirt.example.org",
        "ngi": "NGI_FR",
        "contacts": SITE_CONTACTS,
        "unreachable": [],
        "to_ngi_alone": False,
        "items": items,
    }
    if level > together.SITE_LEVELS:
        values["reached"] = level - 1
    name = chase.template_name(env, level, first)
    assert name == together.level_template(level)
    _, body = render.render(env, name, **values)
    assert "1. " in body and "2. " in body
    assert max(len(line) for line in body.splitlines()) <= 76
    assert "{{" not in body and "\n\n\n" not in body
    assert together.lists_items(env, name)


BOB_REQUEST = csirt_request(
    "Bob <bob@csirt.example.org>",
    2,
    "Mon, 07 Dec 2026 12:10:00 +0000",
    "Do you still have the logs of wn3 from last week?\n",
)


def named_by_their_mail(app: App) -> list[tuple[str, int, bool]]:
    """Each chase row: (rule, level, whether the mail it points at names
    its clock's due time)."""
    with app.db.transaction() as session:
        rows = session.execute(
            select(Deadline.rule, Deadline.due_at, Chase.level, Mail.raw)
            .join(Chase, Chase.deadline_id == Deadline.id)
            .join(Mail, Mail.id == Chase.mail_id)
            .order_by(Chase.level, Deadline.due_at)
        ).all()
    policy = email.policy.default
    found = []
    for rule, due_at, level, raw in rows:
        said = text_of(email.message_from_bytes(raw, policy=policy))
        stamp = due_at.replace(tzinfo=None).isoformat().lower()
        said = said.lower()
        named = any(f"due {w} {stamp}z (" in said for w in ("at", "since"))
        found.append((rule, level, named))
    return found


def test_a_request_due_minutes_later_is_reminded_by_a_mail_naming_it(
    app: App,
) -> None:
    # Bob asks ten minutes after Alice: his request is due Tuesday 08:10,
    # ten minutes after the mail of the other two. That mail does not name
    # it, so it is not recorded as its reminder, and the forecast does not
    # list it there: it gets its own mail when it falls due.
    assert feed(app, BOB_REQUEST, "2026-12-07T12:10:00") == TAG
    app.clock.set(T("2026-12-07T13:00:00"))
    assert planned_at(app, TUESDAY) == [
        (TAG, "analysis+containment", 1, 2, SITE_CONTACTS)
    ]
    later = "2026-12-08T08:10:00"
    assert planned_at(app, later) == [(TAG, "analysis", 1, 1, SITE_CONTACTS)]
    app.clock.set(T(TUESDAY))
    assert sweep(app)["reminders"] == 1
    assert planned_at(app, later) == [(TAG, "analysis", 1, 1, SITE_CONTACTS)]
    app.clock.set(T(later))
    assert sweep(app)["reminders"] == 1
    assert named_by_their_mail(app) == [
        ("analysis", 1, True),
        ("containment", 1, True),
        ("analysis", 1, True),
    ]
    # Every level of the forecast is sent, and every one sent was forecast.
    app.clock.set(T("2026-12-08T09:00:00"))
    planned = [p for p in forecast(app) if p.action != "unsent"]
    for moment in sorted({p.at for p in planned}):
        app.clock.set(moment)
        assert sweep(app)["reminders"] == len([p for p in planned if p.at == moment])
    assert all(named for _, _, named in named_by_their_mail(app))
    assert len(named_by_their_mail(app)) == 9


def test_each_request_of_a_mail_says_who_asked_and_when(app: App) -> None:
    # Bob, then Alice again, ask after SITE-P closed on Monday: both requests are due
    # Tuesday 12:00 and read alike, so each item of their mails says whose
    # request it is, and when it was asked.
    for n, who, when in ((2, "Bob <bob", "18:00"), (3, "Alice <alice", "18:05")):
        date = f"Mon, 07 Dec 2026 {when}:00 +0000"
        body = f"Question {n}: do you have the logs of wn{n}?\n"
        raw = csirt_request(f"{who}@csirt.example.org>", n, date, body)
        assert feed(app, raw, f"2026-12-07T{when}:00") == TAG
    app.clock.set(T("2026-12-07T19:00:00"))
    for moment in sorted({p.at for p in forecast(app)}):
        app.clock.set(moment)
        sweep(app)
    sent = [(p, text_of(m)) for p, _, m in chase_mails(app)]
    two = [t for p, t in sent if p.startswith("chase-analysis-")]
    assert len(two) == 3  # levels 1 and 2, the notice to the duty team
    for said in two:
        assert said.count("Asked by ") == 2, said
        assert "Asked by bob@csirt.example.org on Mon 2026-12-07 19:00 CET" in said
        assert "Asked by alice@csirt.example.org on Mon 2026-12-07 19:05 CET" in said
