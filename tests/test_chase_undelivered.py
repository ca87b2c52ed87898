"""A reminder that failed for good, and what the levels after it say.

DOMAIN.md: escalation chases the site, then again with the NGI security
officer in copy, then tells the duty team. A site whose reminder could not
be delivered is still chased, but no later mail may say it was reminded:
the second reminder says the first could not be delivered, and the duty
team hears how many reminders really reached the site. Through a real
SMTP server on loopback.
"""

from __future__ import annotations

import test_sweep_cases as cases
from servers import SmtpSink
from test_sweep_cases import Apps, reminder_mails, tick, utc

from mailbot import preview
from mailbot.db.models import Outbox
from mailbot.send import deliver_due

apps = cases.apps
SILENT = "has not yet received an answer"
UNDELIVERED = "first reminder about incident {tag} could not be\ndelivered to you"


def _text(sink: SmtpSink, level: int) -> str:
    [found] = reminder_mails(sink, level)
    return str(found.message.get_payload(decode=True).decode()).replace("\r\n", "\n")


def test_a_first_reminder_refused_for_good_is_not_called_unanswered(
    apps: Apps, smtp_sink: SmtpSink
) -> None:
    app, tag = cases._silent_site(apps)
    deliver_due(app)  # the acknowledgement
    # Before level 1 leaves, `render reminder-2` words it as usual.
    shown = preview.preview(app, "reminder-2", tag)
    assert SILENT in shown.body
    # Level 1 is refused for its content: it failed for good, and no
    # address is marked (the site's contact works).
    smtp_sink.reject("DATA", 550, "5.7.1 Message content rejected")
    assert tick(app, utc("2026-12-04T13:00:00")) == 1
    smtp_sink.accept()
    with app.db.transaction() as session:
        states = {o.purpose: o.state for o in session.query(Outbox)}
    assert states["chase-analysis-1"] == "failed"
    # Level 2 still goes, to the site and its NGI, saying the first one
    # never arrived rather than that the site left it unanswered.
    assert tick(app, utc("2026-12-04T15:00:00")) == 1
    [second] = reminder_mails(smtp_sink, 2)
    assert second.recipients == ("admin@site-a.example.com", cases.NGI)
    text = _text(smtp_sink, 2)
    assert UNDELIVERED.format(tag=tag) in text
    assert SILENT not in text
    assert "NGI security officer in copy" in text
    # The duty team hears of the one reminder that reached the site.
    assert tick(app, utc("2026-12-07T13:00:00")) == 1
    notice = _text(smtp_sink, 3)
    assert "SITE-A has not answered 1 reminder about" in notice


def test_a_first_reminder_delivered_keeps_the_usual_second(
    apps: Apps, smtp_sink: SmtpSink
) -> None:
    app, tag = cases._silent_site(apps)
    deliver_due(app)
    for when in ("2026-12-04T13:00:00", "2026-12-04T15:00:00"):
        assert tick(app, utc(when)) == 1
    text = _text(smtp_sink, 2)
    assert SILENT in text and "could not be" not in text


def test_reminders_refused_for_their_content_ask_no_sites_file_change(
    apps: Apps, smtp_sink: SmtpSink
) -> None:
    """Both reminders refused at DATA (the contact itself works): the duty
    team hears the site could not be reached, and what to do, which is not
    to correct the sites file (it names a working contact)."""
    app, tag = cases._silent_site(apps)
    deliver_due(app)
    # Two answers that differ: each mail's own, not the relay's condition.
    for when, answer in (
        ("2026-12-04T13:00:00", (550, "5.7.1 Message content rejected")),
        ("2026-12-04T15:00:00", (552, "5.3.4 Message too big")),
    ):
        smtp_sink.reject("DATA", *answer)
        assert tick(app, utc(when)) == 1
    smtp_sink.accept()
    assert tick(app, utc("2026-12-07T13:00:00")) == 1
    [notice] = reminder_mails(smtp_sink, 3)
    assert notice.headline.startswith("Escalation: SITE-A could not be reached")
    text = _text(smtp_sink, 3)
    assert "could not be delivered\n(`mailbot outbox` says why)" in text
    assert "sites file" not in text
    assert "`mailbot\noutbox retry ID`" in text
