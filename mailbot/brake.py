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
queues it for the sender (the daemon, or the next poll or sweep) unless its
reason went away meanwhile (withdraw.py).
Alerts themselves pass (their purpose starts with "alert").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Select, String, bindparam, cast, func, not_, select
from sqlalchemy.orm import Session

from mailbot.db.models import Mail, Outbox, ServiceState

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
    # What holds it: "brake" (engaged before), or the [brake] key whose
    # limit it reached ("max_per_hour" engages the brake with this mail).
    cap: str | None = None
    # The hour's volume at which this mail engages the brake.
    engages: int | None = None


def is_alert(purpose: str) -> bool:
    return purpose.startswith("alert")


class Counts(Protocol):
    """The mail a verdict compares with the limits, counted at one moment:
    the database's (`_Counted`, when a mail is queued) or those it will
    hold at a later one (`Projection`, for `mailbot deadlines`)."""

    def engaged(self) -> bool: ...
    def last_hour(self) -> int: ...
    def in_incident(self, incident_id: int) -> int: ...
    def to(self, address: str) -> int: ...


def judge(
    app: App,
    counts: Counts,
    recipients: list[str],
    incident_id: int | None,
    purpose: str,
) -> Verdict:
    """The caps and the brake on one automatic mail: the one place they are
    decided, for the mail queued now and for the forecast alike."""
    if is_alert(purpose):
        return Verdict()
    if counts.engaged():
        return Verdict(
            "the brake is engaged: `mailbot brake release` after a look", "brake"
        )
    if incident_id is not None:
        held = _cap(app, "max_per_incident_per_day", counts.in_incident(incident_id))
        if held:
            return held
    exempt = _our_addresses(app)
    for address in recipients:
        if address.lower() not in exempt:
            held = _cap(app, "max_per_recipient_per_day", counts.to(address), address)
            if held:
                return held
    volume = counts.last_hour()
    if volume >= app.settings.brake.max_per_hour:
        return Verdict(
            f"the brake engaged at {volume + 1} mails in an hour",
            "max_per_hour",
            engages=volume + 1,
        )
    return Verdict()


def _cap(app: App, name: str, count: int, address: str = "") -> Verdict | None:
    """Held by the daily cap `name` ([brake]) when `count` mails reached it:
    those of the incident, or to `address`."""
    limit = getattr(app.settings.brake, name)
    if count < limit:
        return None
    where = f"to {address}" if address else "in this incident"
    return Verdict(f"{count} mails {where} in 24 hours (brake.{name} {limit})", name)


def cap_of(reason: str | None) -> str | None:
    """The cap (Verdict.cap) that the reason `judge` gave names, for a mail
    held before: the outbox keeps the reason only."""
    if not reason:
        return None
    for cap in ("max_per_incident_per_day", "max_per_recipient_per_day"):
        if f"(brake.{cap} " in reason:
            return cap
    return "max_per_hour" if reason.startswith("the brake engaged at ") else "brake"


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
    counts = _Counted(session, _tally(app, session))
    verdict = judge(app, counts, recipients, incident_id, purpose)
    if verdict.engages is not None:
        engage(app, session, verdict.engages)
    # A mail held is told to app.held once its transaction commits (outbox.py).
    return verdict


