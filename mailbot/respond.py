"""The replies a mail calls for, queued in its own transaction."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailbot import compose, outbox, render, roles
from mailbot.app import App
from mailbot.clock import iso
from mailbot.csirt import red
from mailbot.db.models import NOT_SENT, Audit, Incident, Mail, Outbox
from mailbot.mail import ParsedMail
from mailbot.thread import incident_subject

log = logging.getLogger(__name__)

# The title of a thread whose recipients share no subject: the tag is enough
# to find it again, and no one learns another party's words.
GENERIC_SUBJECT = "Security incident"


def sends_nothing(app: App, mail: Mail) -> bool:
    """Whether the replies `mail` calls for stay unsent: `ingest --backfill`
    records everything and sends nothing, and a mail it stored keeps that
    when processed again (a quarantine retry, a resumed crash)."""
    return app.backfill or mail.backfill


def acknowledge(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    author: roles.Author,
    passed_over: Sequence[str] = (),
    refused: Sequence[str] = (),
) -> None:
    """Answer the mail that opened `incident` with its tag, in the thread.

    `passed_over` are tags of other incidents that the mail carried and
    that were not followed, `refused` tags that can name no incident (a
    date after tomorrow or on no day): the answer says so.
    """
    if sends_nothing(app, mail) or author.role not in ("site", "reporter", "csirt"):
        return
    if roles.AUTOMATED in author.flags:
        # A machine's report: nobody reads the answer, and a robot that
        # answers back would start a loop.
        log.info("%s no acknowledgement: a machine's report", incident.tag)
        return
    if roles.NO_AUTO_ANSWER in author.flags:
        # Sent through a ticket system that asks for no automatic answer
        # (RFC 3834): the tag reaches the site with the CSIRT's first mail.
        log.info(
            "%s no acknowledgement: %s asks for no automatic answer",
            incident.tag,
            mail.message_id,
        )
        return
    now = app.clock.now()
    # A mail that arrived long ago (an old mailbox, a new database) is
    # recorded, not answered: its sender moved on, as deadlines do.
    if app.chase_policy.too_late(mail.arrived_at, now):
        log.info(
            "%s no acknowledgement: %s arrived %s, past the lateness",
            incident.tag,
            mail.message_id,
            mail.arrived_at.isoformat(),
        )
        return
    to = roles.reply_address(parsed, roles.not_to_answer(app.settings))
    if to is None:
        log.info("%s no acknowledgement: no human reply address", incident.tag)
        return
    # The incident was opened by `mail`: it is its thread (read without a
    # query), and the only mail that can be RED or AMBER+STRICT.
    mails = [ThreadMail.of(mail)]
    subject = thread_subject(app, session, incident, mails, [to], merged=False)
    base, body = acknowledgement_text(
        app, incident, parsed, author.role, passed_over, refused, subject
    )
    reds = [mail] if mail.tlp in red.RESTRICTED else []
    send_in_thread(
        app, session, incident, parsed, [to], base, body, "acknowledgement",
        thread=mails, red_mails=reds, subject=subject,
    )  # fmt: skip


def acknowledgement_text(
    app: App,
    incident: Incident,
    parsed: ParsedMail,
    role: str | None,
    passed_over: Sequence[str] = (),
    refused: Sequence[str] = (),
    subject: str | None = None,
) -> tuple[str, str]:
    """The acknowledgement's base subject and body, as sent and as previewed.

    `role` is the reporter's: a third party ("reporter") is asked for what it
    saw, not for the site's Analysis Guideline fields. `subject` is the
    thread's subject for the reporter (`thread_subject`), the incident's when
    not given.
    """
    name = parsed.from_.name if parsed.from_ else ""
    return render.render(
        app.templates,
        "acknowledgement.txt.j2",
        tag=incident.tag,
        base_subject=subject or incident.subject or GENERIC_SUBJECT,
        greeting=greeting(name),
        site=incident.site,
        opened_at=iso(incident.opened_at),
        tlp=incident.tlp,
        mailbox=app.settings.mailbot.address,
        role=role,
        passed_over=list(passed_over),
        refused=list(refused),
    )


# A display name is the sender's to choose: anyone can make mailbot write
# theirs to the Reply-To of their choice. Only a plain name is repeated
# (letters of any script, spaces, . , ' -), never a link or an address.
_PLAIN_NAME = re.compile(r"[^\W\d_]+(?:[ .,'\u2019-]+[^\W\d_]+)*\.?")
# A dot between two words is a domain ("www.evil.example"), not "J. Smith".
_DOMAIN_LIKE = re.compile(r"[^\W\d_]{2,}\.[^\W\d_]{2,}")


def greeting(name: str) -> str:
    """Whom the acknowledgement greets: the sender's plain name, else "colleague"."""
    name = " ".join(compose.clean_header(name).split())
    plain = (
        len(name) <= 60
        and len(name.split()) <= 5
        and _PLAIN_NAME.fullmatch(name)
        and not _DOMAIN_LIKE.search(name)
        and len(_scripts(name)) <= 1
    )
    return name if plain else "colleague"


