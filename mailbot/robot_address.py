"""Addresses nobody reads, and addresses plain enough to send to.

mailbot never writes to noreply@, MAILER-DAEMON and the like: nobody would
read it, and a robot's answer could start a loop. Nor does it write to an
address it cannot put in an SMTP envelope and a header as it is.
"""

from __future__ import annotations

import re

from mailbot.words import compact

ROBOT_LOCAL_PARTS = frozenset(
    {
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "bounce",
        "bounces",
        "mailer-daemon",
        "postmaster",
        # A report robot's own name for itself (Shadowserver's
        # autoreports@), and an auto-responder's.
        "autoreport",
        "autoreports",
        "autoreply",
    }
)

_ROBOT_WORDS = frozenset(compact(local) for local in ROBOT_LOCAL_PARTS)
_SEPARATORS = re.compile(r"[\s._+=\-]+")


def is_robot_address(addr: str) -> bool:
    """Whether the address's local part says that nobody reads it.

    A robot word must stand on its own between separators (`noreply-alerts`,
    `bounce+123`, `alerts.no.reply`), so `knoreplyer` is a person.
    """
    local = _local_part(addr)
    if not local:
        return True
    tokens = [t for t in _SEPARATORS.split(local.casefold()) if t][:32]
    return any(
        "".join(tokens[start:end]) in _ROBOT_WORDS
        for start in range(len(tokens))
        for end in range(start + 1, min(start + 4, len(tokens) + 1))
    )


def is_plain_address(address: str) -> bool:
    """Whether `address` is one bare addr-spec, safe for RCPT TO and headers."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > 254:
        return False
    # ASCII only: mailbot does not speak SMTPUTF8, and RCPT would fail.
    if not address.isascii() or not address.isprintable():
        return False
    return not any(c in address for c in ' <>,;:"\\()[]')


def _local_part(addr: str) -> str:
    text = (addr or "")[:512].strip()
    if "<" in text:
        text = text.partition("<")[2].partition(">")[0]
    local = text.rpartition("@")[0] if "@" in text else text
    return local.strip().strip("\"'").strip()
