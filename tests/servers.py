"""Real servers on loopback for tests: a private Dovecot, an SMTP sink, databases.

Every server binds 127.0.0.1 on a free port and keeps its files in a temporary
directory of its own, so several can run at once and none touches the system's
configuration or spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import getpass
import grp
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any, Literal

import imapclient
import pytest
import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

    HAVE_AIOSMTPD = True
except ImportError:  # pragma: no cover - only without the dev extras
    # The sink's fixture skips (fails in CI); the rest of the module still works.
    Controller = object  # type: ignore[assignment,misc]
    HAVE_AIOSMTPD = False

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
SBIN = Path("/usr/sbin")
IN_CI = bool(os.environ.get("CI"))

_ports_given: set[int] = set()


class ServerError(RuntimeError):
    """Raised when a test server cannot be started, stopped or driven."""


def require(missing: str | None) -> None:
    """Skip the test (fail it in CI) when missing names what is missing."""
    if missing is None:
        return
    if IN_CI:
        pytest.fail(f"CI must run every test, but {missing}")
    pytest.skip(missing)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on host that nothing listens on now and this process never gave."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        # Two servers asked for in a row could otherwise get the same port.
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    """Poll predicate until it holds or timeout seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(step)
    return True


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _binary(name: str) -> str | None:
    # Dovecot lives in /usr/sbin, which a non-root PATH often lacks.
    found = shutil.which(name) or shutil.which(name, path=str(SBIN))
    return found


# TLS


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate it signed for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def openssl_missing() -> str | None:
    """Why TLS test servers cannot run here, or None."""
    return None if _binary("openssl") else "the openssl command is not installed"


def make_tls_files(directory: Path) -> TlsFiles:
    """Make a CA and a server certificate for 127.0.0.1 and localhost."""
    ca, cert, key, ca_key, csr, ext = (
        directory / name
        for name in ("ca.pem", "cert.pem", "key.pem", "ca.key", "cert.csr", "ext")
    )
    # A separate CA (rather than one self-signed leaf) is what strict
    # verifiers expect: the trust anchor is a CA, the server is not.
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    _openssl(f"req -x509 -days 7 {new_key} -keyout {ca_key} -out {ca}", "/CN=test CA")
    _openssl(f"req {new_key} -keyout {key} -out {csr}", "/CN=127.0.0.1")
    _openssl(
        f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 7 "
        f"-extfile {ext} -out {cert}"
    )
    return TlsFiles(ca, cert, key)


def _openssl(arguments: str, subject: str | None = None) -> None:
    # The paths are mkdtemp's, without spaces, so splitting on blanks is safe.
    command = [_binary("openssl") or "openssl", *arguments.split()]
    if subject:
        command += ["-subj", subject]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise ServerError(f"{' '.join(command)} failed: {result.stderr.strip()}")


# Dovecot

DOVECOT_CONF = string.Template("""\
# A private test instance: every file it uses is under $root.
protocols = imap
listen = $host
base_dir = $root/run
state_dir = $root/state
instance_name = mailbot-test-$port
log_path = $root/dovecot.log
default_internal_user = $user
default_internal_group = $group
default_login_user = $login_user
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:~/Maildir
disable_plaintext_auth = no
auth_mechanisms = plain login
$ssl
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $root/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $root/passwd
}
# Only root may chroot: a non-root instance runs these services unconfined.
service anvil {
  chroot = $chroot_empty
}
service ipc {
  chroot = $chroot_empty
}
service imap-login {
  chroot = $chroot_login
  inet_listener imap {
    address = $host
    port = $imap_port
  }
  inet_listener imaps {
    address = $host
    port = $imaps_port
  }
}
""")


@dataclass(frozen=True)
class _Identity:
    """The accounts Dovecot's processes and the mail files run as."""

    user: str
    group: str
    login_user: str
    uid: int
    gid: int
    chroot_empty: str = "empty"
    chroot_login: str = "login"


def _identity() -> _Identity:
    if os.geteuid() != 0:
        name = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        uid, gid = os.geteuid(), os.getegid()
        return _Identity(name, group, name, uid, gid, chroot_empty="", chroot_login="")
    # As root, Dovecot refuses to hand mail to root and wants its own users.
    account = pwd.getpwnam("dovecot")
    group = grp.getgrgid(account.pw_gid).gr_name
    login = "dovenull" if _account_exists("dovenull") else "dovecot"
    return _Identity("dovecot", group, login, account.pw_uid, account.pw_gid)


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def dovecot_missing() -> str | None:
    """Why a private Dovecot cannot run here, or None."""
    for name in ("dovecot", "doveadm"):
        if _binary(name) is None:
            return f"{name} is not installed (Debian package dovecot-imapd)"
    if os.geteuid() == 0 and not _account_exists("dovecot"):
        return "running as root, but there is no dovecot user"
    return None


