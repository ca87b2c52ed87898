"""`mailbot status`: the counts, and whether mailbot needs a person.

Unhealthy (exit 1) is what mailbot itself cannot fix: no successful poll
for three poll intervals, an outbox that does not drain, a quarantine that
keeps growing, a deadline sweep that has stopped. What the sites owe
(missed deadlines) and contacts whose mail bounces are reported as
warnings: they need the CSIRT, not a restart. The container's health check
is `status --alive` (alive.py), the part a restart can help with.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, not_, select
from sqlalchemy.orm import Session

from mailbot import bounces, closed
from mailbot.alive import POLL_INTERVALS
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import (
    CHASED_STATUSES,
    ContactFailure,
    Deadline,
    Duplicate,
    Incident,
    IncidentSite,
    Mail,
    Outbox,
    PendingUid,
    ServiceState,
)
from mailbot.send.batch import DATA_REFUSED_KEY, LOGIN_REFUSED_KEY
from mailbot.service import IMAP_FAILS_FETCH_KEY, IMAP_LOGIN_REFUSED_KEY

log = logging.getLogger(__name__)

# Quarantined within a day, this many mails mean something systematic (a
# parser bug, a new kind of mail) rather than the odd broken message.
QUARANTINE_GROWING = 10
QUARANTINE_WINDOW = dt.timedelta(hours=24)
# The outbox and the sweep run every few poll intervals; give them that
# many, and never less than these, before calling them stuck.
OUTBOX_GRACE = dt.timedelta(minutes=30)
SWEEP_GRACE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Ages:
    """The instants the problems are judged by."""

    now: dt.datetime
    last_poll: dt.datetime | None
    oldest_pending: dt.datetime | None
    # When the next waiting mail may leave (a retry's, a site's morning).
    next_leaves: dt.datetime | None
    oldest_unswept: dt.datetime | None


def status(app: App, last_poll: dt.datetime | None) -> dict[str, Any]:
    """Health and counts; `healthy` is false when something needs a person."""
    now = app.clock.now()
    with app.db.transaction() as session:
        data = _counts(session, now)
        data.update(_bouncing(app, session))
        ages = Ages(
            now=now,
            last_poll=last_poll,
            oldest_pending=session.scalar(
                select(func.min(Outbox.queued_at)).where(
                    Outbox.state.in_(("pending", "sending")),
                    not_(Outbox.lease_lapsed(now)),
                )
            ),
            next_leaves=session.scalar(
                select(func.min(Outbox.next_try_at)).where(Outbox.state == "pending")
            ),
            oldest_unswept=session.scalar(
                select(func.min(Deadline.next_action_at)).where(
                    Deadline.next_action_at.is_not(None)
                )
            ),
        )
        for name, key in (
            ("smtp_login_refused", LOGIN_REFUSED_KEY),
            ("smtp_refuses_every_mail", DATA_REFUSED_KEY),
        ):
            row = session.get(ServiceState, key)
            data[name] = (
                {"since": iso(row.updated_at), "problem": row.value} if row else None
            )
        for name, key in (
            ("imap_login_refused", IMAP_LOGIN_REFUSED_KEY),
            ("imap_fails_every_fetch", IMAP_FAILS_FETCH_KEY),
        ):
            data[name] = _imap_problem(session, key, last_poll)
        data["sites_not_in_file"] = sites_not_in_file(session, app)
    data["last_poll_at"] = iso(last_poll)
    data["outbox_oldest_pending_at"] = iso(ages.oldest_pending)
    data["outbox_next_leaves_at"] = iso(ages.next_leaves)
    data["now"] = iso(now)
    data["problems"] = problems(app, data, ages)
    data["warnings"] = warnings(data)
    data["healthy"] = not data["problems"]
    return data


def sites_not_in_file(session: Session, app: App) -> list[dict[str, Any]]:
    """The sites of open (or resolved) incidents that the sites file no
    longer lists, each with those incidents' tags: their reminders reach
    none of the site's contacts, and nobody was told."""
    chased = (Incident.status.in_(CHASED_STATUSES), Incident.merged_into_id.is_(None))
    rows: list[tuple[str | None, str]] = [
        *session.execute(
            select(Incident.site, Incident.tag).where(
                Incident.site.is_not(None), *chased
            )
        ),
        *session.execute(
            select(IncidentSite.site, Incident.tag)
            .join(Incident, Incident.id == IncidentSite.incident_id)
            .where(*chased)
        ),
    ]
    return not_in_file(app, rows)


