"""Parts whose Content-Type or charset does not fit their bytes (breaker F8).

A program, an image or random bytes typed text/plain is kept as an
attachment and not read for fields (a defect says so); a text declared
UTF-16 whose bytes are plain 8-bit text is read as what fits.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import struct
import zlib

import pytest

from mailbot import extract
from mailbot.parse import parse

SITE = extract.Context(
    site_networks=(ipaddress.ip_network("192.0.2.0/25"),),
    site_domains=("site-a.example.org",),
)
BODY = "Please find the file of wn17.site-a.example.org attached.\n"


def _mail(ctype: str, data: bytes, disposition: str = "attachment") -> bytes:
    encoded = base64.encodebytes(data).decode("ascii")
    return (
        "From: admin@site-a.example.org\n"
        "To: abuse@egi.eu\n"
        "Subject: Security incident suspected at SITE-A\n"
        "Date: Fri, 04 Dec 2026 10:00:00 +0000\n"
        "Message-ID: <f8@site-a.example.org>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="B"\n\n'
        f"--B\nContent-Type: text/plain\n\n{BODY}\n"
        f"--B\nContent-Type: {ctype}\n"
        f'Content-Disposition: {disposition}; filename="sample"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}\n--B--\n"
    ).encode("ascii")


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00made with gimp.example.org 2.10")
        + chunk(b"IDAT", zlib.compress(b"\x00" * 14))
        + chunk(b"IEND", b"")
    )


def _elf() -> bytes:
    # The head of a small program and the strings a linker leaves in it.
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 3, 62, 1)
    strings = (
        b"\x00ld-linux-x86-64.so.2\x00libc.so.6\x00https://www.gnu.example.org/\x00"
    )
    return head + bytes(range(1, 40)) * 20 + strings + bytes(200)


def _blob() -> bytes:
    draw = random.Random(8)
    return bytes(draw.randrange(256) for _ in range(4000))


BINARIES = {"elf": _elf, "png": _png, "blob": _blob}


@pytest.mark.parametrize("name", sorted(BINARIES))
@pytest.mark.parametrize("disposition", ["attachment", "inline"])
def test_binary_typed_text_is_not_read(name: str, disposition: str) -> None:
    data = BINARIES[name]()
    mail = parse(_mail("text/plain; charset=utf-8", data, disposition))
    # Only the body is read; the binary part stays an attachment, whole.
    assert [part.part for part in mail.text_parts] == ["1"]
    assert [(a.part, a.size) for a in mail.attachments] == [("2", len(data))]
    assert any("binary content" in d and "not read" in d for d in mail.defects)
    found = {(f.field, f.value) for f in extract.extract(mail.text_parts, SITE)}
    assert {value for _, value in found} <= {"wn17.site-a.example.org", BODY.strip()}


@pytest.mark.parametrize(
    "text",
    [
        "Attacker IP: 203.0.113.77\nAffected host: wn17.site-a.example.org\n\n",
        "Attacker IP: 203.0.113.77\nAffected host: wn17.site-a.example.org\n",
    ],
    ids=["even", "odd"],
)
@pytest.mark.parametrize("charset", ["utf-16", "utf-16le", "utf-32", "ucs-2"])
def test_8bit_text_declared_wide_is_read_as_it_is(text: str, charset: str) -> None:
    mail = parse(_mail(f"text/plain; charset={charset}", text.encode("ascii")))
    assert mail.text_parts[1].text == text
    assert any("is 8-bit text" in defect for defect in mail.defects)
    found = {(f.field, f.value) for f in extract.extract(mail.text_parts, SITE)}
    assert ("attacker_ips", "203.0.113.77") in found


def test_real_utf16_is_still_read_as_declared() -> None:
    text = "Attacker IP: 203.0.113.77 (Zürich)\nAffected host: wn17\n"
    for codec in ("utf-16", "utf-16-le"):
        mail = parse(_mail(f"text/plain; charset={codec}", text.encode(codec)))
        assert mail.text_parts[1].text == text
        assert not any("8-bit" in defect for defect in mail.defects)


def test_utf16_with_byte_order_mark_and_no_charset() -> None:
    text = "Attacker IP: 203.0.113.77\n"
    mail = parse(_mail("text/plain", text.encode("utf-16")))
    assert mail.text_parts[1].text == text


@pytest.mark.parametrize(
    "data",
    [
        b"ssh login from 203.0.113.77 on ui01 \x1b[31mFAILED\x1b[0m\n" * 50,
        b"Dec  3 21:14:07 ui01 sshd[123]: Accepted\n" * 20 + bytes(3000),
        "Zugriff von 203.0.113.77 auf wn17 \xfcber SSH\n".encode("latin-1") * 40,
    ],
    ids=["colour codes", "crash nul run", "latin-1"],
)
def test_text_with_odd_bytes_is_still_read(data: bytes) -> None:
    mail = parse(_mail("text/plain", data))
    assert [part.part for part in mail.text_parts] == ["1", "2"]
    assert not any("binary content" in defect for defect in mail.defects)
