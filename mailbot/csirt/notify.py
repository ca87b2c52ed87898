"""#notify-vo and #notify-ca: the incident's DNs to a VO's or a CA's contacts.

A DN that only TLP:RED or TLP:AMBER+STRICT mails gave, mails the VO or CA
did not receive, is withheld (red.py); the member's confirmation says how
many.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.csirt import red, replies
from mailbot.db.models import FieldValue, Incident, Mail
from mailbot.sites import Contactable


class NotifyRefused(ValueError):
    """Raised when a notification cannot be sent; the message says why."""


def shareable_dns(
    app: App, session: Session, incident: Incident, recipients: list[str]
) -> tuple[list[str], int]:
    """The incident's DNs fit for `recipients`, and how many were withheld."""
    rows = session.execute(
        select(FieldValue.value, Mail)
        .join(Mail, Mail.id == FieldValue.mail_id)
        .where(FieldValue.incident_id == incident.id, FieldValue.field == "x509_dns")
        .order_by(FieldValue.id)
    ).all()
    allowed: list[str] = []
    seen: list[str] = []
    for value, mail in rows:
        if value not in seen:
            seen.append(value)
        if not red.is_secret(app, mail, recipients) and value not in allowed:
            allowed.append(value)
    return allowed, len(seen) - len(allowed)


def notify(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    kind: str,
    name: str,
    member: str,
) -> str:
    """Send the notification `mail` asks for; returns what to tell the member."""
    found = app.sites.vo(name) if kind == "VO" else app.sites.ca(name)
    if found is None:
        raise NotifyRefused(_unknown(app, kind, name))
    if not found.security_contacts:
        raise NotifyRefused(
            f"{kind} {found.name} has no security_contacts in the sites file"
        )
    to = list(found.security_contacts)
    dns, withheld = shareable_dns(app, session, incident, to)
    if not dns:
        why = (
            "only TLP:RED or AMBER+STRICT mails the {kind} did not receive name them"
            if withheld
            else ("the incident has no x509_dns yet")
        )
        raise NotifyRefused(f"nothing to send: {why.format(kind=kind)}")
    replies.credentials(
        app,
        session,
        incident,
        mail,
        to,
        kind=kind,
        name=found.name,
        dns=dns,
        member=member,
    )
    outcome = f"sent {len(dns)} DN(s) to {', '.join(to)}"
    if withheld:
        outcome += f"; {withheld} DN(s) from TLP:RED or AMBER+STRICT mails withheld"
    return outcome


def _unknown(app: App, kind: str, name: str) -> str:
    known: tuple[Contactable, ...] = app.sites.vos if kind == "VO" else app.sites.cas
    names = ", ".join(c.name for c in known[:20]) or "none configured"
    section = "[[vo]]" if kind == "VO" else "[[ca]]"
    return f"{name!r} is no {kind} of the sites file's {section} (known: {names})"
