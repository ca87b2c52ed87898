"""Bounds on one incoming mail: size, header block, MIME tree, time.

A hostile or broken mail must cost a bounded amount of memory and time, and
must never be dropped for it. Two kinds of bound:

- before parsing (`check_raw`): a mail too big, or with a header block too
  long, is not parsed at all; it is stored as received and quarantined at
  the stage "limits", with the limit named, so that `quarantine retry ID`
  processes it once an operator has raised the limit;
- while parsing (MIME depth, part count, decoded attachment size): what is
  beyond the bound is cut, a parse defect starting with `OVER_LIMIT` says
  so, and the mail is processed with the rest and flagged `over_limit`.

`time_limit` bounds the wall-clock time of the pure stages of one mail
(parse, classify: where hostile input can make work explode). The record
stage talks to the database and is only measured: a signal raised inside a
driver call would leave its connection unusable.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Iterable, Iterator

from mailbot.settings import LimitsSettings

# Every parse defect about a cut starts with this, so the mail can be flagged.
OVER_LIMIT = "over limit:"
FLAG = "over_limit"

_HEADER_END = re.compile(rb"\r?\n\r?\n")


class MailTimeout(BaseException):
    """Raised inside a mail's stages when they ran past max_seconds_per_mail.

    A BaseException, so that the parser's own catch-all handlers (which turn
    any failure into a defect) cannot swallow it and go on working.
    """


def header_block_size(raw: bytes, scan: int) -> int:
    """The length of the header block, looking at most `scan` bytes ahead."""
    match = _HEADER_END.search(raw, 0, scan)
    return match.start() if match is not None else min(len(raw), scan)


def header_lines(raw: bytes, scan: int) -> bytes:
    """`raw`'s header block, or as many of its whole lines as the first
    `scan` bytes hold."""
    match = _HEADER_END.search(raw, 0, scan)
    if match is not None:
        return raw[: match.start()]
    if len(raw) <= scan:
        return raw
    head = raw[:scan]
    return head[: head.rfind(b"\n") + 1]


def check_raw(raw: bytes, limits: LimitsSettings) -> str | None:
    """Why `raw` may not be parsed at all (a limit named), or None."""
    if len(raw) > limits.max_mail_bytes:
        return (
            f"mail of {len(raw)} bytes is over limits.max_mail_bytes "
            f"({limits.max_mail_bytes}); raise it and retry to process the mail"
        )
    # Scan one byte past the limit: a block that long has not ended in time.
    head = header_block_size(raw, limits.max_header_bytes + 4)
    if head > limits.max_header_bytes:
        return (
            f"header block of more than {limits.max_header_bytes} bytes is over "
            "limits.max_header_bytes; raise it and retry to process the mail"
        )
    return None


def over_limit_notes(defects: Iterable[str]) -> list[str]:
    """The parse defects that say something was cut at a limit."""
    return [d for d in defects if d.startswith(OVER_LIMIT)]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise MailTimeout in the block once `seconds` have passed.

    A timer signal can interrupt only the main thread; elsewhere (a job
    thread) the block runs unbounded, which the caller may measure instead.
    """
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _expired(_signum: int, _frame: object) -> None:
        raise MailTimeout(f"took longer than limits.max_seconds_per_mail ({seconds} s)")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
