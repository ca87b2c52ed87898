"""Whose a mail is in its thread: for which site its author writes there.

The sites file says who an address is (roles.py); the thread can say more.
A contact several sites share writes for the one taking part; an NGI's
security officer answers for its site; a site's old contact stays the
site's in an incident it wrote in; a member who is a site's contact speaks
for that site as well, unless the mail asks other sites only.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import incidents, roles, tags
from mailbot.app import App
from mailbot.db.models import Incident, Mail
from mailbot.mail import ParsedMail
from mailbot.sites import Site

log = logging.getLogger(__name__)


def shared_in_thread(
    app: App,
    session: Session,
    parsed: ParsedMail,
    author: roles.Author,
    site: Site | None,
) -> tuple[roles.Author, Site | None]:
    """A contact several sites share writes, in a thread, for the one of
    them that takes part in the thread's incident: a follow-up naming no
    site (or another of them in passing) stays in its incident."""
    found = None
    ids = [*parsed.in_reply_to, *parsed.references]
    if ids:
        found = incidents.by_message_ids(session, ids)
    if found is None:
        found_tags = tags.find_tags(parsed.subject, app.settings.mailbot.tag_prefix)
        named = (*found_tags.full, *found_tags.cut, *found_tags.loose)
        found = next(
            (i for i in map(partial(incidents.by_tag, session), named) if i), None
        )
    if found is None:
        return author, site
    taking_part = set(incidents.site_names(session, found))
    if author.site is not None and author.site.name in taking_part:
        return author, site
    chosen = next((s for s in author.shared if s.name in taking_part), None)
    if chosen is None:
        return author, site
    return dataclasses.replace(author, site=chosen), chosen


def ngi_site(
    app: App, session: Session, incident: Incident, parsed: ParsedMail,
    author: roles.Author,
) -> Site | None:  # fmt: skip
    """The site taking part in `incident` whose NGI security officer wrote
    the mail, if any: the escalation copies the NGI so that it gets the
    site to answer, and its answer in the thread is the site's (it meets
    the site's clocks and gives its facts), not a third party's."""
    taking_part = incidents.site_names(session, incident)
    own = roles.ngi_site(author, taking_part, parsed, app.sites)
    if own is not None:
        log.info(
            "%s: the NGI security officer %s writes for %s",
            incident.tag, parsed.from_.addr if parsed.from_ else "", own.name,
        )  # fmt: skip
    return own


def still_the_sites(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    author: roles.Author,
    site: Site | None,
) -> tuple[roles.Author, Site | None]:
    """A sender who wrote in `incident` for a site stays that site's there,
    though the sites file no longer names the address (the site changed
    its contact mid-incident): its answer meets what it was asked."""
    sender = parsed.from_.addr if parsed.from_ else ""
    if author.role != "reporter" or author.flags or not sender:
        return author, site
    earlier = session.scalars(
        select(Mail.site)
        .where(
            Mail.incident_id == incident.id,
            Mail.from_addr == sender,
            Mail.direction == "in",
            Mail.role == "site",
            Mail.site.is_not(None),
        )
        .order_by(Mail.id.desc())
        .limit(1)
    ).first()
    known = app.sites.site(earlier)
    if known is None:
        return author, site
    log.info(
        "%s: %s wrote here for %s before; the sites file no longer names it,"
        " its mail is still the site's in this incident",
        incident.tag, sender, known.name,
    )  # fmt: skip
    return roles.Author("site", site=known), known


def member_for_own_site(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    reason: str,
    author: roles.Author,
    site: Site | None,
) -> tuple[roles.Author, Site | None]:
    """A member who is a security contact of a site taking part in
    `incident` speaks for that site as well: the mail meets and gives its
    facts (its commands still act as a member's). A mail that opens an
    incident does so for the member's site when it names it. A mail
    addressed to other sites (To), taking part or not yet, and not to the
    mailbox, a member or the member's own site, is the member's question to
    them: it is no answer of the member's site."""
    if reason == "new":
        taking_part = {site.name} if site else set()
    else:
        taking_part = set(incidents.site_names(session, incident))
    own = next((s for s in author.contact_of if s.name in taking_part), None)
    if own is None:
        return author, site
    # A site the mail is addressed to is asked, taking part or not yet
    # (it joins the incident: record._update_incident).
    others = [s for s in app.sites.sites if s.name != own.name]
    if _to_other_sites_only(app, parsed, own, others):
        log.info(
            "%s: the member writes to other sites only: a member's mail, not %s's",
            incident.tag, own.name,
        )  # fmt: skip
        return author, site
    log.info(
        "%s: the member writes for %s as well (one of its security contacts)",
        incident.tag, own.name,
    )  # fmt: skip
    flags = (*author.flags, roles.FOR_SITE)
    return dataclasses.replace(author, site=own, flags=flags), own


def _to_other_sites_only(
    app: App, parsed: ParsedMail, own: Site, others: list[Site]
) -> bool:
    """Whether the mail's To names another site's contacts (or domain) and
    none of the mailbox, a member or the member's own site (its sender
    aside)."""
    sender = parsed.from_.addr.lower() if parsed.from_ else ""
    to = [a.addr.lower() for a in parsed.to if a.addr and a.addr.lower() != sender]

    settings = app.settings
    ours = {*settings.own_addresses, *settings.csirt.members}
    if any(a in ours or roles.addresses_site(own, a) for a in to):
        return False
    return any(roles.addresses_site(s, a) for s in others for a in to)
