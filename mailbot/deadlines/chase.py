"""Reminders: when each level goes out, to whom, and what it says."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import bounces, render, respond
from mailbot.app import App
from mailbot.clock import iso
from mailbot.csirt import red
from mailbot.db.models import (
    NOT_SENT,
    Chase,
    ContactFailure,
    Deadline,
    FieldValue,
    Incident,
    Mail,
    Outbox,
)
from mailbot.deadlines import together
from mailbot.deadlines.calendar import Timekeeper
from mailbot.extract import missing

log = logging.getLogger(__name__)

# Levels 1 and 2 chase the site; from level 3 on the CSIRT is told.
SITE_LEVELS = together.SITE_LEVELS
# A level whose mail the caps or the brake hold has not reached anyone: the
# next one waits for it (it is looked at again this often), and counts from
# when it leaves (`brake release` re-dates its chase row).
HELD_RECHECK = dt.timedelta(hours=1)


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


def send_time(
    app: App, level: int, when: dt.datetime, calendar: Timekeeper
) -> dt.datetime:
    """The first moment at or after `when` that a reminder of `level` may leave.

    A sweep that runs late (the daemon was down over a weekend, say) must
    still not mail a site outside its working hours.
    """
    if level <= SITE_LEVELS and app.chase_policy.within_working_hours:
        return calendar.next_open(when)
    return when


def waits_for_hours(
    app: App, session: Session, mail: Mail, now: dt.datetime
) -> dt.datetime | None:
    """When a reminder to a site, about to leave outside the site's working
    hours, may leave instead; None when it may leave now.

    A reminder is queued for a working moment (send_time), but one held by
    the brake or the caps is let go when an operator releases it, and one
    kept by an SMTP outage when the server is back: at night, either would
    mail the site at an hour it was promised none.
    """
    if not app.chase_policy.within_working_hours:
        return None
    rows = session.execute(
        select(Chase.level, Deadline.site)
        .join(Deadline, Deadline.id == Chase.deadline_id)
        .where(Chase.mail_id == mail.id)
    ).all()
    later = max(
        (send_time(app, level, now, app.calendar(site)) for level, site in rows),
        default=now,
    )
    return later if later > now else None


def _last_chase(session: Session, deadline: Deadline) -> dt.datetime:
    last = session.scalar(
        select(Chase.queued_at)
        .where(Chase.deadline_id == deadline.id)
        .order_by(Chase.level.desc())
        .limit(1)
    )
    return last or deadline.due_at


def bouncing(session: Session) -> set[str]:
    """Addresses that bounced permanently, read once per transaction."""
    cached = session.info.get("bouncing")
    if cached is None:
        cached = session.info["bouncing"] = set(
            session.scalars(
                select(ContactFailure.address).where(ContactFailure.permanent.is_(True))
            )
        )
    return cached


def recipients(
    app: App, session: Session, deadline: Deadline, level: int
) -> tuple[list[str], list[str]]:
    """(to, cc) of a level: the site's contacts, the NGI's, or the CSIRT's.

    Addresses that bounced permanently (BR-16) are left out; when every
    contact of the site bounced, level 2 goes to the NGI alone.
    """
    if level > SITE_LEVELS:
        duty = app.settings.csirt.duty_address
        return ([duty] if duty else []), []
    site = app.sites.site(deadline.site)
    skip = bouncing(session)
    to = [a for a in (site.security_contacts if site else ()) if a not in skip]
    cc: list[str] = []
    if level == SITE_LEVELS and site is not None:
        cc = [a for a in app.sites.ngi_contacts(site) if a not in skip and a not in to]
    return (to, cc) if to else (cc, [])


def template_name(env: jinja2.Environment, level: int, rule: str) -> str:
    """The template of a level, a rule's own one first (`reminder-1-analysis`)."""
    general = together.level_template(level)
    names = [general.replace(".txt.j2", f"-{rule}.txt.j2"), general]
    return env.select_template(names).name or names[-1]


