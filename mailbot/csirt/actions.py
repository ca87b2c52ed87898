"""What each command does to the incident; each returns what to confirm.

A command that cannot be applied raises `Refused` with a sentence saying
why; the member gets it in the error reply. Runs in the mail's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import incidents
from mailbot.app import App
from mailbot.clock import as_utc, iso
from mailbot.csirt import merge as merging
from mailbot.csirt import notify as notifying
from mailbot.csirt.commands import Command
from mailbot.db.models import Deadline, Incident, IncidentSite, Mail
from mailbot.deadlines import answers, clocks, reopen

ENDED = ("closed", "false_positive")


class Refused(ValueError):
    """Raised when a well-formed command cannot be applied; says why."""


@dataclass
class Context:
    app: App
    session: Session
    incident: Incident  # replaced by the target when #merge applies
    mail: Mail
    member: str

    @property
    def mail_time(self) -> dt.datetime:
        return self.mail.event_at or self.mail.arrived_at


def _site(ctx: Context, command: Command) -> str:
    site = ctx.app.sites.site(command.argument)
    if site is None:
        known = ", ".join(s.name for s in ctx.app.sites.sites[:20]) or "none"
        raise Refused(
            f"{command.argument!r} is no site of the sites file (known: {known})"
        )
    incident, old = ctx.incident, ctx.incident.site
    incident.site, incident.ngi = site.name, site.ngi
    incidents.add_site(ctx.session, incident, site.name)
    moved = cancelled = 0
    if old is not None and old != site.name:
        moved, cancelled = _move_clocks(ctx, old, site.name)
    for event, when in _facts(incident):
        _start(ctx, event, when)
    requests = (
        f"; {cancelled} request clock(s) of {old} cancelled (a request is owed"
        f" by the site asked: write to {site.name}'s contacts to ask it)"
        if cancelled
        else ""
    )
    if old == site.name:
        return (
            f"site is already {site.name} (NGI {site.ngi or 'unknown'}); nothing moved"
        )
    # respond.subject_unshared reads "clock(s) moved from OLD" in the trail.
    return (
        f"site is now {site.name} (NGI {site.ngi or 'unknown'});"
        f" {moved} pending clock(s) moved from {old or 'no site'}{requests}"
    )


def _move_clocks(ctx: Context, old: str, new: str) -> tuple[int, int]:
    """The old site leaves the incident; what it owed is settled.

    A request clock is the site's that was asked: the old site's still owed
    ones are cancelled (it no longer takes part), none moves to the new
    site, which was asked nothing (a member's mail to it starts its own).
    The procedure's clocks are the incident's: one never chased becomes the
    new site's, on its calendar; one chased already (missed, or moved on
    by #extend) is cancelled for the old site, and the new site's starts
    afresh at the same start time, chased from the first reminder, never
    from the level the old site reached (clocks.rechase). A clock the new
    site owes already (it took part) is not duplicated. Returns how many
    clocks the new site took over, and how many request clocks of the old
    site were cancelled.
    """
    rules = {r.name: r for r in ctx.app.rules}
    rows = list(
        ctx.session.scalars(
            select(Deadline)
            .where(
                Deadline.incident_id == ctx.incident.id,
                Deadline.site.in_((old, new)),
            )
            .order_by(Deadline.id)
        )
    )
    owned = {d.rule for d in rows if d.site == new}
    count = cancelled = 0
    for deadline in rows:
        if deadline.site != old or deadline.met_at is not None:
            continue
        if deadline.state not in ("pending", "missed"):
            continue
        rule = rules.get(deadline.rule)
        if rule is None or rule.starts_on == "request" or deadline.rule in owned:
            cancelled += rule is not None and rule.starts_on == "request"
            _no_longer_owed(deadline)
            continue
        owned.add(deadline.rule)
        count += 1
        # The reminders went to the old site: the new one is chased from
        # the first level (a chased clock is cancelled, a fresh one owed).
        due = rule.due_at(deadline.started_at, ctx.app.calendar(new))
        moved = clocks.rechase(ctx.session, deadline, deadline.started_at, due, new)
        clocks.seen_late(ctx.app, moved, ctx.mail.arrived_at)
    row = ctx.session.scalars(
        select(IncidentSite).where(
            IncidentSite.incident_id == ctx.incident.id, IncidentSite.site == old
        )
    ).first()
    if row is not None:
        ctx.session.delete(row)
    return count, cancelled


def _no_longer_owed(deadline: Deadline) -> None:
    """A clock its site no longer owes: cancelled, or a miss no longer chased."""
    if deadline.state == "pending":
        deadline.state = "cancelled"
    deadline.next_action_at = None


def _facts(incident: Incident) -> list[tuple[str, dt.datetime]]:
    pairs = [
        ("discovered", incident.discovered_at),
        ("isolated", incident.isolated_at),
        ("resolved", incident.resolved_at),
    ]
    return [(event, when) for event, when in pairs if when is not None]


def _start(ctx: Context, event: str, when: dt.datetime) -> int:
    """Start `event`'s clocks for every site; an ended incident starts none."""
    if ctx.incident.status in ENDED:
        return 0
    started = 0
    for site in incidents.site_names(ctx.session, ctx.incident):
        started += len(
            clocks.start(
                ctx.app, ctx.session, ctx.incident, event, site, when, ctx.mail.id
            )
        )
    return started


def _retime(ctx: Context, event: str, when: dt.datetime) -> int:
    """Clocks already started on `event` move to the stated time."""
    rules = {r.name: r for r in ctx.app.rules if r.starts_on == event}
    rows = ctx.session.scalars(
        select(Deadline).where(
            Deadline.incident_id == ctx.incident.id,
            Deadline.rule.in_(list(rules)),
            Deadline.state.in_(("pending", "met", "missed")),
        )
    )
    count = 0
    for deadline in list(rows):
        due = rules[deadline.rule].due_at(when, ctx.app.calendar(deadline.site))
        if deadline.met_at is not None:
            deadline.started_at, deadline.due_at = when, due
            deadline.state = "met" if deadline.met_at <= deadline.due_at else "missed"
        else:
            # Moved later, a clock already chased starts its chase afresh:
            # the site is reminded for the real due time before anyone is
            # told it stayed silent.
            moved = clocks.rechase(ctx.session, deadline, when, due)
            # Moved long past due by a mail of now, the miss is chased.
            clocks.seen_late(ctx.app, moved, ctx.mail.arrived_at)
        count += 1
    return count


# An event stated later than the member's own mail by more than this is a
# typo (a year, a month), not news from the future.
_FUTURE_SLACK = dt.timedelta(minutes=15)


# An event stated this long before the incident opened is a typo too (a
# year: `#resolved 1800-01-01`, which made the closure report "overdue by
# 82,851 days").
_PAST_SLACK = dt.timedelta(days=365)


def _past(ctx: Context, when: dt.datetime) -> dt.datetime:
    if when > ctx.mail_time + _FUTURE_SLACK:
        raise Refused(
            f"{iso(when)} is after this mail ({iso(ctx.mail_time)}): an event "
            "is recorded once it happened; check the date"
        )
    opened = ctx.incident.opened_at
    if opened is not None and when < as_utc(opened) - _PAST_SLACK:
        raise Refused(
            f"{iso(when)} is more than a year before the incident opened "
            f"({iso(opened)}); check the date"
        )
    return when


def _discovered(ctx: Context, command: Command) -> str:
    assert command.when is not None
    _past(ctx, command.when)
    ctx.incident.discovered_at = command.when
    moved = _retime(ctx, "discovered", command.when)
    started = _start(ctx, "discovered", command.when)
    when = iso(command.when)
    return f"discovered at {when}; {started} clock(s) started, {moved} re-timed"


def _isolated(ctx: Context, command: Command) -> str:
    assert command.when is not None
    _past(ctx, command.when)
    ctx.incident.isolated_at = command.when
    moved = _retime(ctx, "isolated", command.when)
    started = _start(ctx, "isolated", command.when)
    met = 0
    for site in incidents.site_names(ctx.session, ctx.incident):
        met += clocks.meet(
            ctx.app, ctx.session, ctx.incident, "containment", site, command.when
        )
    return (
        f"isolated at {iso(command.when)}; {started} clock(s) started,"
        f" {moved} re-timed,"
        f" {met} containment clock(s) met"
    )


def _resolved(ctx: Context, command: Command) -> str:
    when = _past(ctx, command.when or ctx.mail_time)
    ctx.incident.resolved_at = when
    if ctx.incident.status == "open":
        ctx.incident.status = "resolved"
    moved = _retime(ctx, "resolved", when)
    started = _start(ctx, "resolved", when)
    return (
        f"resolved at {iso(when)}; {started} closure-report clock(s) started,"
        f" {moved} re-timed; status {ctx.incident.status}"
    )


def _end(status: str) -> Callable[[Context, Command], str]:
    def apply(ctx: Context, command: Command) -> str:
        if ctx.incident.status == status:
            # As #reopen of an open incident: a "Done" would let the member
            # believe the incident had been open until now.
            raise Refused(
                f"{ctx.incident.tag} is already {_STATUS_WORDS[status]}:"
                " nothing changed"
            )
        ctx.incident.status = status
        pending = _count_pending(ctx)
        clocks.cancel_pending(ctx.session, [ctx.incident.id])
        return f"status {status}; {pending} pending clock(s) cancelled"

    return apply


_STATUS_WORDS = {"closed": "closed", "false_positive": "a false positive"}


def _count_pending(ctx: Context) -> int:
    return len(
        list(
            ctx.session.scalars(
                select(Deadline.id).where(
                    Deadline.incident_id == ctx.incident.id, Deadline.state == "pending"
                )
            )
        )
    )


def _reopen(ctx: Context, command: Command) -> str:
    before = ctx.incident.status
    if before == "open":
        # Nothing to reopen: a "Done" would let the member believe an
        # incident had been ended and was open again.
        raise Refused(
            f"{ctx.incident.tag} is already open: nothing changed"
            " (#reopen is for a resolved, closed or false-positive incident)"
        )
    ctx.incident.status = "open"
    unresolved = _withdraw_resolution(ctx)
    if before not in ENDED:
        return f"status open (was {before}){unresolved}"
    done = reopen.resume(ctx.app, ctx.session, ctx.incident, ctx.mail_time, ctx.mail.id)
    return (
        f"status open (was {before}); {done.started} clock(s) started again,"
        f" {done.chased} missed clock(s) chased again{unresolved}"
    )


def _withdraw_resolution(ctx: Context) -> str:
    """A reopened incident is not resolved: the resolution recorded is
    withdrawn, and with it the closure reports it called for: their clocks
    unmet are cancelled, and the next resolution starts them afresh. A
    closure report already sent stays met."""
    resolved = ctx.incident.resolved_at
    if resolved is None:
        return ""
    ctx.incident.resolved_at = None
    rules = [r.name for r in ctx.app.rules if r.starts_on == "resolved"]
    rows = list(
        ctx.session.scalars(
            select(Deadline).where(
                Deadline.incident_id == ctx.incident.id,
                Deadline.rule.in_(rules),
                Deadline.met_at.is_(None),
                Deadline.state.in_(("pending", "missed")),
            )
        )
    )
    for deadline in rows:
        deadline.state, deadline.next_action_at = "cancelled", None
    cancelled = f", {len(rows)} closure-report clock(s) cancelled" if rows else ""
    return (
        f"; the resolution of {iso(resolved)} withdrawn{cancelled}"
        " (#resolved records the next one)"
    )


def _tlp(ctx: Context, command: Command) -> str:
    before = ctx.incident.tlp
    if before == command.argument and ctx.incident.tlp_locked:
        raise Refused(
            f"{ctx.incident.tag} is already TLP:{before}, set by a member:"
            " nothing changed"
        )
    ctx.incident.tlp, ctx.incident.tlp_locked = command.argument, True
    return (
        f"TLP:{command.argument} (was TLP:{before});"
        " labels in later mails no longer change it"
    )


def _no_request(ctx: Context, command: Command) -> str:
    return "this mail asks the site for nothing: no analysis clock started"


def _extend(ctx: Context, command: Command) -> str:
    assert command.when is not None and command.rule is not None
    if command.rule not in {r.name for r in ctx.app.rules}:
        names = ", ".join(r.name for r in ctx.app.rules)
        raise Refused(f"{command.rule!r} is no rule (rules: {names})")
    if command.when <= ctx.mail_time:
        raise Refused(
            f"{iso(command.when)} is not after this mail's time {iso(ctx.mail_time)}"
        )
    rows = list(
        ctx.session.scalars(
            select(Deadline).where(
                Deadline.incident_id == ctx.incident.id,
                Deadline.rule == command.rule,
                Deadline.met_at.is_(None),
                Deadline.state.in_(("pending", "missed")),
            )
        )
    )
    if not rows:
        raise Refused(f"the incident has no open {command.rule} clock to move")
    for deadline in rows:
        deadline.due_at, deadline.state = command.when, "pending"
        deadline.next_action_at = command.when
    sites = ", ".join(sorted({d.site or "-" for d in rows}))
    return f"{len(rows)} {command.rule} clock(s) ({sites}) now due {iso(command.when)}"


def _answered(ctx: Context, command: Command) -> str:
    """The site answered the open request(s) another way: met at the time
    given, else this mail's; the site named, else the one asked."""
    when = _past(ctx, command.when or ctx.mail_time)
    sites = incidents.site_names(ctx.session, ctx.incident)
    if command.argument:
        site = _site_taking_part(ctx, command.argument, sites)
        asked = {site: answers.open_requests(ctx.app, ctx.session, ctx.incident, site)}
    else:
        asked = {
            s: answers.open_requests(ctx.app, ctx.session, ctx.incident, s)
            for s in sites
        }
    owing = {s: [d for d in owed if d.started_at <= when] for s, owed in asked.items()}
    owing = {s: owed for s, owed in owing.items() if owed}
    if not owing:
        later = any(asked.values())
        raise Refused(
            f"{' or '.join(asked) or 'no site'} owes no answer to a request asked"
            f" by {iso(when)}" + ("; the open ones were asked later" if later else "")
        )
    if len(owing) > 1:
        raise Refused(
            f"{len(owing)} sites were asked ({', '.join(owing)}): name the one"
            f" that answered, e.g. #answered {next(iter(owing))}"
        )
    [(site, _)] = owing.items()
    met = answers.answered_by_word(ctx.app, ctx.session, ctx.incident, site, when)
    late = sum(d.state == "missed" for d in met)
    return (
        f"{site} answered at {iso(when)} (on {ctx.member}'s word);"
        f" {len(met)} request clock(s) met" + (f", {late} late" if late else "")
    )


def _site_taking_part(ctx: Context, name: str, sites: list[str]) -> str:
    """The site of the incident that `name` names (any case)."""
    for site in sites:
        if site.casefold() == name.casefold():
            return site
    raise Refused(
        f"{name!r} takes no part in {ctx.incident.tag} (its sites:"
        f" {', '.join(sites) or 'none'})"
    )


def _merge(ctx: Context, command: Command) -> str:
    source = ctx.incident
    on_resolved = [r.name for r in ctx.app.rules if r.starts_on == "resolved"]
    try:
        ctx.incident, cancelled = merging.merge(
            ctx.session, source, command.argument, on_resolved
        )
    except merging.MergeRefused as exc:
        raise Refused(str(exc)) from None
    said = f"{source.tag} merged into {ctx.incident.tag}; {source.tag} is now an alias"
    if cancelled:
        said += (
            f"; {ctx.incident.tag} is open, so {source.tag}'s resolution no longer"
            f" stands: {cancelled} closure-report clock(s) cancelled (#resolved"
            f" records {ctx.incident.tag}'s)"
        )
    if ctx.incident.resolved_at is not None:
        # Resolved, the surviving incident owes every site's closure report,
        # the sites merged in too.
        clocks.start_resolved(
            ctx.app, ctx.session, ctx.incident, seen=ctx.mail.arrived_at
        )
    return said


def _notify(kind: str) -> Callable[[Context, Command], str]:
    def apply(ctx: Context, command: Command) -> str:
        try:
            return notifying.notify(
                ctx.app,
                ctx.session,
                ctx.incident,
                ctx.mail,
                kind,
                command.argument,
                ctx.member,
            )
        except notifying.NotifyRefused as exc:
            raise Refused(str(exc)) from None

    return apply


ACTIONS: dict[str, Callable[[Context, Command], str]] = {
    "site": _site,
    "merge": _merge,
    "tlp": _tlp,
    "discovered": _discovered,
    "isolated": _isolated,
    "resolved": _resolved,
    "false-positive": _end("false_positive"),
    "close": _end("closed"),
    "reopen": _reopen,
    "no-request": _no_request,
    "extend": _extend,
    "answered": _answered,
    "notify-vo": _notify("VO"),
    "notify-ca": _notify("CA"),
}
