"""Delivery status notifications: RFC 3464 reports and the common plain bounces.

`build_report` reads who failed, with which status, and which mail of ours
comes back, from the pieces `dsn_parts.gather` sorts a bounce into: the
status blocks of a structured report, else the words of a plain one. Like
the reading of the parts (`message_text.py`), nothing here raises on
hostile input, and no pattern nests quantifiers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from email.message import Message

from mailbot.dsn_parts import Material, parse_blocks
from mailbot.message_text import MAX_HEADER, clean_text, header_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a report speaks of; `status` is an RFC 3463 code."""

    address: str
    action: str
    status: str | None
    diagnostic: str | None
    permanent: bool
    # The Original-Recipient (RFC 3464) when it names another address: the
    # one the mail was sent to, before a forwarding made it `address`.
    original: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says: who failed, and which mail of ours it returns."""

    recipients: tuple[FailedRecipient, ...]
    original_message_id: str | None
    reporting_mta: str | None


_ADDRESS = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"
)


def addresses(text: str) -> list[str]:
    """The addresses in a text, lower-cased, in order of appearance."""
    found = (m.group(0).strip(".'`").lower() for m in _ADDRESS.finditer(text))
    return list(dict.fromkeys(a for a in found if "@" in a))


def first_address(text: str) -> str:
    """The first address in a header value or text, or ""."""
    found = addresses(text[:MAX_HEADER])
    return found[0] if found else ""


def build_report(message: Message, material: Material) -> DeliveryReport:
    """Read recipients, statuses and the returned Message-ID of a bounce."""
    notice, returned = "\n".join(material.notes), "\n".join(material.returned)
    recipients = _block_recipients(material.blocks) or _block_recipients(
        parse_blocks(notice)
    )
    if not recipients:
        recipients = _text_recipients(message, notice, returned)
    return DeliveryReport(
        recipients=tuple(recipients),
        original_message_id=_original_id(returned),
        reporting_mta=_reporting_mta(material.blocks, notice),
    )


def _block_recipients(blocks: list[dict[str, str]]) -> list[FailedRecipient]:
    found: dict[str, FailedRecipient] = {}
    for block in blocks:
        recipient = _block_recipient(block)
        if recipient is not None:
            found.setdefault(recipient.address, recipient)
    return list(found.values())


_IMPLIED_ACTIONS = {"2": "delivered", "4": "delayed"}


def _block_recipient(block: dict[str, str]) -> FailedRecipient | None:
    address = _named(block.get("final-recipient", ""))
    original = _named(block.get("original-recipient", ""))
    address = address or original
    if not address:
        return None
    diagnostic = block.get("diagnostic-code", "")[:500] or None
    status = _refined(
        status_code(block.get("status", ""), "245"), code_in(diagnostic or "")[0]
    )
    implied = _IMPLIED_ACTIONS.get((status or "5")[0], "failed")
    action = (block.get("action", "").split() or [implied])[0]
    recipient = _recipient(address.lower(), action.lower(), status, diagnostic)
    if original and original.lower() != recipient.address:
        return replace(recipient, original=original.lower())
    return recipient


def _named(value: str) -> str:
    """The address of a Final- or Original-Recipient field ("rfc822;a@b")."""
    return first_address(value) or value.rpartition(";")[2].strip(" <>")


def _refined(status: str | None, detail: str | None) -> str | None:
    # A generic Status (5.0.0) yields to the precise code of the same class
    # that the remote server gave in the Diagnostic-Code.
    if status is None or (
        detail and status.endswith(".0.0") and detail[0] == status[0]
    ):
        return detail or status
    return status


def _recipient(
    address: str, action: str, status: str | None, diagnostic: str | None
) -> FailedRecipient:
    # A delay or a success is never permanent; a failure is, unless its
    # status says the problem is temporary.
    if action in ("delayed", "delivered", "relayed", "expanded"):
        permanent = False
    else:
        permanent = status[0] == "5" if status else action == "failed"
    return FailedRecipient(address, action, status, diagnostic, permanent)


# A status with the line of text it was read from, or (None, None).
_Found = tuple[str | None, str | None]
_ENHANCED = re.compile(r"(?<![\w.-])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_SMTP = re.compile(r"(?<![\w.:/-])(4[0-5]\d|5[0-5]\d)(?![\w.:/-])")


def status_code(text: str, classes: str = "45") -> str | None:
    """The first RFC 3463 code (`5.1.1`) of a class in `classes` in a text."""
    for match in _ENHANCED.finditer(text):
        if match.group(1) in classes:
            return f"{match.group(1)}.{int(match.group(2))}.{int(match.group(3))}"
    return None


def code_in(text: str) -> _Found:
    """An enhanced status, else one from an SMTP reply (550 gives 5.0.0)."""
    for line in text.split("\n"):
        code = status_code(line)
        if code:
            return code, clean_text(line)[:500]
    for line in text.split("\n"):
        match = _SMTP.search(line)
        if match:
            return f"{match.group(1)[0]}.0.0", clean_text(line)[:500]
    return None, None


_MESSAGE_ID_LINE = re.compile(r"^message-id[ \t]*:[ \t]*(.*)$", re.I | re.M)
_ANGLE_ID = re.compile(r"<[^<>\s]{1,250}>")


def _original_id(returned: str) -> str | None:
    match = _MESSAGE_ID_LINE.search(returned)
    if match is None:
        return None
    # The value may have been folded onto the next line.
    value = match.group(1).strip() or returned[match.end() :][:300].strip()
    angle = _ANGLE_ID.search(value)
    words = value.split()
    return angle.group(0) if angle else (words[0] if words else None)


_MTA_SENTENCE = re.compile(
    r"(?:mail system|qmail-send program|mail agent v[\d.]{1,12}) at ([\w.-]{3,253})",
    re.I,
)


def _reporting_mta(blocks: list[dict[str, str]], notice: str) -> str | None:
    for block in blocks:
        value = block.get("reporting-mta", "").rpartition(";")[2].strip()
        if value:
            return value[:253]
    match = _MTA_SENTENCE.search(notice)
    return match.group(1).rstrip(".") if match else None


_DELAYED = re.compile(
    r"delayed|will (?:be )?retr|still being retried|not yet been delivered"
    r"|could not send message for past|warning: could not send"
)
_LISTED_LINE = re.compile(
    r"[ \t]{0,20}(?:[*>•-]{1,3}[ \t]{0,5})?[\"'<]?([^\s\"'<>]{1,64}@[^\s\"'<>:]{1,255})"
    r"[\"'>]?[ \t]{0,9}(?:$|:|\[|\(|\.\.\.|on\s|,|;|-\s)",
)


def _text_recipients(
    message: Message, notice: str, returned: str
) -> list[FailedRecipient]:
    listed = _listed_failures(message)
    own = _own_addresses(message, returned)
    found = (
        listed
        or [a for a in _line_addresses(notice) if a not in own]
        or [a for a in addresses(notice) if a not in own][:1]
        or _single_returned_recipient(returned)
    )
    subject = header_text(message, "Subject")
    delayed = _DELAYED.search(f"{subject}\n{notice}".lower())
    action = "delayed" if delayed else "failed"
    return [
        _recipient(address, action, *_status_near(notice, address, found))
        for address in found
    ]


def _listed_failures(message: Message) -> list[str]:
    # Exim and Gmail name the failed addresses in a header of their own.
    value = header_text(message, "X-Failed-Recipients")
    tokens = (t.strip(" <>").lower() for t in re.split(r"[,;\s]+", value))
    return list(dict.fromkeys(t for t in tokens if "@" in t))


def _own_addresses(message: Message, returned: str) -> set[str]:
    # The bounce's own parties and the original sender are not who failed.
    names = ("From", "To", "Cc", "Reply-To", "Sender", "Return-Path")
    own = {a for name in names for a in addresses(header_text(message, name))}
    for line in _header_lines(returned, ("from", "sender", "return-path")):
        own.update(addresses(line))
    return own


def _header_lines(text: str, names: tuple[str, ...]) -> list[str]:
    lines = []
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in names and line[:1] not in " \t":
            lines.append(value)
    return lines


def _line_addresses(notice: str) -> list[str]:
    matches = (_LISTED_LINE.match(line) for line in notice.split("\n"))
    return addresses(" ".join(match.group(1) for match in matches if match))


def _single_returned_recipient(returned: str) -> list[str]:
    # When the notice names nobody, the returned copy's only To is the one.
    lines = _header_lines(returned, ("to",))
    found = addresses(lines[0]) if lines else []
    return found if len(found) == 1 else []


def _status_near(notice: str, address: str, others: list[str]) -> _Found:
    lowered = notice.lower()
    start = max(lowered.find(address), 0)
    marks = (lowered.find(o, start + 1) for o in others if o != address)
    ends = [p for p in marks if p > start]
    segment = notice[start : min(ends, default=len(notice))]
    status, line = code_in(segment)
    return (status, line) if status else code_in(notice)