@dataclass
class ReadAhead:
    """What the reminders of a batch need from the database, read at once.

    The sweep reads it before it queues anything; `threads` then grows by
    each reminder queued, so a second one to the same site answers the
    first (and one to another site of the incident does not name it).
    """

    fields: dict[int, dict[str, list[str]]]
    threads: dict[int, list[respond.ThreadMail]]
    red_mails: dict[int, list[Mail]]
    # The incidents whose own subject may be another site's: others were
    # merged into them, or #site replaced their site (`respond.thread_subject`).
    merged: set[int]
    last_chase: dict[int, dt.datetime]
    # (deadline id, level) of the levels whose mail is held, not sent.
    held: set[tuple[int, int]]


def read_ahead(
    session: Session, deadlines: list[Deadline], now: dt.datetime
) -> ReadAhead:
    """Five queries for the incidents and chased clocks of `deadlines`."""
    incident_ids = sorted({d.incident_id for d in deadlines})
    chased = [d.id for d in deadlines if d.level > 0]
    return ReadAhead(
        fields=_fields(session, incident_ids),
        threads=respond.threads_mails(session, incident_ids),
        red_mails=red.red_mails(session, incident_ids),
        merged=respond.subject_unshared(session, incident_ids),
        last_chase=_last_chases(session, chased) if chased else {},
        held=held_levels(session, chased) if chased else set(),
    )


def ask_again(
    session: Session, mail_id: int, now: dt.datetime
) -> list[tuple[Deadline, int]]:
    """Undo the chase by mail `mail_id`, a reminder dropped unsent (`outbox
    drop`): it reached no one, so no level it named counts as chased.

    Its chase rows go; a clock whose last level it was goes back a level
    and is looked at by the next sweep, which asks that level again (in a
    new mail, citing nothing its recipients never got). Left counted, the
    next level followed it a working day later: the NGI in copy, then the
    duty team told the site is silent, for a site never reminded. The
    (clock, level) pairs asked again."""
    again: list[tuple[Deadline, int]] = []
    for row in list(session.scalars(select(Chase).where(Chase.mail_id == mail_id))):
        deadline = session.get(Deadline, row.deadline_id)
        session.delete(row)
        if deadline is None or deadline.level != row.level:
            continue
        deadline.level = row.level - 1
        if deadline.met_at is None and deadline.state != "cancelled":
            deadline.next_action_at = now
            again.append((deadline, row.level))
    return again


def held_levels(session: Session, deadline_ids: list[int]) -> set[tuple[int, int]]:
    """(deadline id, level) of the chases of `deadline_ids` whose mail the
    caps or the brake hold: no one got them yet."""
    return {
        (deadline_id, level)
        for deadline_id, level in session.execute(
            select(Chase.deadline_id, Chase.level)
            .join(Outbox, Outbox.mail_id == Chase.mail_id)
            .where(Chase.deadline_id.in_(deadline_ids), Outbox.state == "held")
        )
    }


def _fields(
    session: Session, incident_ids: list[int]
) -> dict[int, dict[str, list[str]]]:
    values: dict[int, dict[str, list[str]]] = {}
    for incident_id, field, value in session.execute(
        select(FieldValue.incident_id, FieldValue.field, FieldValue.value).where(
            FieldValue.incident_id.in_(incident_ids)
        )
    ):
        values.setdefault(incident_id, {}).setdefault(field, []).append(value)
    return values


def _last_chases(session: Session, deadline_ids: list[int]) -> dict[int, dt.datetime]:
    """The time of each deadline's highest level sent so far."""
    last: dict[int, dt.datetime] = {}
    for deadline_id, queued_at in session.execute(
        select(Chase.deadline_id, Chase.queued_at)
        .where(Chase.deadline_id.in_(deadline_ids))
        .order_by(Chase.deadline_id, Chase.level)
    ):
        last[deadline_id] = queued_at
    return last


