"""`mailbot reextract`: today's extraction over mails recorded long ago.

Extraction improves from release to release; re-running it brings those
improvements to old incidents. Each mail's values are replaced by what the
extractor finds now, in one transaction per mail, so running it twice gives
the same rows. Only the mails whose values the record stage keeps are read
again: human mails of sites, reporters and authenticated CSIRT members.
Incident times already set (by an earlier mail or a member's command) are
only ever moved earlier, as when the mail first arrived.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailbot import extract, fields, logs, roles
from mailbot.app import App
from mailbot.csirt import closure
from mailbot.db.models import FieldValue, Incident, Mail
from mailbot.errors import MailbotError, UsageError
from mailbot.incidents import named, unknown
from mailbot.parse import parse

log = logging.getLogger(__name__)


@dataclass
class ReextractResult:
    incidents: int = 0
    mails: int = 0
    values_before: int = 0
    values_after: int = 0


def mails_to_read(app: App, tag: str | None) -> list[tuple[int, int]]:
    """(mail, incident) of the mails to read again: `tag`'s, or every one's."""
    with app.db.transaction() as session:
        query = select(Mail.id, Mail.incident_id, Mail.role, Mail.flags).where(
            Mail.direction == "in",
            Mail.state == "processed",
            Mail.incident_id.is_not(None),
            Mail.role.in_(roles.READ_ROLES),
        )
        if tag is not None:
            incident = named(session, tag, app.settings.mailbot.tag_prefix)
            if incident is None:
                raise MailbotError(unknown(tag))
            query = query.where(Mail.incident_id == incident.id)
        rows = session.execute(query.order_by(Mail.id)).all()
    return [
        (row.id, row.incident_id)
        for row in rows
        # A mail not believed as a member's is read only when it is a
        # site's (roles.identify): its commands are never read.
        if "possible_forgery" not in (row.flags or []) or row.role == "site"
    ]


def reextract_mail(app: App, mail_id: int) -> tuple[int, int]:
    """Replace one mail's values; (values before, values after)."""
    with logs.about_mail(mail_id), app.db.transaction() as session:
        mail = session.get(Mail, mail_id)
        assert mail is not None and mail.incident_id is not None
        incident = session.get(Incident, mail.incident_id)
        assert incident is not None
        before = _values_of(session, mail.id)
        session.execute(delete(FieldValue).where(FieldValue.mail_id == mail.id))
        parsed = parse(mail.raw)
        site = app.sites.site(mail.site) if mail.site else None
        fields.record_findings(app, session, incident, mail, parsed, site)
        # An unlabelled closure report's resolution and lessons do not count.
        if (
            roles.writes_for_site(mail.role, mail.flags)
            and extract.is_closure_report(parsed.subject, parsed.text_parts)
            and not closure.label_counts(
                closure.stated_labels(
                    session,
                    incident,
                    mail,
                    parsed.subject,
                    extract.own_text(parsed.body_text),
                )
            )
        ):
            session.execute(
                delete(FieldValue).where(
                    FieldValue.mail_id == mail.id,
                    FieldValue.field.in_(closure.REPORT_FIELDS),
                )
            )
        return before, _values_of(session, mail.id)


def _values_of(session: Session, mail_id: int) -> int:
    session.flush()
    count = session.scalar(select(func.count()).where(FieldValue.mail_id == mail_id))
    return int(count or 0)


def reextract(app: App, tag: str | None) -> ReextractResult:
    result = ReextractResult()
    mails = mails_to_read(app, tag)
    for mail_id, _incident_id in mails:
        before, after = reextract_mail(app, mail_id)
        result.mails += 1
        result.values_before += before
        result.values_after += after
    result.incidents = len({incident_id for _, incident_id in mails})
    log.info(
        "reextract: %d mails of %d incidents, %d values before, %d after",
        result.mails,
        result.incidents,
        result.values_before,
        result.values_after,
    )
    return result


def command(args: argparse.Namespace) -> int:
    from mailbot.cli import print_json
    from mailbot.commands import app_from

    if (args.tag is None) == (not args.all):
        raise UsageError("TAG", "give one incident's tag, or --all for every one")
    app = app_from(args, servers=False)
    try:
        result = reextract(app, args.tag)
    finally:
        app.close()
    if args.json:
        print_json(asdict(result))
    else:
        print(
            f"{result.mails} mails of {result.incidents} incidents read again: "
            f"{result.values_before} values before, {result.values_after} now"
        )
    return 0
