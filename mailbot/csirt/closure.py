"""A site's closure report counts only with an explicit TLP AMBER or RED label.

Then clocks.on_site_mail meets `closure_report` and the extracted
`resolution` and `lessons_learnt` stay. Labelled otherwise (or not at all),
it meets nothing, those two values are dropped, and the site is asked once,
in the thread, to resend it labelled AMBER or RED.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlalchemy.orm import Session

from mailbot import roles, tlp
from mailbot.app import App
from mailbot.csirt import replies, trail
from mailbot.db.models import FieldValue, Incident, Mail
from mailbot.mail import ParsedMail

log = logging.getLogger(__name__)

ACCEPTED = ("AMBER", "AMBER+STRICT", "RED")
REPORT_FIELDS = ("resolution", "lessons_learnt")


def label_counts(labels: list[str]) -> bool:
    return tlp.strictest(labels) in ACCEPTED


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
    label = tlp.strictest(labels)
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
        replies.closure_relabel(app, session, incident, parsed, to, site, label)