def local_time(t: dt.datetime, calendar: Timekeeper) -> str:
    """`t` as the site's wall clock shows it, for the reader of a reminder."""
    zone = getattr(calendar, "zone", dt.UTC)
    return t.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def context(
    app: App,
    session: Session,
    incident: Incident,
    deadline: Deadline,
    level: int,
    fields: dict[str, list[str]] | None = None,
    subject: str | None = None,
    clocks: Sequence[tuple[Deadline, int]] = (),
) -> dict[str, object]:
    """Everything a reminder template may use; `fields` when read already.

    `subject` is the thread's subject for the reminder's recipients
    (`respond.thread_subject`): the headline names no subject they never saw.
    `clocks` are the (deadline, level) pairs the mail reminds of, listed in
    `items` (deadlines/together.py); `deadline` at `level` alone when not
    given. The variables of one clock (`rule`, `due_at`, ...) are
    `deadline`'s: the first of the highest level (together.primary).
    """
    if fields is None:
        fields = _fields(session, [incident.id]).get(incident.id, {})
    items = [_item(app, session, d, n) for d, n in clocks or [(deadline, level)]]
    found = addressing(app, session, deadline, level)
    reached = [i["reached"] for i in items if isinstance(i["reached"], int)]
    if reached:
        # The site was reached about one clock at least: its silence counts.
        found["reached"] = max(reached)
    one = next(i for i in items if i["deadline"] is deadline)
    return {
        **found,
        "tag": incident.tag,
        "rule": deadline.rule,
        "duration": one["duration"],
        "working_time": one["working_time"],
        "site": deadline.site or "the site",
        "level": level,
        "levels": app.chase_policy.levels,
        "started_at": one["started_at"],
        "due_at": one["due_at"],
        "due_local": one["due_local"],
        "items": [{k: v for k, v in i.items() if k != "deadline"} for i in items],
        "missing": missing(fields),
        "subject": incident.subject if subject is None else subject,
        "tlp": incident.tlp,
        "mailbox": app.settings.mailbot.address,
    }


def _item(
    app: App, session: Session, deadline: Deadline, level: int
) -> dict[str, object]:
    """One clock a reminder lists: what its rule asks, when it was due, and
    (at a level that tells the CSIRT) how many reminders reached the site."""
    rule = next((r for r in app.rules if r.name == deadline.rule), None)
    calendar = app.calendar(deadline.site)
    reached = None
    if level > SITE_LEVELS:
        reached = _reached(session, deadline, _working(app, session, deadline))
    # A clock a member's request started says whose and when: two requests
    # in one mail otherwise read alike but for their due times.
    asker = None
    if deadline.start_mail_id is not None:
        start = session.execute(
            select(Mail.role, Mail.from_addr).where(Mail.id == deadline.start_mail_id)
        ).first()
        if start is not None and start.role == "csirt" and start.from_addr:
            asker = start.from_addr
    return {
        "deadline": deadline,
        "rule": deadline.rule,
        "level": level,
        "duration": str(rule.duration) if rule else "",
        "working_time": bool(rule and rule.calendar == "working"),
        "started_at": iso(deadline.started_at),
        "due_at": iso(deadline.due_at),
        "due_local": local_time(deadline.due_at, calendar),
        "reached": reached,
        "asked_by": asker,
        "asked_local": local_time(deadline.started_at, calendar),
    }


def _working(app: App, session: Session, deadline: Deadline) -> set[str]:
    """The site's contacts (lower case) that do not bounce."""
    site = app.sites.site(deadline.site)
    skip = bouncing(session)
    contacts = (a.lower() for a in (site.security_contacts if site else ()))
    return {a for a in contacts if a not in skip}


def addressing(
    app: App, session: Session, deadline: Deadline, level: int
) -> dict[str, object]:
    """Whom a level reaches, for its wording.

    `unreachable`: the site's contacts that bounce (or the SMTP server
    refused for good), and at the duty team's level `unreachable_own`,
    those of them mailbot's configuration names too; `to_ngi_alone`: level
    2 goes to the NGI only, as no contact of the site is left; `reached`:
    for the duty team's notice, how many reminders were delivered to a
    working contact of the site (0: the site could not be reached, so its
    silence says nothing), and for level 2 whether the first one was (0: it
    failed for good, so the second must not say the site left it
    unanswered; not given before the first left).
    """
    site = app.sites.site(deadline.site)
    contacts = [a.lower() for a in (site.security_contacts if site else ())]
    working = _working(app, session, deadline)
    found: dict[str, object] = {
        "ngi": (site.ngi if site else None) or "NGI",
        "contacts": contacts,
        "unreachable": [a for a in contacts if a not in working],
        "to_ngi_alone": level == SITE_LEVELS and not working,
    }
    if level > SITE_LEVELS:
        found["reached"] = _reached(session, deadline, working)
        # A contact that is mailbot's own too (a member writing for the
        # site): the configuration names it as well.
        found["unreachable_own"] = [
            f"{a} ({setting})"
            for a in contacts
            if a not in working and (setting := bounces.ours(app.settings, a))
        ]
    elif level > 1 and _left(session, deadline, level):
        found["reached"] = _reached(session, deadline, working, level)
    return found


