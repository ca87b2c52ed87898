"""The forecast: what the sweep will send, when, and to whom.

It plays the sweep's own rules forward without writing anything, so that a
person can check the reminders before they leave: the level times follow
the chase policy and the site's working hours, the recipients leave out the
addresses that bounced, and a deadline that will be first seen past the
configured lateness shows as recorded missed, with nothing sent. Each mail
is put to the caps and the brake as the sweep's will be (brake.judge, with
the mail planned before it counted): one they will hold shows as held, with
the cap, and the levels after it wait. The clocks of one site due at one
moment are one mail, split as the sweep splits them (together.split).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import brake, outbox
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import CHASED_STATUSES, Chase, Deadline, Incident, Outbox
from mailbot.deadlines import chase, together


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
    # "held" (the level is held by the caps or the brake, queued already or
    # when it will be: the sweep sends no further level until it is
    # released).
    action: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    due_at: dt.datetime
    local_time: str
    # Deadlines this one mail chases (the sweep sends one mail for the
    # deadlines of one site that it finds due together: `rule` then names
    # their rules, "containment+analysis", and `level` is the highest).
    deadlines: int = 1
    # A held level: what holds it ("brake", or the [brake] key of its cap)
    # and why, as `mailbot brake` will list it.
    cap: str | None = None
    reason: str | None = None
    # The ids of those deadlines, and of their incident.
    deadline_ids: tuple[int, ...] = ()
    incident_id: int | None = None
    # (rule, level, due time) of each deadline the mail chases.
    clocks: tuple[tuple[str, int, dt.datetime], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The mail for `deadlines --json`: `rule` is one rule, the one of
        the clock the mail is addressed and worded by; `rules` groups every
        rule it reminds of, and `clocks` has each clock with its own."""
        lead = together.primary(self.clocks, _clock_level) if self.clocks else None
        return {
            "at": iso(self.at),
            "tag": self.tag,
            "rule": lead[0] if lead else self.rule,
            "rules": list(dict.fromkeys(rule for rule, _, _ in self.clocks)),
            "site": self.site,
            "level": self.level,
            "action": self.action,
            "to": list(self.to),
            "cc": list(self.cc),
            "due_at": iso(self.due_at),
            "site_local_time": self.local_time,
            "deadlines": self.deadlines,
            "cap": self.cap,
            "reason": self.reason,
            "clocks": [
                {"rule": rule, "level": level, "due_at": iso(due)}
                for rule, level, due in self.clocks
            ],
        }


def _clock_level(clock: tuple[str, int, dt.datetime]) -> int:
    return clock[1]


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
        # In the sweep's order: by time, then deadline.
        planned.sort(key=lambda p: (p.at, p.deadline_ids, p.level))
        return _held_by_caps(app, session, _one_per_mail(app, planned))


# A mail: (tag, site, audience, time) of the clocks it reminds of.
_MailKey = tuple[str, "str | None", str, dt.datetime]


def _one_per_mail(app: App, planned: list[Planned]) -> list[Planned]:
    """The steps in mails, as the sweep sends them: the clocks of one site
    due at one moment in one mail (together.split). Each mail lists exactly
    the clocks the sweep will name in it, and records as reminded."""
    out: list[Planned] = []
    moments: dict[_MailKey, list[Planned]] = {}
    for p in planned:
        if p.action in ("reminder", "escalation", "unsent"):
            key = (p.tag, p.site, together.audience(p.level), p.at)
            if key not in moments:
                moments[key] = []
                out.append(p)
            moments[key].append(p)
        else:
            out.append(p)
    mails: list[Planned] = []
    for p in out:
        key = (p.tag, p.site, together.audience(p.level), p.at)
        if p.action not in ("reminder", "escalation", "unsent"):
            mails.append(p)
            continue
        # Listed as the sweep lists them: the longest overdue first.
        due = sorted(moments[key], key=lambda q: (q.due_at, q.deadline_ids))
        for mail in together.split(app.templates, due, _level, _rule):
            mails.append(_merged(mail))
    return mails


