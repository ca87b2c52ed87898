"""The mails the CSIRT's commands call for; every wording is a template."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailbot import render, respond
from mailbot.app import App
from mailbot.clock import iso
from mailbot.csirt.commands import BadCommand, usage
from mailbot.db.models import Incident, Mail
from mailbot.mail import ParsedMail

log = logging.getLogger(__name__)


def _send(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parent: ParsedMail | None,
    to: list[str],
    template: str,
    purpose: str,
    own_subject: bool = False,
    **context: object,
) -> None:
    """Queue the reply that `mail`, the mail recorded, calls for; `parent`
    is the mail it answers (`mail`'s parsed, or none)."""
    if respond.sends_nothing(app, mail) or not to:
        return
    base, body = render.render(
        app.templates, template, tag=incident.tag, mailbox=app.settings.mailbot.address,
        **context,
    )  # fmt: skip
    respond.send_in_thread(
        app, session, incident, parent, to, base, body, purpose, own_subject=own_subject
    )


@dataclass(frozen=True)
class Applied:
    """A command of the member's mail that was applied, and what it did."""

    name: str
    line: str
    outcome: str


# The outbox purpose is a column of 40 characters.
_PURPOSE_MAX = 40


def confirm(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    member: str,
    applied: Sequence[Applied],
) -> None:
    """One short mail to the member (never the site) for all the commands
    of one mail that were applied, each with its outcome, in order."""
    _send(
        app, session, incident, mail, parsed, [member], "confirm.txt.j2",
        confirm_purpose([a.name for a in applied]), member=member,
        commands=list(applied),
        # The first one alone, as templates written for one command a mail
        # name it: an operator's older confirm.txt.j2 still renders.
        command=applied[0].line, outcome=applied[0].outcome,
        message_id=parsed.message_id or "(no Message-ID)",
    )  # fmt: skip


def confirm_purpose(names: Sequence[str]) -> str:
    """The confirmation's outbox purpose: `confirm-close` for one command,
    `confirm-isolated+close` for several (`confirm-N-commands` when their
    names are too long for the column)."""
    purpose = "confirm-" + "+".join(dict.fromkeys(names))
    return purpose if len(purpose) <= _PURPOSE_MAX else f"confirm-{len(names)}-commands"


def refuse(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    member: str,
    problems: Sequence[BadCommand],
    applied: int,
) -> None:
    """Say what was wrong with the member's command lines, and what is valid."""
    _send(
        app, session, incident, mail, parsed, [member], "command-error.txt.j2",
        "command-error", member=member, problems=list(problems), applied=applied,
        usage=usage(), message_id=parsed.message_id or "(no Message-ID)",
    )  # fmt: skip


def forgery_notice(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    mail: Mail,
    claimed: str,
    why: str,
) -> None:
    duty = app.settings.csirt.duty_address
    if duty is None:
        log.warning("%s possible forgery of %s; no duty_address", incident.tag, claimed)
        return
    _send(
        app, session, incident, mail, parsed, [duty], "notify-forgery.txt.j2",
        "possible-forgery", claimed=claimed, why=why,
        message_id=mail.message_id or "(no Message-ID)",
        arrived_at=iso(mail.arrived_at),
    )  # fmt: skip


def subaddress_notice(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    mail: Mail,
    member: str,
    commands: Sequence[str],
) -> None:
    duty = app.settings.csirt.duty_address
    if duty is None:
        log.warning("%s commands from a sub-address of %s; no duty_address",
                    incident.tag, member)  # fmt: skip
        return
    _send(
        app, session, incident, mail, parsed, [duty], "notify-subaddress.txt.j2",
        "member-subaddress", sender=mail.from_addr, member=member,
        commands=list(commands), message_id=mail.message_id or "(no Message-ID)",
        arrived_at=iso(mail.arrived_at),
    )  # fmt: skip


def closure_relabel(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    to: str,
    site: str,
    label: str | None,
) -> None:
    _send(
        app, session, incident, mail, parsed, [to], "closure-relabel.txt.j2",
        "closure-relabel", site=site, label=label,
    )  # fmt: skip


def credentials(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    to: list[str],
    *,
    kind: str,
    name: str,
    dns: list[str],
    member: str,
) -> None:
    _send(
        app, session, incident, mail, None, to, "notify-credentials.txt.j2",
        f"notify-{kind.lower()}", own_subject=True, kind=kind, target=name,
        dns=dns, member=member,
    )  # fmt: skip


def tag_notice(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    mail: Mail,
    *,
    tags: list[str],
    reason: str,
    site: str | None,
    refused: list[str] | None = None,
) -> None:
    """Tell the duty address that a mail's subject tag was not followed."""
    duty = app.settings.csirt.duty_address
    to = [duty] if duty else []
    if not to:
        log.warning("%s subject tag not followed; no duty_address", incident.tag)
    _send(
        app, session, incident, mail, parsed, to, "notify-tag.txt.j2",
        "notice-tag",
        tags=tags, reason=reason, site=site, sender=mail.from_addr,
        refused=refused or [],
        message_id=mail.message_id or "(no Message-ID)",
        arrived_at=iso(mail.arrived_at),
    )  # fmt: skip


def closed_notice(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    mail: Mail,
    *,
    why: str,
) -> None:
    """Tell the duty address that a mail reports anew in an incident that
    ended (closed.py)."""
    duty = app.settings.csirt.duty_address
    if not duty:
        log.warning("%s new report after close; no duty_address", incident.tag)
    _send(
        app, session, incident, mail, parsed, [duty] if duty else [],
        "notify-closed.txt.j2", "notice-closed", sender=mail.from_addr,
        status=incident.status, why=why, site=mail.site,
        message_id=mail.message_id or "(no Message-ID)",
        arrived_at=iso(mail.arrived_at),
    )  # fmt: skip