def _check_traversable(path: Path, uid: int) -> None:
    """Fail early, with the culprit named, if uid cannot reach path."""
    for directory in [path, *path.parents]:
        info = directory.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            raise ServerError(
                f"{directory} is not traversable by uid {uid}, which Dovecot "
                "runs as: set TMPDIR to a directory others may enter"
            )


class Dovecot:
    """A private Dovecot IMAP server on loopback with one user and its maildir.

    As a context manager it starts on entry, and on exit stops and removes its
    directory; `stop()` alone keeps the mail, so `start()` serves it again.
    """

    def __init__(self, *, tls: bool = False, username: str = "mailbot") -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.username = username
        self.password = secrets.token_urlsafe(12)
        self.tls = tls
        self.root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-"))
        self.config = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.tls_files = make_tls_files(self.root) if tls else None
        self._process: subprocess.Popen[bytes] | None = None
        self._identity = _identity()
        try:
            self._write_files()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate a client must trust for the TLS variant."""
        return self.tls_files.ca if self.tls_files else None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context for the TLS variant, else None."""
        return self.tls_files.client_context() if self.tls_files else None

    def _write_files(self) -> None:
        who = self._identity
        home = self.root / "home" / self.username
        home.mkdir(parents=True)
        self.root.chmod(0o755)
        for directory in (home.parent, home):
            os.chown(directory, who.uid, who.gid)
        passwd = self.root / "passwd"
        entry = f"{self.username}:{{PLAIN}}{self.password}:{who.uid}:{who.gid}::{home}"
        passwd.write_text(entry + "::\n")
        os.chown(passwd, who.uid, who.gid)
        passwd.chmod(0o600)
        self.config.write_text(self._config_text())
        _check_traversable(home, who.uid)

    def _config_text(self) -> str:
        who = self._identity
        ssl_lines = "ssl = no"
        if self.tls_files:
            cert, key = self.tls_files.cert, self.tls_files.key
            ssl_lines = f"ssl = required\nssl_cert = <{cert}\nssl_key = <{key}"
        imap, imaps = (0, self.port) if self.tls else (self.port, 0)
        return DOVECOT_CONF.substitute(
            asdict(who),
            root=self.root,
            host=self.host,
            port=self.port,
            ssl=ssl_lines,
            imap_port=imap,
            imaps_port=imaps,
        )

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it sends its IMAP greeting."""
        if self.running:
            return
        began = time.monotonic()
        with open(self.root / "stderr.log", "ab") as stderr:
            self._process = subprocess.Popen(
                [_binary("dovecot") or "dovecot", "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        try:
            if not _wait(self._answers, timeout, step=0.01):
                raise ServerError(
                    f"Dovecot did not answer on port {self.port} "
                    f"in {timeout}s:\n{self.log_tail()}"
                )
        except BaseException:
            self._kill()
            raise
        log.info("dovecot %d: started in %.2fs", self.port, time.monotonic() - began)

    def _answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            # It exited (a config error, say): waiting longer cannot help.
            raise ServerError(
                f"Dovecot exited with {self._process.returncode}:\n{self.log_tail()}"
            )
        try:
            return self._greeting().startswith(b"* OK")
        except OSError:
            return False

    def _greeting(self) -> bytes:
        with socket.create_connection((self.host, self.port), timeout=2) as sock:
            context = self.ssl_context()
            if context is None:
                return sock.recv(200)
            with context.wrap_socket(sock, server_hostname=self.host) as tls:
                return tls.recv(200)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server; the mail stays for a restart on the same port."""
        if self._process is None:
            return
        began = time.monotonic()
        # SIGTERM to the master is what `doveadm stop` sends; doveadm's own
        # connection would keep the master waiting 3 s instead of 1 s.
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("dovecot %d: did not stop in %ss, killed", self.port, timeout)
            self._kill()
        self._process = None
        if not _wait(lambda: not port_open(self.host, self.port), timeout):
            raise ServerError(f"port {self.port} still open after Dovecot stopped")
        log.info("dovecot %d: stopped in %.2fs", self.port, time.monotonic() - began)

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port, as after a server upgrade."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory with all its mail."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of Dovecot's log and of what it printed."""
        text = ""
        for path in (self.root / "stderr.log", self.log_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def doveadm(self, *args: str) -> str:
        """Run a doveadm command against this instance; its standard output."""
        command = [_binary("doveadm") or "doveadm", "-c", str(self.config), *args]
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode:
            raise ServerError(f"{' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def client(self, timeout: float = 10.0) -> imapclient.IMAPClient:
        """A logged-in IMAP client; the caller logs it out."""
        # imapclient defaults to implicit TLS, so say which this server wants.
        client = imapclient.IMAPClient(
            self.host,
            self.port,
            ssl=self.tls,
            ssl_context=self.ssl_context(),
            timeout=timeout,
        )
        try:
            client.login(self.username, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
        internaldate: datetime | None = None,
    ) -> None:
        """Deliver one mail into folder, creating the folder if it is missing."""
        self.append_many([raw], folder, flags, internaldate)

    def append_many(
        self,
        raws: Iterable[bytes],
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
        internaldate: datetime | None = None,
    ) -> None:
        """Deliver several mails over one connection, in order."""
        # A naive time would be read as the local zone: say which one you mean.
        if internaldate is not None and internaldate.tzinfo is None:
            raise ValueError("internaldate must be timezone-aware")
        flags = tuple(flags)
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in raws:
                client.append(folder, raw, flags=flags, msg_time=internaldate)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            status = client.folder_status(folder, [b"UIDVALIDITY"])
        return int(status[b"UIDVALIDITY"])

    def recreate_folder(self, folder: str) -> int:
        """Delete folder with its mail and create it empty; its new UIDVALIDITY."""
        if folder.upper() == "INBOX":
            raise ValueError("IMAP cannot delete INBOX: use change_uidvalidity()")
        with self.client() as client:
            if client.folder_exists(folder):
                client.delete_folder(folder)
            client.create_folder(folder)
        return self.uidvalidity(folder)

    def change_uidvalidity(self, folder: str = "INBOX") -> int:
        """Give folder a new UIDVALIDITY, keeping its mail; the new value.

        Dovecot disconnects every session that has the folder selected.
        """
        value = self.uidvalidity(folder) + 1
        self.doveadm(
            "mailbox",
            "update",
            "-u",
            self.username,
            "--uid-validity",
            str(value),
            folder,
        )
        return value


# SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One mail as the SMTP sink got it: envelope, bytes and parsed message."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message: Message
    helo: str | None
    login: str | None

    @property
    def headline(self) -> str:
        """What a mail of mailbot's is ("Reminder: ...", "Done: #close"): the
        line after its TLP label, since its subject is the thread's."""
        payload = self.message.get_payload(decode=True)
        text = payload.decode("utf-8") if isinstance(payload, bytes) else ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[1] if len(lines) > 1 and lines[0].startswith("TLP:") else ""


@dataclass
class _Stall:
    """One episode of stall mode: sessions wait until released."""

    reply: str = "250 2.0.0 OK"
    released: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Mode:
    mail_reply: str | None = None
    rcpt_reply: str | None = None
    rcpt_only: frozenset[str] | None = None
    data_reply: str | None = None
    data_only: frozenset[str] | None = None
    stall: _Stall | None = None
    # Close the connection after a mail's data instead of answering it.
    drop: bool = False


def smtp_sink_missing() -> str | None:
    """Why the SMTP sink cannot run here, or None."""
    return None if HAVE_AIOSMTPD else "aiosmtpd is not installed (pip install '.[dev]')"


class _SinkHandler:
    """aiosmtpd hooks that answer as the sink's current mode says."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # Checked here, not by aiosmtpd's auth_required, which warns without TLS.
        if self.sink.credentials and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self.sink.mode.mail_reply:
            return self.sink.mode.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        mode = self.sink.mode
        targeted = mode.rcpt_only is None or address.lower() in mode.rcpt_only
        if mode.rcpt_reply and targeted:
            return mode.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        mode = self.sink.mode
        mail = _received(session, envelope)
        targeted = mode.data_only is None or bool(
            mode.data_only & {r.lower() for r in mail.recipients}
        )
        if mode.data_reply and targeted:
            self.sink.record(mail, rejected=True)
            return mode.data_reply
        self.sink.record(mail, rejected=False)
        if mode.drop:
            server.transport.close()
            return "250 2.0.0 never said: the connection is closed"
        if mode.stall is None:
            return "250 2.0.0 OK"
        return await self.sink.stalled(mode.stall)


def _received(session: Session, envelope: Envelope) -> ReceivedMail:
    data = envelope.original_content or b""
    auth = session.auth_data
    return ReceivedMail(
        sender=envelope.mail_from or "",
        recipients=tuple(envelope.rcpt_tos),
        data=data,
        message=email.message_from_bytes(data, policy=email.policy.compat32),
        helo=session.host_name,
        login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
    )


def _reply(code: int, text: str) -> str:
    if not 400 <= code <= 599:
        raise ValueError(f"{code} is not an SMTP error code")
    return f"{code} {text}"


class SmtpSink:
    """A real SMTP server on loopback that keeps every mail it is sent.

    Modes, switched at any time: accept (the default), reject at RCPT or
    DATA with a given reply, stall after DATA until released, close the
    connection after DATA, and refuse connections (stopped). A stopped
    sink starts again on the same port.
    """

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls_files: TlsFiles | None = None,
    ) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.credentials = credentials
        self.tls_files = tls_files
        self.mode = _Mode()
        self._changed = threading.Condition()
        self._messages: list[ReceivedMail] = []
        self._rejected: list[ReceivedMail] = []
        self._waiting = 0
        self._controller: _SinkController | None = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        """Mails taken in: accepted, or stalled (the client may not know)."""
        with self._changed:
            return list(self._messages)

    @property
    def rejected(self) -> list[ReceivedMail]:
        """Mails whose DATA was answered with an error."""
        with self._changed:
            return list(self._rejected)

    def record(self, mail: ReceivedMail, *, rejected: bool) -> None:
        event = "rejected" if rejected else "took in"
        log.debug("smtp sink %d: %s a mail from %s", self.port, event, mail.sender)
        with self._changed:
            (self._rejected if rejected else self._messages).append(mail)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """The mails taken in, once there are at least count of them."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: len(self._messages) >= count, timeout
            ):
                raise AssertionError(
                    f"SMTP sink got {len(self._messages)} mails in {timeout}s, "
                    f"expected {count}"
                )
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()
            self._rejected.clear()

    def accept(self) -> None:
        """Accept every recipient and mail again (releasing any stall)."""
        self.release()
        self.mode = _Mode()

    def reject(
        self,
        stage: Literal["MAIL", "RCPT", "DATA"],
        code: int,
        text: str,
        recipients: Iterable[str] | None = None,
    ) -> None:
        """Answer MAIL FROM, RCPT or DATA with an error (RCPT and DATA: only
        for recipients, or a mail to one of them, if given)."""
        reply = _reply(code, text)
        only = frozenset(r.lower() for r in recipients) if recipients else None
        if stage == "MAIL":
            self.mode = replace(self.mode, mail_reply=reply)
        elif stage == "RCPT":
            self.mode = replace(self.mode, rcpt_reply=reply, rcpt_only=only)
        elif stage == "DATA":
            self.mode = replace(self.mode, data_reply=reply, data_only=only)
        else:
            raise ValueError(f"stage must be MAIL, RCPT or DATA, not {stage!r}")

    def stall(self) -> None:
        """Take in each mail but do not answer its DATA until released."""
        self.mode = replace(self.mode, stall=_Stall())

    def drop(self) -> None:
        """Take in each mail but close the connection instead of answering
        its DATA (a content filter that crashes)."""
        self.mode = replace(self.mode, drop=True)

    def release(self, reply: str = "250 2.0.0 OK") -> None:
        """Answer the stalled sessions with reply and stop stalling."""
        stall = self.mode.stall
        self.mode = replace(self.mode, stall=None)
        if stall is not None:
            stall.reply = reply
            stall.released.set()

    async def stalled(self, stall: _Stall) -> str:
        # Polling a threading.Event keeps release() callable from any thread.
        with self._changed:
            self._waiting += 1
        try:
            while not stall.released.is_set():
                await asyncio.sleep(0.02)
            return stall.reply
        finally:
            with self._changed:
                self._waiting -= 1
                self._changed.notify_all()

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = _SinkController(self)
        controller.start()
        self._controller = controller
        log.info("smtp sink %d: started", self.port)

    def stop(self) -> None:
        """Close every session, as a server going down does, and stop listening."""
        if self._controller is None:
            return
        self.release("421 4.3.2 Service shutting down")
        with self._changed:
            self._changed.wait_for(lambda: self._waiting == 0, timeout=5)
        self._controller.close_sessions()
        self._controller.stop()
        self._controller = None
        log.info("smtp sink %d: stopped", self.port)


class _SinkController(Controller):  # type: ignore[misc,valid-type]
    """aiosmtpd's threaded controller, keeping track of its sessions."""

    def __init__(self, sink: SmtpSink) -> None:
        options: dict[str, Any] = {}
        if sink.credentials:
            options["authenticator"] = _authenticator(sink.credentials)
        if sink.tls_files:
            options["tls_context"] = sink.tls_files.server_context()
            options["require_starttls"] = True
        super().__init__(
            _SinkHandler(sink),
            hostname=sink.host,
            port=sink.port,
            server_hostname="localhost",
            # Without credentials the sink offers no AUTH, as a relay that
            # takes mail without a login (aiosmtpd would offer it all the
            # same, and refuse every login).
            auth_require_tls=bool(sink.tls_files) or not sink.credentials,
            ready_timeout=5.0,
            **options,
        )
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def factory(self) -> SMTP:
        smtp = super().factory()
        self.sessions.add(smtp)
        return smtp

    def close_sessions(self) -> None:
        # Closing them here lets asyncio finish each one; cancelling them with
        # the loop would leave unclosed transports behind.
        future = asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop)
        future.result(timeout=5)

    async def _close_sessions(self) -> None:
        for smtp in list(self.sessions):
            transport = smtp.transport
            if transport is not None and not transport.is_closing():
                transport.write(b"421 4.3.2 Service shutting down\r\n")
                transport.close()
        await asyncio.sleep(0.05)