class HeldMail:
    """Mail the daily caps or the engaged brake held since the last report,
    logged as one WARNING per cap with the count: one line per mail made
    2,984 lines of one poll of a reporter's batch. Reported at the end of
    each sweep (the daemon's sweep job's too), before each delivery pass
    (after each poll, and the daemon's delivery job) and when the App
    closes. Thread-safe: the daemon's jobs hold mail and report it in
    threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per cap: how many held, and the first one's purpose and reason.
        self._held: dict[str, tuple[int, str, str]] = {}

    def add(self, cap: str, purpose: str, reason: str) -> None:
        with self._lock:
            count, first, why = self._held.get(cap, (0, purpose, reason))
            self._held[cap] = (count + 1, first, why)
        log.debug("outgoing %s held: %s", purpose, reason)

    def report(self) -> None:
        with self._lock:
            held, self._held = self._held, {}
        for cap, (count, purpose, reason) in sorted(held.items()):
            # The engaged brake's reason is the advice below.
            why = "the engaged brake" if cap == "brake" else f"brake.{cap}"
            log.warning(
                "%d outgoing mail%s held by %s, the first (%s)%s;"
                " `mailbot brake` lists them, `mailbot brake release` queues them",
                count,
                "" if count == 1 else "s",
                why,
                purpose,
                "" if cap == "brake" else f": {reason}",
            )


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
    engaged, released = _brake_state(session)
    return Tally(now, engaged, _last_hour(session, now, released))


def _brake_state(session: Session) -> tuple[bool, dt.datetime | None]:
    """Whether the brake is engaged, and when it was last released."""
    # Both rows in one query: this runs for every acknowledgement.
    rows = {row.key: row for row in session.scalars(_STATE_ROWS)}
    engaged = rows.get(ENGAGED_KEY)
    released = rows[RELEASED_KEY].updated_at if RELEASED_KEY in rows else None
    return engaged is not None and bool(engaged.value), released


def _hour_start(
    now: dt.datetime, released: dt.datetime | None
) -> tuple[dt.datetime, bool]:
    """Where the hour before `now` starts, and whether mail queued at that
    moment counts in it."""
    # Mail queued before a release was looked at already: it counts no more.
    if released is not None and released > now - HOUR:
        return released, False
    return now - HOUR, True


def _last_hour(session: Session, now: dt.datetime, released: dt.datetime | None) -> int:
    """The automatic mail queued in the hour before `now`."""
    start, inclusive = _hour_start(now, released)
    if inclusive:
        return _count(session, _SINCE, {"since": start})
    return _count(session, _AFTER, {"after": start})


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
        tally.recipients[address] = _count_to(session, address, tally.now)
    return tally.recipients[address]


def _count_to(session: Session, address: str, now: dt.datetime) -> int:
    """The automatic mail to `address` in the day before `now`."""
    quoted = json.dumps(address)
    pattern = "%" + re.sub(r"([%_\\])", r"\\\1", quoted) + "%"
    return _count(session, _TO, {"since": now - DAY, "pattern": pattern})


class Projection:
    """The caps and the brake as they will stand later on (Counts), for
    `mailbot deadlines`: the mail queued so far, and the mail the forecast
    has planned before, in order of time (`verdict`). Nothing is written."""

    def __init__(self, app: App, session: Session) -> None:
        self.app, self.session = app, session
        self._engaged, self._released = _brake_state(session)
        # (time, recipients, incident id) of each mail planned to go.
        self._planned: list[tuple[dt.datetime, list[str], int | None]] = []
        self._at = dt.datetime.min.replace(tzinfo=dt.UTC)

    def verdict(
        self,
        at: dt.datetime,
        recipients: list[str],
        incident_id: int | None,
        purpose: str,
    ) -> Verdict:
        """What `judge` will say of this mail queued at `at`, after the mail
        planned so far; a mail it lets go counts for the next ones."""
        self._at = at
        verdict = judge(self.app, self, recipients, incident_id, purpose)
        if verdict.engages is not None:
            self._engaged = True
        elif verdict.reason is None and not is_alert(purpose):
            self._planned.append((at, recipients, incident_id))
        return verdict

    def engaged(self) -> bool:
        return self._engaged

    def last_hour(self) -> int:
        start, inclusive = _hour_start(self._at, self._released)
        planned = sum(t > start or inclusive and t == start for t, *_ in self._planned)
        return _last_hour(self.session, self._at, self._released) + planned

    def in_incident(self, incident_id: int) -> int:
        since = self._at - DAY
        known = self.session.execute(
            _BY_INCIDENT, {"since": since, "incidents": [incident_id]}
        )
        planned = sum(
            t >= since and incident == incident_id for t, _, incident in self._planned
        )
        return sum(int(n) for n, _ in known) + planned

    def to(self, address: str) -> int:
        since = self._at - DAY
        planned = sum(t >= since and address in to for t, to, _ in self._planned)
        return _count_to(self.session, address, self._at) + planned


class _Counted:
    """The database's counts at the tally's moment (Counts)."""

    def __init__(self, session: Session, tally: Tally) -> None:
        self.session, self.tally = session, tally

    def engaged(self) -> bool:
        return self.tally.engaged

    def last_hour(self) -> int:
        return self.tally.last_hour

    def in_incident(self, incident_id: int) -> int:
        _count_incidents(self.session, self.tally, [incident_id])
        return self.tally.incidents[incident_id]

    def to(self, address: str) -> int:
        return _count_recipient(self.session, self.tally, address)


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
    from mailbot import outbox, withdraw

    now = app.clock.now()
    withdrawn = 0
    with app.db.transaction() as session:
        engaged = _engaged(session) is not None
        held = session.execute(
            select(Outbox, Mail)
            .join(Mail, Mail.id == Outbox.mail_id)
            .where(Outbox.state == HELD)
            .order_by(Outbox.id)
        ).all()
        owed: set[int] = set()
        released = []
        for row, mail in held:
            if withdraw.check(app, session, row, mail, owed):
                withdrawn += 1
            else:
                outbox.released(app, session, row, mail, now)
                released.append(mail)
        outbox.cite_released(app, session, released)
        if engaged or held:
            # The mails released were looked at: the hour the brake counts
            # starts anew (_hour_start). With nothing engaged or held, a
            # release would restart it and lift nothing.
            _set(session, ENGAGED_KEY, "", now)
            _set(session, RELEASED_KEY, "released", now)
        if owed:
            # The clocks still owed of a reminder withdrawn: reminded now
            # that the brake is off, in a mail naming only them.
            withdraw.rechase(app, session, owed)
    count = len(held) - withdrawn
    if engaged:
        log.warning(
            "brake released: %d held mails queued to be sent, %d withdrawn",
            count,
            withdrawn,
        )
    elif held:
        # Mail the caps held: no brake was released (it logged a WARNING
        # "brake released" all the same).
        log.info(
            "held mails released (the brake was not engaged): %d queued to be"
            " sent, %d withdrawn",
            count,
            withdrawn,
        )
    return count, withdrawn
