"""The record stage: one parsed mail becomes part of an incident.

Runs inside the mail's transaction: who wrote it, which incident it threads
into (opening and naming one when needed), its TLP, the Analysis Guideline
fields it carries, and the replies it calls for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from mailbot import (
    attribution,
    bounces,
    closed,
    echo,
    extract,
    fields,
    incidents,
    mail_row,
    mistag,
    respond,
    roles,
    tags,
    thread,
    tlp,
)
from mailbot.app import App
from mailbot.classify import Classification
from mailbot.csirt import closure as closure_report
from mailbot.csirt import commands, member, trail
from mailbot.db.models import Incident, Mail, MailCitation
from mailbot.deadlines import site_mail
from mailbot.extract.quotes import marked_lines
from mailbot.mail import ParsedMail
from mailbot.sites import Site

log = logging.getLogger(__name__)

# The mail is read without its raw bytes (up to megabytes, not read here).
# The option is built once: building it cost more than the look-up, which
# finds the row the store stage has just loaded.
_WITHOUT_RAW = (defer(Mail.raw),)


def record(
    app: App,
    session: Session,
    mail_id: int,
    parsed: ParsedMail,
    classification: Classification,
    content_key: str | None = None,
) -> str | None:
    """Record `parsed` as mail `mail_id`; return the incident's tag, if any.

    `content_key` (redelivery.content_key) is kept on the mail's row."""
    mail = session.get(Mail, mail_id, options=_WITHOUT_RAW)
    assert mail is not None
    author = roles.identify(
        parsed,
        classification,
        app.settings,
        app.sites,
        sent_by_us=_sent_by_us(session, parsed.message_id),
    )
    if "dmarc_fail" in author.flags:
        log.warning("mail %d: %s; not taken as the site's", mail.id, author.why)
    text, words = _author_texts(parsed, author)
    author, site = _author_site(app, session, parsed, author, text)
    incident, decision = _thread(
        app, session, mail, parsed, classification, author, site, text
    )
    reason = decision.reason if incident is not None else "none"
    if reason == echo.TICKET_REASON:
        # A ticket system's answer under our subject: a robot's (echo.py).
        author = roles.Author("auto_reply", site=author.site)
    if incident is not None:
        author, site = _author_in(app, session, incident, parsed, reason, author, site)
    # Set only now: a new incident is flushed when it is opened, and the
    # mail's row is then written once, by one UPDATE carrying all of them.
    _fill_row(mail, parsed, content_key, author, decision)
    if incident is None and classification.dsn is not None:
        bounces.handle(app, session, mail, classification.dsn)
    mail.thread_reason = reason
    mail.state, mail.processed_at = "processed", app.clock.now()
    if incident is None:
        log.info("%s stored unattached (%s)", mail.ident, author.role)
        return None
    incident = _attach(
        app, session, incident, mail, parsed, classification, author, site,
        decision, (text, words),
    )  # fmt: skip
    keep_citations(session, mail, parsed, decision)
    return incident.tag


def _author_texts(parsed: ParsedMail, author: roles.Author) -> tuple[str, str]:
    """The author's text, the lines of a mail it forwards included, and the
    author's own words alone: what another wrote is evidence, but meets none
    of the site's clocks."""
    marked = marked_lines(parsed.body_text)
    text = "\n".join(line for _, line, _ in marked)
    words = "\n".join(line for _, line, forwarded in marked if not forwarded)
    if author.role == "csirt":
        # Command lines tell mailbot what to do; they are no evidence (a
        # "#tlp RED" line is no RED banner, "#site X" names no site).
        text = commands.without_commands(text)
        words = commands.without_commands(words)
    return text, words


def _author_site(
    app: App, session: Session, parsed: ParsedMail, author: roles.Author, text: str
) -> tuple[roles.Author, Site | None]:
    """The site the mail is about (roles.site_of); a contact several sites
    share writes for the one of them in the thread's incident."""
    site = roles.site_of(author, app.sites, parsed, text)
    if author.shared:
        return attribution.shared_in_thread(app, session, parsed, author, site)
    return author, site


