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
_HEADERS_POLICY = SMTP.clone(max_line_length=998)
_CONTENT_POLICY = SMTP.clone(max_line_length=76)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
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


def subject_line(tag: str, tlp_label: str, base: str) -> str:
    """`[TAG] [TLP:LABEL] base subject`, as INTERFACE.md writes it."""
    base = clean_header(base)
    return clean_header(f"[{tag}] [TLP:{tlp_label}] {base}")


def new_message_id(tag: str | None, domain: str) -> str:
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
    message = EmailMessage(policy=_CONTENT_POLICY)
    message["From"] = sender
    message["To"] = ", ".join(clean_header(a) for a in to)
    if cc:
        message["Cc"] = ", ".join(clean_header(a) for a in cc)
    subject = clean_header(subject)
    # Every mail mailbot sends names its TLP label in the subject, thread
    # mail after its tag (subject_line), notices to the CSIRT up front.
    if f"[TLP:{tlp_label}]" not in subject:
        subject = f"[TLP:{tlp_label}] {subject}"
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    parents = clean_ids([in_reply_to] if in_reply_to else [])
    if parents:
        message["In-Reply-To"] = parents[0]
    chain = clean_ids([*references, *parents])
    if chain:
        message["References"] = " ".join(chain[-20:])
    message["Auto-Submitted"] = "auto-generated"
    # OOF and AutoReply only: "All" would also suppress bounce reports.
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    message.set_content(f"TLP:{tlp_label}\n\n{body}", charset="utf-8")
    return Outgoing(
        message_id=message_id,
        subject=message["Subject"],
        sender=sender,
        to=tuple(to),
        cc=tuple(cc),
        raw=message.as_bytes(policy=_HEADERS_POLICY),
    )
