"""Delivery failures: a permanent one stops mail to that address.

A bounce counts only when it answers a mail mailbot sent: the Message-ID in
its returned headers (or its In-Reply-To) must name one of our outgoing
mails. Anyone can write a bounce-shaped mail; one that names no mail of
ours must not silence a site's security contact.

A permanent failure marks the recipient: later reminders skip it
(deadlines/chase.py) and the CSIRT's duty address is told once. A temporary
failure is only recorded.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.db.models import ContactFailure, Incident, Mail
from mailbot.dsn import DeliveryReport

log = logging.getLogger(__name__)

# Mail to the CSIRT itself: a bounce of one is logged, never announced by
# another mail (which would bounce the same way).
_NO_NOTICE_PURPOSES = ("alert", "notice")


def original_mail(session: Session, report: DeliveryReport) -> Mail | None:
    """The outgoing mail a bounce returns, found by its Message-ID."""
    if not report.original_message_id:
        return None
    return session.scalars(
        select(Mail).where(
            Mail.message_id == report.original_message_id, Mail.direction == "out"
        )
    ).first()


def handle(
    app: App,
    session: Session,
    mail: Mail,
    report: DeliveryReport,
    incident: Incident | None,
) -> list[str]:
    """Record a bounce's failures; returns the addresses newly failing for good."""
    original = original_mail(session, report)
    if original is None:
        log.warning(
            "%s bounce names no mail mailbot sent (%s): no failure recorded",
            mail.ident,
            report.original_message_id or "no Message-ID returned",
        )
        return []
    newly = record_failures(session, mail, report, app.clock.now())
    for address in newly:
        _notify(app, session, incident, original, address)
    return newly


def record_failures(
    session: Session, mail: Mail, report: DeliveryReport, now: dt.datetime
) -> list[str]:
    """Record each failed recipient of a bounce; returns those newly permanent."""
    newly = []
    for recipient in report.recipients:
        address = recipient.address.lower()
        if not address:
            continue
        row = session.get(ContactFailure, address)
        if row is None:
            row = ContactFailure(address=address, permanent=False, failed_at=now)
            session.add(row)
        if recipient.permanent and not row.permanent:
            newly.append(address)
        # A temporary failure never clears an earlier permanent one.
        row.permanent = bool(row.permanent or recipient.permanent)
        row.status = recipient.status
        row.diagnostic = (recipient.diagnostic or "")[:1000]
        row.failed_at, row.mail_id = now, mail.id
        row.original_message_id = report.original_message_id
        log.info(
            "%s delivery to %s failed (%s, %s)",
            report.original_message_id,
            address,
            recipient.status,
            "permanent" if recipient.permanent else "temporary",
        )
    session.flush()
    return newly


def _notify(
    app: App,
    session: Session,
    incident: Incident | None,
    original: Mail,
    address: str,
) -> None:
    from mailbot import render, respond

    duty = app.settings.csirt.duty_address
    purpose = (original.origin or "").removeprefix("outbox:")
    if not duty or address == duty.lower() or purpose.startswith(_NO_NOTICE_PURPOSES):
        log.warning(
            "%s %s fails for good; no notice sent", original.message_id, address
        )
        return
    if incident is None:
        log.warning(
            "%s %s fails for good (mail in no incident)", original.message_id, address
        )
        return
    row = session.get(ContactFailure, address)
    subject, body = render.render(
        app.templates,
        "bounce-notice.txt.j2",
        tag=incident.tag,
        address=address,
        status=(row.status if row else None) or "unknown",
        diagnostic=(row.diagnostic if row else None) or "",
        original_subject=original.subject or "",
        original_message_id=original.message_id or "",
        mailbox=app.settings.mailbot.address,
    )
    respond.send_in_thread(
        app, session, incident, None, [duty], subject, body, "notice-bounce"
    )
