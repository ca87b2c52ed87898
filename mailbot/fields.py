"""Analysis Guideline values of an incident, each with its provenance."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailbot import context, extract, incidents, roles
from mailbot.app import App
from mailbot.clock import as_utc, parse_instant, plausible_date
from mailbot.csirt import commands
from mailbot.db.engine import flush_for
from mailbot.db.models import FieldValue, Incident, Mail
from mailbot.mail import ParsedMail
from mailbot.sites import Site

# Incident facts: times that set the incident's own columns, earliest wins.
_FACTS = ("discovered_at", "isolated_at", "resolved_at")
# Whose words set them: the site says when it isolated and resolved; a third
# party may say when it saw the attack. A CSIRT member's mail sets none (it
# asks, or uses #discovered and #resolved), nor does anyone else's.
_FACTS_BY_ROLE = {"site": frozenset(_FACTS), "reporter": frozenset({"discovered_at"})}
# The actions taken to resolve the incident are the site's (DOMAIN.md): only
# the site and the CSIRT can tell them. A third party's "we blocked the
# address", "our bans are short" speaks of its own systems, and would make
# the field look answered.
_ACTIONS_BY = frozenset({"site", "csirt"})
# A fact later than the mail that states it (past clock skew) is a plan, a
# deadline or a misreading, not an event.
_SKEW = dt.timedelta(hours=1)


def context_for(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    site: Site | None,
    involved: list[str] | None = None,
) -> extract.Context:
    """What extraction needs to know of the incident and of who wrote `mail`;
    `involved` names its sites when the caller has them at hand."""
    names = set(
        incidents.site_names(session, incident) if involved is None else involved
    )
    if site is not None:
        names.add(site.name)
    role = mail.role or ""
    # The Date when plausible, else the arrival (DOMAIN.md): a Date of
    # 31 Dec 9999 overflowed the site's time zone and quarantined the mail.
    written = plausible_date(
        as_utc(parsed.date) if parsed.date else None, as_utc(mail.arrived_at)
    )
    return context.context_of(app.settings, app.sites, names, parsed, role, written)


def record_findings(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    site: Site | None,
    involved: list[str] | None = None,
) -> list[extract.Finding]:
    """Extract the mail's fields and keep each value once, with its place."""
    context = context_for(app, session, incident, mail, parsed, site, involved)
    ahead = app.read_ahead
    read = ahead.findings(mail.raw_sha256, context) if ahead else None
    if read is None:
        parts = commands.readable_parts(parsed.text_parts, mail.role)
        read = extract.extract_noted(parts, context)
    findings, notes = read
    _note_left_out(mail, notes)
    # The callers start from a mail without values (a mail recorded for the
    # first time, or one whose values reextract has just deleted).
    known: set[tuple[str, str]] = set()
    rows: list[tuple[object, ...]] = []
    for finding in findings:
        if (finding.field, finding.value) in known or not _may_give(mail, finding):
            continue
        known.add((finding.field, finding.value))
        rows.append(
            (
                incident.id,
                mail.id,
                finding.field,
                finding.value,
                finding.kind,
                finding.part,
                finding.line,
            )
        )
        _apply_fact(incident, finding, mail)
    if rows:
        _insert_values(session, rows)
    return findings


# A mail's defect when extraction's budgets left values unread: `show` tells
# the analyst that the fields may lack some (the log has said it alone).
LEFT_OUT: Final = "values not read by extraction:"


def _note_left_out(mail: Mail, notes: list[str]) -> None:
    defects = [d for d in mail.defects or [] if not d.startswith(LEFT_OUT)]
    if notes:
        defects.append(f"{LEFT_OUT} {'; '.join(notes)}"[:1000])
    if defects != (mail.defects or []):
        mail.defects = defects


_COLUMNS = ("incident_id", "mail_id", "field", "value", "kind", "part", "line")


def _insert_values(session: Session, rows: list[tuple[object, ...]]) -> None:
    """The rows written at the driver: a pasted log holds thousands of
    values, and SQLAlchemy's per-row parameter work cost more than the
    inserts (bench/ingest.py). The values are plain text and integers.

    psycopg's executemany sends a statement a row; COPY streams them all,
    with a ninth of the client's CPU (bench/ingest.py on PostgreSQL).
    """
    connection = session.connection()
    if connection.dialect.driver == "psycopg":
        driver = connection.connection.driver_connection
        assert driver is not None
        copy_in = f"COPY {FieldValue.__tablename__} ({', '.join(_COLUMNS)}) FROM STDIN"
        try:
            with driver.cursor() as cursor, cursor.copy(copy_in) as copy:
                for row in rows:
                    copy.write_row(row)
        except driver.Error as exc:
            # Raised as SQLAlchemy raises the driver's errors, so that a lost
            # connection still reads as an outage (process.unavailable).
            raise DBAPIError.instance(copy_in, None, exc, driver.Error) from exc
        return
    mark = "?" if connection.dialect.paramstyle in ("qmark", "numeric") else "%s"
    statement = (
        f"INSERT INTO {FieldValue.__tablename__} ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_COLUMNS))})"
    )
    connection.exec_driver_sql(statement, rows)


