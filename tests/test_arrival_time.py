"""A delivery's arrival time is checked for plausibility, as the Date is.

A misbehaving server (or an import) gave INTERNALDATEs in 1985 or 2099:
the mail's clocks started and were met at those times, a 2099 arrival
named its incident EGI-2099..., and a 1985 one made every clock "missed"
and the report unanswered. An arrival before 1990, or more than 15 minutes
after mailbot saw the mail, yields to the time mailbot saw it, and the mail
says why (its defects, `show --json`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from mailbot_env import mail, make_app
from sqlalchemy import select

from mailbot import service, views
from mailbot.db.models import Mail
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
REPORT = mail(
    subject="Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    body="Discovered 2026-12-04 08:10 UTC: miner on ui01.site-a.example.com.\n",
    sender="admin@site-a.example.com",
    message_id="<arrival@site-a.example.com>",
    date="Fri, 04 Dec 2026 09:55:00 +0000",
)


def _stored(app: Any) -> Mail:
    with app.db.transaction() as session:
        [row] = session.scalars(select(Mail).where(Mail.direction == "in")).all()
        session.expunge(row)
        return row


def _report_clock(app: Any) -> dict[str, Any]:
    [incident] = views.incident_list(app, all_=True)
    shown = views.show(app, incident["tag"])
    assert shown is not None
    assert incident["tag"].startswith("EGI-20261204-")
    [report] = [d for d in shown["deadlines"] if d["rule"] == "report"]
    return report


@pytest.mark.parametrize(
    "arrived",
    [
        dt.datetime(2099, 7, 1, 12, 0, tzinfo=dt.UTC),
        dt.datetime(1985, 1, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(1970, 1, 1, 0, 0, tzinfo=dt.UTC),
        NOW + dt.timedelta(minutes=16),
    ],
)
def test_an_implausible_arrival_yields_to_the_time_mailbot_saw_the_mail(
    tmp_path: Path, database_url: str, arrived: dt.datetime
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    outcome = process_delivery(app, RawMail(REPORT, arrived, "imap:test;UID=1"))
    assert outcome.result == "processed"
    row = _stored(app)
    assert row.arrived_at == NOW
    assert row.event_at == dt.datetime(2026, 12, 4, 9, 55, tzinfo=dt.UTC)
    [note] = [d for d in row.defects if d.startswith("arrival time implausible")]
    assert arrived.strftime("%Y-%m-%dT%H:%M") in note and "2026-12-04T10:00" in note
    # The site's report met its clock at its Date, not in 1985 or 2099.
    report = _report_clock(app)
    assert (report["state"], report["met_at"]) == ("met", "2026-12-04T09:55:00Z")


@pytest.mark.parametrize(
    "arrived",
    [
        NOW + dt.timedelta(minutes=14),  # a server's clock a little ahead
        dt.datetime(2003, 5, 1, 12, 0, tzinfo=dt.UTC),  # an old mailbox imported
    ],
)
def test_a_plausible_arrival_stands(
    tmp_path: Path, database_url: str, arrived: dt.datetime
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    process_delivery(app, RawMail(REPORT, arrived, "imap:test;UID=1"))
    row = _stored(app)
    assert row.arrived_at == arrived
    assert not [d for d in row.defects if d.startswith("arrival time")]


def test_an_internaldate_before_1990_from_the_server(
    tmp_path: Path, database_url: str, dovecot: Any
) -> None:
    # Through a real IMAP server: APPEND with an INTERNALDATE in 1985.
    app = make_app(tmp_path, database_url, dovecot=dovecot, now=NOW)
    dovecot.append(REPORT, internaldate=dt.datetime(1985, 3, 1, 9, 0, tzinfo=dt.UTC))
    result = service.poll(app, deliver=False)
    assert result.processed == 1
    row = _stored(app)
    assert row.arrived_at == NOW
    assert any("1985-03-01T09:00:00Z" in d for d in row.defects)
    report = _report_clock(app)
    assert (report["state"], report["met_at"]) == ("met", "2026-12-04T09:55:00Z")
