"""How a mail reaches the server: SMTP (TLS verified) or a local Maildir.

A transport hands one mail over and says which recipients the server
refused. Its exceptions say whose the failure is: ServerUnavailable the
server's (the mail waits, untried), DeliveryUncertain when the server may
hold the whole message, DataRefused, PermanentError or TemporaryError the
mail's.
"""

from __future__ import annotations

import mailbox
import re
import smtplib
import ssl
from pathlib import Path
from typing import Protocol

from mailbot.app import App
from mailbot.connection import (
    SMTP,
    hint,
    maildir_problem,
    outbox_maildir,
    tls_context,
)
from mailbot.errors import (
    DeliveryUncertain,
    LoginRefused,
    PermanentError,
    ServerUnavailable,
    TemporaryError,
)
from mailbot.settings import SmtpSettings

_EOL_RE = re.compile(rb"\r\n|\n|\r(?!\n)")

# RFC 3463 enhanced status codes after the reply code: the subject (the
# middle digit) says what the refusal is about; 1 and 2 are the recipient's
# address and mailbox.
_STATUS_RE = re.compile(r"^[45]\d\d[ -][45]\.(\d{1,3})\.\d{1,3}\b")
_MAILBOX_SUBJECTS = ("1", "2")


class DataRefused(PermanentError):
    """The server refused the message itself for good, at DATA or after it."""


class RelayRefused(ServerUnavailable):
    """The relay refused mailbot for good: its sender at MAIL FROM, every
    recipient for its policy ("554 5.7.1 Relay access denied"), or the
    connection (a 5xx greeting); or the server and [smtp] settings do not
    fit (no STARTTLS or AUTH offered, TLS at a plain port, a certificate
    that fails). No mail leaves until a person fixes it; `status` says so at
    once (send.batch.DATA_REFUSED_KEY)."""


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
            raise LoginRefused(
                f"SMTP login to {s.host}:{s.port} as {s.username!r} refused "
                f"({exc.smtp_code} {_text(exc)}): check [smtp] username and password "
                "(was the password changed on the server?); the mail waits and "
                "goes once the login works"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(smtp)
            if isinstance(exc, smtplib.SMTPHeloError) and smtp is not None:
                raise _greeting_refused(exc, smtp.local_hostname) from exc
            raise _not_connected(exc, s) from exc
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
            _greet(smtp)
            code, answer = smtp.mail(sender)
            if code >= 400:
                # Refusing our sender refuses every mail: the server's problem.
                text = answer.decode(errors="replace")
                if code < 500:
                    raise ServerUnavailable(f"MAIL FROM: {code} {text}")
                raise RelayRefused(
                    f"the relay refuses mailbot's sender (MAIL FROM: {code} {text}):"
                    " check that it lets [mailbot] address send through it"
                    " ([smtp] host, username); the mail waits"
                )
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
                    raise RelayRefused(
                        f"the relay refuses every recipient ({_first(refused)}):"
                        " check that it lets [mailbot] address send through it"
                        " ([smtp] host, username); the mail waits"
                    )
                error = PermanentError if permanent else TemporaryError
                exc = error(f"every recipient refused: {refused}")
                # Which ones, and how: the sender records each (send._finish).
                setattr(exc, "refused", refused)  # noqa: B010
                raise exc
            return refused
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            said = (
                f"{exc.smtp_code} {_text(exc)}"
                if isinstance(exc, smtplib.SMTPResponseException)
                else str(exc)
            )
            raise ServerUnavailable(f"SMTP failed before DATA: {said}") from exc

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
            raise DeliveryUncertain(_unanswered(exc, self.settings.timeout)) from exc
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


def _greet(smtp: smtplib.SMTP) -> None:
    """EHLO (or HELO) once per connection, a refusal said in words."""
    try:
        smtp.ehlo_or_helo_if_needed()
    except smtplib.SMTPHeloError as exc:
        raise _greeting_refused(exc, smtp.local_hostname) from None


def _greeting_refused(exc: smtplib.SMTPHeloError, name: str) -> ServerUnavailable:
    """The server refused EHLO and HELO: for good (5xx), the relay's refusal
    of mailbot."""
    said = (
        f"the SMTP server refuses mailbot's greeting (EHLO {name}:"
        f" {exc.smtp_code} {_text(exc)})"
    )
    if exc.smtp_code < 500:
        return ServerUnavailable(f"{said}; the mail waits")
    return RelayRefused(
        f"{said}: mailbot greets with the domain of [mailbot] address; check"
        " the relay's policy for that name and this host; the mail waits"
    )


def _unanswered(exc: BaseException, timeout: float) -> str:
    """Why the answer to a mail's data never came: the wait ran out, or the
    server closed the connection first (smtplib says both as "Connection
    unexpectedly closed")."""
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return f"no answer after the message data within [smtp] timeout ({timeout:g} s)"
    return (
        "no answer after the message data: the server closed the connection"
        " before answering"
    )


def _not_connected(exc: BaseException, s: SmtpSettings) -> ServerUnavailable:
    """What a connection that failed before any mail says, and whose fault it
    is: RelayRefused when a person must change the server or [smtp] settings,
    ServerUnavailable when it may pass by itself."""
    where = f"SMTP {s.host}:{s.port}"
    if isinstance(exc, smtplib.SMTPNotSupportedError) and "AUTH" in str(exc):
        return RelayRefused(
            f"{where} offers no AUTH, but [smtp] username is set: many servers"
            ' offer AUTH only after STARTTLS (tls = "starttls", or "ssl" at port'
            " 465); if the relay takes mail without a login, leave [smtp]"
            " username unset; the mail waits"
        )
    if isinstance(exc, smtplib.SMTPConnectError) and exc.smtp_code >= 400:
        said = f"{where} refused the connection: {exc.smtp_code} {_text(exc)}"
        if exc.smtp_code < 500:
            return ServerUnavailable(f"{said}; the mail waits and goes once it lets in")
        return RelayRefused(
            f"{said}: check that it lets this host send through it ([smtp] host,"
            " port); the mail waits"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):
            return ServerUnavailable(
                f"{where} took the connection{hint(exc.__context__, s.tls, SMTP)}"
            )
        return ServerUnavailable(
            f"{where} closed the connection before answering: check [smtp] host"
            " and port, and the server's log; the mail waits"
        )
    # smtplib ends some of its sentences with a full stop, before the hint.
    said = f"{where}: {str(exc).rstrip('.')}{hint(exc, s.tls, SMTP)}"
    if _settings_misfit(exc):
        # Reached, but not to be used as [smtp] says.
        return RelayRefused(f"cannot use {said}")
    return ServerUnavailable(f"cannot reach {said}")


def _settings_misfit(exc: BaseException) -> bool:
    """Whether `exc` says the server and [smtp] settings do not fit: no
    STARTTLS offered, TLS at a plain port, a certificate that fails, another
    protocol's greeting. Each lasts until a person changes one of them."""
    if isinstance(exc, (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError)):
        return True
    if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
        return True
    return getattr(exc, "smtp_code", None) == -1


def _text(exc: smtplib.SMTPResponseException) -> str:
    answer = exc.smtp_error
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer


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


def _status_subject(answer: str) -> str | None:
    status = _STATUS_RE.match(answer)
    return status.group(1) if status else None


def of_mailbox(answer: str) -> bool:
    """Whether a temporary RCPT refusal concerns the recipient (RFC 3463:
    4.1.x address, 4.2.x mailbox, such as a full mailbox), not the server."""
    return _status_subject(answer) in _MAILBOX_SUBJECTS