def _may_give(mail: Mail, finding: extract.Finding) -> bool:
    """Whether the author of `mail` may give `finding`'s field."""
    return finding.field != "actions_taken" or mail.role in _ACTIONS_BY


def _apply_fact(incident: Incident, finding: extract.Finding, mail: Mail) -> None:
    # A member writing for the member's own site gives that site's facts.
    sites_word = roles.writes_for_site(mail.role, mail.flags)
    role = "site" if sites_word else mail.role or ""
    if finding.field not in _FACTS_BY_ROLE.get(role, ()):
        return
    # The incident's discovery and isolation are its own site's: another
    # site of the incident (asked by a member, or merged in) states its own,
    # read from its own mails (site_facts), and moves no clock of the first.
    if (
        sites_word
        and finding.field in _SITE_FACTS
        and not is_first_site(incident, mail.site)
    ):
        return
    when = _fact_time(finding.value, mail.event_at or mail.arrived_at)
    if when is None:
        return
    current = getattr(incident, finding.field)
    # The site's own word moves a fact earlier; a third party only gives
    # one not known yet (anyone can post in the thread).
    if current is None or (when < current and sites_word):
        setattr(incident, finding.field, when)


def _fact_time(value: str, written: dt.datetime | None) -> dt.datetime | None:
    """The instant a fact's `value` states, None for a misreading or a
    time later than the mail `written` then (past clock skew)."""
    try:
        when = parse_instant(value)
    except ValueError:
        return None
    if written is not None and when > as_utc(written) + _SKEW:
        return None
    return when


def is_first_site(incident: Incident, site: str | None) -> bool:
    """Whether `site` is the incident's own site, whose facts are the
    incident's columns (also when the incident has no site yet)."""
    return incident.site is None or site is None or site == incident.site


# The facts each site of an incident states for itself.
_SITE_FACTS = ("discovered_at", "isolated_at")


# Built once (see incidents._BY_TAG): read for another site's every mail.
_FACTS_OF_SITE = (
    select(
        FieldValue.field,
        FieldValue.value,
        Mail.role,
        Mail.flags,
        Mail.event_at,
        Mail.arrived_at,
    )
    .join(Mail, Mail.id == FieldValue.mail_id)
    .where(
        FieldValue.incident_id == bindparam("incident"),
        FieldValue.field.in_(_SITE_FACTS),
        Mail.site == bindparam("site"),
        Mail.role.in_(("site", "csirt")),
    )
)


def site_facts(
    session: Session, incident: Incident, site: str
) -> dict[str, dt.datetime]:
    """The discovery and isolation that `site`'s own mails in `incident`
    state (its own words, or a member's writing for it), earliest of each:
    the facts of a site that is not the incident's own (is_first_site)."""
    values = {"incident": incident.id, "site": site}
    # The values are written at the driver (_insert_values); the mail being
    # recorded may still hold its site and role unwritten.
    flush_for(session, Mail)
    with session.no_autoflush:
        rows = session.execute(_FACTS_OF_SITE, values).all()
    facts: dict[str, dt.datetime] = {}
    for field, value, role, flags, event_at, arrived_at in rows:
        if not roles.writes_for_site(role, flags):
            continue
        when = _fact_time(value, event_at or arrived_at)
        if when is not None and (field not in facts or when < facts[field]):
            facts[field] = when
    return facts


def fields_of(session: Session, incident_ids: list[int]) -> dict[str, list[str]]:
    """Every field with values, each value once, in the order first seen."""
    values: dict[str, list[str]] = defaultdict(list)
    rows = session.execute(
        select(FieldValue.field, FieldValue.value)
        .where(FieldValue.incident_id.in_(incident_ids))
        .order_by(FieldValue.id)
    )
    for field, value in rows:
        if field in _FACTS:
            continue
        if value not in values[field]:
            values[field].append(value)
    return dict(values)


def provenance(session: Session, incident_ids: list[int]) -> list[dict[str, object]]:
    rows = session.execute(
        select(FieldValue, Mail.message_id)
        .join(Mail, Mail.id == FieldValue.mail_id)
        .where(FieldValue.incident_id.in_(incident_ids))
        .order_by(FieldValue.id)
    )
    return [
        {
            "field": fv.field,
            "value": fv.value,
            "kind": fv.kind,
            "message_id": message_id,
            "part": fv.part,
            "line": fv.line,
        }
        for fv, message_id in rows
    ]
