"""What a mail's row keeps of the parsed mail: headers, defects, attachments.

The record stage fills these in the mail's transaction. The raw bytes stay
as stored, so what a row leaves out (attachments past the first hundred,
defects past fifty) can always be read again.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from mailbot.clock import ARRIVAL_NOTE, as_utc, plausible_date
from mailbot.db.models import Mail
from mailbot.mail import Attachment, ParsedMail


def fill_headers(mail: Mail, parsed: ParsedMail) -> None:
    """Copy onto the mail's row what the parsed mail says of itself."""
    mail.message_id = parsed.message_id
    mail.subject = parsed.subject
    mail.from_addr = parsed.from_.addr if parsed.from_ else ""
    mail.recipients = [a.addr for a in (*parsed.to, *parsed.cc) if a.addr]
    mail.date = as_utc(parsed.date) if parsed.date else None
    mail.event_at = event_at(parsed, mail)
    # Intake's notes on the delivery (store.py) stay before the parser's.
    kept = [d for d in mail.defects or [] if d.startswith(ARRIVAL_NOTE)]
    defects = [*kept, *parsed.defects]
    listed = parsed.attachments[:_ATTACHMENTS_KEPT]
    notes = []
    if len(parsed.attachments) > len(listed):
        left = len(parsed.attachments) - len(listed)
        notes.append(f"{left} attachments after the first {len(listed)} not listed")
    room = _DEFECTS_KEPT - len(notes)
    if len(defects) > room:
        left = len(defects) - room + 1
        defects = [*defects[: room - 1], f"{left} more defects not kept"]
    mail.defects = [*defects, *notes]
    mail.attachments = [_attachment_row(a) for a in listed]


# A mail's record lists at most this many attachments and defects, and says
# how many it left out (the raw mail keeps them all).
_ATTACHMENTS_KEPT: Final = 100
_DEFECTS_KEPT: Final = 50


def _attachment_row(attachment: Attachment) -> dict[str, object]:
    row: dict[str, object] = {
        "part": attachment.part,
        "name": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
    }
    if not attachment.read:
        row["read"] = False  # over limits.max_attachment_bytes
    return row


def event_at(parsed: ParsedMail, mail: Mail) -> dt.datetime:
    """When the mail was written: its Date when plausible, else its arrival."""
    return plausible_date(as_utc(parsed.date) if parsed.date else None, mail.arrived_at)
