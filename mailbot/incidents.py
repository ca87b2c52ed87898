"""Incidents in the database: finding them, opening them, naming them."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence

from sqlalchemy import Insert, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from mailbot import tags, thread, tlp
from mailbot.db.engine import add_written, connection_for, upsert_insert
from mailbot.db.models import (
    Alias,
    Incident,
    IncidentSite,
    Mail,
    MailCitation,
    TagCounter,
)

log = logging.getLogger(__name__)

# The states in which a date-only tag still finds an incident.
DATE_TAG_STATUSES = ("open", "resolved")


def resolve(incident: Incident, session: Session) -> Incident:
    """Follow merges to the incident that holds the thread now."""
    seen = {incident.id}
    while incident.merged_into_id is not None:
        target = session.get(Incident, incident.merged_into_id)
        if target is None or target.id in seen:
            break
        seen.add(target.id)
        incident = target
    return incident


# The threading look-ups run for most mails: built once, with their values
# bound at each run, so SQLAlchemy finds them in its compiled cache without
# building the statement and its cache key again (half their cost,
# bench/ingest.py). Still ORM statements: the incident found is loaded.
_BY_TAG = select(Incident).where(Incident.tag == bindparam("tag"))
_BY_ALIAS = (
    select(Incident)
    .join(Alias, Alias.incident_id == Incident.id)
    .where(Alias.alias == bindparam("tag"), Alias.kind != "date")
)
_BY_MESSAGE_IDS = (
    select(Incident)
    .join(Mail, Mail.incident_id == Incident.id)
    .where(Mail.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(Mail.id.desc())
    .limit(1)
)
_CITED_BY = (
    select(Incident)
    .join(Mail, Mail.incident_id == Incident.id)
    .join(MailCitation, MailCitation.mail_id == Mail.id)
    .where(MailCitation.ref_key == bindparam("key"))
    .order_by(Mail.id.desc())
    .limit(1)
)
# The incidents of a day: named by a tag of that day, or holding one as an
# alias (an adopted or merged-in tag, or the date-only tag it was opened by).
_OF_THE_DAY = select(Alias.incident_id).where(
    or_(Alias.alias == bindparam("tag"), Alias.alias.like(bindparam("day")))
)
_BY_DATE_TAG = (
    select(Incident)
    .join(IncidentSite, IncidentSite.incident_id == Incident.id)
    .where(IncidentSite.site == bindparam("site"))
    .where(Incident.merged_into_id.is_(None))
    .where(Incident.status.in_(DATE_TAG_STATUSES))
    .where(or_(Incident.tag.like(bindparam("day")), Incident.id.in_(_OF_THE_DAY)))
    # The site's own incident before one it was brought into, an open one
    # before a resolved one, then the first opened.
    .order_by(
        case((Incident.site == bindparam("site"), 0), else_=1),
        case((Incident.status == "open", 0), else_=1),
        Incident.id,
    )
)


def by_tag(session: Session, tag: str) -> Incident | None:
    """The incident named `tag`, directly or by a merged or adopted alias."""
    values = {"tag": tag.upper()}
    found = session.scalars(_BY_TAG, values).first()
    if found is None:
        found = session.scalars(_BY_ALIAS, values).first()
    return resolve(found, session) if found is not None else None


def named(session: Session, text: str, prefix: str) -> Incident | None:
    """The incident a person named on the command line (`show`, `render
    --incident`, `reextract`): its tag or any alias, with spaces around it,
    or a spelling that threading follows (a counter cut to one digit,
    other separators: tags.find_tags). A date-only tag names the first
    incident of that day's alias, as a full tag never does."""
    given = text.strip()
    found = by_tag(session, given) or _by_date_alias(session, given)
    if found is not None:
        return found
    spelled = tags.find_tags(given, prefix)
    full = (*spelled.full, *spelled.cut, *spelled.loose)
    for tag in full:
        found = by_tag(session, tag)
        if found is not None:
            return found
    for day in () if full else spelled.date_only:
        found = _by_date_alias(session, day)
        if found is not None:
            return found
    return None


def unknown(text: str) -> str:
    """What a command says when `named` finds no incident for `text`."""
    return f"no incident {text!r}: `mailbot incidents --all` lists them"


def _by_date_alias(session: Session, tag: str) -> Incident | None:
    found = session.scalars(
        select(Incident)
        .join(Alias, Alias.incident_id == Incident.id)
        .where(Alias.alias == tag.upper(), Alias.kind == "date")
        .order_by(Incident.id)
    ).first()
    return resolve(found, session) if found is not None else None


def by_message_ids(session: Session, ids: Sequence[str]) -> Incident | None:
    """The incident of the newest stored or sent mail named in `ids`."""
    found = session.scalars(_BY_MESSAGE_IDS, {"ids": list(ids)[-50:]}).first()
    return resolve(found, session) if found is not None else None


