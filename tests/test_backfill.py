"""`ingest --backfill` records and sends nothing, and the mail keeps that
intent: processed again later (`quarantine retry`, the daemon's retry of a
quarantined or unfinished mail) it is still answered by nothing."""

from __future__ import annotations

import json
from pathlib import Path

import mailbot_env
import pytest
from mailbot_env import CASES_SITES, mail
from servers import SmtpSink

from mailbot.cli import main
from mailbot.db.models import Mail, Outbox
from mailbot.mail import RawMail
from mailbot.process import resume_received
from mailbot.store import accept

# A report from a reporter: answered with an acknowledgement when not
# backfilled.
REPORT = mail(
    subject="Scans from 198.51.100.7",
    message_id="<backfilled-1@cert.example.net>",
    body="Host 198.51.100.7 scans our network.\n" + "x" * 600 + "\n",
)


def _config(tmp_path: Path, database_url: str, smtp: SmtpSink, limit: int) -> Path:
    (tmp_path / "sites.toml").write_text(CASES_SITES, encoding="utf-8")
    path = tmp_path / "mailbot.toml"
    path.write_text(
        '[mailbot]\naddress = "abuse@csirt.example.org"\n'
        '[csirt]\nduty_address = "duty@csirt.example.org"\n'
        f'[database]\nurl = "{database_url}"\n'
        '[source]\nkind = "maildir"\n[maildir]\npath = "inbox"\n'
        f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
        f"[limits]\nmax_mail_bytes = {limit}\n",
        encoding="utf-8",
    )
    return path


def _outbox(database_url: str) -> list[str]:
    from mailbot.db.engine import Database

    db = Database(database_url)
    try:
        with db.transaction() as session:
            return [row.purpose for row in session.query(Outbox)]
    finally:
        db.dispose()


def test_a_backfilled_mail_retried_from_quarantine_sends_nothing(
    tmp_path: Path,
    database_url: str,
    smtp_sink: SmtpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    eml = tmp_path / "report.eml"
    eml.write_bytes(REPORT)
    config = _config(tmp_path, database_url, smtp_sink, limit=500)
    assert main(["--config", str(config), "ingest", "--backfill", str(eml)]) == 0
    capsys.readouterr()
    # Over the size limit: quarantined. The limit raised, the operator retries
    # with no --backfill to give: the mail itself says it was backfilled.
    config = _config(tmp_path, database_url, smtp_sink, limit=25 * 1024 * 1024)
    main(["--config", str(config), "quarantine", "--json"])
    (row,) = json.loads(capsys.readouterr().out)
    args = ["--config", str(config), "quarantine", "retry", str(row["id"]), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["result"] == "processed"
    assert _outbox(database_url) == []
    assert smtp_sink.messages == []
    # The same mail ingested without --backfill is a copy: nothing either.
    assert main(["--config", str(config), "ingest", str(eml)]) == 0
    assert smtp_sink.messages == []


def test_a_backfilled_mail_resumed_by_the_daemon_sends_nothing(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = mailbot_env.make_app(tmp_path, database_url, smtp=smtp_sink)
    # Stored by a backfill that died before processing it (or quarantined
    # at a stage retried by itself): the daemon, not backfilling, finishes it.
    with app.db.transaction() as session:
        stored = accept(
            session, RawMail(REPORT, app.clock.now(), "backfill"), backfill=True
        )
    assert not app.backfill
    (outcome,) = resume_received(app)
    assert (outcome.mail_id, outcome.result) == (stored.mail_id, "processed")
    assert outcome.incident is not None
    with app.db.transaction() as session:
        assert session.query(Outbox).count() == 0
        assert session.get(Mail, stored.mail_id).backfill  # type: ignore[union-attr]
    # A mail stored by an ordinary poll is answered, as before.
    other = REPORT.replace(b"backfilled-1@", b"polled-1@").replace(b"Scans", b"Probes")
    with app.db.transaction() as session:
        polled = accept(session, RawMail(other, app.clock.now(), "poll"))
    (outcome,) = resume_received(app)
    assert outcome.mail_id == polled.mail_id
    with app.db.transaction() as session:
        assert [o.purpose for o in session.query(Outbox)] == ["acknowledgement"]
