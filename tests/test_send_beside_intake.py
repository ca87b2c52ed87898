"""A slow relay does not hold the intake (brk13 F2).

The daemon delivered the outbox in the intake's thread after each poll
that fetched mail: thirty acknowledgements to a relay answering each DATA
after two seconds held the next poll a minute. New mail waited, and
`status --alive` (the container health check) said "not alive" of a
daemon that worked, for an orchestrator to restart mid-send. Through the
suite's Dovecot and an SMTP server that holds its answer after DATA.
"""

from __future__ import annotations

import time
from pathlib import Path

from mailbot_env import mail, make_app, running_daemon
from opsenv import wait_until
from servers import SmtpSink
from sqlalchemy import func, select

from mailbot import alive
from mailbot.app import App
from mailbot.db.models import Mail, Outbox

POLL = 1  # seconds; --alive allows three poll intervals without a poll
QUICK = {
    "MAILBOT_SOURCE_POLL_INTERVAL": str(POLL),
    "MAILBOT_DIGEST_TIME": "",
    # Longer than the test holds the answer: no mail becomes uncertain.
    "MAILBOT_SMTP_TIMEOUT": "60",
}


def _report(n: int) -> bytes:
    return mail(
        subject=f"Scans from 203.0.113.{n}",
        sender=f"reporter{n}@cert{n}.example.net",
        message_id=f"<beside-{n}@cert.example.net>",
        body=f"Scans from 203.0.113.{n}.\n",
    )


def _stored(app: App) -> int:
    with app.db.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Mail).where(Mail.direction == "in")
            )
            or 0
        )


def _outbox(app: App) -> list[str]:
    with app.db.transaction() as session:
        return list(session.scalars(select(Outbox.state).order_by(Outbox.id)))


def test_mail_is_polled_and_the_daemon_alive_while_the_relay_holds_a_mail(
    tmp_path: Path, database_url: str, dovecot, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, extra=QUICK)
    smtp_sink.stall()
    dovecot.append(_report(1))
    with running_daemon(app):
        # The first acknowledgement is under way: data taken, answer held.
        smtp_sink.wait_for(1, timeout=30)
        dovecot.append(_report(2))
        assert wait_until(lambda: _stored(app) == 2, timeout=10), (
            "the second mail waited for the delivery under way"
        )

        # Well past three poll intervals into the held delivery, the daemon
        # still polls: the health check passes.
        time.sleep(4 * POLL)
        verdict = alive.check(app.settings, app.clock)
        assert verdict["alive"], verdict
        assert "sending" in _outbox(app)

        # Once the relay answers, the delivery under way sends the rest.
        smtp_sink.accept()
        sent = wait_until(lambda: set(_outbox(app)) == {"sent"}, timeout=30)
        assert sent, _outbox(app)
    assert len(smtp_sink.messages) == len(_outbox(app)) >= 2
    app.close()