def _author_in(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    reason: str,
    author: roles.Author,
    site: Site | None,
) -> tuple[roles.Author, Site | None]:
    """The author and site, once the incident the mail threads into is
    known: an NGI's or a member's mail may write for one of its sites."""
    if reason != "new" and author.ngi_of:
        own = attribution.ngi_site(app, session, incident, parsed, author)
        if own is not None:
            author, site = roles.Author("site", site=own, flags=(roles.FOR_NGI,)), own
    if reason != "new":
        author, site = attribution.still_the_sites(
            app, session, incident, parsed, author, site
        )
    if author.contact_of:
        author, site = attribution.member_for_own_site(
            app, session, incident, parsed, reason, author, site
        )
    return author, site


def _fill_row(
    mail: Mail,
    parsed: ParsedMail,
    content_key: str | None,
    author: roles.Author,
    decision: thread.Decision,
) -> None:
    """The mail's row: its headers, who wrote it, and the mistag flag."""
    mail_row.fill_headers(mail, parsed)
    mail.content_key = content_key
    mail.role, mail.flags = author.role, list(author.flags)
    if decision.passed_over or decision.refused:
        mail.flags.append(mistag.FLAG)


def _attach(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    classification: Classification,
    author: roles.Author,
    site: Site | None,
    decision: thread.Decision,
    texts: tuple[str, str],
) -> Incident:
    """Put the mail in `incident` and act on it; return the incident it ends
    in (a member's #merge moves the mail, and the thread, to another)."""
    reason, words = decision.reason, texts[1]
    mail.incident_id = incident.id
    mail.site = site.name if site else None
    if decision.passed_over or decision.refused:
        mistag.record(app, session, incident, mail, parsed, decision, author)
    opened = incident
    # An incident this mail opened involves its site alone (open_incident).
    sites = ([site.name] if site else []) if reason == "new" else None
    incident = _update_incident(
        app, session, incident, mail, parsed, classification, author, site,
        texts, sites,
    )  # fmt: skip
    # A mail the thread cited before it came was answered there already.
    if reason not in ("new", "cited") and incident is opened:
        closed.check(app, session, incident, mail, parsed, author, words)
    if reason == "new" and incident is opened:
        respond.acknowledge(
            app, session, incident, mail, parsed, author, decision.passed_over,
            decision.refused,
        )  # fmt: skip
    return incident


def _sent_by_us(session: Session, message_id: str | None) -> bool:
    # Every Message-ID mailbot writes carries its ".mb" mark (compose.py's
    # new_message_id), whatever the domain was then: a mail without it
    # needs no look-up, which most mail is spared.
    if not message_id or not (".mb." in message_id or ".mb@" in message_id):
        return False
    found = session.scalars(
        select(Mail.id).where(Mail.message_id == message_id, Mail.direction == "out")
    ).first()
    return found is not None


def _thread(
    app: App,
    session: Session,
    mail: Mail,
    parsed: ParsedMail,
    classification: Classification,
    author: roles.Author,
    site: Site | None,
    text: str,
) -> tuple[Incident | None, thread.Decision]:
    prefix = app.settings.mailbot.tag_prefix
    subject_tags = tags.find_tags(parsed.subject, prefix)
    message_ids = [*parsed.in_reply_to, *parsed.references]
    if classification.dsn is not None and classification.dsn.original_message_id:
        message_ids.append(classification.dsn.original_message_id)
    # Kept until the incident is taken: it holds what the look-ups loaded.
    lookups = incidents.lookups(session)
    # Nothing pending changes what the look-ups find (this mail has no
    # incident yet): not flushed here, its row is written once, later.
    with session.no_autoflush:
        decision = thread.decide(
            subject_tags,
            message_ids,
            site.name if site else None,
            lookups,
            sender_site=author.site.name if author.site else None,
            tag_first=author.role == "csirt",
            # Tomorrow in UTC is today somewhere: a later tag is nobody's.
            latest_day=app.clock.now().astimezone(dt.UTC).date() + dt.timedelta(days=1),
            arrived_on=mail.arrived_at.astimezone(dt.UTC).date(),
            body=_body(parsed, author, text, bool(message_ids), prefix),
        )
    if decision.incident_id is not None:
        return session.get(Incident, decision.incident_id), decision
    cited = _cited(session, parsed)
    if cited is not None:
        return cited, thread.Decision("cited", cited.id)
    followed = _follow_up(
        session, mail, parsed, author, site, subject_tags, message_ids, prefix
    )
    if followed is not None:
        return followed, thread.Decision("follow_up", followed.id)
    returned = _echo(session, mail, parsed, author, prefix)
    if returned is not None:
        return returned[0], thread.Decision(returned[1], returned[0].id)
    if author.role in roles.ROBOT_ROLES:
        return None, decision
    if not (parsed.from_ and parsed.from_.addr):
        # Nobody to answer, nobody to ask (binary junk, a mangled header
        # block): kept unattached, counted by `status`, never an incident.
        log.warning("mail %d has no sender address: stored unattached", mail.id)
        return None, decision
    trusted = author.role in ("site", "csirt")
    return _open(app, session, mail, parsed, site, decision, text, trusted), decision


