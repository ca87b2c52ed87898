"""Building outgoing mail: the thread's headers, the TLP label, safe values.

Nothing taken from an incoming mail reaches a header here without its line
breaks and control characters removed (see BR-10: an encoded LF in a
Subject must not become a second header).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

# Headers are written unfolded up to RFC 5322's hard limit: the standard
# library's folder at 78 columns sometimes breaks right after "Subject:",
# which some clients then show with a leading space. The body keeps its
# quoted-printable lines within RFC 2045's 76, fixed when the content is set
# (the library would otherwise encode up to the policy's 78).
_HEADER_LINE = 998
_BODY_LINE = 76
_HEADERS_POLICY = SMTP.clone(max_line_length=_HEADER_LINE)
_CONTENT_POLICY = SMTP.clone(max_line_length=_BODY_LINE)
# Control characters, and the invisible ones that reorder or hide text
# (bidi overrides and isolates, zero-width space; not the joiners that
# Persian and Indic names need): "\u202emoc.live" shows as "evil.com".
_CONTROL_RE = re.compile(
    r"[\x00-\x1f\x7f\u2028\u2029\x85\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]+"
)
_ID_RE = re.compile(r"<[^<>\s]{1,900}>")


def clean_header(value: str) -> str:
    """One line of printable text: control characters become one space."""
    return re.sub(r"\s{2,}", " ", _CONTROL_RE.sub(" ", value)).strip()


def clean_ids(ids: Sequence[str]) -> list[str]:
    """Message-IDs fit to put back into In-Reply-To and References."""
    found: list[str] = []
    for value in ids:
        for msgid in _ID_RE.findall(clean_header(value)):
            # A non-ASCII id would be sent as an encoded word, which no
            # mail program matches: it cannot thread, so it is left out.
            if msgid not in found and msgid.isascii():
                found.append(msgid)
    return found


# A subject longer than this is cut (with an ellipsis) in mail we send: a
# hostile 200 kB subject must not come back in every mail of its thread.
MAX_SUBJECT_CHARS = 200


def short_subject(subject: str) -> str:
    """`subject` on one line, cut to MAX_SUBJECT_CHARS with an ellipsis."""
    subject = clean_header(subject)
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[: MAX_SUBJECT_CHARS - 1].rstrip() + "\u2026"
    return subject


def subject_line(tag: str, tlp_label: str, base: str) -> str:
    """`[TAG] [TLP:LABEL] base subject`, as INTERFACE.md writes it."""
    return clean_header(f"[{tag}] [TLP:{tlp_label}] {short_subject(base)}")


def new_message_id(tag: str | None, domain: str) -> str:
    # record.py's _sent_by_us looks up only Message-IDs with this ".mb" mark.
    return make_msgid(idstring=f"mb.{tag}" if tag else "mb", domain=domain)


@dataclass(frozen=True)
class Outgoing:
    """A mail ready to store and queue: its bytes and its envelope."""

    message_id: str
    subject: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    raw: bytes

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.to, *self.cc)))


def compose(
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str,
    body: str,
    tlp_label: str,
    message_id: str,
    date: dt.datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> Outgoing:
    """One mail in the thread; the body's first line is the TLP 2.0 label."""
    subject = clean_header(subject)
    # Every mail mailbot sends names its TLP label in the subject, thread
    # mail after its tag (subject_line), notices to the CSIRT up front.
    if f"[TLP:{tlp_label}]" not in subject:
        subject = f"[TLP:{tlp_label}] {subject}"
    headers = [
        ("From", sender),
        ("To", ", ".join(clean_header(a) for a in to)),
        *([("Cc", ", ".join(clean_header(a) for a in cc))] if cc else []),
        ("Subject", subject),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        *_thread_headers(in_reply_to, references),
        ("Auto-Submitted", "auto-generated"),
        # OOF and AutoReply only: "All" would also suppress bounce reports.
        ("X-Auto-Response-Suppress", "OOF, AutoReply"),
    ]
    text = f"TLP:{tlp_label}\n\n{body}"
    plain = _plain_bytes(headers, text)
    if plain is None:
        subject, raw = _email_bytes(headers, text)
    return Outgoing(
        message_id=message_id,
        subject=subject,
        sender=sender,
        to=tuple(to),
        cc=tuple(cc),
        raw=raw if plain is None else plain,
    )


