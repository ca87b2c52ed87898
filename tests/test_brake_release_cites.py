"""Mail held by the brake, released, and the References of the thread.

A mail held reached no one: a mail written meanwhile leaves it out of its
References (respond.threads_mails). When both are released, the earlier
leaves first and the later now cites it; a held mail dropped instead is
never cited. The fixtures of test_sweep_reminders: SITE-P's analysis
clock due on Monday 2026-12-07 10:00 UTC, here with a second request.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import test_sweep_brake as capped
import test_sweep_reminders as chased
from test_sweep_reminders import at, feed, reminders, request

from mailbot import brake, compose, respond, send
from mailbot.app import App
from mailbot.db.models import Incident, Mail, Outbox
from mailbot.deadlines.sweep import sweep
from mailbot.outbox_admin import settle

new_app = chased.new_app
app = chased.app


def _two_held_reminders(app: App) -> None:
    """Two level-1 reminders of two requests, both held by the brake."""
    at(app, "2026-12-07T09:30:00")
    feed(app, request("Mon, 07 Dec 2026 09:30:00 +0000", n=2))
    at(app, "2026-12-07T10:00:00")
    with app.db.transaction() as session:
        brake.engage(app, session, 999)
    assert sweep(app)["reminders"] == 1
    at(app, "2026-12-07T13:30:00")
    assert sweep(app)["reminders"] == 1
    with app.db.transaction() as session:
        held = session.query(Outbox).filter_by(state="held")
        assert held.count() == 2


def test_a_mail_released_after_another_cites_it(app: App) -> None:
    _two_held_reminders(app)
    [(_, _, first), (_, _, second)] = reminders(app)
    assert first["Message-ID"] not in second["References"]
    at(app, "2026-12-07T14:00:00")
    assert brake.release(app) == (2, 0)
    send.deliver_due(app)
    [(_, _, first), (_, _, second)] = reminders(app)
    cited = second["References"].split()
    assert first["Message-ID"] in cited
    # Still a reply to the mail it answered, which stays last.
    assert cited[-1] == second["In-Reply-To"] == "<request-2@csirt.example.org>"
    assert cited[0] == "<report@site-p.example.org>"
    with app.db.transaction() as session:
        states = [o.state for o in session.query(Outbox).order_by(Outbox.id)]
        assert states[-2:] == ["sent", "sent"]
        mail = session.query(Mail).filter_by(message_id=second["Message-ID"]).one()
        assert mail.size == len(mail.raw)


def test_a_held_mail_dropped_is_never_cited(app: App) -> None:
    _two_held_reminders(app)
    with app.db.transaction() as session:
        first = session.query(Outbox).filter_by(state="held").order_by(Outbox.id)
        first_id = first.first().id  # type: ignore[union-attr]
    assert settle(app, first_id, "drop") == "dropped"
    at(app, "2026-12-07T14:00:00")
    assert brake.release(app) == (1, 0)
    send.deliver_due(app)
    [(_, _, dropped), (_, _, second)] = reminders(app)
    assert dropped["Message-ID"] not in second["References"]


def test_a_mail_of_the_same_sweep_cites_no_held_one(
    tmp_path: Path, database_url: str
) -> None:
    """The site's reminder held by the recipient cap, the duty team's
    notice of the same sweep (its address exempt) goes: it answered the
    held reminder, which reached no one."""
    app = capped.new_app(tmp_path, database_url, max_per_recipient_per_day=1)
    capped.open_incidents(
        app, 1, rules=("analysis", "containment"), chased={"containment": 2}
    )
    with app.db.transaction() as session:
        incident = session.query(Incident).one()
        respond.send_in_thread(
            app, session, incident, None, capped.CONTACTS, "Question", "Text\n",
            "notification",
        )  # fmt: skip
    assert sweep(app)["reminders"] == 2
    with app.db.transaction() as session:
        rows = session.query(Outbox, Mail).join(Mail, Mail.id == Outbox.mail_id)
        found = {
            row.purpose: (row.state, mail.message_id, mail.raw)
            for row, mail in rows.order_by(Outbox.id)
        }
    held_state, held_id, _ = found["chase-analysis-1"]
    notice_state, _, raw = found["chase-containment-3"]
    assert (held_state, notice_state) == ("held", "pending")
    assert held_id is not None and held_id.encode() not in raw


def _composed(references: list[str]) -> bytes:
    return compose.compose(
        sender="abuse@csirt.example.org",
        to=["admin@site-a.example.com"],
        subject="[EGI-20261204-01] Reminder",
        body="Text\n",
        tlp_label="AMBER",
        message_id="<mail@csirt.example.org>",
        date=dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC),
        in_reply_to=references[-1] if references else None,
        references=references,
    ).raw


def test_references_rewritten_as_compose_writes_them() -> None:
    """A chain of 20 long Message-IDs (over a header line's 998 characters)
    and a mail that had none: the mail reads as compose would write it."""
    ids = [f"<{'x' * 70}-{n}@csirt.example.org>" for n in range(25)]
    for before, after in (([], ids[:1]), (ids[:3], ids[:6]), (ids[:5], ids)):
        raw = compose.with_references(_composed(before), after)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed["References"].split() == after[-20:]
        assert compose.references(raw) == after[-20:]
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        # The rest of the mail is untouched.
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert raw.endswith(b"\r\n\r\nTLP:AMBER\r\n\r\nText\r\n")
