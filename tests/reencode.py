"""What relays do to a mail's bytes without changing the mail (no tests here).

Each function takes a mail as bytes and gives it back as a relay would pass
it on: a body re-encoded (a hop without 8BITMIME), trace headers added on
top, header lines folded again.
"""

from __future__ import annotations

import base64
import quopri
import re

TRACE = (
    b"Received: from relay2.example.net (relay2.example.net [198.51.100.2])\r\n"
    b"\tby mx.csirt.example.org with ESMTPS id 4Xy; Fri, 04 Dec 2026 10:01:02 +0000\r\n"
    b"Return-Path: <bounces@relay2.example.net>\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=relay2.example.net; s=k1;\r\n"
    b"\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
    b"\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==\r\n"
    b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=relay2.example.net; s=k1; b=Zm9v\r\n"
    b"Authentication-Results: mx.csirt.example.org; dkim=none\r\n"
)


def split(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def with_encoding(raw: bytes, encoding: str, line: int = 76) -> bytes:
    """A single-part mail's body in `encoding` ("base64", "quoted-printable")."""
    head, body = split(raw)
    lines = head.split(b"\r\n")
    head = b"\r\n".join(
        x for x in lines if not x.lower().startswith(b"content-transfer-encoding:")
    )
    if encoding == "base64":
        text = base64.b64encode(body)
        encoded = b"\r\n".join(text[i : i + line] for i in range(0, len(text), line))
    else:
        encoded = quopri.encodestring(body.replace(b"\r\n", b"\n")).replace(
            b"\n", b"\r\n"
        )
    cte = b"Content-Transfer-Encoding: " + encoding.encode()
    return head + b"\r\n" + cte + b"\r\n\r\n" + encoded + b"\r\n"


def relayed(raw: bytes) -> bytes:
    """Trace headers on top, as relays add them."""
    return TRACE + raw


def refolded(raw: bytes) -> bytes:
    """Every header line with a space in it folded at its first space."""
    head, body = split(raw)
    lines = [
        re.sub(rb"^([^:]+: \S+) ", rb"\1\r\n    ", line) for line in head.split(b"\r\n")
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def lf_only(raw: bytes) -> bytes:
    """Line ends as a Unix mailbox keeps them."""
    return raw.replace(b"\r\n", b"\n")
