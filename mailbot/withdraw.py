"""Queued mail whose reason is gone: looked at again just before it leaves.

A mail waits in the outbox while the SMTP server is down, while the caps or
the brake hold it, or between retries; meanwhile the site may answer, a
member may close the incident or move a clock. What a reminder says ("we
are still waiting for you to ...") must still be true when it goes out, so
each automatic mail of the kinds below is checked again at the moment it is
claimed for sending (send/) and when `brake release` lets it go. One whose
reason is gone gets the outbox state "withdrawn", with the reason, and is
never sent.

- Reminders and escalations (`chase-RULE-LEVEL`, `chase-RULE+RULE-LEVEL`
  for one listing several clocks of a site): withdrawn when one of the
  clocks it chases is no longer owed: met (late or not), cancelled, its
  incident closed or a false positive, or its due time moved past now.
  The levels are then given back (their chase rows go), so that a clock
  still owed is chased afresh: at once, in the same transaction, in a mail
  that names only what is still owed (with the other clocks of the site
  due now, as the sweep would; under the surviving tag when its incident
  was merged into another since the mail was written), or when its due
  time comes again. A level recorded meanwhile by a sweep is left to it,
  so no clock is reminded twice.
- The acknowledgement: withdrawn once its incident is a false positive
  (spam that opened an incident while mail was held is not answered after
  a member dismissed it). A merged or closed incident's acknowledgement
  still goes: the reporter's mail was received, and the tag finds the
  incident.
- The request to resend a closure report with its label
  (`closure-relabel`): withdrawn when no closure-report clock of the
  incident is still owed.
- Everything else goes as queued: confirmations and errors to members,
  notifications a member asked for (`#notify-vo`, `#notify-ca`), notices
  and alerts to the duty address, the digest.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailbot import incidents
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import (
    CHASED_STATUSES,
    Chase,
    Deadline,
    Incident,
    Mail,
    Outbox,
)
from mailbot.errors import MailbotError

log = logging.getLogger(__name__)

WITHDRAWN = "withdrawn"
# The tag an outgoing mail was written for: its subject starts with it.
_TAG_RE = re.compile(r"\[([^\]\s]+)\]")


def check(
    app: App, session: Session, row: Outbox, mail: Mail, owed: set[int] | None = None
) -> bool:
    """Withdraw `row` when its reason is gone; whether it was withdrawn.

    The clocks still owed of a reminder withdrawn are reminded at once
    (rechase); with `owed`, their ids are added to it instead, for the
    caller to rechase when it may (`brake release`, once the brake is off).
    """
    now = app.clock.now()
    still: set[int] = set()
    if row.purpose.startswith("chase-"):
        reason = _chase(session, mail, now, still)
    elif row.purpose == "acknowledgement":
        reason = _acknowledgement(session, mail)
    elif row.purpose == "closure-relabel":
        reason = _relabel(app, session, mail)
    else:
        reason = None
    if reason is None:
        return False
    row.state, row.lease_until = WITHDRAWN, None
    row.last_error = f"withdrawn at {iso(now)}: {reason}"
    log.info("%s withdrawn (%s): %s", mail.message_id, row.purpose, reason)
    if owed is not None:
        owed.update(still)
    elif still:
        rechase(app, session, still)
    return True


def rechase(app: App, session: Session, deadline_ids: set[int]) -> None:
    """Remind now of `deadline_ids`, clocks still owed whose reminder was
    withdrawn, in a mail naming only what is owed (sweep.chase_now)."""
    from mailbot.deadlines import sweep

    session.flush()
    try:
        with session.begin_nested():
            done = sweep.chase_now(app, session, deadline_ids, app.clock.now())
    except MailbotError as exc:
        # A template that fails for this mail: the sender must go on with
        # the rest of the outbox; the clocks stay due, for the sweep.
        log.error("clocks still owed of a withdrawn reminder not chased: %s", exc)
        return
    log.info(
        "clocks still owed of a withdrawn reminder: %d reminder(s) queued at once",
        done.reminders,
    )


def _chase(
    session: Session, mail: Mail, now: dt.datetime, still: set[int]
) -> str | None:
    rows = session.execute(
        select(Chase, Deadline, Incident)
        .join(Deadline, Deadline.id == Chase.deadline_id)
        .join(Incident, Incident.id == Deadline.incident_id)
        .where(Chase.mail_id == mail.id)
    ).all()
    written_for = _tag(mail)
    reasons = []
    owed = 0
    for _, deadline, incident in rows:
        reason = _not_owed(deadline, incident, now)
        if reason is None and written_for not in (None, incident.tag):
            reason = f"{written_for} was merged into {incident.tag}, which chases it"
        if reason is None:
            owed += 1
        else:
            reasons.append(reason)
    if not reasons:
        # Every clock of the mail is still owed: what it says is true.
        return None
    for chase, deadline, incident in rows:
        if _give_back(session, chase, deadline, incident, now):
            still.add(deadline.id)
    said = "; ".join(dict.fromkeys(reasons))
    if owed:
        # The mail says the site still owes them all: those still owed are
        # reminded again at once, in a mail naming only them.
        said += f"; the {owed} clock(s) still owed are reminded anew"
    return said


def _not_owed(
    deadline: Deadline, incident: Incident, now: dt.datetime | None
) -> str | None:
    """Why the site no longer owes `deadline`, or None while it does; with
    `now`, a clock not yet due counts as not owed (nothing to chase yet)."""
    what = f"the {deadline.rule} clock of {deadline.site or 'the site'}"
    if deadline.met_at is not None:
        late = " (late)" if deadline.met_at > deadline.due_at else ""
        return f"{what} was met at {iso(deadline.met_at)}{late}"
    if deadline.state not in ("pending", "missed"):
        return f"{what} is {deadline.state}"
    if incident.status not in CHASED_STATUSES:
        return f"incident {incident.tag} is {incident.status.replace('_', ' ')}"
    if now is not None and deadline.due_at > now:
        return f"{what} is now due {iso(deadline.due_at)}"
    return None


def _give_back(
    session: Session,
    chase: Chase,
    deadline: Deadline,
    incident: Incident,
    now: dt.datetime,
) -> bool:
    """Undo the level of a withdrawn reminder; whether the clock is still
    owed (it is due to be chased again now)."""
    session.execute(delete(Chase).where(Chase.id == chase.id))
    deadline.level = min(deadline.level, chase.level - 1)
    if _not_owed(deadline, incident, now) is not None:
        return False
    deadline.next_action_at = now
    return True


def _acknowledgement(session: Session, mail: Mail) -> str | None:
    incident = _incident(session, mail)
    if incident is not None and incident.status == "false_positive":
        return f"incident {incident.tag} was closed as a false positive"
    return None


def _relabel(app: App, session: Session, mail: Mail) -> str | None:
    incident = _incident(session, mail)
    if incident is None:
        return None
    rules = [r.name for r in app.rules if r.met_by == "closure_report"]
    clocks = session.scalars(
        select(Deadline).where(
            Deadline.incident_id == incident.id, Deadline.rule.in_(rules)
        )
    ).all()
    if not clocks and incident.status == "open":
        # Asked before the resolution: the report will be owed then, and
        # one resent labelled meets its clock as it starts.
        return None
    # Asked before the report is due: only a clock ended makes it moot.
    reasons = [_not_owed(d, incident, None) for d in clocks]
    if clocks and None in reasons:
        return None
    return "; ".join(dict.fromkeys(r for r in reasons if r)) or (
        f"incident {incident.tag} owes no closure report"
    )


def _incident(session: Session, mail: Mail) -> Incident | None:
    found = session.get(Incident, mail.incident_id) if mail.incident_id else None
    return incidents.resolve(found, session) if found is not None else None


def _tag(mail: Mail) -> str | None:
    match = _TAG_RE.match(mail.subject or "")
    return match.group(1) if match else None