def not_in_file(
    app: App, rows: Iterable[tuple[str | None, str]]
) -> list[dict[str, Any]]:
    """Of (site, incident tag) pairs, the sites the sites file does not
    list, each with its tags, by name (status, and `mailbot report`)."""
    missing: dict[str, list[str]] = {}
    for site, tag in sorted(rows, key=lambda row: ((row[0] or "").lower(), row[1])):
        if site and app.sites.site(site) is None:
            tags = missing.setdefault(site, [])
            if tag not in tags:
                tags.append(tag)
    return [{"site": site, "incidents": tags} for site, tags in missing.items()]


def warn_sites_not_in_file(app: App) -> None:
    """Log, as `mailbot run` starts with its sites file, each site of an
    open incident that the file does not list (`status` says it too)."""
    with app.db.transaction() as session:
        missing = sites_not_in_file(session, app)
    for entry in missing:
        log.warning(
            "site %s is not in the sites file, but incident(s) %s of it are"
            " open: their reminders reach none of its contacts; put the site"
            " back in the sites file and restart mailbot, or close them",
            entry["site"],
            ", ".join(entry["incidents"]),
        )


def _imap_problem(
    session: Session, key: str, last_poll: dt.datetime | None
) -> dict[str, str | None] | None:
    """Since when, and how, the IMAP server has the problem kept under `key`
    (its login refused, every FETCH failed); None when a poll worked since."""
    row = session.get(ServiceState, key)
    if row is None or (last_poll is not None and last_poll >= row.updated_at):
        return None
    return {"since": iso(row.updated_at), "problem": row.value}


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(query) or 0)


def _counts(session: Session, now: dt.datetime) -> dict[str, Any]:
    count = lambda *where: _count(  # noqa: E731
        session, select(func.count()).select_from(Mail).where(*where)
    )
    outbox = dict(
        session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all()
    )
    # Counted as `outbox` lists them (Outbox.state_at): not still waiting.
    lapsed = _count(
        session,
        select(func.count()).select_from(Outbox).where(Outbox.lease_lapsed(now)),
    )
    return {
        "mails": count(Mail.direction == "in", Mail.state != "quarantined"),
        "duplicates": _count(session, select(func.count()).select_from(Duplicate)),
        "quarantined": count(Mail.state == "quarantined"),
        "quarantined_last_24h": count(
            Mail.state == "quarantined", Mail.processed_at > now - QUARANTINE_WINDOW
        ),
        "unattached": count(
            Mail.direction == "in",
            Mail.state == "processed",
            Mail.incident_id.is_(None),
        ),
        "incidents_open": _count(
            session,
            select(func.count())
            .select_from(Incident)
            .where(Incident.status == "open", Incident.merged_into_id.is_(None)),
        ),
        "outbox_pending": int(outbox.get("pending", 0))
        + int(outbox.get("sending", 0))
        - lapsed,
        "outbox_uncertain": int(outbox.get("uncertain", 0)) + lapsed,
        "outbox_failed": int(outbox.get("failed", 0)),
        "outbox_sent": int(outbox.get("sent", 0)),
        # Held by the caps or the brake (brake.py) until `mailbot brake release`.
        "outbox_held": int(outbox.get("held", 0)),
        # Not sent: their reason was gone when their turn came (withdraw.py).
        "outbox_withdrawn": int(outbox.get("withdrawn", 0)),
        "deadlines_overdue": _count(
            session,
            select(func.count())
            .select_from(Deadline)
            .join(Incident, Incident.id == Deadline.incident_id)
            .where(
                Deadline.state == "missed",
                Deadline.met_at.is_(None),
                # Resolved is chased too (the closure report is still owed).
                Incident.status.in_(CHASED_STATUSES),
            ),
        ),
        # Given up after [source] max_fetch_attempts (fetch/pending.py).
        "undelivered_uids": [
            f"{source} UID {uid}"
            for source, uid in session.execute(
                select(PendingUid.source, PendingUid.uid)
                .where(PendingUid.alerted.is_(True))
                .order_by(PendingUid.source, PendingUid.uid)
            )
        ],
        # Closed incidents in whose thread a site reported anew (closed.py).
        "reports_after_close": closed.waiting(session),
    }


