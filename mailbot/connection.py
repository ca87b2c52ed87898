"""What a failed connection to a mail server means, and what to change.

The IMAP and SMTP clients fail the same few ways before the first command:
TLS spoken to a plain port or the other way round (a timeout or a "wrong
version number"), a certificate that does not verify, no STARTTLS, nothing
listening, no such host. `hint` words each for the section to correct.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

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
