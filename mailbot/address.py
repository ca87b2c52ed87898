"""What mailbot accepts as one configured mail address.

Every address of the configuration and the sites file ends up in an SMTP
envelope, a To or Cc header, or a comparison with a sender. A list written
as one string ("a@x, b@y"), a stray newline or a display name would be
taken whole and break all three, so such a value is refused at start-up.
"""

from __future__ import annotations

import re

# RFC 5322 dot-atom text, ASCII only: mailbot does not speak SMTPUTF8.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def address_problem(value: str) -> str | None:
    """Why `value` is not one plain mail address (a phrase), or None."""
    if any(not c.isprintable() for c in value):
        return "holds a control character (a newline?)"
    if any(c in value for c in ",;"):
        return "holds a comma or semicolon, so it is a list in one string"
    if any(c in value for c in '<>"'):
        return "holds a display name, quotes or <>: give the bare address"
    if any(c.isspace() for c in value):
        return "holds a space"
    if not value.isascii():
        return "holds a character beyond ASCII (write the domain as xn--...)"
    local, at, domain = value.rpartition("@")
    if not at or "@" in local or not local:
        return "needs one @ between a name and a domain"
    if len(local) > 64 or len(value) > 254 or not _LOCAL_RE.fullmatch(local):
        return "has no plain name before the @ (no <>, quotes or display name)"
    if not all(_LABEL_RE.fullmatch(label) for label in domain.split(".")):
        return "has no domain name after the @"
    return None


def addresses_in(value: str) -> tuple[str, ...]:
    """The plain addresses a refused value holds, for an error's advice.

    'Alice <alice@x.example>' holds alice@x.example (the display name is
    not an address); 'a@x, b@y' holds both. Nothing that is not itself one
    plain address is offered: advice written out must be accepted.
    """
    found = []
    for part in re.split(r"[\s,;]+", value):
        part = part.strip("<>\"'()")
        if part and address_problem(part) is None and part not in found:
            found.append(part)
    return tuple(found)
