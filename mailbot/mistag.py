"""A subject's tag that threading did not follow: flagged, logged, told.

A mail may carry the tag of an incident it does not belong to: a typo, a
pasted or stale subject, two tags. thread.decide follows mailbot's own
Message-IDs first and a tag only into an incident the sender's site takes
part in; this records what it passed over, so that a member can move or
merge what needs it.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from mailbot import roles, thread
from mailbot.app import App
from mailbot.csirt import replies, trail
from mailbot.db.models import Incident, Mail
from mailbot.mail import ParsedMail

log = logging.getLogger(__name__)

# The mail's flag (in `show`) and the trail's action.
FLAG = "tag_not_followed"
# Why a tag was not adopted as the new incident's name.
REFUSED = (
    "not a tag mailbot gives: its date is after tomorrow, long past or no day,"
    " or it is damaged or its counter retyped"
)


def record(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    decision: thread.Decision,
    author: roles.Author,
) -> None:
    """Note in `incident`'s trail the tags `decision` passed over or
    refused; tell the duty address once per incident and sender."""
    tags = ", ".join((*decision.passed_over, *decision.refused))
    site = author.site.name if author.site else None
    whys = [reason_text(decision.reason, site)] if decision.passed_over else []
    if decision.refused:
        whys.append(REFUSED)
    why = "; ".join(whys)
    log.warning(
        "%s %s carries %s, not followed: %s", incident.tag, mail.ident, tags, why
    )
    told = trail.seen(session, [incident.id], FLAG, mail.from_addr)
    trail.note(
        session, incident.id, actor=mail.from_addr, action=FLAG,
        detail=f"subject tag {tags} not followed: {why}"
        + ("" if told else "; CSIRT duty address told"),
        mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip
    if not told:
        replies.tag_notice(
            app, session, incident, parsed, mail, tags=list(decision.passed_over),
            reason=decision.reason, site=site, refused=list(decision.refused),
        )  # fmt: skip


def reason_text(reason: str, site: str | None) -> str:
    """Why the mail went where it did, in a few words."""
    if reason == "reference":
        return "the mail answers a mail of this incident (In-Reply-To, References)"
    if reason == "tag":
        return "the subject also carries this incident's tag"
    if reason == "body_tag":
        return "the mail is a reply, and its text names this incident"
    return f"{site or 'the sender'} takes part in no incident the tag names"
