"""What `incidents`, `show`, `status` and `quarantine` print, as plain data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from mailbot import extract, fields, incidents
from mailbot.app import App
from mailbot.clock import iso
from mailbot.db.models import (
    NOT_SENT,
    Alias,
    Audit,
    Chase,
    Deadline,
    Incident,
    Mail,
    Outbox,
)


def _family(session: Session, incident: Incident) -> list[int]:
    """The incident and every incident merged into it."""
    ids = [incident.id]
    frontier = [incident.id]
    while frontier:
        merged = list(
            session.scalars(
                select(Incident.id).where(Incident.merged_into_id.in_(frontier))
            )
        )
        merged = [i for i in merged if i not in ids]
        ids.extend(merged)
        frontier = merged
    return ids


def incident_list(app: App, *, all_: bool = False) -> list[dict[str, Any]]:
    with app.db.transaction() as session:
        query = select(Incident).where(Incident.merged_into_id.is_(None))
        if not all_:
            query = query.where(Incident.status == "open")
        rows = list(session.scalars(query.order_by(Incident.opened_at, Incident.id)))
        return [_summary(session, incident) for incident in rows]


def _summary(session: Session, incident: Incident) -> dict[str, Any]:
    next_due = session.scalar(
        select(func.min(Deadline.due_at)).where(
            Deadline.incident_id.in_(_family(session, incident)),
            Deadline.state == "pending",
        )
    )
    return {
        "tag": incident.tag,
        "site": incident.site,
        "status": incident.status,
        "tlp": incident.tlp,
        "opened_at": iso(incident.opened_at),
        "next_due_at": iso(next_due),
        "subject": incident.subject,
    }


def show(app: App, tag: str) -> dict[str, Any] | None:
    with app.db.transaction() as session:
        incident = incidents.named(session, tag, app.settings.mailbot.tag_prefix)
        if incident is None:
            return None
        family = _family(session, incident)
        values = fields.fields_of(session, family)
        return {
            "tag": incident.tag,
            "aliases": _aliases(session, incident, family),
            "site": incident.site,
            "sites": _sites(session, family),
            "ngi": incident.ngi,
            "status": incident.status,
            "tlp": incident.tlp,
            "subject": incident.subject,
            "opened_at": iso(incident.opened_at),
            "discovered_at": iso(incident.discovered_at),
            "isolated_at": iso(incident.isolated_at),
            "resolved_at": iso(incident.resolved_at),
            "messages": _messages(session, family),
            "fields": values,
            "missing": extract.missing(values),
            "provenance": fields.provenance(session, family),
            "deadlines": _deadlines(session, family),
            "audit": _audit(session, family),
        }


def _aliases(session: Session, incident: Incident, family: list[int]) -> list[str]:
    names = list(
        session.scalars(
            select(Alias.alias).where(Alias.incident_id.in_(family)).order_by(Alias.id)
        )
    )
    names += [
        t
        for t in session.scalars(select(Incident.tag).where(Incident.id.in_(family)))
        if t != incident.tag
    ]
    return list(dict.fromkeys(names))


def _sites(session: Session, family: list[int]) -> list[str]:
    from mailbot.db.models import IncidentSite

    return list(
        dict.fromkeys(
            session.scalars(
                select(IncidentSite.site)
                .where(IncidentSite.incident_id.in_(family))
                .order_by(IncidentSite.id)
            )
        )
    )


def _messages(session: Session, family: list[int]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Mail, Outbox.state, Outbox.last_error)
        # Up to megabytes a mail, and not shown.
        .options(defer(Mail.raw))
        .outerjoin(Outbox, Outbox.mail_id == Mail.id)
        .where(Mail.incident_id.in_(family))
        .order_by(func.coalesce(Mail.event_at, Mail.arrived_at), Mail.id)
    )
    return [_message(mail, delivery, note) for mail, delivery, note in rows]


def _message(mail: Mail, delivery: str | None, note: str | None) -> dict[str, Any]:
    """One mail as `show` lists it; an outgoing one with its outbox state,
    so that a mail withdrawn, held or failed never reads as one received."""
    return {
        # What log lines call "mail N" and `quarantine retry` takes.
        "id": mail.id,
        "message_id": mail.message_id,
        "from": mail.from_addr,
        "to": list(mail.recipients or []),
        "subject": mail.subject,
        "date": iso(mail.event_at or mail.arrived_at),
        "role": mail.role,
        "direction": mail.direction,
        "thread_reason": mail.thread_reason,
        "tlp": mail.tlp,
        "flags": list(mail.flags or []),
        "state": mail.state,
        "delivery": delivery,
        "delivery_note": note if delivery != "sent" else None,
        "attachments": list(mail.attachments or []),
        "defects": list(mail.defects or []),
    }


def _deadlines(session: Session, family: list[int]) -> list[dict[str, Any]]:
    rows = list(
        session.scalars(
            select(Deadline)
            .where(Deadline.incident_id.in_(family))
            .order_by(Deadline.started_at, Deadline.id)
        )
    )
    chases: dict[int, list[str | None]] = {}
    # A level that reached no one (no reachable recipient, its mail failed
    # for good, or the caps or the brake hold it: sent to no one yet) is not
    # among the times reminders were sent (`messages` marks its mail).
    for chase in session.scalars(
        select(Chase)
        .join(Outbox, Outbox.mail_id == Chase.mail_id)
        .where(
            Chase.deadline_id.in_([d.id for d in rows]),
            Outbox.state.not_in(NOT_SENT),
        )
        .order_by(Chase.level)
    ):
        chases.setdefault(chase.deadline_id, []).append(iso(chase.queued_at))
    return [
        {
            "rule": d.rule,
            "site": d.site,
            "started_at": iso(d.started_at),
            "due_at": iso(d.due_at),
            "state": d.state,
            "met_at": iso(d.met_at),
            "chases": chases.get(d.id, []),
        }
        for d in rows
    ]


def _audit(session: Session, family: list[int]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Audit, Mail.message_id)
        .outerjoin(Mail, Mail.id == Audit.mail_id)
        .where(Audit.incident_id.in_(family))
        .order_by(Audit.at, Audit.id)
    )
    return [
        {
            "at": iso(a.at),
            "actor": a.actor,
            "action": a.action,
            "detail": a.detail,
            "message_id": message_id,
        }
        for a, message_id in rows
    ]


def status(app: App, last_poll: dt.datetime | None) -> dict[str, Any]:
    """Health and counts; `healthy` is false when something needs a person."""
    from mailbot import health

    return health.status(app, last_poll)


def quarantine_list(app: App) -> list[dict[str, Any]]:
    with app.db.transaction() as session:
        rows = session.scalars(
            select(Mail).where(Mail.state == "quarantined").order_by(Mail.id)
        )
        return [
            {
                "id": m.id,
                "origin": m.origin,
                "message_id": m.message_id,
                "subject": m.subject,
                "from": m.from_addr,
                "arrived_at": iso(m.arrived_at),
                "stage": m.stage,
                "reason": m.error,
                "attempts": m.attempts,
                "size": m.size,
            }
            for m in rows
        ]
