"""The parts a bounce is made of: status blocks, notice text, returned headers.

`gather` sorts the parts of a delivery status notification, a structured
RFC 3464 report or a plain-text bounce, into these pieces; `dsn.py` reads
who failed and why from them. Like `message_text.py`, it never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from itertools import islice

from mailbot.message_text import (
    MAX_HEADERS,
    decode_header_text,
    is_textual,
    leaves,
    part_text,
)

STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/global-headers"})


@dataclass
class Material:
    """A bounce's pieces: status blocks, notice text, returned headers."""

    blocks: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    has_status_part: bool = False


def gather(message: Message, depth: int = 0) -> Material:
    """Sort the parts of a mail into the pieces a bounce is made of."""
    material = Material()
    for part in leaves(message):
        ctype = part.get_content_type()
        if ctype in STATUS_TYPES:
            material.has_status_part = True
            material.blocks.extend(_status_blocks(part))
        elif ctype in _MESSAGE_TYPES:
            _add_attached(material, part, depth)
        elif ctype in _HEADER_TYPES:
            material.returned.append(part_text(part))
        elif is_textual(part):
            note, tail = split_returned(part_text(part))
            material.notes.append(note)
            material.returned.append(tail)
    return material


def _add_attached(material: Material, part: Message, depth: int) -> None:
    # Some gateways forward a bounce inside a bounce of their own; the inner
    # report is the one that names the recipient.
    inner = _attached(part)
    if inner is None or inner.get_content_type() != "multipart/report" or depth:
        material.returned.append(_attached_headers(part))
        return
    found = gather(inner, depth + 1)
    material.blocks.extend(found.blocks)
    material.notes.extend(found.notes)
    material.returned.extend(found.returned)
    material.has_status_part |= found.has_status_part


def _attached(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _status_blocks(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [_fields(block) for block in payload if isinstance(block, Message)]
    return parse_blocks(part_text(part))


def _fields(block: Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in islice(block.raw_items(), MAX_HEADERS):
        fields.setdefault(name.strip().lower(), decode_header_text(value))
    return fields


def _attached_headers(part: Message) -> str:
    inner = _attached(part)
    if inner is None:
        return part_text(part)
    return "\n".join(f"{k}: {v}" for k, v in _fields(inner).items())


_FIELD_LINE = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)")


def parse_blocks(text: str) -> list[dict[str, str]]:
    """Blank-line separated groups of `Name: value` lines, names lower-cased."""
    blocks: list[dict[str, str]] = [{}]
    last = ""
    for line in text.split("\n"):
        match = _FIELD_LINE.fullmatch(line)
        if not line.strip():
            blocks.append({})
        elif line[0] in " \t" and last in blocks[-1]:
            blocks[-1][last] = f"{blocks[-1][last]} {line.strip()}"
        elif match:
            last = match.group(1).lower()
            blocks[-1].setdefault(last, match.group(2).strip())
    return [block for block in blocks if block]


_CUT_LINE = re.compile(
    r"(?:received|return-path|dkim-signature|x-received|arc-seal|delivered-to"
    r"|x-google-smtp-source)[ \t]*:",
    re.I,
)
_SEPARATOR = re.compile(
    r"original message[\s:-]*$|original message follows"
    r"|copy of (?:the |your )?(?:original )?message|unsent message follows"
    r"|message headers? follows?|message text follows|returned message[\s:-]*$"
    r"|headers? of the original|bounced e-?mail:|original message headers",
    re.I,
)


def split_returned(text: str) -> tuple[str, str]:
    """The notice and the returned mail, cut where the returned copy starts."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _CUT_LINE.match(line):
            return "\n".join(lines[:index]), "\n".join(lines[index:])
        if len(line) < 120 and _SEPARATOR.search(line):
            return "\n".join(lines[:index]), "\n".join(lines[index + 1 :])
    return text, ""
