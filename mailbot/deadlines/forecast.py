"""The forecast: what the sweep will send, when, and to whom.

It plays the sweep's own rules forward without writing anything, so that a
person can check the reminders before they leave: the level times follow
the chase policy and the site's working hours, the recipients leave out the
addresses that bounced, and a deadline that will be first seen past the
configured lateness shows as recorded missed, with nothing sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import CHASED_STATUSES, Deadline, Incident
from mailbot.deadlines import chase


@dataclass(frozen=True)
class Planned:
    """One thing the sweep will do for a deadline."""

    at: dt.datetime
    tag: str
    rule: str
    site: str | None
    level: int
    # "reminder" (to the site), "escalation" (to the CSIRT), "unsent" (no
    # reachable recipient), "too_late" (recorded missed, nothing sent), or
    # "held" (the level sent last is held by the caps or the brake: the
    # sweep sends no further level until it is released).
    action: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    due_at: dt.datetime
    local_time: str
    # Deadlines this one mail chases (the sweep sends one mail for the
    # deadlines of one rule and site that it finds due together).
    deadlines: int = 1

    def as_dict(self) -> dict[str, object]:
        return {
            "at": iso(self.at),
            "tag": self.tag,
            "rule": self.rule,
            "site": self.site,
            "level": self.level,
            "action": self.action,
            "to": list(self.to),
            "cc": list(self.cc),
            "due_at": iso(self.due_at),
            "site_local_time": self.local_time,
            "deadlines": self.deadlines,
        }


def forecast(app: App, until: dt.datetime | None = None) -> list[Planned]:
    """Everything the sweep will do from now until `until` (or ever), in order."""
    now = app.clock.now()
    planned: list[Planned] = []
    with app.db.transaction() as session:
        query = (
            select(Deadline, Incident)
            .join(Incident, Incident.id == Deadline.incident_id)
            .where(Deadline.next_action_at.is_not(None))
            .order_by(Deadline.next_action_at, Deadline.id)
        )
        # next_action_at is never later than the deadline's next action.
        if until is not None:
            query = query.where(Deadline.next_action_at <= until)
        for deadline, incident in session.execute(query):
            steps = _steps(app, session, incident, deadline, now)
            planned.extend(p for p in steps if until is None or p.at <= until)
    return _one_per_mail(sorted(planned, key=lambda p: (p.at, p.tag, p.rule, p.level)))


def _one_per_mail(planned: list[Planned]) -> list[Planned]:
    """Steps that one mail takes (a reminder covers the deadlines of its
    rule and site falling due within chase.SHARED), merged."""
    out: list[Planned] = []
    mails: dict[tuple[object, ...], int] = {}
    for p in planned:
        key = (p.tag, p.rule, p.site, p.level, p.action)
        index = mails.get(key)
        if p.action not in ("reminder", "escalation"):
            out.append(p)
        elif index is not None and p.at - out[index].at < chase.SHARED:
            first = out[index]
            out[index] = replace(
                first, deadlines=first.deadlines + 1, due_at=min(first.due_at, p.due_at)
            )
        else:
            mails[key] = len(out)
            out.append(p)
    return out


def _steps(
    app: App, session: Session, incident: Incident, deadline: Deadline, now: dt.datetime
) -> Iterator[Planned]:
    """The deadline's remaining levels, as the sweep would take them."""
    if deadline.met_at is not None or incident.status not in CHASED_STATUSES:
        return
    policy = app.chase_policy
    calendar = app.calendar(deadline.site)
    first_seen = max(now, deadline.next_action_at or now)
    if deadline.level == 0 and policy.too_late(deadline.due_at, first_seen):
        yield _planned(app, incident, deadline, 1, first_seen, "too_late", ([], []))
        return
    if deadline.level and (deadline.id, deadline.level) in chase.held_levels(
        session, [deadline.id]
    ):
        # The sweep waits for a held level: the next follows its release.
        yield _planned(app, incident, deadline, deadline.level, now, "held", ([], []))
        return
    previous: dt.datetime | None = None
    # The sweep first looks at the clock at its next_action_at (a due time
    # moved by #extend, a level rescheduled): nothing leaves before it.
    earliest = first_seen
    for level in range(deadline.level + 1, policy.levels + 1):
        when = chase.level_time(app, session, deadline, level, calendar, previous)
        when = chase.send_time(app, level, max(when, earliest), calendar)
        earliest = now
        to, cc = chase.recipients(app, session, deadline, level)
        action = "unsent" if not to else _kind(level)
        yield _planned(app, incident, deadline, level, when, action, (to, cc))
        previous = when


def _kind(level: int) -> str:
    return "reminder" if level <= chase.SITE_LEVELS else "escalation"


def _planned(
    app: App,
    incident: Incident,
    deadline: Deadline,
    level: int,
    at: dt.datetime,
    action: str,
    recipients: tuple[list[str], list[str]],
) -> Planned:
    return Planned(
        at=at,
        tag=incident.tag,
        rule=deadline.rule,
        site=deadline.site,
        level=level,
        action=action,
        to=tuple(recipients[0]),
        cc=tuple(recipients[1]),
        due_at=deadline.due_at,
        local_time=chase.local_time(at, app.calendar(deadline.site)),
    )


def forecast_text(planned: list[Planned]) -> str:
    """The forecast as lines for a terminal, one per mail."""
    if not planned:
        return "nothing will be sent"
    lines = []
    for p in planned:
        what = {
            "reminder": f"level {p.level} reminder",
            "escalation": f"level {p.level} notice to the CSIRT",
            "unsent": f"level {p.level}: NO reachable recipient, nothing sent",
            "too_late": "recorded missed, nothing sent (past the lateness)",
            "held": f"level {p.level} held (caps or brake): the next level waits"
            " for `mailbot brake release`",
        }[p.action]
        if p.deadlines > 1:
            what += f" for {p.deadlines} deadlines"
        head = (
            f"{iso(p.at)} ({p.local_time})  {p.tag}  {p.rule}  {p.site or '-'}  {what}"
        )
        lines.append(head)
        if p.to:
            cc = f"  cc {', '.join(p.cc)}" if p.cc else ""
            lines.append(f"    to {', '.join(p.to)}{cc}  (due {iso(p.due_at)})")
    return "\n".join(lines)
