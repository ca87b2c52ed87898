"""Delivery failures: a permanent one stops chasing that address."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from mailbot.db.models import ContactFailure, Mail
from mailbot.dsn import DeliveryReport

log = logging.getLogger(__name__)


def record_failures(
    session: Session, mail: Mail, report: DeliveryReport, now: dt.datetime
) -> list[str]:
    """Record each failed recipient of a bounce; returns the permanent ones."""
    permanent = []
    for recipient in report.recipients:
        address = recipient.address.lower()
        if not address:
            continue
        row = session.get(ContactFailure, address)
        if row is None:
            row = ContactFailure(address=address, permanent=False, failed_at=now)
            session.add(row)
        # A temporary failure never clears an earlier permanent one.
        row.permanent = row.permanent or recipient.permanent
        row.status, row.diagnostic = recipient.status, (recipient.diagnostic or "")[:1000]
        row.failed_at, row.mail_id = now, mail.id
        row.original_message_id = report.original_message_id
        if recipient.permanent:
            permanent.append(address)
        log.info("%s delivery to %s failed (%s, %s)", report.original_message_id,
                 address, recipient.status, "permanent" if recipient.permanent
                 else "temporary")
    return permanent
