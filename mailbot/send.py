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
import logging
import mailbox
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Select, select, update

from mailbot import withdraw
from mailbot.app import App
from mailbot.config import SmtpSettings
from mailbot.db.models import Mail, Outbox
from mailbot.errors import (
    DeliveryUncertain,
    PermanentError,
    ServerUnavailable,
    TemporaryError,
)
from mailbot.store import dedupe_key, split_header_block

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)
_EOL_RE = re.compile(rb"\r\n|\n|\r(?!\n)")


class Transport(Protocol):
    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        """Deliver; return the recipients the server refused, with its answer."""
        ...

    def close(self) -> None: ...


class MaildirTransport:
    """Delivers into a local Maildir: the embedded default, no server needed."""

    def __init__(self, path: Path) -> None:
        self.box = mailbox.Maildir(path, create=True)

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        envelope = f"X-Envelope-To: {', '.join(recipients)}\n".encode()
        self.box.add(envelope + raw)
        return {}

    def close(self) -> None:
        return None


class SmtpTransport:
    """One SMTP connection, opened on first use and reused for a batch."""

    def __init__(self, settings: SmtpSettings, local_hostname: str | None = None):
        self.settings = settings
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        # Always verify: smtplib's starttls() without a context does not.
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
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
            raise PermanentError(
                f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(
                f"cannot reach SMTP {s.host}:{s.port}: {exc}"
            ) from exc
        return smtp

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, str]:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        try:
            refused = self._envelope(smtp, sender, recipients)
            self._data(smtp, raw)
        except (DeliveryUncertain, PermanentError, TemporaryError):
            self.close()
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
                error = PermanentError if permanent else TemporaryError
                raise error(f"every recipient refused: {refused}")
            return refused
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise ServerUnavailable(f"SMTP failed before DATA: {exc}") from exc

    def _data(self, smtp: smtplib.SMTP, raw: bytes) -> None:
        try:
            code, answer = smtp.docmd("DATA")
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TemporaryError(f"SMTP failed at DATA: {exc}") from exc
        _check(code, answer, "DATA", expect=354)
        payload = re.sub(rb"(?m)^\.", b"..", _EOL_RE.sub(b"\r\n", raw))
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
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
        _check(code, answer, "end of DATA")

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


def _check(code: int, answer: bytes, step: str, expect: int | None = None) -> None:
    text = f"{step}: {code} {answer.decode(errors='replace')}"
    if expect is not None and code == expect:
        return
    if 500 <= code < 600:
        raise PermanentError(text)
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
    """
    counts = DeliveryCounts(uncertain=expire_leases(app))
    own = transport is None
    transport = transport or transport_for(app)
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
                app.outages.down("smtp", str(exc))
                break
            _finish(app, letter, outcome, error, refused, counts)
    finally:
        if own:
            transport.close()
    return counts


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
            if not withdraw.check(app, session, row, mail):
                break
            session.flush()
            if counts is not None:
                counts.withdrawn += 1
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


def expire_leases(app: App) -> int:
    """Rows whose sender stopped mid-delivery become uncertain; how many."""
    now = app.clock.now()
    with app.db.transaction() as session:
        stale = list(
            session.scalars(
                select(Outbox).where(
                    Outbox.state == "sending", Outbox.lease_until < now
                )
            )
        )
        for row in stale:
            row.state = "uncertain"
            row.last_error = "the sending process stopped during delivery"
            log.error("outbox %d delivery uncertain: %s", row.id, row.last_error)
    return len(stale)


def _exchange(transport: Transport, letter: Letter):  # type: ignore[no-untyped-def]
    """The outcome of one SMTP exchange: (outcome, error, refused)."""
    try:
        refused = transport.send(letter.sender, letter.recipients, letter.raw)
    except ServerUnavailable:
        raise  # a TemporaryError, but of the server: the caller's to handle
    except DeliveryUncertain as exc:
        return "uncertain", str(exc), {}
    except PermanentError as exc:
        return "failed", str(exc), {}
    except TemporaryError as exc:
        return "retry", str(exc), {}
    return "sent", None, refused


def _finish(
    app: App,
    letter: Letter,
    outcome: str,
    error: str | None,
    refused: dict[str, str],
    counts: DeliveryCounts,
) -> None:
    now = app.clock.now()
    with app.db.transaction() as session:
        row = session.get(Outbox, letter.row_id)
        assert row is not None
        row.attempts += 1
        row.lease_until = None
        if outcome == "retry" and row.attempts >= app.settings.smtp.max_attempts:
            outcome = "failed"
        if outcome == "retry":
            row.state = "pending"
            row.next_try_at = now + backoff(row.attempts)
        else:
            row.state = outcome
        row.last_error = error if not refused else f"{error or ''} refused: {refused}"
        if outcome == "sent":
            row.sent_at = now
    _log_outcome(app, letter.message_id, outcome, error, refused)
    name = {"retry": "retried"}.get(outcome, outcome)
    setattr(counts, name, getattr(counts, name) + 1)


def _log_outcome(app, message_id, outcome, error, refused) -> None:  # type: ignore[no-untyped-def]
    if outcome == "sent":
        app.outages.up("smtp")
        log.info("%s sent%s", message_id, f" (refused: {refused})" if refused else "")
    elif outcome == "retry":
        # A server answering 4xx to every mail is an outage: logged once.
        app.outages.down("smtp", f"{message_id}: {error}")
        log.debug("%s delivery failed, will retry: %s", message_id, error)
    else:
        log.error("%s delivery %s: %s", message_id, outcome, error)


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, ... minutes, at most six hours."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))
