"""Merging two incidents that turn out to be one.

The merged-away incident keeps its row (its tag still finds the thread)
and points at the one it went into; its tag becomes an alias there. Mails,
field values, clocks, sites, aliases and the audit trail move, so later mail
under either tag lands in one incident. Clocks keep their site: each site
still owes its own, from its own facts (a discovery or an isolation of
another site's incident is not taken over). A closed incident (or a false
positive) takes none in: nothing there is chased, so the clocks moved in
would wait unseen. The
surviving incident's lifecycle applies to what comes in: a resolved
incident merged into an open one is resolved no more (its closure-report
clocks are cancelled, its resolution is not taken over), and a site merged
into a resolved one owes the closure report from that resolution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

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


def merge(
    session: Session, source: Incident, tag: str, on_resolved: Iterable[str] = ()
) -> tuple[Incident, int]:
    """Merge `source` into the incident named `tag`; returns that incident
    and how many of `source`'s closure-report clocks (the rules starting on
    resolution, `on_resolved`) the merge cancelled."""
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
    cancelled = 0
    if target.status == "open" and source.resolved_at is not None:
        cancelled = _cancel_resolution(session, source, list(on_resolved))
    _move_rows(session, source, target)
    _move_sites(session, source, target)
    _move_aliases(session, source, target)
    _combine_facts(source, target)
    source.merged_into_id = target.id
    session.flush()
    log.info("%s merged into %s", source.tag, target.tag)
    return target, cancelled


def _cancel_resolution(session: Session, source: Incident, rules: list[str]) -> int:
    """A resolved incident merged into an open one is resolved no more: the
    open incident's lifecycle applies, and its resolution, when it comes,
    owes every site's closure report. The closure-report clocks `source`'s
    resolution started are cancelled unmet (a report received stays met),
    as a reopening withdraws them (csirt.actions._withdraw_resolution)."""
    rows = list(
        session.scalars(
            select(Deadline).where(
                Deadline.incident_id == source.id,
                Deadline.rule.in_(rules),
                Deadline.met_at.is_(None),
                Deadline.state.in_(("pending", "missed")),
            )
        )
    )
    for deadline in rows:
        deadline.state, deadline.next_action_at = "cancelled", None
    if rows:
        log.info(
            "%s: its resolution yields to the open incident it is merged into:"
            " %d closure-report clock(s) cancelled",
            source.tag,
            len(rows),
        )
    return len(rows)


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
    # An open incident takes no resolution from the one merged into it: it
    # is not resolved until a member says so (#resolved).
    # Discovery and isolation are the incident's own site's: another site's
    # stay with its mails (fields.site_facts), its clocks keep its times.
    same_site = target.site is None or source.site in (None, target.site)
    facts = ["discovered_at", "isolated_at"] if same_site else []
    if target.status != "open":
        facts.append("resolved_at")
    for fact in facts:
        mine, theirs = getattr(source, fact), getattr(target, fact)
        if mine is not None and (theirs is None or mine < theirs):
            setattr(target, fact, mine)
    if source.tlp_locked and not target.tlp_locked:
        target.tlp, target.tlp_locked = source.tlp, True
    elif not target.tlp_locked:
        target.tlp = tlp.strictest([source.tlp, target.tlp]) or target.tlp
    if target.site is None and source.site is not None:
        target.site, target.ngi = source.site, source.ngi
