"""Delivering the outbox: SMTP (TLS verified) or a local Maildir.

A row is claimed (state "sending", with a lease) and committed before any
SMTP traffic, then marked sent, retried later, failed, or "uncertain" when
the server took the whole message but its answer never came. An uncertain
row is never sent again automatically: a second copy is worse than an
operator's look (BR-37). A lease that expires in "sending" (the process
died mid-delivery) is uncertain for the same reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import mailbox
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from mailbot import bounces, withdraw
from mailbot.app import App
from mailbot.clock import iso
from mailbot.connection import (
    SMTP,
    hint,
    maildir_problem,
    outbox_maildir,
    tls_context,
)
from mailbot.db.models import Mail, Outbox, ServiceState
from mailbot.deadlines import chase
from mailbot.errors import (
    DeliveryUncertain,
    LoginRefused,
    PermanentError,
    ServerUnavailable,
    TemporaryError,
)
from mailbot.settings import SmtpSettings
from mailbot.store import dedupe_key, split_header_block

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)
# Set (service_state) while the SMTP server refuses mailbot's login: `status`
# is unhealthy until a mail goes out again.
LOGIN_REFUSED_KEY = "smtp_login_refused"
# Set while the server refuses every mail at DATA with one permanent answer
# (the relay's condition, not the mails'): `status` is unhealthy, naming it.
DATA_REFUSED_KEY = "smtp_refuses_every_mail"
# The last permanent refusal at DATA since the server last took a mail: its
# kind (_kind) and the rows it failed (JSON). A lone mail refused for good
# fails (BR-37); the next one refused alike shows the relay refusing all.
DATA_REFUSAL_SEEN_KEY = "smtp_data_refusal_seen"
# While the server refuses every mail of a batch for now (an outage of the
# relay, not of the mails), a mail waits this share of its age, within bounds.
OUTAGE_WAIT_SHARE = 4
OUTAGE_WAIT_MAX = dt.timedelta(minutes=30)
_EOL_RE = re.compile(rb"\r\n|\n|\r(?!\n)")


class DataRefused(PermanentError):
    """The server refused the message itself for good, at DATA or after it."""


class Transport(Protocol):
    # Whether the last send got as far as handing over the message itself:
    # stopped after that, nobody knows whether the mail is delivered.
    data_sent: bool

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        """Deliver; return the recipients the server refused, with its answer."""
        ...

    def close(self) -> None: ...


class MaildirTransport:
    """Delivers into a local Maildir: the embedded default, no server needed.

    A Maildir that cannot be written is the outage of this "server": the
    mail is not in it (mailbox writes into tmp and moves the whole file
    into new), so the row waits, untried, like for an SMTP server down.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.box: mailbox.Maildir | None = None
        self.data_sent = False

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        envelope = f"X-Envelope-To: {', '.join(recipients)}\n".encode()
        self.data_sent = False
        try:
            if self.box is None:
                self.box = outbox_maildir(self.path)
            self.data_sent = True
            self.box.add(envelope + raw)
        except OSError as exc:
            # add() removes its file in tmp on failure: nothing delivered.
            # The folder is made again (if missing) on the next try.
            self.data_sent = False
            self.box = None
            raise ServerUnavailable(maildir_problem(self.path, exc)) from exc
        return {}

    def close(self) -> None:
        return None