def _authenticator(credentials: tuple[str, str]) -> Callable[..., AuthResult]:
    login, password = (part.encode() for part in credentials)

    def authenticate(
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data == (login, password):
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False makes aiosmtpd answer 535; handled=True would make it
        # answer nothing, and the client would wait forever.
        return AuthResult(success=False, handled=False)

    return authenticate


# Databases

POSTGRES_HOST = "127.0.0.1:5432"


def database_server(setting: str) -> URL:
    """The URL of a PostgreSQL maintenance database for a test setting.

    "postgresql" means the local server (user postgres, else the current
    user; database test, else postgres); anything else is a SQLAlchemy URL.
    """
    if setting == "postgresql":
        return _local_postgres()
    url = make_url(setting)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"per-test databases need PostgreSQL, not {url.drivername}")
    # psycopg 3 is what the project installs; SQLAlchemy's bare default is v2.
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.set(database=url.database or "postgres")


def _local_postgres() -> URL:
    errors = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        for database in ("test", "postgres"):
            url = make_url(f"postgresql+psycopg://{user}@{POSTGRES_HOST}/{database}")
            try:
                _admin_engine(url).connect().close()
            except OperationalError as error:
                errors.append(f"{user}@{database}: {error.orig}")
                continue
            return url
    raise ServerError(f"no PostgreSQL on {POSTGRES_HOST}: " + "; ".join(errors))


