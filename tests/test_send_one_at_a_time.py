"""One process sends one mail at a time (README: "claimed one mail at a
time ... a kill leaves at most that one mail uncertain").

The daemon delivers from several threads: after a poll that fetched mail
(the intake thread), from its outbox job, and after the daily digest. With
an SMTP server that took a mail's data and did not answer, the outbox job
claimed and sent the next mail meanwhile: two mails uncertain, where the
rest should have waited untried (brk11 F7). Through a real SMTP server on
loopback that holds its answer after DATA.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from mailbot_env import mail, make_app
from servers import SmtpSink
from sqlalchemy import select

from mailbot import send
from mailbot.daemon import Daemon
from mailbot.db.models import Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)


def _states(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.db.transaction() as session:
        return list(session.scalars(select(Outbox.state).order_by(Outbox.id)))


def test_the_outbox_job_waits_for_the_delivery_under_way(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink
) -> None:
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    for n in (1, 2, 3):
        report = mail(
            subject=f"Scans from 203.0.113.{n}",
            sender=f"reporter{n}@cert{n}.example.net",
            message_id=f"<one-{n}@cert.example.net>",
        )
        assert process_delivery(app, RawMail(report, NOW, f"t{n}")).result == (
            "processed"
        )
    smtp_sink.stall()  # takes the first mail's data, holds its answer
    # The delivery after a poll, in the intake thread.
    after_poll = threading.Thread(target=send.deliver_due, args=(app,))
    after_poll.start()
    try:
        smtp_sink.wait_for(1)
        # The outbox job's tick meanwhile: nothing claimed, nothing sent.
        daemon = Daemon(app)
        daemon._deliver()
        assert len(smtp_sink.messages) == 1
        assert _states(app) == ["sending", "pending", "pending"]
    finally:
        smtp_sink.release()
        after_poll.join(timeout=30)
    assert not after_poll.is_alive()
    # The delivery under way sent the rest, one after the other.
    assert _states(app) == ["sent", "sent", "sent"]
    assert len(smtp_sink.messages) == 3
    app.close()
