"""A site's closure report counts only with an explicit TLP AMBER or RED label.

Explicit: written by the site, in a banner line of its text or in a subject
of its own; the label mailbot put in the subject of the mail the site
answers is not the site's. A lower label anywhere there keeps it from
counting too.

Then site_mail.on_site_mail meets `closure_report` and the extracted
`resolution` and `lessons_learnt` stay. Labelled otherwise (or not at all),
it meets nothing, those two values are dropped, and the site is asked once,
in the thread, to resend it labelled AMBER or RED.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from mailbot import roles, thread, tlp
from mailbot.app import App
from mailbot.csirt import replies, trail
from mailbot.db.models import FieldValue, Incident, Mail
from mailbot.mail import ParsedMail

log = logging.getLogger(__name__)

ACCEPTED = ("AMBER", "AMBER+STRICT", "RED")
REPORT_FIELDS = ("resolution", "lessons_learnt")


def label_counts(labels: list[str]) -> bool:
    """The site labelled its report AMBER or RED, and nothing lower."""
    return bool(labels) and all(label in ACCEPTED for label in labels)


def stated_labels(
    session: Session, incident: Incident, mail: Mail, subject: str, text: str
) -> list[str]:
    """The labels the site itself put on its mail: the banner lines of its
    own text, and its subject's unless that is one mailbot or a member
    wrote earlier in the thread (a reply keeps the `[TAG] [TLP:X]` mailbot
    put there, which says nothing of what the site means)."""
    labels = tlp.banner_labels(text)
    if not _kept(session, incident, mail, subject):
        labels = tlp.find_labels(subject) + labels
    return labels


def _kept(session: Session, incident: Incident, mail: Mail, subject: str) -> bool:
    form = thread.kept_form(subject)
    earlier = session.scalars(
        select(Mail.subject)
        .where(
            Mail.incident_id == incident.id,
            Mail.id < mail.id,
            or_(Mail.direction == "out", Mail.role == "csirt"),
        )
        .distinct()
    )
    return any(thread.kept_form(s) == form for s in earlier if s)


def lowest(labels: list[str]) -> str | None:
    """The label that keeps a report from counting: the least strict one."""
    ranked = sorted(labels, key=tlp.LABELS.index)
    return ranked[0] if ranked else None


def check(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    site: str,
    labels: list[str],
) -> None:
    """Called for a site's closure report; acts only when its label is wrong."""
    if label_counts(labels):
        return
    session.execute(
        delete(FieldValue).where(
            FieldValue.mail_id == mail.id, FieldValue.field.in_(REPORT_FIELDS)
        )
    )
    label = lowest(labels)
    log.info(
        "%s %s closure report labelled %s: not counted",
        incident.tag,
        mail.ident,
        label or "nothing",
    )
    if trail.seen(session, [incident.id], "closure_relabel_asked", site):
        return
    trail.note(
        session, incident.id, actor=site, action="closure_relabel_asked",
        detail=f"closure report labelled {label or 'nothing'}; asked to resend it"
        " labelled TLP:AMBER or TLP:RED",
        mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip
    to = roles.reply_address(parsed, roles.not_to_answer(app.settings))
    if to is not None:
        replies.closure_relabel(app, session, incident, mail, parsed, to, site, label)