def _cited(session: Session, parsed: ParsedMail) -> Incident | None:
    """The incident of a filed mail that cited this one before it arrived
    (keep_citations): a member's answer that reached the mailbox first."""
    if not parsed.message_id:
        return None
    with session.no_autoflush:
        return incidents.cited_by(session, parsed.message_id)


def keep_citations(
    session: Session, mail: Mail, parsed: ParsedMail, decision: thread.Decision
) -> None:
    """Keep what a filed mail cites, unless it was threaded by a stored mail
    it cites: a mail it names may arrive after it (_cited)."""
    if decision.reason == "reference":
        return
    cited = dict.fromkeys([*parsed.in_reply_to, *parsed.references][-50:])
    cited.pop(parsed.message_id or "", None)
    for message_id in cited:
        key = incidents.citation_key(message_id)
        session.add(MailCitation(ref_key=key, mail_id=mail.id))


def _follow_up(
    session: Session,
    mail: Mail,
    parsed: ParsedMail,
    author: roles.Author,
    site: Site | None,
    subject_tags: tags.SubjectTags,
    message_ids: Sequence[str],
    prefix: str,
) -> Incident | None:
    """The site's incident that a quick second mail of its report follows
    (same address, same subject, no tag and no reference, minutes later:
    both may come in one poll, before the acknowledgement was read)."""
    if author.role != "site" or site is None or author.site is None:
        return None
    if message_ids or any(dataclasses.astuple(subject_tags)):
        return None
    if not (parsed.from_ and parsed.from_.addr):
        return None
    with session.no_autoflush:
        return incidents.follow_up(
            session,
            site=site.name,
            sender=parsed.from_.addr,
            subject=thread.incident_subject(parsed.subject, prefix),
            arrived_at=mail.arrived_at,
        )


def _echo(
    session: Session,
    mail: Mail,
    parsed: ParsedMail,
    author: roles.Author,
    prefix: str,
) -> tuple[Incident, str] | None:
    """The incident of mailbot's mail that a site's mail answers under its
    subject, tag stripped (echo.py), and the thread_reason."""
    if author.role in ("csirt", "mailbot", "bounce") or not parsed.from_:
        return None
    with session.no_autoflush:
        return echo.find(
            session,
            subject=parsed.subject,
            sender=parsed.from_.addr,
            site=author.site,
            arrived_at=mail.arrived_at,
            prefix=prefix,
        )


def _body(
    parsed: ParsedMail, author: roles.Author, text: str, references: bool, prefix: str
) -> thread.Body:
    """A reply's texts to read for tags: the author's words, then all of it
    (what it quotes); a member's words alone, without its command lines."""
    texts = (text,) if author.role == "csirt" else (text, parsed.body_text)
    sender = parsed.from_.addr if parsed.from_ else None
    return thread.reply_body(parsed.subject, references, texts, prefix, sender)


def _open(
    app: App,
    session: Session,
    mail: Mail,
    parsed: ParsedMail,
    site: Site | None,
    decision: thread.Decision,
    text: str,
    trusted: bool,
) -> Incident:
    import zoneinfo

    # A date-only tag long past is the incident's alias, but names no day.
    if decision.date_tag is not None and decision.date_tag not in decision.refused:
        day = tags.tag_day(decision.date_tag)
    else:
        zone = zoneinfo.ZoneInfo(app.settings.mailbot.timezone)
        day = mail.arrived_at.astimezone(zone).date()
    labels = _labels(parsed, text)
    return incidents.open_incident(
        session,
        prefix=app.settings.mailbot.tag_prefix,
        day=day,
        opened_at=mail_row.event_at(parsed, mail),
        # Cut: the incident's subject goes into every list, digest and mail
        # of the thread (the mail's own subject is kept whole).
        subject=thread.incident_subject(
            parsed.subject, app.settings.mailbot.tag_prefix
        ),
        site=site.name if site else None,
        ngi=site.ngi if site else None,
        tlp_label=tlp.strictest(labels) or tlp.DEFAULT,
        adopt_tag=decision.adopt_tag,
        date_tag=decision.date_tag,
        trusted=trusted,
    )


