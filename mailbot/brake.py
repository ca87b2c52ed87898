"""Caps on automatic mail, and the brake that stops it when volume jumps.

Whatever slips past the loop checks (a robot that looks like a person, a
reply-all storm, a bug) must not turn mailbot into a mail cannon. Every
automatic mail is looked at when it is queued:

- caps: at most `brake.max_per_recipient_per_day` mails to one outside
  address and `brake.max_per_incident_per_day` in one incident, over the
  last 24 hours;
- the brake: more than `brake.max_per_hour` automatic mails in an hour
  engages it; from then on every automatic mail is held, and the CSIRT's
  duty address gets one alert (one per engagement, not one per mail).

A mail over a cap or behind the brake is not lost: its outbox row is kept
in the state "held", with the reason, until `mailbot brake release`, which
sends it unless its reason went away meanwhile (withdraw.py).
Alerts themselves pass (their purpose starts with "alert").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, String, bindparam, cast, func, not_, select, update
from sqlalchemy.orm import Session

from mailbot.db.models import Chase, Mail, Outbox, ServiceState

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)

HELD = "held"
ENGAGED_KEY = "brake_engaged_at"
RELEASED_KEY = "brake_released_at"
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Verdict:
    """`reason` is None when the mail may go; else why it is held."""

    reason: str | None = None


def is_alert(purpose: str) -> bool:
    return purpose.startswith("alert")


def admit(
    app: App,
    session: Session,
    *,
    recipients: list[str],
    incident_id: int | None,
    purpose: str,
) -> Verdict:
    """Whether an automatic mail may be queued to go out now."""
    if is_alert(purpose):
        return Verdict()
    tally = _tally(app, session)
    if tally.engaged:
        return Verdict("the brake is engaged: `mailbot brake release` after a look")
    reason = _over_caps(app, session, tally, recipients, incident_id)
    if reason:
        log.warning("outgoing %s held: %s", purpose, reason)
        return Verdict(reason)
    if tally.last_hour >= app.settings.brake.max_per_hour:
        engage(app, session, tally.last_hour + 1)
        return Verdict(f"the brake engaged at {tally.last_hour + 1} mails in an hour")
    return Verdict()


@dataclass
class Tally:
    """What the caps and the brake compare with, counted at `now`.

    Each count is read once when first needed. A tally kept for a
    transaction (`keep_tally`) is then updated by `count` as mail is
    queued, so a batch of mail costs a few queries instead of a few each.
    """

    now: dt.datetime
    engaged: bool
    last_hour: int
    incidents: dict[int, int] = field(default_factory=dict)
    recipients: dict[str, int] = field(default_factory=dict)


_TALLY = "brake_tally"


def keep_tally(app: App, session: Session, incident_ids: Iterable[int]) -> None:
    """Count once for the rest of `session`'s transaction, `incident_ids` now.

    Only for a transaction in which all automatic mail goes through
    `outbox.queue` and no mail moves between incidents (the sweep's).
    """
    tally = session.info[_TALLY] = _new_tally(app, session)
    _count_incidents(session, tally, incident_ids)


def drop_tally(session: Session) -> None:
    """Forget the kept tally (after a savepoint undid what it counted)."""
    session.info.pop(_TALLY, None)


def count(
    session: Session, recipients: list[str], incident_id: int | None, purpose: str
) -> None:
    """Add a mail just queued (not held) to the kept tally, if there is one."""
    tally = session.info.get(_TALLY)
    if tally is None or is_alert(purpose):
        return
    tally.last_hour += 1
    if incident_id is not None and incident_id in tally.incidents:
        tally.incidents[incident_id] += 1
    for address in recipients:
        if address in tally.recipients:
            tally.recipients[address] += 1


def _tally(app: App, session: Session) -> Tally:
    kept: Tally | None = session.info.get(_TALLY)
    if kept is None:
        return _new_tally(app, session)
    if kept.now != app.clock.now():
        # The clock moved on, and the windows with it: count again.
        keep_tally(app, session, kept.incidents)
        kept = session.info[_TALLY]
    return kept


def _new_tally(app: App, session: Session) -> Tally:
    now = app.clock.now()
    # Both rows in one query: this runs for every acknowledgement.
    rows = {row.key: row for row in session.scalars(_STATE_ROWS)}
    engaged = rows.get(ENGAGED_KEY)
    released = rows[RELEASED_KEY].updated_at if RELEASED_KEY in rows else None
    # Mail queued before a release was looked at already: it counts no more.
    if released is not None and released > now - HOUR:
        last_hour = _count(session, _AFTER, {"after": released})
    else:
        last_hour = _count(session, _SINCE, {"since": now - HOUR})
    return Tally(now, engaged is not None and bool(engaged.value), last_hour)


# The counts run for every acknowledgement: built once, with their values
# bound at each run (SQLAlchemy's compiled cache then finds them without
# building them and their cache key again).
_STATE_ROWS = select(ServiceState).where(
    ServiceState.key.in_((ENGAGED_KEY, RELEASED_KEY))
)
# Automatic mails (not alerts, not held).
_COUNTED = (
    select(func.count())
    .select_from(Outbox)
    .where(Outbox.state != HELD, not_(Outbox.purpose.startswith("alert")))
)
_AFTER = _COUNTED.where(Outbox.queued_at > bindparam("after"))
_SINCE = _COUNTED.where(Outbox.queued_at >= bindparam("since"))
# The recipients are a JSON list: the quoted address is looked for in it.
_TO = _SINCE.where(
    cast(Outbox.recipients, String).like(bindparam("pattern"), escape="\\")
)
_BY_INCIDENT = (
    _SINCE.add_columns(Mail.incident_id)
    .join(Mail, Mail.id == Outbox.mail_id)
    .where(Mail.incident_id.in_(bindparam("incidents", expanding=True)))
    .group_by(Mail.incident_id)
)


def _count(session: Session, query: Select[Any], values: dict[str, object]) -> int:
    """Automatic mails that `query` (one of the counts above) finds."""
    return int(session.scalar(query, values) or 0)


def _count_incidents(session: Session, tally: Tally, ids: Iterable[int]) -> None:
    """The last day's automatic mail of each incident in `ids`, one query."""
    wanted = set(ids) - tally.incidents.keys()
    if not wanted:
        return
    values = {"since": tally.now - DAY, "incidents": sorted(wanted)}
    tally.incidents.update(dict.fromkeys(wanted, 0))
    found = session.execute(_BY_INCIDENT, values)
    tally.incidents.update({incident: int(n) for n, incident in found})


def _count_recipient(session: Session, tally: Tally, address: str) -> int:
    if address not in tally.recipients:
        quoted = json.dumps(address)
        pattern = "%" + re.sub(r"([%_\\])", r"\\\1", quoted) + "%"
        values = {"since": tally.now - DAY, "pattern": pattern}
        tally.recipients[address] = _count(session, _TO, values)
    return tally.recipients[address]


def _over_caps(
    app: App,
    session: Session,
    tally: Tally,
    recipients: list[str],
    incident_id: int | None,
) -> str | None:
    caps = app.settings.brake
    if incident_id is not None:
        _count_incidents(session, tally, [incident_id])
        count = tally.incidents[incident_id]
        if count >= caps.max_per_incident_per_day:
            return (
                f"{count} mails in this incident in 24 hours "
                f"(brake.max_per_incident_per_day {caps.max_per_incident_per_day})"
            )
    exempt = _our_addresses(app)
    for address in recipients:
        if address.lower() in exempt:
            continue
        count = _count_recipient(session, tally, address)
        if count >= caps.max_per_recipient_per_day:
            return (
                f"{count} mails to {address} in 24 hours "
                f"(brake.max_per_recipient_per_day {caps.max_per_recipient_per_day})"
            )
    return None


def _our_addresses(app: App) -> set[str]:
    # The CSIRT's own addresses are no loop risk: escalations must reach them.
    settings = app.settings
    duty = [settings.csirt.duty_address] if settings.csirt.duty_address else []
    return {
        a.lower() for a in (*settings.own_addresses, *settings.csirt.members, *duty)
    }


def _engaged(session: Session) -> str | None:
    row = session.get(ServiceState, ENGAGED_KEY)
    return row.value if row is not None and row.value else None


def _set(session: Session, key: str, value: str, now: dt.datetime) -> None:
    row = session.get(ServiceState, key)
    if row is None:
        session.add(ServiceState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def engage(app: App, session: Session, volume: int) -> None:
    """Engage the brake and alert the duty address, once per engagement."""
    from mailbot.clock import iso

    now = app.clock.now()
    _set(session, ENGAGED_KEY, iso(now) or "", now)
    session.flush()
    kept: Tally | None = session.info.get(_TALLY)
    if kept is not None:
        kept.engaged = True
    log.error(
        "brake engaged: %d automatic mails in an hour (brake.max_per_hour %d); "
        "automatic mail is held until `mailbot brake release`",
        volume,
        app.settings.brake.max_per_hour,
    )
    _alert(app, session, volume)


def _alert(app: App, session: Session, volume: int) -> None:
    from mailbot import compose, outbox, render

    duty = app.settings.csirt.duty_address
    if not duty:
        log.error("brake engaged, but csirt.duty_address is not set: nobody told")
        return
    subject, body = render.render(
        app.templates,
        "brake-alert.txt.j2",
        volume=volume,
        limit=app.settings.brake.max_per_hour,
        mailbox=app.settings.mailbot.address,
    )
    outgoing = compose.compose(
        sender=app.settings.mailbot.address,
        to=[duty],
        subject=subject,
        body=body,
        tlp_label="AMBER",
        message_id=compose.new_message_id(None, app.settings.mailbot.domain),
        date=app.clock.now(),
    )
    outbox.queue(
        session, outgoing, purpose="alert-brake", incident_id=None, now=app.clock.now()
    )


def state(app: App) -> dict[str, object]:
    """The brake and the held mails, for `status` and `mailbot brake`."""
    with app.db.transaction() as session:
        held = session.execute(
            select(Outbox.id, Outbox.purpose, Outbox.recipients, Outbox.last_error)
            .where(Outbox.state == HELD)
            .order_by(Outbox.id)
        ).all()
        return {
            "engaged_at": _engaged(session),
            "held": [
                {
                    "id": r.id,
                    "purpose": r.purpose,
                    "to": r.recipients,
                    "reason": r.last_error,
                }
                for r in held
            ],
        }


def release(app: App) -> tuple[int, int]:
    """Disengage the brake and let every held mail go.

    A held mail whose reason went away meanwhile (a reminder of a clock the
    site met since) is withdrawn instead (withdraw.py). Returns how many
    were released and how many withdrawn.
    """
    from mailbot import withdraw

    now = app.clock.now()
    withdrawn = 0
    with app.db.transaction() as session:
        held = session.execute(
            select(Outbox, Mail)
            .join(Mail, Mail.id == Outbox.mail_id)
            .where(Outbox.state == HELD)
            .order_by(Outbox.id)
        ).all()
        for row, mail in held:
            if withdraw.check(app, session, row, mail):
                withdrawn += 1
            else:
                row.state, row.next_try_at = "pending", now
                if row.purpose.startswith("chase-"):
                    _redate_chases(session, mail, now)
        _set(session, ENGAGED_KEY, "", now)
        _set(session, RELEASED_KEY, "released", now)
    count = len(held) - withdrawn
    log.warning(
        "brake released: %d held mails will be sent, %d withdrawn", count, withdrawn
    )
    return count, withdrawn


def _redate_chases(session: Session, mail: Mail, now: dt.datetime) -> None:
    """A reminder held until now reached no one before: its level counts as
    sent now, so the next level follows its interval after this."""
    session.execute(update(Chase).where(Chase.mail_id == mail.id).values(queued_at=now))


def command(args: object) -> int:
    """`mailbot brake [release] [--json]`: show the brake and held mails."""
    from mailbot.cli import print_json
    from mailbot.commands import app_from

    # Released mail is sent by the daemon, or the next poll or sweep.
    app = app_from(args, servers=False)  # type: ignore[arg-type]
    released = withdrawn = None
    try:
        if getattr(args, "action", None) == "release":
            released, withdrawn = release(app)
        data = state(app)
    finally:
        app.close()
    if released is not None:
        data["released"], data["withdrawn"] = released, withdrawn
    if getattr(args, "json", False):
        print_json(data)
        return 0
    engaged = data["engaged_at"]
    print(f"brake engaged since {engaged}" if engaged else "brake not engaged")
    if data["held"]:
        # A header, as `outbox` and `incidents` print one.
        print(f"{'ID':>6} {'PURPOSE':<24} TO: REASON HELD")
    for row in data["held"]:  # type: ignore[attr-defined]
        to = ", ".join(row["to"])
        print(f"{row['id']:>6} {row['purpose']:<24} {to}: {row['reason']}")
    if released is not None:
        print(f"released {released} held mail(s)")
    if withdrawn:
        print(
            f"withdrew {withdrawn} held mail(s) whose reason is gone (a clock met,"
            " an incident closed): `mailbot outbox` shows why"
        )
    return 0
