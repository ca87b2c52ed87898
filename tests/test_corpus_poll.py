"""The whole real corpus through a real poll: all counted, no robot answered.

Every mail of ../shared/corpus is delivered into a private Dovecot and
fetched by one `poll`; the acknowledgements go to a real SMTP server. Then
`status` must count every delivered mail once (mails + duplicates +
quarantined), and no mail may have gone to a robot: no robot address, no
sender of a mail mailbot classified as automatic (an auto-reply, a bounce,
a machine's report that opened an incident), nobody outside the thread, the
sites file and the configuration.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mailbot_env import make_app
from sqlalchemy import select
from test_header_safety import check_recipients

from mailbot import service, views
from mailbot.db.models import Mail
from mailbot.robot_address import is_robot_address

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
UNBRAKED = {
    "MAILBOT_BRAKE_MAX_PER_HOUR": "100000",
    "MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "100000",
    "MAILBOT_BRAKE_MAX_PER_INCIDENT_PER_DAY": "100000",
}


def _corpus(corpus_dir: Path) -> list[bytes]:
    lines = (corpus_dir / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    paths = [corpus_dir / line.split("\t", 1)[0] for line in lines if line.strip()]
    return [p.read_bytes() for p in paths if p.is_file()]


def test_whole_corpus_through_a_real_poll(
    corpus_dir: Path, tmp_path: Path, database_url: str, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    raws = _corpus(corpus_dir)
    assert len(raws) > 700, "the corpus seems incomplete"
    dovecot.append_many(raws, internaldate=NOW - dt.timedelta(hours=1))
    app = make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW, extra=UNBRAKED
    )
    try:
        result = service.poll(app)
        assert result.fetched == len(raws)
        status = views.status(app, service.last_poll(app))
        assert status["mails"] + status["duplicates"] + status["quarantined"] == len(
            raws
        )
        assert status["quarantined"] == 0, views.quarantine_list(app)[:3]
        assert status["outbox_pending"] == 0 and status["outbox_held"] == 0
        with app.db.transaction() as session:
            rows = session.execute(
                select(Mail.message_id, Mail.role, Mail.flags).where(
                    Mail.direction == "in"
                )
            ).all()
        roles = {message_id: role for message_id, role, _ in rows}
        automated = {m for m, _, flags in rows if "automated" in (flags or [])}
        # The corpus's machine-written abuse reports open incidents.
        assert len(automated) > 50, len(automated)
        sent = smtp_sink.messages
        assert len(sent) == status["outbox_sent"] > 0
        for received in sent:
            for recipient in received.recipients:
                assert not is_robot_address(recipient), recipient
            # Each answers a person's mail, never an automatic one.
            parent = received.message["In-Reply-To"]
            if parent is not None:
                assert roles.get(parent) in ("site", "reporter", "csirt"), parent
                assert parent not in automated, parent
        check_recipients(app)
        # A second poll finds nothing new and sends nothing again.
        again = service.poll(app)
        assert again.fetched == 0 and len(smtp_sink.messages) == len(sent)
    finally:
        app.close()