def _labels(parsed: ParsedMail, text: str) -> list[str]:
    """The TLP labels of the subject and of the mail's own text, and those
    of what it forwards or attaches that are stricter: the strictest label
    of a mail is the mail's, but a GREEN attachment does not make an
    unlabelled (AMBER) mail GREEN."""
    own = tlp.find_labels(parsed.subject) + tlp.find_labels(text[:100_000])
    floor = tlp.LABELS.index(tlp.strictest(own) or tlp.DEFAULT)
    carried = tlp.part_labels(parsed)
    return own + [label for label in carried if tlp.LABELS.index(label) > floor]


def _update_incident(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    classification: Classification,
    author: roles.Author,
    site: Site | None,
    texts: tuple[str, str],
    sites: list[str] | None = None,
) -> Incident:
    """`texts`: the author's text, forwarded mail included, and the
    author's own words alone."""
    text, words = texts
    labels = _labels(parsed, text)
    mail.tlp = tlp.strictest(labels)
    # A mail that only claims a member's address changes nothing but the trail.
    # A site contact's mail that is not believed as the member's is still
    # the site's (roles.identify), as anyone's from that address would be.
    if "possible_forgery" in author.flags:
        member.on_forgery(app, session, incident, mail, parsed, author)
        if author.role != "site":
            return incident
    member.on_subaddress(app, session, incident, mail, parsed, author)
    incidents.raise_tlp(session, incident, labels)
    if incident.site is None and site is not None and author.role != "csirt":
        _adopt_site(app, session, incident, mail, author, site)
    involved = _involve_sites(app, session, incident, parsed, author, site, sites)
    if author.role == "bounce" and classification.dsn is not None:
        bounces.handle(app, session, mail, classification.dsn)
    if author.role in roles.ROBOT_ROLES:
        return incident
    fields.record_findings(app, session, incident, mail, parsed, site, involved)
    if roles.writes_for_site(author.role, author.flags) and site is not None:
        _site_mail(app, session, incident, mail, parsed, site, texts)
    if author.role == "csirt":
        # A request the member sends asks the site the member writes for
        # nothing: the mail is that site's answer.
        for_site = roles.FOR_SITE in author.flags and author.site is not None
        own = author.site.name if for_site and author.site else None
        return member.on_member_mail(app, session, incident, mail, parsed, own)
    return incident


def _adopt_site(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    author: roles.Author,
    site: Site,
) -> None:
    """Give an incident without a site the site of this mail."""
    incident.site, incident.ngi = site.name, site.ngi
    # Set by mailbot, not by a member: the trail says from which mail.
    how = "the sender's address" if author.site else "named in the mail"
    trail.note(
        session, incident.id, actor="mailbot", action="site",
        detail=f"site {site.name} ({how}, from {mail.from_addr})",
        mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip


def _involve_sites(
    app: App,
    session: Session,
    incident: Incident,
    parsed: ParsedMail,
    author: roles.Author,
    site: Site | None,
    sites: list[str] | None,
) -> list[str] | None:
    """The sites the incident involves once this mail is in it (None when
    the mail names no site and is no member's)."""
    involved = incidents.add_site(session, incident, site.name, sites) if site else None
    if author.role == "csirt":
        # A member's mail addressed to other sites' contacts too brings
        # each of them in: it asks them (member.py), and they owe their
        # own clocks.
        for other in roles.sites_addressed(app.sites, parsed):
            involved = incidents.add_site(session, incident, other.name, involved)
    return involved


def _site_mail(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    site: Site,
    texts: tuple[str, str],
) -> None:
    """What a mail the author writes for `site` starts and meets, a closure
    report's labels included."""
    text, words = texts
    closure = extract.is_closure_report(parsed.subject, parsed.text_parts)
    stated = (
        closure_report.stated_labels(session, incident, mail, parsed.subject, text)
        if closure
        else []
    )
    counts = closure and closure_report.label_counts(stated)
    site_mail.on_site_mail(
        app, session, incident, mail, site.name, words, counts,
        frozenset((*parsed.in_reply_to, *parsed.references)),
    )  # fmt: skip
    if closure:
        closure_report.check(app, session, incident, mail, parsed, site.name, stated)
