"""Delivery failures: a permanent one stops mail to that address.

A bounce counts only when it answers a mail mailbot sent: the Message-ID in
its returned headers (or its In-Reply-To) must name one of our outgoing
mails, and only for the addresses that mail went to. Anyone can write a
bounce-shaped mail: one that names no mail of ours, or names one of ours
(an acknowledgement its writer received) with a site's security contact as
the failed recipient, must not silence that contact. Such a bounce is kept
(flagged `bounce_not_recipient`) and logged, and changes nothing. A contact
that forwards its mail is named by the bounce of the final address as its
Original-Recipient (RFC 3464): the failure counts for the contact.

A permanent failure marks the recipient: later reminders skip it
(deadlines/chase.py) and the CSIRT's duty address is told once, in the
thread of the incident of the returned mail. A temporary failure is only
recorded. Once the address works again (or the sites file names another),
`mailbot bounces clear ADDRESS` takes the mark off.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import incidents
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import ContactFailure, Incident, Mail
from mailbot.dsn import DeliveryReport, FailedRecipient
from mailbot.errors import MailbotError, UsageError
from mailbot.settings import Settings
from mailbot.sites import Directory

log = logging.getLogger(__name__)

# Mail to the CSIRT itself: a bounce of one is logged, never announced by
# another mail (which would bounce the same way).
_NO_NOTICE_PURPOSES = ("alert", "notice")
# On a bounce that names addresses its returned mail never went to.
NOT_RECIPIENT = "bounce_not_recipient"


def original_mail(session: Session, report: DeliveryReport) -> Mail | None:
    """The outgoing mail a bounce returns, found by its Message-ID."""
    if not report.original_message_id:
        return None
    return session.scalars(
        select(Mail).where(
            Mail.message_id == report.original_message_id, Mail.direction == "out"
        )
    ).first()


def handle(app: App, session: Session, mail: Mail, report: DeliveryReport) -> list[str]:
    """Record a bounce's failures; returns the addresses newly failing for good."""
    original = original_mail(session, report)
    if original is None:
        log.warning(
            "%s bounce names no mail mailbot sent (%s): no failure recorded",
            mail.ident,
            report.original_message_id or "no Message-ID returned",
        )
        return []
    report = _of_recipients(mail, report, original)
    newly = record_failures(session, mail, report, app.clock.now())
    incident = _incident_of(session, original)
    for address in newly:
        _notify(app, session, incident, original, address)
    return newly


def _of_recipients(
    mail: Mail, report: DeliveryReport, original: Mail
) -> DeliveryReport:
    """`report` less the addresses `original` was not sent to, which are logged.

    A recipient that a forwarding renamed counts for the address the mail
    was sent to, when the report names it as the Original-Recipient.
    """
    sent_to = {a.lower() for a in original.recipients or ()}
    ours: list[FailedRecipient] = []
    strangers = []
    for recipient in report.recipients:
        if recipient.address.lower() in sent_to:
            ours.append(recipient)
        elif recipient.original and recipient.original in sent_to:
            log.info(
                "%s bounce for %s, forwarded from %s: counted for %s",
                mail.ident, recipient.address, recipient.original, recipient.original,
            )  # fmt: skip
            ours.append(dataclasses.replace(recipient, address=recipient.original))
        elif recipient.address:
            strangers.append(recipient.address)
    if strangers:
        mail.flags = [*(mail.flags or []), NOT_RECIPIENT]
        log.warning(
            "%s bounce names %s, to whom %s was not sent: no failure recorded"
            " for them (a forged bounce, or a forwarding's final address)",
            mail.ident,
            ", ".join(strangers),
            original.message_id,
        )
    return dataclasses.replace(report, recipients=tuple(ours))


def _incident_of(session: Session, original: Mail) -> Incident | None:
    """The incident that holds the returned mail now, not the bounce's own."""
    if original.incident_id is None:
        return None
    found = session.get(Incident, original.incident_id)
    return incidents.resolve(found, session) if found is not None else None


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


_ENHANCED_RE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def ours(settings: Settings, address: str) -> str | None:
    """The setting that names `address` when it is mailbot's own (the duty
    address, a member, its own address or an alias), else None: such an
    address is in no sites file, and its mail comes back to the CSIRT."""
    address = address.lower()
    if address == (settings.csirt.duty_address or "").lower():
        return "[csirt] duty_address"
    if address in {m.lower() for m in settings.csirt.members}:
        return "[csirt] members"
    if address in {a.lower() for a in settings.own_addresses}:
        return "[mailbot] address or aliases"
    return None


def named_by(directory: Directory, address: str) -> list[str]:
    """The entries of the sites file that give `address` as a security
    contact ("site SITE-A", "NGI NGI_A", "VO ...", "CA ...")."""
    address = address.lower()
    kinds = (
        ("site", directory.sites),
        ("NGI", directory.ngis),
        ("VO", directory.vos),
        ("CA", directory.cas),
    )
    return [
        f"{kind} {entry.name}"
        for kind, entries in kinds
        for entry in entries
        if address in (c.lower() for c in entry.security_contacts)
    ]


def advice(app: App, address: str) -> str:
    """What to do about `address` refused for good, by who names it: the
    configuration (mailbot's own), the sites file (a contact), or neither
    (a reporter's, a copy's: nothing names it to correct)."""
    setting = ours(app.settings, address)
    entries = named_by(app.sites, address)
    said = []
    if setting is not None:
        said.append(
            f"it is mailbot's own ({setting}): correct it in the configuration,"
            " or have the mail server take it"
        )
    if entries:
        said.append(f"correct the sites file ({', '.join(entries)})")
    if not said:
        said.append(
            "neither the sites file nor the configuration names it (a"
            " reporter's, a copy's): nothing to correct there"
        )
    return "; ".join(said)