class SmtpTransport:
    """One SMTP connection, opened on first use and reused for a batch."""

    def __init__(self, settings: SmtpSettings, local_hostname: str | None = None):
        self.settings = settings
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self.data_sent = False

    def _context(self) -> ssl.SSLContext:
        # Always verify: smtplib's starttls() without a context does not.
        return tls_context(self.settings.ca_file, "smtp")

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if s.tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.host or "",
                    s.port,
                    local_hostname=self.local_hostname,
                    timeout=s.timeout,
                    context=self._context(),
                )
            else:
                smtp = smtplib.SMTP(
                    s.host or "",
                    s.port,
                    local_hostname=self.local_hostname,
                    timeout=s.timeout,
                )
                if s.tls == "starttls":
                    smtp.starttls(context=self._context())
            if s.username:
                smtp.login(s.username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(smtp)
            # The configuration's fault (or a password changed on the relay),
            # never the mail's: every mail waits until the login works.
            answer = exc.smtp_error
            if isinstance(answer, bytes):
                answer = answer.decode(errors="replace")
            raise LoginRefused(
                f"SMTP login to {s.host}:{s.port} as {s.username!r} refused "
                f"({exc.smtp_code} {answer}): check [smtp] username and password "
                "(was the password changed on the server?); the mail waits and "
                "goes once the login works"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(smtp)
            raise ServerUnavailable(
                f"cannot reach SMTP {s.host}:{s.port}: {exc}{hint(exc, s.tls, SMTP)}"
            ) from exc
        return smtp

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        self.data_sent = False
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            refused = self._envelope(smtp, sender, recipients)
            self._data(smtp, raw)
        except (DeliveryUncertain, PermanentError, TemporaryError):
            self.close()
            raise
        except (KeyboardInterrupt, SystemExit):
            # Interrupted (Ctrl-C, SIGTERM of a one-shot command): a QUIT
            # now could wait for the server for [smtp] timeout.
            self.abort()
            raise
        return refused

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipients: list[str]):
        try:
            # smtplib's mail() assumes a greeting was sent; STARTTLS resets it.
            smtp.ehlo_or_helo_if_needed()
            code, answer = smtp.mail(sender)
            if code >= 400:
                # Refusing our sender refuses every mail: the server's problem.
                text = answer.decode(errors="replace")
                raise ServerUnavailable(f"MAIL FROM: {code} {text}")
            refused: dict[str, str] = {}
            for recipient in recipients:
                if not recipient.isascii():
                    # No SMTPUTF8 here: smtplib would raise on the command.
                    refused[recipient] = "553 not an ASCII address (no SMTPUTF8)"
                    continue
                code, answer = smtp.rcpt(recipient)
                if code >= 400:
                    refused[recipient] = f"{code} {answer.decode(errors='replace')}"
            if len(refused) == len(recipients):
                permanent = all(v.startswith("5") for v in refused.values())
                if permanent and not any(map(_names_the_mailbox, refused.values())):
                    # "554 5.7.1 Relay access denied" for everyone: the relay
                    # refuses mailbot, and marking each address dead would
                    # stop every reminder for good.
                    raise ServerUnavailable(
                        f"the relay refuses every recipient ({_first(refused)}):"
                        " check that it lets [mailbot] address send through it"
                        " ([smtp] host, username); the mail waits"
                    )
                error = PermanentError if permanent else TemporaryError
                exc = error(f"every recipient refused: {refused}")
                # Which ones, and how: the sender records each (_finish).
                setattr(exc, "refused", refused)  # noqa: B010
                raise exc
            return refused
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise ServerUnavailable(f"SMTP failed before DATA: {exc}") from exc

    def _data(self, smtp: smtplib.SMTP, raw: bytes) -> None:
        try:
            code, answer = smtp.docmd("DATA")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TemporaryError(f"SMTP failed at DATA: {exc}") from exc
        _check(code, answer, "DATA", expect=354, permanent=DataRefused)
        payload = re.sub(rb"(?m)^\.", b"..", _EOL_RE.sub(b"\r\n", raw))
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        self.data_sent = True
        try:
            smtp.send(payload + b".\r\n")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TemporaryError(
                f"SMTP connection lost while sending data: {exc}"
            ) from exc
        # From here on the server may hold the whole message.
        try:
            code, answer = smtp.getreply()
        except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as exc:
            raise DeliveryUncertain(f"no answer after the message data: {exc}") from exc
        _check(code, answer, "end of DATA", permanent=DataRefused)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def abort(self) -> None:
        """Drop the connection without a word to the server."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    """Close a half-opened connection: a socket left open leaks each tick."""
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _check(
    code: int,
    answer: bytes,
    step: str,
    expect: int | None = None,
    permanent: type[PermanentError] = PermanentError,
) -> None:
    text = f"{step}: {code} {answer.decode(errors='replace')}"
    if expect is not None and code == expect:
        return
    if 500 <= code < 600:
        raise permanent(text)
    if code >= 400 or (expect is not None and code != expect):
        raise TemporaryError(text)


def transport_for(app: App) -> Transport:
    settings = app.settings.smtp
    if settings.kind == "maildir":
        return MaildirTransport(app.settings.path(settings.path))
    return SmtpTransport(settings, local_hostname=app.settings.mailbot.domain)


@dataclass
class DeliveryCounts:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    # Not sent: the reason was gone when its turn came (withdraw.py).
    withdrawn: int = 0


@dataclass
class _Batch:
    """What one pass over the outbox learnt about the server."""

    # The server took a mail: a temporary refusal is then the mail's own.
    took_mail: bool = False
    # Rows refused for now before the server took any mail: not yet charged
    # an attempt (the relay may be refusing everything).
    deferred: list[int] = field(default_factory=list)
    last_refusal: str = ""
    # Rows refused for good at DATA before the server took any mail, and
    # the kinds of answer (_kind): one answer to every mail is the relay's.
    refused_at_data: list[int] = field(default_factory=list)
    data_answers: dict[str, str] = field(default_factory=dict)


def deliver_due(
    app: App,
    transport: Transport | None = None,
    stop: threading.Event | None = None,
) -> DeliveryCounts:
    """Send every due outbox row once; returns what happened to them.

    Rows are claimed one at a time, each just before its SMTP exchange: a
    process killed mid-batch leaves at most the one row whose exchange was
    under way in "sending" (it becomes uncertain), never the rows after it.
    `stop` (the daemon's) ends the batch between two mails.

    A server that takes a mail's data and never answers ends the batch: that
    mail is uncertain, the rest wait untried, as in an outage.

    A temporary refusal costs a mail one of its `max_attempts` only when the
    server took another mail in the same batch: a relay that refuses every
    mail for now (full disk, a login or policy problem) is an outage, and the
    mail waits for it like for a server that cannot be reached.
    """
    app.held.report()
    counts = DeliveryCounts(uncertain=expire_leases(app))
    own = transport is None
    transport = transport or transport_for(app)
    batch = _Batch()
    try:
        while not (stop is not None and stop.is_set()):
            letter = claim_next(app, counts)
            if letter is None:
                break
            try:
                outcome, error, refused = _exchange(transport, letter)
            except ServerUnavailable as exc:
                # The server, not the mail: put it back, untried.
                release(app, [letter.row_id])
                refused = isinstance(exc, LoginRefused)
                app.outages.down("smtp", str(exc), login_refused=refused)
                if refused:
                    _note_service_problem(app, LOGIN_REFUSED_KEY, str(exc))
                break
            except STOPS:
                interrupted(app, letter, getattr(transport, "data_sent", True))
                raise
            try:
                _finish(app, letter, outcome, error, refused, counts, batch)
            except STOPS:
                interrupted(app, letter, outcome in ("sent", "uncertain"))
                raise
            if outcome == "uncertain":
                # A server that took the data and never answered would do
                # it again: each mail after it would wait out [smtp] timeout
                # and be uncertain too, an operator's check each.
                app.outages.down(
                    "smtp",
                    f"{error}, outbox {letter.row_id} now uncertain: check the"
                    " SMTP server (it took the data and did not answer within"
                    " [smtp] timeout) and whether that mail arrived (`mailbot"
                    f" outbox settle {letter.row_id} arrived|resend`); the rest"
                    " of the outbox waits, untried, as in an outage",
                )
                _wait_out(app)
                break
        _end_batch(app, batch, counts)
    finally:
        if own:
            transport.close()
    return counts


def _wait_out(app: App) -> None:
    """Put the due mail back as in an outage (outage_wait): a server that
    stalls after every mail's data costs one uncertain mail each time, so
    not one each tick of the daemon."""
    now = app.clock.now()
    with app.db.transaction() as session:
        for row in session.scalars(
            select(Outbox).where(Outbox.state == "pending", Outbox.next_try_at <= now)
        ):
            row.next_try_at = now + outage_wait(row, now)


def _note_service_problem(app: App, key: str, problem: str) -> None:
    with app.db.transaction() as session:
        row = session.get(ServiceState, key)
        if row is None:
            session.add(
                ServiceState(key=key, value=problem, updated_at=app.clock.now())
            )
        elif row.value != problem:
            row.value = problem


def _end_batch(app: App, batch: _Batch, counts: DeliveryCounts) -> None:
    if batch.took_mail:
        with app.db.transaction() as session:
            session.execute(
                delete(ServiceState).where(
                    ServiceState.key.in_(
                        (LOGIN_REFUSED_KEY, DATA_REFUSED_KEY, DATA_REFUSAL_SEEN_KEY)
                    )
                )
            )
        return
    if batch.refused_at_data and _refused_at_data(app, batch, counts):
        return
    if batch.deferred:
        app.outages.down(
            "smtp",
            f"every mail refused for now ({len(batch.deferred)} in this batch; "
            "not counted against [smtp] max_attempts, the mail waits): "
            f"{batch.last_refusal}",
        )


def _refused_at_data(app: App, batch: _Batch, counts: DeliveryCounts) -> bool:
    """Decide on the mails refused for good at DATA in a pass in which the
    server took none; True when that is the relay's outage.

    Answers that differ judge each mail: each failed for good. So does a
    lone mail refused with an answer not seen since the server last took a
    mail (BR-37: a 550 is permanent). Two or more mails refused alike, in
    this pass or since the last mail taken, are the relay refusing
    everything: they wait (those failed already are queued again), no
    attempt spent, and `status` says so until a mail goes.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        seen = session.get(ServiceState, DATA_REFUSAL_SEEN_KEY)
        if len(batch.data_answers) > 1:
            _fail_refused_at_data(session, batch, counts)
            return False
        [(kind, answer)] = batch.data_answers.items()
        earlier = json.loads(seen.value) if seen is not None else {}
        alike = earlier.get("kind") == kind
        rows = list(
            dict.fromkeys(
                [*(earlier.get("rows", []) if alike else []), *batch.refused_at_data]
            )
        )
        record = json.dumps({"kind": kind, "rows": rows})
        if seen is None:
            session.add(
                ServiceState(key=DATA_REFUSAL_SEEN_KEY, value=record, updated_at=now)
            )
        else:
            seen.value, seen.updated_at = record, now
        if len(rows) < 2:
            _fail_refused_at_data(session, batch, counts)
            return False
        for row in session.scalars(
            select(Outbox).where(Outbox.id.in_(rows), Outbox.state == "failed")
        ):
            # Failed alone before; the relay's refusal, it turns out.
            row.state, row.attempts = "pending", max(row.attempts - 1, 0)
            row.next_try_at = now + outage_wait(row, now)
            log.warning(
                "outbox %d queued again: the relay refuses every mail alike", row.id
            )
    problem = (
        f"the SMTP server refuses every mail with one permanent answer ({answer};"
        f" {len(rows)} mail(s) since it last took one): the relay's condition, not"
        " the mails'. Check its log and its policy for [mailbot] address (a"
        " blocked sender, a quota, a content filter); the mail waits, no attempt"
        " spent, and leaves once the relay takes mail. If it is the mails'"
        " content, `mailbot outbox drop ID` dismisses one"
    )
    _note_service_problem(app, DATA_REFUSED_KEY, problem)
    app.outages.down("smtp", problem)
    return True


def _fail_refused_at_data(
    session: Session, batch: _Batch, counts: DeliveryCounts
) -> None:
    """The server takes (or judges) mail after all: the mails it refused
    for good at DATA are refused for their own sake."""
    for row in session.scalars(
        select(Outbox).where(Outbox.id.in_(batch.refused_at_data))
    ):
        if row.state == "pending":
            row.state = "failed"
            row.attempts += 1
            counts.retried -= 1
            counts.failed += 1
            log.error("outbox %d delivery failed: %s", row.id, row.last_error)
    batch.refused_at_data.clear()


@dataclass(frozen=True)
class Letter:
    """A claimed outbox row, with what its SMTP exchange needs."""

    row_id: int
    message_id: str | None
    sender: str
    recipients: list[str]
    raw: bytes


def claim_next(app: App, counts: DeliveryCounts | None = None) -> Letter | None:
    """Take the next due row for this process ("sending", with a lease).

    A row whose reason went away while it waited is withdrawn instead
    (withdraw.py; counted in `counts`), and the next one is taken.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        while True:
            row = session.scalars(_next_due(app, now)).first()
            if row is None:
                return None
            mail = session.get(Mail, row.mail_id)
            assert mail is not None
            if withdraw.check(app, session, row, mail):
                session.flush()
                if counts is not None:
                    counts.withdrawn += 1
                continue
            later = (
                chase.waits_for_hours(app, session, mail, now)
                if row.purpose.startswith("chase-")
                else None
            )
            if later is None:
                break
            # Queued anew for then: it is not stuck meanwhile (status,
            # metrics), and counts against the caps of the day it leaves.
            row.next_try_at = row.queued_at = later
            session.flush()
            log.info(
                "%s (%s) waits for the site's working hours: leaves at %s",
                mail.message_id,
                row.purpose,
                iso(later),
            )
        row.state, row.lease_until = "sending", now + LEASE
        redate(mail, now)
        return Letter(
            row.id, mail.message_id, row.envelope_from, list(row.recipients), mail.raw
        )


def _next_due(app: App, now: dt.datetime) -> Select[Outbox]:
    query = (
        select(Outbox)
        .where(Outbox.state == "pending", Outbox.next_try_at <= now)
        .order_by(Outbox.id)
        .limit(1)
    )
    if not app.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return query


# A mail that leaves later than this after it was written (an outage, the
# brake, a retry) is dated again: its Date says when it was really sent.
REDATE_AFTER = dt.timedelta(minutes=1)
_DATE_RE = re.compile(rb"^Date:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.M | re.I)


def redate(mail: Mail, now: dt.datetime) -> None:
    """Set the Date header of a mail that waited in the outbox to `now`."""
    if mail.date is None or now - mail.date < REDATE_AFTER:
        return
    head, body = split_header_block(mail.raw)
    date = b"Date: " + format_datetime(now).encode("ascii")
    new_head, found = _DATE_RE.subn(lambda _: date, head, count=1)
    if not found:
        return
    sep = mail.raw[len(head) : len(mail.raw) - len(body)]
    raw = new_head + sep + body
    mail.raw, mail.size, mail.date = raw, len(raw), now
    mail.raw_sha256 = hashlib.sha256(raw).hexdigest()
    mail.dedupe_key = dedupe_key(raw)


def release(app: App, ids: list[int]) -> None:
    """Give claimed rows back, as if never claimed (no attempt counted)."""
    with app.db.transaction() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.state == "sending")
            .values(state="pending", lease_until=None)
        )


# An orderly stop of the process: Ctrl-C, and SIGTERM of a one-shot command
# (commands.py turns it into KeyboardInterrupt).
STOPS = (KeyboardInterrupt, SystemExit)


def interrupted(app: App, letter: Letter, maybe_delivered: bool) -> None:
    """The process is stopping with `letter` claimed: back to the outbox at
    once if the server cannot have the message, else uncertain, never left
    "sending" until its lease runs out. The exchange's own outcome, once
    recorded, stands."""
    try:
        _put_back(app, letter, maybe_delivered)
    except Exception:  # noqa: BLE001 - the stop goes on; the lease still ends it
        log.warning(
            "%s claimed when interrupted and not put back (the database"
            " failed); its lease ends in %s",
            letter.message_id,
            LEASE,
            exc_info=True,
        )


def _put_back(app: App, letter: Letter, maybe_delivered: bool) -> None:
    with app.db.transaction() as session:
        row = session.get(Outbox, letter.row_id)
        if row is None or row.state != "sending":
            return
        row.lease_until = None
        if maybe_delivered:
            row.state = "uncertain"
            row.last_error = (
                "interrupted after the message data was handed to the server"
            )
            log.error(
                "%s delivery uncertain: %s; check whether it arrived, then"
                " `mailbot outbox settle %d arrived` or `resend`",
                letter.message_id,
                row.last_error,
                row.id,
            )
        else:
            row.state = "pending"
            log.warning(
                "%s delivery interrupted before the message data: back in the"
                " outbox, sent by the next run",
                letter.message_id,
            )


def expire_leases(app: App) -> int:
    """Rows whose sender stopped mid-delivery become uncertain; how many."""
    now = app.clock.now()
    with app.db.transaction() as session:
        stale = list(session.scalars(select(Outbox).where(Outbox.lease_lapsed(now))))
        for row in stale:
            row.state = "uncertain"
            row.last_error = "the sending process stopped during delivery"
            log.error("outbox %d delivery uncertain: %s", row.id, row.last_error)
    return len(stale)


def _names_the_mailbox(answer: str) -> bool:
    """Whether a permanent RCPT refusal speaks of the recipient (5.1.x
    address, 5.2.x mailbox, or no status code and no word of relaying)
    rather than of the relay's policy towards mailbot (5.7.1 "relay access
    denied", "sender address rejected")."""
    subject = _status_subject(answer)
    if subject is None:
        return "relay" not in answer.lower()
    return subject in _MAILBOX_SUBJECTS


def _first(refused: dict[str, str]) -> str:
    recipient, answer = next(iter(refused.items()))
    return f"{recipient}: {answer}"


def _exchange(transport: Transport, letter: Letter):  # type: ignore[no-untyped-def]
    """The outcome of one SMTP exchange: (outcome, error, refused)."""
    try:
        refused = transport.send(letter.sender, letter.recipients, letter.raw)
    except ServerUnavailable:
        raise  # a TemporaryError, but of the server: the caller's to handle
    except DeliveryUncertain as exc:
        return "uncertain", str(exc), {}
    except DataRefused as exc:
        return "refused-at-data", str(exc), {}
    except PermanentError as exc:
        return "failed", str(exc), getattr(exc, "refused", {})
    except TemporaryError as exc:
        return "retry", str(exc), getattr(exc, "refused", {})
    return "sent", None, refused


def _finish(
    app: App,
    letter: Letter,
    outcome: str,
    error: str | None,
    refused: dict[str, str],
    counts: DeliveryCounts,
    batch: _Batch | None = None,
) -> None:
    batch = batch if batch is not None else _Batch(took_mail=True)
    now = app.clock.now()
    later = {r: a for r, a in refused.items() if not a.startswith("5")}
    with app.db.transaction() as session:
        row = session.get(Outbox, letter.row_id)
        assert row is not None
        row.lease_until = None
        never = {r: a for r, a in refused.items() if a.startswith("5")}
        if never:
            # Refused for good at RCPT: the same fact as a bounce, known earlier.
            mail = session.get(Mail, row.mail_id)
            assert mail is not None
            bounces.refused_at_rcpt(app, session, mail, never)
            row.recipients = [r for r in row.recipients if r not in never]
        row.last_error = error if not refused else f"{error or ''} refused: {refused}"
        if outcome == "refused-at-data":
            if not batch.took_mail and row.sent_at is None:
                # Perhaps the relay refuses every mail (a blocked sender, a
                # quota): failed once it takes or judges another one
                # (_charge, _end_batch), else its outage.
                row.state = "pending"
                row.next_try_at = now + outage_wait(row, now)
                batch.refused_at_data.append(row.id)
                batch.data_answers.setdefault(_kind(error or ""), error or "")
                log.debug(
                    "%s refused at DATA, failed only if other mail goes: %s",
                    letter.message_id,
                    error,
                )
                counts.retried += 1
                return
            outcome = "failed"
        server_wide = not (later and all(map(_of_mailbox, later.values())))
        if (
            outcome == "retry"
            and server_wide
            and not batch.took_mail
            and row.sent_at is None
        ):
            # Perhaps the relay refuses every mail: charged only once it
            # takes another one (_charge), else an outage (_end_batch). A
            # mail it took for some recipients already, or refused for its
            # recipients' mailboxes (4.1.x, 4.2.x), is charged at once.
            row.state = "pending"
            row.next_try_at = now + outage_wait(row, now)
            batch.deferred.append(row.id)
            batch.last_refusal = f"{letter.message_id}: {error}"
            log.debug(
                "%s refused for now, not yet counted: %s", letter.message_id, error
            )
            counts.retried += 1
            return
        partial = outcome == "sent" and bool(later)
        if outcome == "sent":
            row.sent_at = now
            if not batch.took_mail:
                batch.took_mail = True
                _charge(app, session, batch.deferred, now)
                _fail_refused_at_data(session, batch, counts)
            if later:
                # Delivered to the others; those refused for now get it later.
                row.recipients = list(later)
                outcome = "retry"
                error = f"sent to the others; refused for now: {later}"
                row.last_error = error
        row.attempts += 1
        if outcome == "retry" and row.attempts >= app.settings.smtp.max_attempts:
            outcome = "failed"
        if outcome == "retry":
            row.state = "pending"
            row.next_try_at = now + backoff(row.attempts)
        else:
            row.state = outcome
    _log_outcome(app, letter.message_id, outcome, error, refused)
    if partial:
        app.outages.up("smtp")
        counts.sent += 1
        return
    name = {"retry": "retried"}.get(outcome, outcome)
    setattr(counts, name, getattr(counts, name) + 1)


def _charge(app: App, session: Session, ids: list[int], now: dt.datetime) -> None:
    """The server takes mail after all: the refusals of `ids` were theirs."""
    for row in session.scalars(select(Outbox).where(Outbox.id.in_(ids))):
        if row.state != "pending":
            continue
        row.attempts += 1
        if row.attempts >= app.settings.smtp.max_attempts:
            row.state = "failed"
            log.error("outbox %d delivery failed: %s", row.id, row.last_error)
        else:
            row.next_try_at = now + backoff(row.attempts)
    ids.clear()


# RFC 3463 enhanced status codes after the reply code: the subject (the
# middle digit) says what the refusal is about; 1 and 2 are the recipient's
# address and mailbox.
_STATUS_RE = re.compile(r"^[45]\d\d[ -][45]\.(\d{1,3})\.\d{1,3}\b")
_MAILBOX_SUBJECTS = ("1", "2")


_DATA_ANSWER_RE = re.compile(r"(\d{3})[ -]+(?:([245]\.\d{1,3}\.\d{1,3})\b)?")


def _kind(error: str) -> str:
    """What a refusal at DATA says, less what differs between mails (a
    queue id, a score): the reply code and enhanced status code, else the
    reply code and its words."""
    text = error.split(": ", 1)[-1]
    found = _DATA_ANSWER_RE.match(text)
    if found is None:
        return text
    if found.group(2):
        return f"{found.group(1)} {found.group(2)}"
    words = re.sub(r"[^a-z ]+", "", text[3:].lower()).split()
    return f"{found.group(1)} {' '.join(words)}"


def _status_subject(answer: str) -> str | None:
    status = _STATUS_RE.match(answer)
    return status.group(1) if status else None


def _of_mailbox(answer: str) -> bool:
    """Whether a temporary RCPT refusal concerns the recipient (RFC 3463:
    4.1.x address, 4.2.x mailbox, such as a full mailbox), not the server."""
    return _status_subject(answer) in _MAILBOX_SUBJECTS


def outage_wait(row: Outbox, now: dt.datetime) -> dt.timedelta:
    """How long a mail waits while the server refuses every mail for now.

    A share of how long it has waited already, so a long outage is not
    hammered, and at most OUTAGE_WAIT_MAX, so it leaves soon after.
    """
    waited = (now - row.queued_at) / OUTAGE_WAIT_SHARE
    return max(dt.timedelta(minutes=1), min(waited, OUTAGE_WAIT_MAX))


def _log_outcome(app, message_id, outcome, error, refused) -> None:  # type: ignore[no-untyped-def]
    if outcome == "sent":
        app.outages.up("smtp")
        log.info("%s sent%s", message_id, f" (refused: {refused})" if refused else "")
    elif outcome == "retry":
        if refused and any(a.startswith("4") for a in refused.values()):
            log.warning("%s %s; retried later", message_id, error)
        else:
            log.info("%s delivery failed, will retry: %s", message_id, error)
    else:
        log.error("%s delivery %s: %s", message_id, outcome, error)


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, ... minutes, at most six hours."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))
