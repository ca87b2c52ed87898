"""Mail that a machine wrote without answering anyone: reports and notices.

A machine's mail is one of three things to mailbot. An answer to another
mail (an out-of-office reply, a ticket system's acknowledgement) is never
answered and meets no clock. A notice about mail itself (a read receipt, a
DMARC or TLS report) is the same. A report that answers no mail (an abuse
report of blocklist.de or Netcraft, an X-ARF or ARF report, a monitoring
alert from a noreply address) is a third party's incident report: it opens
or joins an incident, but is never answered either. The functions here are
pure and read headers and MIME structure only.
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import collapse_rfc2231_value

from mailbot.message_text import header_text, leaves, part_text

# Reply prefixes, not forward ones: a forwarded report is still a report.
_REPLY_PREFIX = re.compile(
    r"(?:re|aw|sv|vs|antw|antwort|odp|ynt|res|rif|ref|r|atb|ats|απ|σχετ|отв)"
    r"\s?(?:\[\d{1,4}\]|\(\d{1,4}\))?\s?[:：]",
    re.I,
)
_MARKER = re.compile(r"\[[^\[\]]{0,80}\]\s?")
# RFC 7489 (DMARC aggregate) and RFC 8460 (SMTP TLS) fix their subjects.
_AUTH_REPORT_SUBJECT = re.compile(r"report domain:\s?\S+\s+submitter:\s?\S", re.I)
_AUTH_FEEDBACK = re.compile(r"^feedback-type:\s*auth-failure\b", re.I | re.M)
_NOTICE_TYPES = {
    "disposition-notification": "read receipt",
    "tlsrpt": "mail authentication report",
}


def report_type(message: Message) -> str | None:
    """The report-type of a multipart/report mail, lower case, else None."""
    if message.get_content_type() != "multipart/report":
        return None
    try:
        value = message.get_param("report-type")
    except Exception:  # noqa: BLE001 - malformed parameters
        return None
    if value is None:
        return None
    return str(collapse_rfc2231_value(value)).strip().lower()


def is_response(message: Message) -> bool:
    """Whether the mail answers another: In-Reply-To, References, or `Re:`."""
    if message.get("In-Reply-To") is not None or message.get("References"):
        return True
    subject = header_text(message, "Subject").strip()
    for _ in range(10):
        marker = _MARKER.match(subject)
        if marker is None:
            break
        subject = subject[marker.end() :]
    return _REPLY_PREFIX.match(subject) is not None


def notice_reason(message: Message) -> str | None:
    """Why the mail is a notice about mail (a read receipt, a DMARC or TLS
    report) rather than about an incident, or None."""
    kind = report_type(message)
    if kind in _NOTICE_TYPES:
        return _NOTICE_TYPES[kind]
    if kind == "feedback-report" and _auth_feedback(message):
        return "mail authentication report"
    if _AUTH_REPORT_SUBJECT.match(header_text(message, "Subject").strip()):
        return "mail authentication report"
    return None


def report_sign(message: Message) -> str | None:
    """What says that a machine sent this mail as a report, or None.

    RFC 3834's `auto-generated` is a mail that answers none; X-ARF and ARF
    (RFC 5965) are the abuse report formats.
    """
    value = header_text(message, "Auto-Submitted").strip().lower()
    if re.split(r"[\s;(]", value, maxsplit=1)[0] == "auto-generated":
        return "auto-submitted: auto-generated"
    if header_text(message, "X-ARF").strip().lower() == "yes":
        return "x-arf report"
    if report_type(message) == "feedback-report":
        return "arf report"
    return None


def _auth_feedback(message: Message) -> bool:
    for part in leaves(message):
        if part.get_content_type() != "message/feedback-report":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            fields = payload[0] if payload and isinstance(payload[0], Message) else None
            text = "" if fields is None else str(fields.get("Feedback-Type", ""))
            return text.strip().lower().startswith("auth-failure")
        return _AUTH_FEEDBACK.search(part_text(part)) is not None
    return False
