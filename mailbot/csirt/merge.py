"""Merging two incidents that turn out to be one.

The merged-away incident keeps its row (its tag still finds the thread)
and points at the one it went into; its tag becomes an alias there. Mails,
field values, clocks, sites, aliases and the audit trail move, so later mail
under either tag lands in one incident. Clocks keep their site: each site
still owes its own. A closed incident (or a false positive) takes none in:
nothing there is chased, so the clocks moved in would wait unseen.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mailbot import incidents, tlp
from mailbot.db.models import (
    CHASED_STATUSES,
    Alias,
    Audit,
    Deadline,
    FieldValue,
    Incident,
    IncidentSite,
    Mail,
)

log = logging.getLogger(__name__)


class MergeRefused(ValueError):
    """Raised when a merge cannot be done; the message says why."""


def merge(session: Session, source: Incident, tag: str) -> Incident:
    """Merge `source` into the incident named `tag`; returns that incident."""
    target = incidents.by_tag(session, tag)
    if target is None:
        raise MergeRefused(f"no incident is named {tag}")
    if target.id == source.id:
        raise MergeRefused(f"{tag} is this incident already")
    if target.status not in CHASED_STATUSES:
        # Its clocks are cancelled and nothing there is chased: the clocks
        # moved in would stay pending, unseen, for ever.
        raise MergeRefused(
            f"{target.tag} is {target.status.replace('_', ' ')}: nothing is chased"
            f" there; reopen it first (#reopen in a mail under [{target.tag}]),"
            f" then merge, or merge it into this one (#merge {source.tag} in a"
            f" mail under [{target.tag}])"
        )
    session.flush()
    _move_rows(session, source, target)
    _move_sites(session, source, target)
    _move_aliases(session, source, target)
    _combine_facts(source, target)
    source.merged_into_id = target.id
    session.flush()
    log.info("%s merged into %s", source.tag, target.tag)
    return target


def _move_rows(session: Session, source: Incident, target: Incident) -> None:
    session.execute(
        update(Mail)
        .where(Mail.incident_id == source.id)
        .values(incident_id=target.id, thread_reason="merge")
    )
    for model in (FieldValue, Deadline, Audit):
        session.execute(
            update(model)
            .where(model.incident_id == source.id)
            .values(incident_id=target.id)
        )


def _move_sites(session: Session, source: Incident, target: Incident) -> None:
    names = session.scalars(
        select(IncidentSite.site)
        .where(IncidentSite.incident_id == source.id)
        .order_by(IncidentSite.id)
    )
    for name in list(names):
        incidents.add_site(session, target, name)
    session.execute(delete(IncidentSite).where(IncidentSite.incident_id == source.id))


def _move_aliases(session: Session, source: Incident, target: Incident) -> None:
    held = set(
        session.scalars(select(Alias.alias).where(Alias.incident_id == target.id))
    )
    for alias in list(
        session.scalars(select(Alias).where(Alias.incident_id == source.id))
    ):
        if alias.alias in held:
            session.delete(alias)
        else:
            alias.incident_id = target.id
            held.add(alias.alias)
    if source.tag not in held:
        session.add(Alias(alias=source.tag, kind="merge", incident_id=target.id))


def _combine_facts(source: Incident, target: Incident) -> None:
    for fact in ("discovered_at", "isolated_at", "resolved_at"):
        mine, theirs = getattr(source, fact), getattr(target, fact)
        if mine is not None and (theirs is None or mine < theirs):
            setattr(target, fact, mine)
    if source.tlp_locked and not target.tlp_locked:
        target.tlp, target.tlp_locked = source.tlp, True
    elif not target.tlp_locked:
        target.tlp = tlp.strictest([source.tlp, target.tlp]) or target.tlp
    if target.site is None and source.site is not None:
        target.site, target.ngi = source.site, source.ngi
