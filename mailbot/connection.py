"""What a failed connection to a mail server means, and what to change.

The IMAP and SMTP clients fail the same few ways before the first command:
TLS spoken to a plain port or the other way round (a timeout or a "wrong
version number"), a certificate that does not verify, no STARTTLS, nothing
listening, no such host. `hint` words each for the section to correct.
"""

from __future__ import annotations

import errno
import mailbox
import os
import re
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mailbot.errors import ConfigError


@dataclass(frozen=True)
class Ports:
    """A protocol's usual ports: TLS from the first byte, and plain."""

    section: str  # "imap" or "smtp": the keys named are [section] ...
    tls_port: int
    plain_ports: str


IMAP = Ports("imap", 993, "143")
SMTP = Ports("smtp", 465, "587 or 25")


def hint(exc: BaseException, tls: str, ports: Ports) -> str:
    """ ": what to check" for `exc`, raised connecting with `tls`; "" when
    nothing more useful than the error itself can be said."""
    section = f"[{ports.section}]"
    if isinstance(exc, TimeoutError):
        # A server that speaks TLS from the first byte waits for a client
        # hello, and a plain client waits for its greeting: both time out.
        if tls != "ssl":
            return (
                f': no greeting within {section} timeout; tls is "{tls}": a'
                f" server that speaks TLS from the first byte (port"
                f' {ports.tls_port}) needs tls = "ssl"; else check {section}'
                " host, port and any firewall"
            )
        return (
            f": no answer within {section} timeout; check {section} host, port"
            " and any firewall"
        )
    if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
        return (
            f": the server does not speak TLS on this port; check {section} tls"
            f' ("ssl" for port {ports.tls_port}, "starttls" or "none" for'
            f" {ports.plain_ports}) and port"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f": check the server's certificate, or {section} ca_file"
    if isinstance(exc, ConnectionRefusedError):
        return f": nothing listens there; check {section} host and port"
    if "STARTTLS" in str(exc):
        return (
            f': {section} tls is "starttls" but the server offers no STARTTLS;'
            f' use tls = "ssl" (port {ports.tls_port}), or "none" only on'
            " loopback"
        )
    if isinstance(exc, socket.gaierror):
        return f": no such host; check {section} host"
    other = _other_greeting(exc, ports)
    if other:
        return (
            f": {other}; check {section} port ({ports.tls_port} with tls ="
            f' "ssl", {ports.plain_ports} otherwise)'
        )
    return ""


# An SMTP reply's start (imaplib shows the greeting it did not expect as
# "unexpected response: b'220 mx ESMTP'").
_SMTP_REPLY = re.compile(r"unexpected response: b'[2-5][0-9][0-9][ -]")


def _other_greeting(exc: BaseException, ports: Ports) -> str:
    """What greeted the client when it was not its protocol's greeting (the
    port of the other server, say), or ""."""
    if ports.section == "imap" and _SMTP_REPLY.search(str(exc)):
        return "the port answers like an SMTP server, not an IMAP one"
    # smtplib's code for a greeting that starts with no number.
    if ports.section == "smtp" and getattr(exc, "smtp_code", None) == -1:
        if "IMAP" in str(exc).upper():
            return "the port answers like an IMAP server, not an SMTP one"
        return "the port's greeting is no SMTP greeting"
    return ""


def tls_context(ca_file: str | None, section: str) -> ssl.SSLContext:
    """A context that verifies certificates, with `ca_file` if given; a CA
    file that cannot be read is a configuration error naming the key."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"{section}.ca_file",
            f"cannot use {ca_file} ({reason}): give a readable file of PEM"
            " certificates, or leave the key out for the system's",
        ) from None


def outbox_maildir(path: Path) -> mailbox.Maildir:
    """The Maildir `[smtp] kind = "maildir"` delivers into, made when missing
    with its tmp, new and cur folders. OSError when it cannot be."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for folder in _MAILDIR_FOLDERS:
        (path / folder).mkdir(mode=0o700, exist_ok=True)
    return mailbox.Maildir(path, create=False)


_MAILDIR_FOLDERS = ("tmp", "new", "cur")
_PROBE = ".mailbot-probe-"


def maildir_problem(path: Path, exc: OSError) -> str:
    """Why mail cannot be delivered into `path`, and what to change."""
    if path.exists() and not path.is_dir():
        reason = "it is a file, not a folder"
    else:
        reason = exc.strerror or str(exc)
        said = str(exc.filename or "")
        if said and said != str(path) and _PROBE not in said:
            reason += f" ({said})"
    return (
        f"cannot deliver into the Maildir {path}: {reason}; point [smtp] path"
        " at a folder mailbot can write (made when missing)"
    )


def check_outbox_maildir(path: Path) -> None:
    """A Maildir outbox that cannot be used fails at start, naming the key.

    Nothing is left behind: a file is made and removed where the mail would
    be written (its tmp folder), or, when it is still to be made, a folder
    in the nearest one that exists.
    """
    try:
        others = _other_files(path)
        _probe(path)
    except OSError as exc:
        raise ConfigError("smtp.path", maildir_problem(path, exc)) from None
    if others:
        raise ConfigError(
            "smtp.path",
            f"{path} holds other files and is no Maildir (no cur, new and tmp"
            f" folders; it holds {', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}): point [smtp] path at a new"
            " or empty folder, or at a Maildir",
        )


def _other_files(path: Path) -> list[str]:
    """The entries of an existing folder that is no Maildir, which it would
    be made into beside them (the config's own folder, a home); [] for a
    Maildir, an empty folder, or one holding only a Maildir's folders."""
    if not path.is_dir() or all((path / f).is_dir() for f in _MAILDIR_FOLDERS):
        return []
    return sorted(set(os.listdir(path)) - set(_MAILDIR_FOLDERS))


def _probe(path: Path) -> None:
    if path.exists():
        folders = [path, *(path / f for f in _MAILDIR_FOLDERS if (path / f).exists())]
        for folder in folders:
            if not folder.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(folder))
        where = path / "tmp" if (path / "tmp").is_dir() else path
        with tempfile.NamedTemporaryFile(dir=where, prefix=_PROBE):
            return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(parent))
    os.rmdir(tempfile.mkdtemp(dir=parent, prefix=_PROBE))
