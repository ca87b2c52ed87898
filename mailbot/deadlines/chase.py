"""Reminders: when each level goes out, to whom, and what it says."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import render, respond
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import Chase, ContactFailure, Deadline, FieldValue, Incident
from mailbot.deadlines.calendar import Timekeeper
from mailbot.extract import missing

log = logging.getLogger(__name__)

TEMPLATES = {1: "reminder-1.txt.j2", 2: "reminder-2.txt.j2", 3: "escalation.txt.j2"}


def level_time(
    app: App,
    session: Session,
    deadline: Deadline,
    level: int,
    calendar: Timekeeper,
    previous: dt.datetime | None = None,
) -> dt.datetime:
    """When `level` may go out: its interval after the due time or the last reminder.

    Counting from the reminder actually sent (not the planned time) keeps
    the interval between two mails, even when a sweep ran late.
    """
    policy = app.chase_policy
    interval = policy.level_intervals[min(level, policy.levels) - 1]
    base = (
        deadline.due_at if level == 1 else (previous or _last_chase(session, deadline))
    )
    t = interval.after(base, calendar)
    return calendar.next_open(t) if policy.within_working_hours else t


def _last_chase(session: Session, deadline: Deadline) -> dt.datetime:
    last = session.scalar(
        select(Chase.queued_at)
        .where(Chase.deadline_id == deadline.id)
        .order_by(Chase.level.desc())
        .limit(1)
    )
    return last or deadline.due_at


def bouncing(session: Session) -> set[str]:
    return set(
        session.scalars(
            select(ContactFailure.address).where(ContactFailure.permanent.is_(True))
        )
    )


def recipients(
    app: App, session: Session, deadline: Deadline, level: int
) -> tuple[list[str], list[str]]:
    """(to, cc) of a level: the site's contacts, the NGI's, or the CSIRT's."""
    if level >= 3:
        duty = app.settings.csirt.duty_address
        return ([duty] if duty else []), []
    site = app.sites.site(deadline.site)
    skip = bouncing(session)
    to = [a for a in (site.security_contacts if site else ()) if a not in skip]
    cc: list[str] = []
    if level == 2 and site is not None:
        cc = [a for a in app.sites.ngi_contacts(site) if a not in skip]
    return to, cc


def _fields(session: Session, incident: Incident) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for field, value in session.execute(
        select(FieldValue.field, FieldValue.value).where(
            FieldValue.incident_id == incident.id
        )
    ):
        values.setdefault(field, []).append(value)
    return values


def queue_reminder(
    app: App, session: Session, incident: Incident, deadline: Deadline, level: int
) -> None:
    to, cc = recipients(app, session, deadline, level)
    if not to:
        log.warning(
            "%s no reachable recipient for %s level %d",
            incident.tag,
            deadline.rule,
            level,
        )
        return
    base, body = render.render(
        app.templates,
        TEMPLATES[min(level, 3)],
        tag=incident.tag,
        rule=deadline.rule,
        site=deadline.site or "the site",
        level=level,
        started_at=iso(deadline.started_at),
        due_at=iso(deadline.due_at),
        missing=missing(_fields(session, incident)),
        subject=incident.subject,
        mailbox=app.settings.mailbot.address,
    )
    respond.send_in_thread(
        app,
        session,
        incident,
        None,
        to,
        base,
        body,
        f"chase-{deadline.rule}-{level}",
        cc=cc,
    )