def _scripts(name: str) -> set[str]:
    """The scripts of a name's letters among those that look alike ("Раypal":
    Cyrillic Р and а among Latin letters)."""
    alike = ("LATIN", "CYRILLIC", "GREEK")
    found = set()
    for char in name:
        if char.isalpha():
            script = unicodedata.name(char, "").split(" ", 1)[0]
            if script in alike:
                found.add(script)
    return found


def send_in_thread(
    app: App,
    session: Session,
    incident: Incident,
    parent: ParsedMail | None,
    to: list[str],
    base_subject: str,
    body: str,
    purpose: str,
    cc: list[str] | None = None,
    thread: list[ThreadMail] | None = None,
    red_mails: list[Mail] | None = None,
    own_subject: bool = False,
    subject: str | None = None,
) -> Outbox | None:
    """Queue a mail in `incident`'s thread, answering `parent` when given.

    Without a parent, the mail answers the latest mail of the thread that
    its recipients wrote or received (`known_to`). `thread` and `red_mails`
    are the incident's, when the caller read them already for many
    incidents at once. `own_subject` keeps `base_subject` for a notice to a
    party outside the thread (a VO, a CA), which is told what it needs, not
    the thread's subject. `subject` is the thread's subject for `to` when
    the caller chose it already (its template's headline names it), else it
    is chosen here (`thread_subject`). Returns the outbox row, None when no
    recipient was left to send to.
    """
    mails = thread_mails(session, incident) if thread is None else thread
    if not own_subject:
        if subject is None:
            subject = thread_subject(app, session, incident, mails, to)
        base_subject, body = in_thread(incident, base_subject, body, subject)
    if parent is not None:
        in_reply_to = parent.message_id
        references = [*parent.references, *([in_reply_to] if in_reply_to else [])]
    else:
        references = known_to(app, mails, [*to, *(cc or [])])
        in_reply_to = references[-1] if references else None
    # A TLP:RED (AMBER+STRICT) mail's subject reaches no one who did not
    # receive that mail.
    base_subject, body = red.withhold(
        app, session, incident.id, [*to, *(cc or [])], base_subject, body, red_mails
    )
    outgoing = compose.compose(
        sender=app.settings.mailbot.address,
        to=to,
        cc=cc or [],
        subject=compose.subject_line(incident.tag, incident.tlp, base_subject),
        body=body,
        tlp_label=incident.tlp,
        message_id=compose.new_message_id(incident.tag, app.settings.mailbot.domain),
        date=app.clock.now(),
        in_reply_to=in_reply_to,
        references=references,
    )
    return outbox.queue(
        session,
        outgoing,
        purpose=purpose,
        incident_id=incident.id,
        now=app.clock.now(),
        app=app,
    )


def in_thread(
    incident: Incident, headline: str, body: str, subject: str | None = None
) -> tuple[str, str]:
    """The base subject and body of a mail in `incident`'s thread.

    Every mail of the thread is subjected `[TAG] [TLP:LABEL] base subject`
    with the thread's own subject (INTERFACE.md), so that it stays one
    conversation in every client: `subject`, the thread's subject for the
    mail's recipients (`thread_subject`), else the incident's. What the mail
    is ("Reminder: ...", "Done: #close") is its template's Subject line: it
    heads the body instead, unless it is the thread's subject already (the
    acknowledgement).
    """
    subject = subject or incident.subject or GENERIC_SUBJECT
    if headline and headline != subject:
        body = f"{headline}\n\n{body}"
    return subject, body