def _left(session: Session, deadline: Deadline, level: int) -> bool:
    """Whether the mail of each site level of `deadline` below `level` was
    queued and is not held: sent, on its way, or failed for good."""
    states = session.scalars(
        select(Outbox.state)
        .join(Chase, Chase.mail_id == Outbox.mail_id)
        .where(Chase.deadline_id == deadline.id, Chase.level < level)
    ).all()
    return len(states) == level - 1 and "held" not in states


def _reached(
    session: Session, deadline: Deadline, working: set[str], below: int | None = None
) -> int:
    """The site levels of `deadline` (below level `below`, when given)
    whose mail went to one of `working`."""
    delivered = session.execute(
        select(Chase.level, Mail.recipients)
        .join(Mail, Mail.id == Chase.mail_id)
        .join(Outbox, Outbox.mail_id == Mail.id)
        .where(
            Chase.deadline_id == deadline.id,
            Chase.level <= SITE_LEVELS,
            Chase.level < (below or SITE_LEVELS + 1),
            # Sent, or on its way; not a mail given up, withdrawn, held or
            # dropped.
            Outbox.state.not_in(NOT_SENT),
        )
    )
    return len(
        {
            level
            for level, recipients in delivered
            if working & {a.lower() for a in recipients or ()}
        }
    )


def queue_reminder(
    app: App,
    session: Session,
    incident: Incident,
    clocks: Sequence[tuple[Deadline, int]],
    known: ReadAhead,
) -> Mail | None:
    """Queue one mail in the thread reminding of `clocks`, (deadline, level)
    pairs of one site and audience (together.split); its mail, None when
    nobody can get it."""
    deadline, level = together.primary(clocks, lambda c: c[1])
    to, cc = recipients(app, session, deadline, level)
    rules = list(dict.fromkeys(d.rule for d, _ in clocks))
    if not to:
        log.warning(
            "%s no reachable recipient for %s level %d: nothing sent",
            incident.tag,
            "+".join(rules),
            level,
        )
        return None
    name = (
        template_name(app.templates, level, deadline.rule)
        if len(clocks) == 1
        else together.level_template(level)
    )
    fields = known.fields.get(incident.id, {})
    thread = known.threads.setdefault(incident.id, [])
    merged = incident.id in known.merged
    subject = respond.thread_subject(app, session, incident, thread, to, merged)
    values = context(app, session, incident, deadline, level, fields, subject, clocks)
    base, body = render.render(app.templates, name, **values)
    row = respond.send_in_thread(
        app, session, incident, None, to, base, body,
        purpose(rules, level), cc=cc,
        thread=thread, red_mails=known.red_mails.get(incident.id, []),
        subject=subject,
    )  # fmt: skip
    if row is None:
        return None
    # A mail the caps or the brake hold reached no one: the next mail of the
    # batch does not cite it (outbox.cite_released does, once both leave).
    if row.mail.message_id and row.state not in NOT_SENT:
        thread.append(respond.ThreadMail.of(row.mail))
    return row.mail


# The outbox purpose is a column of 40 characters.
_PURPOSE_MAX = 40


def purpose(rules: Sequence[str], level: int) -> str:
    """A reminder's outbox purpose: `chase-analysis-1` for one rule,
    `chase-containment+analysis-1` for several (`chase-N-rules-1` when
    their names are too long for the column); the level is the mail's."""
    named = f"chase-{'+'.join(rules)}-{level}"
    return named if len(named) <= _PURPOSE_MAX else f"chase-{len(rules)}-rules-{level}"