def citation_key(message_id: str) -> str:
    """The key a Message-ID is cited by in `mail_citation`."""
    return hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


def cited_by(session: Session, message_id: str) -> Incident | None:
    """The incident of the newest filed mail that cited `message_id` before
    a mail of that Message-ID was stored (record.keep_citations)."""
    found = session.scalars(_CITED_BY, {"key": citation_key(message_id)}).first()
    return resolve(found, session) if found is not None else None


def by_date_tag(session: Session, date_tag: str, site: str) -> Incident | None:
    """The incident of the date-only tag's day that `site` takes part in.

    Open or resolved (closed ones and false positives are over: a mail
    naming their day opens a new incident), merged ones counted as the
    incident they were merged into. With several, the first of: the site's
    own (its main site) before one it was brought into, open before
    resolved, the first opened.
    """
    tag = date_tag.upper()
    values = {"tag": tag, "day": f"{tag}-%", "site": site}
    found = session.scalars(_BY_DATE_TAG, values).first()
    return resolve(found, session) if found is not None else None


# How long after a site's report a new mail from the same address under
# the same subject, naming no incident, is that report's follow-up ("forgot
# to say ..."): sent before the acknowledgement with its tag could be read.
FOLLOW_UP_WINDOW = dt.timedelta(hours=2)

_FOLLOW_UP = (
    select(Incident)
    .join(Mail, Mail.incident_id == Incident.id)
    .where(Mail.direction == "in", Mail.thread_reason == "new")
    .where(func.lower(Mail.from_addr) == bindparam("sender"))
    .where(Mail.site == bindparam("site"))
    .where(Mail.arrived_at >= bindparam("since"), Mail.arrived_at <= bindparam("until"))
    .where(Incident.site == bindparam("site"), Incident.subject == bindparam("subject"))
    .where(Incident.status == "open", Incident.merged_into_id.is_(None))
    .order_by(Mail.arrived_at.desc(), Incident.id.desc())
)


def follow_up(
    session: Session, *, site: str, sender: str, subject: str, arrived_at: dt.datetime
) -> Incident | None:
    """The open incident that a mail from `sender` under `subject` (its
    incident_subject form) follows up: one `site`'s mail from the same
    address opened, under the same subject, at most FOLLOW_UP_WINDOW before
    (the latest, if several)."""
    if not subject or not sender:
        return None
    values = {
        "sender": sender.lower(),
        "site": site,
        "subject": subject,
        "since": arrived_at - FOLLOW_UP_WINDOW,
        "until": arrived_at,
    }
    return session.scalars(_FOLLOW_UP, values).first()


def lookups(session: Session) -> thread.Lookups:
    # The session holds loaded objects weakly: kept here, the incident
    # found is still loaded when the caller gets it by its id.
    found: list[Incident] = []

    def _id(incident: Incident | None) -> int | None:
        if incident is None:
            return None
        found.append(incident)
        return incident.id

    return thread.Lookups(
        incident_by_tag=lambda tag: _id(by_tag(session, tag)),
        incident_by_message_ids=lambda ids: _id(by_message_ids(session, ids)),
        incident_by_date_tag=lambda tag, site: _id(by_date_tag(session, tag, site)),
        sites_of=lambda incident_id: sites_of(session, incident_id),
        last_counter=lambda day: last_counter(session, day),
        going_on=lambda incident_id: _going_on(session, incident_id),
        wrote_in=lambda incident_id, sender: wrote_in(session, incident_id, sender),
    )


def last_counter(session: Session, day: str) -> int:
    """The last counter given on `day` ("EGI-20261207"), 0 for none."""
    found = session.scalar(select(TagCounter.last).where(TagCounter.day == day))
    return found or 0


def _going_on(session: Session, incident_id: int) -> bool:
    incident = session.get(Incident, incident_id)
    return incident is not None and incident.status in DATE_TAG_STATUSES


_WROTE_IN = (
    select(Mail.id)
    .where(Mail.incident_id == bindparam("incident"), Mail.direction == "in")
    .where(func.lower(Mail.from_addr) == bindparam("sender"))
    .limit(1)
)


def wrote_in(session: Session, incident_id: int, sender: str) -> bool:
    """Whether `sender` wrote a mail of the incident before (its reporter)."""
    values = {"incident": incident_id, "sender": sender.lower()}
    return session.scalars(_WROTE_IN, values).first() is not None


def _bump_counter(session: Session, day: str, at_least: int = 0) -> int:
    """Take the next counter of `day` atomically, even with two writers."""
    connection = session.connection()
    statement = _BUMPS.get(connection.dialect.name)
    if statement is None:
        statement = _BUMPS[connection.dialect.name] = _bump(connection.dialect.name)
    # Core: nothing the session holds is read or written here.
    values = {"stem": day, "first": max(1, at_least), "at_least": at_least}
    return int(connection.execute(statement, values).scalar_one())