def thread_subject(
    app: App,
    session: Session,
    incident: Incident,
    mails: Sequence[ThreadMail],
    to: Sequence[str],
    merged: bool | None = None,
) -> str:
    """The thread's subject for a mail to `to`: one they all have seen.

    After a merge, one incident holds the threads of several sites, each
    with its own subject; a site's subject names it and says what it
    reported, and the other site must not read it. The thread a recipient
    is in is made of the mails it wrote or received (`known_to`); its
    subject is the incident's when the recipient saw it, else the first it
    saw (its own report's, or that of the mail that brought it in). The
    CSIRT's people received every mail. Recipients who saw no mail of the
    incident (an NGI in copy) do not choose; when none saw one, the subject
    is the incident's unless other incidents were merged into it or a
    member's #site replaced its site (`merged`, `subject_unshared`, read
    when not given). Recipients who share no subject get
    `GENERIC_SUBJECT`.
    """
    own = incident.subject or GENERIC_SUBJECT
    prefix = app.settings.mailbot.tag_prefix
    mailbox = roles.mailbox_readers(app.settings, app.sites, to)
    seen: list[tuple[str, frozenset[str]]] = []
    for mail in mails:
        if red.shows_withheld(mail.subject):
            continue
        base = incident_subject(mail.subject, prefix)
        if base:
            people = roles.participants(
                app.settings, mail.sender, mail.recipients, mailbox=mailbox
            )
            seen.append((base, people))
    known = [
        [base for base, people in seen if address in people]
        for address in dict.fromkeys(a.lower() for a in to)
    ]
    known = [subjects for subjects in known if subjects]
    if not known:
        if merged is None:
            merged = incident.id in subject_unshared(session, [incident.id])
        return GENERIC_SUBJECT if merged else own
    shared = set(known[0]).intersection(*known[1:])
    if own in shared:
        return own
    return next((base for base in known[0] if base in shared), GENERIC_SUBJECT)


def subject_unshared(session: Session, incident_ids: Sequence[int]) -> set[int]:
    """Those of `incident_ids` whose own subject may be another site's:
    other incidents were merged into them, or a member's `#site` replaced
    their site (the subject names the site first asked, or what a
    reporter wrote; the new site saw neither)."""
    ids = list(incident_ids)
    merged = session.scalars(
        select(Incident.merged_into_id).where(Incident.merged_into_id.in_(ids))
    )
    # csirt/actions.py's confirmation of #site, kept in the trail, says
    # "moved from OLD" (or "from no site" when there was none).
    resited = session.scalars(
        select(Audit.incident_id).where(
            Audit.incident_id.in_(ids),
            Audit.action == "site",
            Audit.actor != "mailbot",
            Audit.detail.like("%clock(s) moved from %"),
            Audit.detail.not_like("%clock(s) moved from no site%"),
        )
    )
    return {i for i in merged if i is not None} | set(resited)


@dataclass(frozen=True)
class ThreadMail:
    """One mail of a thread: its Message-ID, who wrote it, who received it,
    its subject."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str = ""

    @classmethod
    def of(cls, mail: Mail) -> ThreadMail:
        return cls(
            mail.message_id or "",
            mail.from_addr,
            tuple(mail.recipients or ()),
            mail.subject or "",
        )


def known_to(
    app: App, thread: Sequence[ThreadMail], recipients: Sequence[str]
) -> list[str]:
    """The Message-IDs of `thread` that one of `recipients` wrote or received.

    A Message-ID names its writer's mail host: mail to one site of a merged
    incident must not carry another site's, nor a VO or CA any site's. The
    CSIRT's people received every mail of the mailbox, so mail to them alone
    keeps all; mail that reaches anyone else (a member who is a site's
    contact, writing for it, included) keeps only what one of its
    recipients wrote or was sent, whatever their other roles: every
    recipient reads the References (`roles.mailbox_readers`).
    """
    wanted = {r.lower() for r in recipients}
    mailbox = roles.mailbox_readers(app.settings, app.sites, wanted)
    return [
        mail.message_id
        for mail in thread
        if wanted
        & roles.participants(
            app.settings, mail.sender, mail.recipients, mailbox=mailbox
        )
    ]


def thread_mails(session: Session, incident: Incident) -> list[ThreadMail]:
    """The thread's mails, oldest first (the last is its latest mail)."""
    return threads_mails(session, [incident.id]).get(incident.id, [])


def threads_mails(
    session: Session, incident_ids: list[int]
) -> dict[int, list[ThreadMail]]:
    """`thread_mails` of each incident in `incident_ids`, in one query.

    An outgoing mail that reached no one (dropped, failed for good,
    withdrawn, held) is no part of the thread its recipients know: a later
    mail must not answer it nor cite it in its References."""
    rows = session.execute(
        select(
            Mail.incident_id,
            Mail.message_id,
            Mail.from_addr,
            Mail.recipients,
            Mail.subject,
        )
        .outerjoin(Outbox, Outbox.mail_id == Mail.id)
        .where(
            Mail.incident_id.in_(incident_ids),
            Mail.message_id.is_not(None),
            Mail.role.not_in(("bounce", "auto_reply")),
            or_(Outbox.state.is_(None), Outbox.state.not_in(NOT_SENT)),
        )
        .order_by(func.coalesce(Mail.event_at, Mail.arrived_at), Mail.id)
    )
    threads: dict[int, list[ThreadMail]] = {}
    for incident_id, message_id, sender, recipients, subject in rows:
        if incident_id is not None and message_id:
            mail = ThreadMail(
                message_id, sender or "", tuple(recipients or ()), subject or ""
            )
            threads.setdefault(incident_id, []).append(mail)
    return threads