def refused_at_rcpt(
    app: App, session: Session, original: Mail, refused: dict[str, str]
) -> list[str]:
    """Record recipients the SMTP server refused for good at RCPT (5xx).

    The same fact as a bounce, known before sending: the address is marked,
    later reminders skip it, `status` lists it and the duty address is told
    once. Returns the addresses newly failing for good.
    """
    now = app.clock.now()
    newly = []
    for address, answer in refused.items():
        address = address.lower()
        row = session.get(ContactFailure, address)
        if row is None:
            row = ContactFailure(address=address, permanent=False, failed_at=now)
            session.add(row)
        if not row.permanent:
            newly.append(address)
        row.permanent = True
        found = _ENHANCED_RE.search(answer)
        row.status = found.group(1) if found else answer[:3]
        row.diagnostic = f"refused by our SMTP server at RCPT: {answer}"[:1000]
        row.failed_at, row.mail_id = now, None
        row.original_message_id = original.message_id
        log.warning(
            "%s %s refused for good by the SMTP server (%s): marked like a bounce; %s",
            original.message_id,
            address,
            answer,
            advice(app, address),
        )
    session.flush()
    incident = _incident_of(session, original)
    for address in newly:
        _notify(app, session, incident, original, address)
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
        setting=ours(app.settings, address),
        sites=named_by(app.sites, address),
    )
    respond.send_in_thread(
        app, session, incident, None, [duty], subject, body, "notice-bounce"
    )


def marked(app: App) -> list[dict[str, Any]]:
    """The addresses marked as failing for good, with why and since when."""
    with app.db.transaction() as session:
        return [
            {
                "address": row.address,
                "status": row.status,
                "failed_at": iso(row.failed_at),
                "diagnostic": row.diagnostic,
                "message_id": row.original_message_id,
            }
            for row in session.scalars(
                select(ContactFailure)
                .where(ContactFailure.permanent.is_(True))
                .order_by(ContactFailure.address)
            )
        ]


def clear(app: App, addresses: list[str], reason: str | None = None) -> list[str]:
    """Take the mark off `addresses` (a person says they work again).

    All or nothing: an address not marked is an error naming it. The
    mark's history stays on the row, noted as cleared; the incident whose
    mail bounced gets a trail entry. A later permanent failure marks the
    address again, and tells the duty address again.
    """
    from mailbot.csirt import trail

    now = app.clock.now()
    wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
    with app.db.transaction() as session:
        rows = {
            row.address: row
            for row in session.scalars(
                select(ContactFailure).where(
                    ContactFailure.address.in_(wanted),
                    ContactFailure.permanent.is_(True),
                )
            )
        }
        unknown = [a for a in wanted if a not in rows]
        if unknown:
            raise MailbotError(
                f"not marked as bouncing: {', '.join(unknown)}"
                " (`mailbot bounces` lists the marked addresses); nothing cleared"
            )
        who = trail.operator()
        for address in wanted:
            row = rows[address]
            note = f"cleared by {who} at {iso(now)}" + (f": {reason}" if reason else "")
            row.permanent = False
            row.diagnostic = f"{row.diagnostic or ''} [{note}]".strip()[:1000]
            incident = _bounced_incident(session, row.original_message_id)
            if incident is not None:
                trail.note(
                    session,
                    incident.id,
                    actor=who,
                    action="bounce_cleared",
                    detail=f"{address} (was {row.status or 'unknown'})"
                    + (f": {reason}" if reason else ""),
                    mail_id=None,
                    at=now,
                )
            log.warning(
                "%s no longer marked as bouncing (%s): reminders go to it again",
                address,
                note,
            )
    return wanted


def _bounced_incident(session: Session, message_id: str | None) -> Incident | None:
    if not message_id:
        return None
    original = session.scalars(
        select(Mail).where(Mail.message_id == message_id, Mail.direction == "out")
    ).first()
    return _incident_of(session, original) if original is not None else None


def command(args: argparse.Namespace) -> int:
    """`mailbot bounces [--json]`, `mailbot bounces clear ADDRESS...`."""
    from mailbot.cli import printed_whole
    from mailbot.commands import app_from

    if args.action == "clear" and not args.addresses:
        raise UsageError("clear", "give the address(es) `mailbot bounces` lists")
    if args.action == "list" and (args.addresses or args.reason):
        raise UsageError("list", "takes no address; `clear ADDRESS...` does")
    app = app_from(args, servers=False)
    try:
        if args.action == "clear":
            done = clear(app, args.addresses, args.reason)
            print(
                f"no longer marked as bouncing: {', '.join(done)}; reminders go"
                " to them again (a new permanent failure marks them again)"
            )
            return 0
        rows = marked(app)
    finally:
        app.close()
    if printed_whole(args, rows, "no address is marked as bouncing"):
        return 0
    width = max(len("ADDRESS"), *(len(row["address"]) for row in rows))
    # A header, as `outbox` and `incidents` print one.
    print(f"{'ADDRESS':<{width}}  {'STATUS':<7}  {'FAILED SINCE':<20}  DIAGNOSTIC")
    for row in rows:
        print(
            f"{row['address']:<{width}}  {row['status'] or '-':<7}"
            f"  {row['failed_at'] or '-':<20}  {row['diagnostic'] or ''}"
        )
    return 0
