"""`mailbot reextract`: improvements to extraction reach old incidents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from sqlalchemy import select

from mailbot import views
from mailbot.app import App
from mailbot.cli import main
from mailbot.db.models import FieldValue, Mail
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.reextract import reextract

NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
REPORT = mail(
    subject="Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    sender="admin@site-a.example.com",
    message_id="<report@site-a.example.com>",
    date="Fri, 04 Dec 2026 08:55:00 +0000",
    body="Systems affected:\n - wn12.site-a.example.com (192.0.2.45)\n"
    "Attacker IP(s): 203.0.113.77\n",
)
FORGED = mail(
    subject="Re: [EGI-20261204-01] note",
    sender="alice@csirt.example.org",
    message_id="<forged@csirt.example.org>",
    date="Fri, 04 Dec 2026 08:58:00 +0000",
    body="Attacker IP(s): 203.0.113.99\n",
)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> App:
    app = make_app(tmp_path, database_url, now=NOW)
    for raw in (REPORT, FORGED):
        assert process_delivery(app, RawMail(raw, NOW, "test")).result == "processed"
    yield app
    app.close()


def _values(app: App) -> list[tuple[str, str, str]]:
    with app.db.transaction() as session:
        rows = session.execute(
            select(Mail.message_id, FieldValue.field, FieldValue.value)
            .join(Mail, Mail.id == FieldValue.mail_id)
            .order_by(FieldValue.field, FieldValue.value)
        ).all()
    return [tuple(row) for row in rows]


def test_old_values_are_replaced_and_twice_is_once(app: App) -> None:
    fresh = _values(app)
    assert ("<report@site-a.example.com>", "attacker_ips", "203.0.113.77") in fresh
    # What an older release left behind: a wrong value, a value missing.
    with app.db.transaction() as session:
        report = session.scalars(
            select(Mail).where(Mail.message_id == "<report@site-a.example.com>")
        ).one()
        session.query(FieldValue).filter_by(
            mail_id=report.id, field="attacker_ips"
        ).delete()
        session.add(
            FieldValue(
                incident_id=report.incident_id,
                mail_id=report.id,
                field="attacker_ips",
                value="192.0.2.45",
                kind="ipv4",
            )
        )
    assert _values(app) != fresh

    first = reextract(app, "EGI-20261204-01")
    assert (first.incidents, first.mails) == (1, 1)
    assert _values(app) == fresh
    again = reextract(app, None)
    assert again.values_before == again.values_after == first.values_after
    assert _values(app) == fresh
    shown = views.show(app, "EGI-20261204")
    assert shown["fields"]["attacker_ips"] == ["203.0.113.77"]


def test_a_forged_member_mail_stays_unread(app: App) -> None:
    reextract(app, None)
    assert not [v for v in _values(app) if v[0] == "<forged@csirt.example.org>"]


def test_command_line(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbot]\naddress = "abuse@csirt.example.org"\n'
        f'[database]\nurl = "{app.settings.database.url}"\n'
        f'[sites]\nfile = "{tmp_path / "sites.toml"}"\n'
        f'[source]\nkind = "maildir"\n[maildir]\npath = "{tmp_path / "inbox"}"\n'
        f'[smtp]\nkind = "maildir"\npath = "{tmp_path / "sent"}"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "reextract", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mails"] == 1
    assert main(["--config", str(config), "reextract"]) == 2
    assert "TAG" in capsys.readouterr().err
    assert main(["--config", str(config), "reextract", "EGI-20991231-09"]) == 1
    assert "mailbot incidents --all" in capsys.readouterr().err