def _admin_engine(url: URL) -> sqlalchemy.Engine:
    # No pool: a pooled admin connection would outlive the database it made.
    return sqlalchemy.create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )


@contextlib.contextmanager
def fresh_database(server: URL) -> Iterator[str]:
    """Create an empty database on server, yield its URL, then drop it."""
    name = f"mailbot_test_{os.getpid()}_{secrets.token_hex(4)}"
    engine = _admin_engine(server)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(engine, name)
        engine.dispose()


def _drop_database(engine: sqlalchemy.Engine, name: str) -> None:
    with engine.connect() as connection:
        # A test that forgot to dispose its engine would block DROP DATABASE.
        connection.execute(
            sqlalchemy.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')


# A TCP forwarder in a process of its own: frozen with SIGSTOP, its kernel
# still takes connections and acknowledges what is sent, and nothing comes
# back (a proxy or a host that hangs with its connections open).
_FORWARDER = """
import socket, sys, threading
target = (sys.argv[1], int(sys.argv[2]))
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
def pipe(source, sink):
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for sock in (source, sink):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    client = server.accept()[0]
    upstream = socket.create_connection(target)
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""


class Forwarder:
    """127.0.0.1:`port` forwarded to `host`:`target`, until freeze()."""

    def __init__(self, host: str, target: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _FORWARDER, host, str(target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def freeze(self) -> None:
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        # Killed, its connections close: the server ends their sessions.
        self._process.kill()
        self._process.wait()
        assert self._process.stdout is not None
        self._process.stdout.close()


@contextlib.contextmanager
def forwarder(url: str) -> Iterator[tuple[Forwarder, str]]:
    """A forwarder to the database of `url`, and the URL through it."""
    parsed = make_url(url)
    forwarding = Forwarder(parsed.host or "127.0.0.1", parsed.port or 5432)
    try:
        yield (
            forwarding,
            parsed.set(host="127.0.0.1", port=forwarding.port).render_as_string(
                hide_password=False
            ),
        )
    finally:
        forwarding.stop()