def _bump(dialect: str) -> Insert:
    """The counter's upsert, built once per dialect (a new incident runs it)."""
    insert = upsert_insert(dialect)
    # SQLite's two-argument max() is PostgreSQL's greatest().
    larger = func.greatest if dialect == "postgresql" else func.max
    value = larger(TagCounter.last + 1, bindparam("at_least"))
    return (
        insert(TagCounter)
        .values(day=bindparam("stem"), last=bindparam("first"))
        .on_conflict_do_update(index_elements=["day"], set_={"last": value})
        .returning(TagCounter.last)
    )


_BUMPS: dict[str, Insert] = {}


def new_tag(session: Session, prefix: str, day: dt.date) -> str:
    stem = f"{prefix}-{day:%Y%m%d}"
    for _ in range(100):
        tag = f"{stem}-{_bump_counter(session, stem):02d}"
        # A tag adopted by hand may already hold this counter: skip it.
        if not _tag_taken(session, tag):
            return tag
    raise RuntimeError(f"{stem}: no free counter after 100 tries")


_TAG_TAKEN = (
    select(Incident.id)
    .where(Incident.tag == bindparam("tag"))
    .union_all(
        select(Alias.incident_id).where(
            Alias.alias == bindparam("tag"), Alias.kind != "date"
        )
    )
    .limit(1)
)


def _tag_taken(session: Session, tag: str) -> bool:
    """Whether an incident is named `tag`, directly or by an alias: one query."""
    connection = connection_for(session, Incident, Alias)
    return connection.execute(_TAG_TAKEN, {"tag": tag}).first() is not None


def open_incident(
    session: Session,
    *,
    prefix: str,
    day: dt.date,
    opened_at: dt.datetime,
    subject: str,
    site: str | None,
    ngi: str | None,
    tlp_label: str = tlp.DEFAULT,
    adopt_tag: str | None = None,
    date_tag: str | None = None,
    trusted: bool = True,
) -> Incident:
    """Open and name a new incident; an unknown full tag is adopted as its name.

    A tag adopted from a `trusted` sender (the site, the CSIRT) moves the
    day's counter past it: the tags below it were given by hand, and their
    mails may come. Anyone else's only names the incident, so that an
    outsider's `[EGI-20261204-99]` cannot push the day's tags to three digits.
    """
    if adopt_tag is not None:
        stem, _, counter = adopt_tag.rpartition("-")
        if trusted:
            _bump_counter(session, stem, at_least=int(counter))
        tag = adopt_tag
    else:
        tag = new_tag(session, prefix, day)
    # Written now, for its id, by one Core INSERT (add_written): nothing
    # else the session holds waits for it.
    incident = add_written(
        session,
        Incident,
        tag=tag,
        status="open",
        site=site,
        ngi=ngi,
        tlp=tlp_label,
        subject=subject,
        opened_at=opened_at,
    )
    if date_tag is not None:
        session.add(Alias(alias=date_tag, kind="date", incident_id=incident.id))
    if site is not None:
        # A new incident involves no site yet: nothing to look up.
        session.add(IncidentSite(incident_id=incident.id, site=site))
    log.info("%s opened (site %s)", tag, site or "unknown")
    return incident


_SITES_OF = (
    select(IncidentSite.site)
    .where(IncidentSite.incident_id == bindparam("incident"))
    .order_by(IncidentSite.id)
)


def site_names(session: Session, incident: Incident) -> list[str]:
    """The sites involved in `incident`, in the order they joined it."""
    return sites_of(session, incident.id)


def sites_of(session: Session, incident_id: int) -> list[str]:
    """`site_names` of the incident `incident_id`."""
    # Read for most mails, up to three times: a Core statement (see
    # connection_for), which sees the sites this session added.
    connection = connection_for(session, IncidentSite)
    return list(connection.execute(_SITES_OF, {"incident": incident_id}).scalars())


def add_site(
    session: Session, incident: Incident, site: str, known: list[str] | None = None
) -> list[str]:
    """Involve `site` in `incident`, once; returns every site now involved.

    `known` are the incident's sites when the caller knows them (an incident
    it has just opened), so they are not read again.
    """
    names = list(known) if known is not None else site_names(session, incident)
    if site not in names:
        session.add(IncidentSite(incident_id=incident.id, site=site))
        names.append(site)
    return names


def raise_tlp(session: Session, incident: Incident, labels: Sequence[str]) -> None:
    """Let the strictest label seen win; a label set by #tlp is not overridden."""
    if incident.tlp_locked:
        return
    strictest = tlp.strictest([incident.tlp, *labels])
    if strictest and strictest != incident.tlp:
        log.info("%s TLP %s -> %s", incident.tag, incident.tlp, strictest)
        session.execute(
            update(Incident).where(Incident.id == incident.id).values(tlp=strictest)
        )
        incident.tlp = strictest