def _bouncing(app: App, session: Session) -> dict[str, Any]:
    """The addresses marked as failing for good: the contacts, and
    mailbot's own (each with the setting that names it); `bounce_advice`
    says what to do about each, by who names it (bounces.advice): the
    sites file, the configuration, or neither."""
    contacts, own, said = [], [], {}
    for address in session.scalars(
        select(ContactFailure.address)
        .where(ContactFailure.permanent.is_(True))
        .order_by(ContactFailure.address)
    ):
        setting = bounces.ours(app.settings, address)
        if setting is None:
            contacts.append(address)
        else:
            own.append(f"{address} ({setting})")
        said[address] = bounces.advice(app, address)
    return {
        "bouncing_contacts": contacts,
        "own_addresses_refused": own,
        "bounce_advice": said,
    }


def problems(app: App, data: dict[str, Any], ages: Ages) -> list[str]:
    """What makes mailbot unhealthy, each saying what to look at."""
    found = []
    interval = dt.timedelta(seconds=app.settings.source.poll_interval)
    if ages.last_poll is None:
        found.append(
            "no successful poll yet: start `mailbot run` (or run `mailbot "
            "poll`); if it runs, check the mailbox server and the log"
        )
    elif ages.now - ages.last_poll > POLL_INTERVALS * interval:
        found.append(
            "no successful poll for three poll intervals (since "
            f"{iso(ages.last_poll)}): check the mailbox server and the log"
        )
    for key in ("imap_login_refused", "imap_fails_every_fetch", "smtp_login_refused"):
        refused = data.get(key)
        if refused:
            # No grace: nothing moves until a person mends the configuration
            # (a login) or the server (every FETCH failed).
            found.append(f"since {refused['since']}: {refused['problem']}")
    refusing = data.get("smtp_refuses_every_mail")
    if refusing and data["outbox_pending"]:
        # No grace either: the relay's answer is final until a person acts.
        found.append(f"since {refusing['since']}: {refusing['problem']}")
    grace = max(POLL_INTERVALS * interval, OUTBOX_GRACE)
    if ages.oldest_pending is not None and ages.now - ages.oldest_pending > grace:
        found.append(
            f"outbox stuck: {data['outbox_pending']} mail(s) waiting since "
            f"{iso(ages.oldest_pending)}: check the SMTP server and the log"
        )
    if data["outbox_held"]:
        found.append(
            f"{data['outbox_held']} automatic mail(s) held by the caps or the brake: "
            "`mailbot brake` lists them, `mailbot brake release` queues them"
        )
    if data["outbox_uncertain"]:
        found.append(
            f"{data['outbox_uncertain']} outgoing mail(s) of uncertain delivery: "
            "check whether they arrived, then `mailbot outbox settle ID arrived` "
            "or `resend`"
        )
    if data["quarantined_last_24h"] >= QUARANTINE_GROWING:
        found.append(
            f"quarantine growing: {data['quarantined_last_24h']} mails set aside "
            "in 24 hours: `mailbot quarantine` shows why"
        )
    sweep_grace = max(POLL_INTERVALS * interval, SWEEP_GRACE)
    if ages.oldest_unswept is not None and ages.now - ages.oldest_unswept > sweep_grace:
        found.append(
            f"deadline sweep behind: work due since {iso(ages.oldest_unswept)} "
            "not done: is `mailbot run` (or `mailbot sweep`) running?"
        )
    return found


