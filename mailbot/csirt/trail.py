"""The incident's audit trail: who did what, when, through which mail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.db.models import Audit


def note(
    session: Session,
    incident_id: int,
    *,
    actor: str,
    action: str,
    detail: str,
    mail_id: int | None,
    at: dt.datetime,
) -> Audit:
    entry = Audit(
        incident_id=incident_id,
        at=at,
        actor=actor,
        action=action,
        detail=detail[:2000],
        mail_id=mail_id,
    )
    session.add(entry)
    session.flush()
    return entry


def seen(session: Session, incident_ids: list[int], action: str, actor: str) -> bool:
    """Whether the trail already holds `action` by (or about) `actor`."""
    found = session.scalars(
        select(Audit.id).where(
            Audit.incident_id.in_(incident_ids),
            Audit.action == action,
            Audit.actor == actor,
        )
    ).first()
    return found is not None


def operator() -> str:
    """Who a command run by hand is recorded as: the system user running it."""
    import getpass
    import os

    try:
        return f"operator {getpass.getuser()}"
    except (KeyError, OSError):
        return f"operator uid {os.getuid()}"