def _level(p: Planned) -> int:
    return p.level


def _rule(p: Planned) -> str:
    return p.rule


def _merged(mail: list[Planned]) -> Planned:
    """One mail of the steps `mail` (together.split): addressed as the
    first of its highest level, naming every rule and deadline."""
    top = together.primary(mail, _level)
    return replace(
        top,
        rule="+".join(dict.fromkeys(p.rule for p in mail)),
        deadlines=sum(p.deadlines for p in mail),
        due_at=min(p.due_at for p in mail),
        deadline_ids=tuple(i for p in mail for i in p.deadline_ids),
        clocks=tuple(c for p in mail for c in p.clocks),
    )


def _held_by_caps(app: App, session: Session, planned: list[Planned]) -> list[Planned]:
    """Each mail as the caps and the brake will judge it when the sweep
    queues it (brake.judge, the mail planned before it counted); the levels
    after a held one wait for its release, as the sweep's do."""
    projection = brake.Projection(app, session)
    waiting: set[int] = set()
    out: list[Planned] = []
    for p in planned:
        ids = tuple(i for i in p.deadline_ids if i not in waiting)
        if p.deadline_ids and not ids:
            continue
        if ids != p.deadline_ids:
            kept = [n for n, i in enumerate(p.deadline_ids) if i not in waiting]
            clocks = tuple(p.clocks[n] for n in kept if n < len(p.clocks))
            p = replace(p, deadline_ids=ids, deadlines=len(ids), clocks=clocks)
        if p.action in ("reminder", "escalation"):
            verdict = projection.verdict(
                p.at,
                outbox.deliverable(dict.fromkeys((*p.to, *p.cc))),
                p.incident_id,
                f"chase-{p.rule}-{p.level}",
            )
            if verdict.reason:
                p = replace(p, action="held", cap=verdict.cap, reason=verdict.reason)
        if p.action == "held":
            waiting.update(ids)
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
    # A miss recorded already was seen in time (sweep._act): it is chased.
    pending = deadline.state == "pending"
    if pending and deadline.level == 0 and policy.too_late(deadline.due_at, first_seen):
        yield _planned(app, incident, deadline, 1, first_seen, "too_late", ([], []))
        return
    if deadline.level and (deadline.id, deadline.level) in chase.held_levels(
        session, [deadline.id]
    ):
        # The sweep waits for a held level: the next follows its release.
        held = _planned(app, incident, deadline, deadline.level, now, "held", ([], []))
        reason = _held_reason(session, deadline)
        yield replace(held, cap=brake.cap_of(reason), reason=reason)
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


def _held_reason(session: Session, deadline: Deadline) -> str | None:
    """Why the mail of the deadline's last level is held."""
    return session.scalar(
        select(Outbox.last_error)
        .join(Chase, Chase.mail_id == Outbox.mail_id)
        .where(
            Chase.deadline_id == deadline.id,
            Chase.level == deadline.level,
            Outbox.state == brake.HELD,
        )
        .limit(1)
    )


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
        deadline_ids=(deadline.id,),
        incident_id=incident.id,
        clocks=((deadline.rule, level, deadline.due_at),),
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
            "held": f"level {p.level} held by {_holder(p.cap)}: the next level"
            " waits for `mailbot brake release`",
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
        if len({(rule, level) for rule, level, _ in p.clocks}) > 1:
            listed = ", ".join(
                f"{rule} level {level} due {iso(due)}" for rule, level, due in p.clocks
            )
            lines.append(f"    reminds of {listed}")
        if p.reason:
            lines.append(f"    held: {p.reason}")
    return "\n".join(lines)


def _holder(cap: str | None) -> str:
    if cap is None:
        return "the caps or the brake"
    return "the brake" if cap == "brake" else f"brake.{cap}"
