"""TLP:RED and TLP:AMBER+STRICT: such a mail's content reaches no one
outside that mail's recipients.

RED is for its named recipients, AMBER+STRICT for the recipient's
organisation only: an NGI, a VO, a CA or another site is neither.
mailbot's templates quote nothing of a mail's body; what can leak is such
a mail's subject (the incident's subject, reminders name it) and values
taken from it (the DNs of a notification). Mail sent to mailbox's own
address reached the CSIRT, so its members and duty address count as
recipients.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import compose, roles, thread
from mailbot.app import App
from mailbot.db.models import Mail

# The labels whose mails' subjects and values stay with their recipients.
RESTRICTED = ("RED", "AMBER+STRICT")
# Shorter subjects ("Logs", "Re:") are not content worth hiding, and
# replacing them would garble the mail.
_MIN_LENGTH = 6


def participants(app: App, mail: Mail) -> frozenset[str]:
    """Who received `mail` (and wrote it); the CSIRT when its mailbox did."""
    return roles.participants(app.settings, mail.from_addr, mail.recipients or [])


_WITHHELD_MARK = "(withheld: TLP:"


def withheld(label: str | None) -> str:
    """What stands for a withheld subject: `(withheld: TLP:RED)`."""
    return f"{_WITHHELD_MARK}{label or 'RED'})"


def shows_withheld(text: str) -> bool:
    """Whether `text` (our mail's subject) stands for a withheld one."""
    return _WITHHELD_MARK in text


def is_secret(app: App, mail: Mail, recipients: Iterable[str]) -> bool:
    """Whether `mail` is RED or AMBER+STRICT and one of `recipients` did
    not receive it: then nothing of it may reach them."""
    return mail.tlp in RESTRICTED and outside(app, mail, recipients)


def outside(app: App, mail: Mail, recipients: Iterable[str]) -> bool:
    """Whether any of `recipients` did not receive `mail`."""
    return not {r.lower() for r in recipients} <= participants(app, mail)


def red_mails(session: Session, incident_ids: Iterable[int]) -> dict[int, list[Mail]]:
    """The RED and AMBER+STRICT mails received in each of `incident_ids`,
    in one query."""
    found: dict[int, list[Mail]] = {}
    for mail in session.scalars(
        select(Mail).where(
            Mail.incident_id.in_(list(incident_ids)),
            Mail.direction == "in",
            Mail.tlp.in_(RESTRICTED),
        )
    ):
        found.setdefault(mail.incident_id or 0, []).append(mail)
    return found


def withhold(
    app: App,
    session: Session,
    incident_id: int,
    recipients: Iterable[str],
    subject: str,
    body: str,
    mails: list[Mail] | None = None,
) -> tuple[str, str]:
    """`subject` and `body` with the subjects of RED and AMBER+STRICT mails
    others did not get.

    `mails` are the incident's such mails when the caller read them already.
    """
    recipients = list(recipients)
    prefix = app.settings.mailbot.tag_prefix
    if mails is None:
        mails = red_mails(session, [incident_id]).get(incident_id, [])
    for mail in mails:
        if not is_secret(app, mail, recipients):
            continue
        for secret in secret_forms(mail.subject or "", prefix):
            subject = subject.replace(secret, withheld(mail.tlp))
            body = body.replace(secret, withheld(mail.tlp))
    return subject, body


def secret_forms(subject: str, prefix: str) -> list[str]:
    """The texts in which a withheld mail's `subject` can appear in our mail,
    longest first: as its incident keeps it (thread.incident_subject: cut,
    invisible characters out) and as the mail wrote it."""
    base = thread.base_subject(subject, prefix)
    forms = {thread.incident_subject(subject, prefix), compose.clean_header(base), base}
    found = [form for form in forms if len(form) >= _MIN_LENGTH]
    return sorted(found, key=len, reverse=True)
