"""`mailbot render TEMPLATE --incident TAG`: a mail as it would go out now.

For whoever edits the templates: the reminder, escalation or
acknowledgement of an incident is rendered with the same values the sweep
or the intake would use at this moment (`--now` moves the moment), with its
recipients, subject and TLP line. Nothing is stored and nothing is sent.

A reminder is the mail the sweep will send for that clock's level: when
other clocks of the site fall due with it, the one mail that lists them all
(as `mailbot deadlines` plans it), and the command says which clocks it
covers.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

import jinja2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot import compose, incidents, render, respond, roles
from mailbot.app import App
from mailbot.clock import iso
from mailbot.csirt import red
from mailbot.db.models import Deadline, Incident, Mail
from mailbot.deadlines import chase, together
from mailbot.deadlines.forecast import Planned, forecast
from mailbot.errors import MailbotError, UsageError

# Template names (without .txt.j2) and the chase level each stands for.
LEVELS = {"reminder-1": 1, "reminder-2": 2, "escalation": 3}


@dataclass(frozen=True)
class Preview:
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    # For a reminder: which clocks the mail reminds of, and when it leaves.
    covers: str | None = None

    def text(self, sender: str) -> str:
        head = [f"From: {sender}", f"To: {', '.join(self.to) or '(nobody)'}"]
        if self.cc:
            head.append(f"Cc: {', '.join(self.cc)}")
        head.append(f"Subject: {self.subject}")
        return "\n".join(head) + "\n\n" + self.body


def template_stem(name: str) -> str:
    return name.removesuffix(".j2").removesuffix(".txt")


def preview(
    app: App, template: str, tag: str | None, rule: str | None = None
) -> Preview:
    stem = template_stem(template)
    if stem == "digest":
        return _digest(app)
    level = next((v for k, v in LEVELS.items() if stem.startswith(k)), None)
    if level is None and stem != "acknowledgement":
        raise UsageError(
            "TEMPLATE",
            f"{template!r}: give reminder-1, reminder-2, escalation, "
            "acknowledgement or digest",
        )
    if tag is None:
        raise UsageError("--incident", f"rendering {stem} needs --incident TAG")
    # The sweep's plan, read first in its own transaction: which clocks of
    # a site leave together, and when.
    plans = forecast(app) if stem in LEVELS else []
    with app.db.transaction() as session:
        incident = incidents.named(session, tag, app.settings.mailbot.tag_prefix)
        if incident is None:
            raise MailbotError(incidents.unknown(tag))
        if level is None:
            return _acknowledgement(app, session, incident)
        return _reminder(app, session, incident, stem, level, rule, plans)


def _reminder(
    app: App,
    session: Session,
    incident: Incident,
    stem: str,
    level: int,
    rule: str | None,
    plans: list[Planned],
) -> Preview:
    asked = _deadline(session, incident, rule)
    # A template named in full (`reminder-1-analysis`) is a rule's own: the
    # sweep sends its clock alone.
    planned = _planned_with(plans, asked.id, level) if stem in LEVELS else None
    clocks = _clocks(session, planned) if planned else [(asked, level)]
    # Addressed and worded as the sweep's mail: by its first clock of the
    # highest level, with the template of that level when it lists several.
    deadline, level = together.primary(clocks, lambda c: c[1])
    if stem not in LEVELS:
        name = _existing(app.templates, stem)
    elif len(clocks) == 1:
        name = chase.template_name(app.templates, level, deadline.rule)
    else:
        name = together.level_template(level)
    to, cc = chase.recipients(app, session, deadline, level)
    mails = respond.thread_mails(session, incident)
    thread_subject = respond.thread_subject(app, session, incident, mails, to)
    values = chase.context(
        app, session, incident, deadline, level, None, thread_subject, clocks
    )
    subject, body = render.render(app.templates, name, **values)
    shown = _finish(app, session, incident, to, cc, subject, body, thread_subject)
    if planned is not None:
        when = f"the sweep sends it at {iso(planned.at)} ({planned.local_time})"
    elif stem in LEVELS:
        when = "no reminder of this level is planned (`mailbot deadlines`): shown"
    else:
        # A template named in full is rendered for the clock asked alone.
        when = "shown for this clock alone"
    return replace(shown, covers=_covers(incident, clocks, f"{when} with {name}"))


def _planned_with(plans: list[Planned], deadline_id: int, level: int) -> Planned | None:
    """The first mail the sweep will send reminding of `deadline_id` at `level`."""
    for p in plans:
        if p.action not in ("reminder", "escalation", "unsent", "held"):
            continue
        levels = dict(zip(p.deadline_ids, (n for _, n, _ in p.clocks), strict=False))
        if levels.get(deadline_id) == level:
            return p
    return None


def _clocks(session: Session, planned: Planned) -> list[tuple[Deadline, int]]:
    """The (deadline, level) pairs of a planned mail, in the order it lists them."""
    pairs = []
    for deadline_id, (_, level, _) in zip(
        planned.deadline_ids, planned.clocks, strict=False
    ):
        deadline = session.get(Deadline, deadline_id)
        assert deadline is not None
        pairs.append((deadline, level))
    return pairs


def _covers(incident: Incident, clocks: list[tuple[Deadline, int]], when: str) -> str:
    """Which clocks the mail reminds of, and `when` it leaves."""
    listed = "; ".join(f"{d.rule} level {n} due {iso(d.due_at)}" for d, n in clocks)
    site = clocks[0][0].site or "the site"
    count = f"{len(clocks)} clocks" if len(clocks) > 1 else "1 clock"
    return f"{incident.tag}: one mail for {count} of {site}: {listed}; {when}"


def _existing(env: jinja2.Environment, stem: str) -> str:
    name = f"{stem}.txt.j2"
    try:
        env.get_template(name)
    except jinja2.TemplateNotFound:
        raise UsageError("TEMPLATE", f"no template {name}") from None
    return name


def _deadline(session: Session, incident: Incident, rule: str | None) -> Deadline:
    """The clock asked for, else the one due next; a MailbotError (exit 1)
    when none is owed: it showed a reminder of a clock met, which the sweep
    never sends."""
    query = select(Deadline).where(Deadline.incident_id == incident.id)
    if rule is not None:
        query = query.where(Deadline.rule == rule)
    rows = list(session.scalars(query.order_by(Deadline.due_at, Deadline.id)))
    unmet = [d for d in rows if d.met_at is None and d.state in ("pending", "missed")]
    if unmet:
        return unmet[0]
    if rows:
        done = "; ".join(
            f"{d.rule} met {iso(d.met_at)}" if d.met_at else f"{d.rule} {d.state}"
            for d in rows
        )
        raise MailbotError(
            f"{incident.tag}: nothing is owed, the sweep sends no reminder"
            f" ({done}): render one for a clock not met (`mailbot deadlines`"
            " lists them)"
        )
    what = f"no {rule} deadline" if rule else "no deadline"
    raise MailbotError(f"{incident.tag} has {what} to remind of (`mailbot show`)")


def _acknowledgement(app: App, session: Session, incident: Incident) -> Preview:
    from mailbot.parse import parse

    first = session.scalars(
        select(Mail)
        .where(Mail.incident_id == incident.id, Mail.direction == "in")
        .order_by(func.coalesce(Mail.event_at, Mail.arrived_at), Mail.id)
    ).first()
    if first is None:
        raise MailbotError(f"{incident.tag} has no incoming mail to acknowledge")
    parsed = parse(first.raw)
    to = roles.reply_address(parsed, roles.not_to_answer(app.settings))
    if {roles.AUTOMATED, roles.NO_AUTO_ANSWER} & set(first.flags or []):
        to = None  # never acknowledged (respond.acknowledge)
    recipients = [to] if to else []
    mails = respond.thread_mails(session, incident)
    thread_subject = respond.thread_subject(app, session, incident, mails, recipients)
    subject, body = respond.acknowledgement_text(
        app, incident, parsed, first.role, subject=thread_subject
    )
    return _finish(
        app, session, incident, recipients, [], subject, body, thread_subject
    )


def _finish(
    app: App,
    session: Session,
    incident: Incident,
    to: list[str],
    cc: list[str],
    subject: str,
    body: str,
    thread_subject: str | None = None,
) -> Preview:
    # What send_in_thread() and compose() write: the thread's subject for the
    # recipients, RED subjects withheld from those who did not get them, the
    # tag and TLP first in the subject, the TLP 2.0 label as the first body line.
    subject, body = respond.in_thread(incident, subject, body, thread_subject)
    subject, body = red.withhold(app, session, incident.id, [*to, *cc], subject, body)
    return Preview(
        to=to,
        cc=cc,
        subject=compose.subject_line(incident.tag, incident.tlp, subject),
        body=f"TLP:{incident.tlp}\n\n{body}",
    )


def _digest(app: App) -> Preview:
    from mailbot import digest

    now = app.clock.now()
    day = digest.local_day(now, app.settings.mailbot.timezone)
    with app.db.transaction() as session:
        data = digest.collect(app, session, day, now, digest.since(session, now))
    subject, body, label = digest.render_digest(app, data)
    duty = app.settings.csirt.duty_address
    return Preview(
        to=[duty] if duty else [], cc=[], subject=subject, body=f"TLP:{label}\n\n{body}"
    )


def render_command(args: argparse.Namespace) -> int:
    from mailbot.commands import app_from

    app = app_from(args, servers=False)
    try:
        shown = preview(app, args.template, args.incident, args.rule)
    finally:
        app.close()
    if shown.covers:
        # On stderr: the standard output is the mail alone.
        print(shown.covers, file=sys.stderr)
    print(shown.text(app.settings.mailbot.address), end="")
    return 0
