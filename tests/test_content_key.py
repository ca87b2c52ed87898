"""The content key: the same for a mail however relays re-encoded it, and
different as soon as what its author wrote differs."""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable

import pytest
from reencode import lf_only, refolded, relayed, split, with_encoding

from mailbot.parse import parse_within
from mailbot.redelivery import content_key
from mailbot.settings import LimitsSettings

LIMITS = LimitsSettings()

HEAD = (
    "From: Pekka Admin <admin@site-a.example.com>\r\n"
    "To: abuse@csirt.example.org\r\n"
    "Cc: ngi-sec@ngi-a.example.org\r\n"
    "Subject: Verdächtige SSH-Logins auf wn12 [TLP:AMBER]\r\n"
    "Date: Fri, 04 Dec 2026 09:55:00 +0000\r\n"
    "Message-ID: <report-7@site-a.example.com>\r\n"
    "MIME-Version: 1.0\r\n"
)
TEXT = (
    "Grüße,\r\n\r\nwe found logins from 203.0.113.77 on wn12.site-a.example.com "
    "(192.0.2.45) at 08:10 UTC, a line long enough to be wrapped by quoted-printable "
    "soft line breaks.\r\nA line ending in blanks   \r\n\r\nPekka\r\n"
)
SINGLE = (
    HEAD + "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n" + TEXT
).encode()

CSV = b"time,source\r\n2026-12-04T08:10:00Z,203.0.113.77\r\n"
BINARY = bytes(range(256)) * 4


def _multipart(
    boundary: str = "b1",
    text_cte: str = "8bit",
    csv_cte: str = "8bit",
    line: int = 76,
    name: str = "sample.bin",
    binary: bytes = BINARY,
) -> bytes:
    def encoded(data: bytes, cte: str) -> bytes:
        if cte == "base64":
            text = base64.b64encode(data)
            return b"\r\n".join(text[i : i + line] for i in range(0, len(text), line))
        if cte == "quoted-printable":
            return quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(
                b"\n", b"\r\n"
            )
        return data

    b = boundary.encode()
    return b"".join(
        [
            HEAD.encode(),
            b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n',
            b"--" + b + b"\r\nContent-Type: text/plain; charset=utf-8\r\n",
            b"Content-Transfer-Encoding: " + text_cte.encode() + b"\r\n\r\n",
            encoded(TEXT.encode(), text_cte),
            b"\r\n--" + b + b"\r\nContent-Type: text/csv; charset=utf-8\r\n",
            b'Content-Disposition: attachment; filename="logins.csv"\r\n',
            b"Content-Transfer-Encoding: " + csv_cte.encode() + b"\r\n\r\n",
            encoded(CSV, csv_cte),
            b"\r\n--" + b + b"\r\nContent-Type: application/octet-stream\r\n",
            b'Content-Disposition: attachment; filename="' + name.encode() + b'"\r\n',
            b"Content-Transfer-Encoding: base64\r\n\r\n",
            encoded(binary, "base64"),
            b"\r\n--" + b + b"--\r\n",
        ]
    )


def key(raw: bytes, limits: LimitsSettings = LIMITS) -> str | None:
    return content_key(parse_within(raw, limits), limits)


def _encoded_subject(raw: bytes) -> bytes:
    # A gateway that may not pass 8-bit headers writes an encoded word.
    return raw.replace(
        "Subject: Verdächtige".encode(), b"Subject: =?utf-8?q?Verd=C3=A4chtige?="
    )


def _latin1(raw: bytes) -> bytes:
    # A gateway converts the text to ISO-8859-1 and says so: the same text.
    head, _, body = raw.partition(b"\r\n\r\n")
    head = head.replace(b"charset=utf-8", b"charset=iso-8859-1")
    return head + b"\r\n\r\n" + body.decode("utf-8").encode("iso-8859-1")


SAME_MAIL: dict[str, Callable[[bytes], bytes]] = {
    "charset converted": _latin1,
    "charset converted, quoted-printable": lambda raw: with_encoding(
        _latin1(raw), "quoted-printable"
    ),
    "base64": lambda raw: with_encoding(raw, "base64"),
    "base64 in short lines": lambda raw: with_encoding(raw, "base64", 40),
    "quoted-printable": lambda raw: with_encoding(raw, "quoted-printable"),
    "trace headers added": relayed,
    "header lines folded": refolded,
    "LF line ends": lf_only,
    "subject as an encoded word": _encoded_subject,
    "all at once": lambda raw: lf_only(
        relayed(refolded(_encoded_subject(with_encoding(raw, "quoted-printable"))))
    ),
}