def _thread_headers(
    in_reply_to: str | None, references: Sequence[str]
) -> list[tuple[str, str]]:
    parents = clean_ids([in_reply_to] if in_reply_to else [])
    chain = clean_ids([*references, *parents])
    return [
        *([("In-Reply-To", parents[0])] if parents else []),
        *([("References", " ".join(chain[-20:]))] if chain else []),
    ]


def _email_bytes(headers: list[tuple[str, str]], text: str) -> tuple[str, bytes]:
    """The mail as the email package writes it: (its Subject, its bytes)."""
    try:
        return _by_email_package(headers, text)
    except UnicodeEncodeError:
        # The header registry decodes what looks like an encoded word in a
        # subject, and fails on some broken ones (a mutated report's did);
        # "= ?" is plain text to it.
        broken = [
            (n, v.replace("=?", "= ?") if n == "Subject" else v) for n, v in headers
        ]
        return _by_email_package(broken, text)


def _by_email_package(headers: list[tuple[str, str]], text: str) -> tuple[str, bytes]:
    message = EmailMessage(policy=_CONTENT_POLICY)
    for name, value in headers:
        message[name] = value
    message.set_content(text, charset="utf-8")
    return str(message["Subject"]), message.as_bytes(policy=_HEADERS_POLICY)


# What the email package writes back unchanged, so `_plain_bytes` may write
# it directly: printable ASCII words in single spaces, no encoded word, and
# for address headers bare addresses. Its parsing and folding cost more
# than the rest of a reminder put together.
_PLAIN_TEXT_RE = re.compile(r"(?!.*=\?)[!-~]+(?: [!-~]+)*")
_ADDRESS = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PLAIN_ADDRESSES_RE = re.compile(rf"{_ADDRESS}(?:, {_ADDRESS})*")
_PLAIN_ID_RE = re.compile(rf"<{_ADDRESS}>")
_PLAIN_RE = {"from": _PLAIN_ADDRESSES_RE, "to": _PLAIN_ADDRESSES_RE}
_PLAIN_RE |= {"cc": _PLAIN_ADDRESSES_RE, "message-id": _PLAIN_ID_RE}
_MIME_HEADERS = (
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\n\r\n"
)


def _plain_bytes(headers: list[tuple[str, str]], text: str) -> bytes | None:
    """The bytes `_email_bytes` would write, when every part is plain; else None.

    The common mail (ASCII headers, a body of short ASCII lines) is written
    here; tests/test_compose.py checks both ways agree.
    """
    lines = []
    for name, value in headers:
        line = f"{name}: {value}"
        pattern = _PLAIN_RE.get(name.lower(), _PLAIN_TEXT_RE)
        if len(line) > _HEADER_LINE or not pattern.fullmatch(value):
            return None
        lines.append(line)
    try:
        body = text.encode("ascii").splitlines()
    except UnicodeEncodeError:
        return None
    if max((len(line) for line in body), default=0) > _BODY_LINE:
        return None
    head = "\r\n".join(lines).encode("ascii") + b"\r\n"
    return head + _MIME_HEADERS + b"\r\n".join(body) + b"\r\n"


_REFERENCES_RE = re.compile(
    rb"^References:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n", re.M | re.I
)
_AUTO_SUBMITTED_RE = re.compile(rb"^Auto-Submitted:", re.M)


def references(raw: bytes) -> list[str]:
    """The Message-IDs of the References header of a mail mailbot wrote."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    found = _REFERENCES_RE.search(head)
    if found is None:
        return []
    text = found.group().decode("ascii", "replace").split(":", 1)[1]
    return clean_ids([text])


def with_references(raw: bytes, chain: Sequence[str]) -> bytes:
    """A mail mailbot wrote, with its References header `chain` (its last
    20, as compose writes them); the rest of its bytes unchanged."""
    ids = clean_ids(chain)[-20:]
    lines = [f"References: {ids[0]}"] if ids else []
    for msgid in ids[1:]:
        if len(lines[-1]) + 1 + len(msgid) > _HEADER_LINE:
            lines.append("")
        lines[-1] += f" {msgid}"
    header = "".join(f"{line}\r\n" for line in lines).encode("ascii")
    head, blank, body = raw.partition(b"\r\n\r\n")
    head += b"\r\n"
    if _REFERENCES_RE.search(head):
        head = _REFERENCES_RE.sub(lambda _: header, head, count=1)
    else:
        # compose writes References just before Auto-Submitted.
        place = _AUTO_SUBMITTED_RE.search(head)
        at = place.start() if place else len(head)
        head = head[:at] + header + head[at:]
    return head[:-2] + blank + body
