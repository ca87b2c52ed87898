"""A CSIRT member's mail: its commands applied, confirmed and recorded.

Only an authenticated member's own text is read (quoted text, signature and
forwarded material removed), and only its first lines (commands.py); a
command repeated in one mail acts once, one contradicting an earlier one is
refused (commands.contradiction). A mail that claims a member's address
without our MTA's word for it applies nothing; the duty team hears of it
once per incident and claimed address. Nor does a member's sub-address
("alice+csirt@" of the member alice@), which is no member's address: the
duty team hears of commands written from it, once per incident and member.

The member hears once of what a mail did: one confirmation lists every
applied command with its outcome, in the order written (the trail keeps an
entry per command), and one reply names every line that was not applied.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import roles
from mailbot.app import App
from mailbot.csirt import replies, trail
from mailbot.csirt.actions import ACTIONS, ENDED, Context, Refused
from mailbot.csirt.commands import (
    BadCommand,
    Command,
    below_signature,
    contradiction,
    read_commands,
    repeats,
)
from mailbot.db.models import Audit, Incident, Mail
from mailbot.deadlines import answers
from mailbot.extract.quotes import marked_lines, signature_lines
from mailbot.mail import ParsedMail

log = logging.getLogger(__name__)


def on_member_mail(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    own_site: str | None = None,
) -> Incident:
    """Apply the mail's commands in order; returns the incident it ends in.

    `own_site` is the site the member writes for as well (roles.FOR_SITE):
    the mail is no request to it."""
    good, bad = read_commands(_written(parsed))
    # "#close" under "Thanks,\nAlice" is no command, but the member hears so.
    bad.extend(below_signature(line for _, line in signature_lines(parsed.body_text)))
    member = mail.from_addr
    ctx = Context(app, session, incident, mail, member)
    problems: list[BadCommand] = list(bad)
    applied: list[str] = []
    done: list[Command] = []
    outcomes: list[replies.Applied] = []
    before = _applied_from_copies(session, mail)
    for command in good:
        if repeats(command, done):
            log.info("%s %s: %s repeated", ctx.incident.tag, mail.ident, command.line)
            continue
        if any(detail.startswith(f"{command.line}: ") for detail in before or ()):
            log.info(
                "%s %s: %s applied already from another copy of the mail",
                ctx.incident.tag,
                mail.ident,
                command.line,
            )
            continue
        why = contradiction(command, done)
        if why is not None:
            problems.append(BadCommand(command.line, why))
            continue
        try:
            outcome = ACTIONS[command.name](ctx, command)
        except Refused as exc:
            problems.append(BadCommand(command.line, str(exc)))
            continue
        session.flush()
        trail.note(
            session, ctx.incident.id, actor=member, action=command.name,
            detail=f"{command.line}: {outcome}", mail_id=mail.id, at=app.clock.now(),
        )  # fmt: skip
        log.info("%s %s applied %s", ctx.incident.tag, mail.ident, command.line)
        outcomes.append(replies.Applied(command.name, command.line, outcome))
        applied.append(command.name)
        done.append(command)
    if outcomes:
        # After the loop: a #merge moved what came before into its target,
        # the incident the mail ends in.
        replies.confirm(app, session, ctx.incident, mail, parsed, member, outcomes)
    if problems:
        log.info(
            "%s %s: %d bad command line(s)",
            ctx.incident.tag,
            mail.ident,
            len(problems),
        )
        replies.refuse(
            app, session, ctx.incident, mail, parsed, member, problems, len(applied)
        )
    # A member's mail to a site is a request whatever else it carries, unless
    # #no-request applied; an incident the mail closed starts no clock; a
    # copy of a mail recorded before asks nothing its original did not.
    if (
        ctx.incident.status not in ENDED
        and "no-request" not in applied
        and before is None
    ):
        answers.on_csirt_mail(
            app, session, ctx.incident, mail, parsed, except_site=own_site
        )
    return ctx.incident


def _applied_from_copies(session: Session, mail: Mail) -> list[str] | None:
    """The trail details ("LINE: outcome") of the commands applied from other
    copies of `mail` (the same Message-ID from the same member: a list's
    copy with its footer is another mail by its bytes, BR-19), or None when
    there is no other copy."""
    if not mail.message_id:
        return None
    copies = list(
        session.scalars(
            select(Mail.id).where(
                Mail.message_id == mail.message_id,
                Mail.from_addr == mail.from_addr,
                Mail.id != mail.id,
            )
        )
    )
    if not copies:
        return None
    return list(
        session.scalars(
            select(Audit.detail).where(
                Audit.mail_id.in_(copies), Audit.actor == mail.from_addr
            )
        )
    )


def _written(parsed: ParsedMail) -> str:
    """The member's own lines: no quoted text, signature or forwarded part."""
    lines = marked_lines(parsed.body_text)
    return "\n".join(line for _, line, forwarded in lines if not forwarded)


def on_forgery(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    author: roles.Author,
) -> None:
    """Record a possibly forged member mail; tell the duty team the first time."""
    claimed = mail.from_addr
    told = trail.seen(session, [incident.id], "possible_forgery", claimed)
    trail.note(
        session, incident.id, actor=claimed, action="possible_forgery",
        detail=f"{author.why}; commands not applied"
        + ("" if told else "; CSIRT duty address told"),
        mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip
    log.warning(
        "%s %s possible forgery of %s: %s",
        incident.tag,
        mail.message_id,
        claimed,
        author.why,
    )
    if not told:
        replies.forgery_notice(
            app, session, incident, parsed, mail, claimed, author.why
        )


# The mail's flag (in `show`) and the trail's action.
SUBADDRESS = "member_subaddress"


def on_subaddress(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    author: roles.Author,
) -> None:
    """A mail with command lines from a member's sub-address ("alice+x@"):
    no member's mail, so none applies. The duty team hears of it once per
    incident and member; the sender, whoever wrote the address, never
    does (no answer to reflect, nothing to loop on)."""
    if author.role == "csirt" or author.role in roles.ROBOT_ROLES:
        return
    owner = roles.member_of_subaddress(mail.from_addr, app.settings)
    ours = {*app.settings.own_addresses, app.settings.csirt.duty_address}
    if owner is None or mail.from_addr.lower() in ours:
        return
    good, _ = read_commands(_written(parsed))
    if not good:
        return
    mail.flags = [*mail.flags, SUBADDRESS]
    told = trail.seen(session, [incident.id], SUBADDRESS, owner)
    trail.note(
        session, incident.id, actor=owner, action=SUBADDRESS,
        detail=f"{mail.from_addr} is no member address ({owner} is):"
        f" {len(good)} command line(s) not applied"
        + ("" if told else "; CSIRT duty address told"),
        mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip
    log.warning(
        "%s %s: commands from %s, a sub-address of member %s, not applied",
        incident.tag, mail.ident, mail.from_addr, owner,
    )  # fmt: skip
    if not told:
        lines = [command.line for command in good]
        replies.subaddress_notice(app, session, incident, parsed, mail, owner, lines)