@pytest.mark.parametrize("change", SAME_MAIL.values(), ids=SAME_MAIL.keys())
def test_a_relay_s_changes_keep_the_key(change: Callable[[bytes], bytes]) -> None:
    changed = change(SINGLE)
    assert changed != SINGLE
    assert key(changed) == key(SINGLE) is not None


def test_every_part_re_encoded_keeps_the_key() -> None:
    again = _multipart(
        boundary="=_relay_0042", text_cte="quoted-printable", csv_cte="base64", line=64
    )
    assert key(again) == key(_multipart()) is not None
    assert key(relayed(lf_only(again))) == key(_multipart())


def _replace(old: str, new: str) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        assert old.encode() in raw
        return raw.replace(old.encode(), new.encode(), 1)

    return change


OTHER_MAIL: dict[str, Callable[[bytes], bytes]] = {
    "one word of the body": _replace("logins from", "logins to"),
    "the subject": _replace("auf wn12", "auf wn13"),
    "the sender": _replace("admin@site-a", "other@site-a"),
    "a recipient": _replace("ngi-sec@", "ngi-ops@"),
    "the date, by a second": _replace("09:55:00", "09:55:01"),
    "the Message-ID": _replace("report-7@", "report-8@"),
    "a blank line more": _replace("Pekka\r\n", "\r\nPekka\r\n"),
}


@pytest.mark.parametrize("change", OTHER_MAIL.values(), ids=OTHER_MAIL.keys())
def test_what_the_author_wrote_changes_the_key(
    change: Callable[[bytes], bytes],
) -> None:
    assert key(change(SINGLE)) != key(SINGLE)
    # Re-encoded as well, still another mail.
    assert key(with_encoding(change(SINGLE), "base64")) != key(SINGLE)


def test_an_attachment_changed_changes_the_key() -> None:
    original = key(_multipart())
    flipped = BINARY[:100] + b"\x00" + BINARY[101:]
    assert key(_multipart(binary=flipped)) != original
    assert key(_multipart(name="other.bin")) != original
    assert key(_multipart().replace(b"203.0.113.77\r\n", b"203.0.113.78\r\n")) != (
        original
    )
    # The attachment's bytes moved into the body: another mail too.
    head, body = split(_multipart())
    assert key(head + b"\r\n\r\n" + body.replace(b"logins.csv", b"logins.txt")) != (
        original
    )


def test_no_key_without_message_id_and_date() -> None:
    # Two such mails may be one text sent twice, at different times.
    bare = SINGLE.replace(b"Message-ID: <report-7@site-a.example.com>\r\n", b"")
    assert key(bare) is not None
    undated = bare.replace(b"Date: Fri, 04 Dec 2026 09:55:00 +0000\r\n", b"")
    assert key(undated) is None


def test_no_key_beyond_the_mime_limits() -> None:
    assert key(_multipart(), LimitsSettings(max_mime_parts=3)) is None
    assert key(_multipart(), LimitsSettings(max_mime_parts=4)) is not None


def _forward(inner_cte: str = "8bit", inner_subject: str = "Logins") -> bytes:
    body = "Grüße, logins from 203.0.113.77   \r\n".encode()
    if inner_cte == "quoted-printable":
        body = quopri.encodestring(body.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    inner = (
        b"From: user@site-a.example.com\r\nSubject: " + inner_subject.encode()
        + b"\r\nMessage-ID: <inner@site-a.example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: " + inner_cte.encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    return (
        HEAD.encode() + b'Content-Type: multipart/mixed; boundary="f"\r\n\r\n'
        b"--f\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        b"--f\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--f--\r\n"
    )


def test_an_attached_mail_counts_with_its_headers() -> None:
    # A hop without 8BITMIME re-encodes the attached mail's body as well.
    assert key(_forward("quoted-printable")) == key(_forward()) is not None
    assert key(_forward(inner_subject="Other logins")) != key(_forward())