def warnings(data: dict[str, Any]) -> list[str]:
    """What needs the CSIRT's attention but not a restart."""
    found = []
    if data["deadlines_overdue"]:
        found.append(f"{data['deadlines_overdue']} deadline(s) missed and unanswered")
    found += _bounce_warnings(data)
    if data["reports_after_close"]:
        found.append(
            "a site reported anew in closed incident(s): "
            + ", ".join(data["reports_after_close"][:10])
            + " (`mailbot show TAG`; #reopen in a member's mail reopens one)"
        )
    if data["sites_not_in_file"]:
        found.append(
            "open incident(s) of sites the sites file no longer lists, whose"
            " reminders reach none of the site's contacts: "
            + "; ".join(
                f"{entry['site']} ({', '.join(entry['incidents'][:5])})"
                for entry in data["sites_not_in_file"][:10]
            )
            + " (put the site back in the sites file and restart mailbot, or"
            " close the incident)"
        )
    if data["quarantined"]:
        found.append(f"{data['quarantined']} mail(s) in quarantine")
    if data["undelivered_uids"]:
        found.append(
            "the mailbox server would not deliver these mails, no longer"
            " fetched: "
            + ", ".join(data["undelivered_uids"][:10])
            + " (look at them on the server; the log says what to do)"
        )
    if data["outbox_failed"]:
        found.append(
            f"{data['outbox_failed']} outgoing mail(s) failed for good"
            " (`mailbot outbox` lists them: `mailbot outbox retry ID` once the"
            " cause is fixed, or `mailbot outbox drop ID`)"
        )
    return found


def _bounce_warnings(data: dict[str, Any]) -> list[str]:
    """One warning for the contacts, one for mailbot's own addresses, each
    split by what to do about them (the sites file, the configuration)."""
    found = []
    own = {entry.split(" ", 1)[0]: entry for entry in data["own_addresses_refused"]}
    for addresses, what in (
        (data["bouncing_contacts"], "mail to these contacts bounces"),
        (list(own), "mail to mailbot's own addresses is refused for good"),
    ):
        groups: dict[str, list[str]] = {}
        for address in addresses:
            advice = data["bounce_advice"][address]
            groups.setdefault(advice, []).append(own.get(address, address))
        found += [
            f"{what}: {', '.join(named)} ({advice}; `mailbot bounces clear"
            " ADDRESS` once one works again)"
            for advice, named in groups.items()
        ]
    return found


def status_text(data: dict[str, Any]) -> str:
    """`mailbot status` for a person: the verdict first, then the counts."""
    verdict = "healthy" if data["healthy"] else "UNHEALTHY"
    lines = [f"mailbot is {verdict} (at {data['now']})"]
    lines += [f"  problem: {p}" for p in data["problems"]]
    lines += [f"  warning: {w}" for w in data["warnings"]]
    rows = [
        ("last poll", data["last_poll_at"] or "never"),
        ("mails stored", data["mails"]),
        ("duplicates", data["duplicates"]),
        (
            "quarantined",
            f"{data['quarantined']} ({data['quarantined_last_24h']} in 24 h)",
        ),
        ("unattached", data["unattached"]),
        ("open incidents", data["incidents_open"]),
        ("deadlines overdue", data["deadlines_overdue"]),
        (
            "outbox",
            f"{data['outbox_pending']} waiting"
            + _waiting(data)
            + f", {data['outbox_sent']} sent, {data['outbox_failed']} failed, "
            f"{data['outbox_uncertain']} uncertain, "
            f"{data['outbox_withdrawn']} withdrawn",
        ),
        ("bouncing contacts", len(data["bouncing_contacts"])),
    ]
    lines += [f"  {name + ':':<19}{value}" for name, value in rows]
    return "\n".join(lines)


def _waiting(data: dict[str, Any]) -> str:
    """Since when the outbox's mail waits, and when the next may leave when
    that is later (a retry's backoff, a site's working hours)."""
    if not data["outbox_pending"]:
        return ""
    since, leaves = data["outbox_oldest_pending_at"], data["outbox_next_leaves_at"]
    said = f" since {since}" if since and since <= data["now"] else ""
    if leaves and leaves > data["now"]:
        said += f", next leaves at {leaves}"
    return said
