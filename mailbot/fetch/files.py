"""Deliveries from files: .eml files, mbox files and Maildir folders.

A file's arrival time is its Date header (DOMAIN.md), else its mtime.
"""

from __future__ import annotations

import datetime as dt
import logging
import mailbox
import re
from collections.abc import Iterator, Set
from pathlib import Path

from mailbot.clock import UTC
from mailbot.errors import UsageError
from mailbot.mail import RawMail
from mailbot.parse import headers
from mailbot.store import split_header_block

log = logging.getLogger(__name__)

# A mail starts with header fields.
_FIELD_RE = re.compile(rb"[!-9;-~]+[ \t]*:")
_MAIL_FIELDS = (
    b"from",
    b"date",
    b"message-id",
    b"subject",
    b"received",
    b"return-path",
)
_DATE_RE = re.compile(rb"^date[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def header_date(raw: bytes) -> dt.datetime | None:
    """The mail's Date as the parse stage reads it: None when there is none or
    it is implausible (the year 10000 in UTC, an absurd zone); never raises."""
    head, _ = split_header_block(raw)
    match = _DATE_RE.search(head)
    if match is None:
        return None
    value = match.group(1).decode("ascii", "surrogateescape").strip()
    return headers.parse_date(value, [])


def _arrival(raw: bytes, saved: dt.datetime) -> dt.datetime:
    """When a mail kept in a file arrived: its Date, but never after the file
    was written (a Date in the year 3609 named an incident EGI-36090630-01)."""
    date = header_date(raw)
    return saved if date is None else min(date, saved)


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(path.stat().st_mtime), UTC)


def looks_like_mail(path: Path) -> bool:
    """Whether `path` starts with a mail's header block (or an mbox's "From ")."""
    with path.open("rb") as handle:
        head = handle.read(65536)
    if head.startswith(b"From "):
        return True
    # Broken mail is still mail, but a mail's first line is a header field,
    # which no TOML, Markdown, plain text or binary file's is.
    first = head.lstrip().split(b"\n", 1)[0]
    return bool(_FIELD_RE.match(first))


def check_path(path: Path) -> None:
    """Refuse, naming it, a path that holds no mail mailbot can read."""
    if not path.exists():
        raise UsageError("PATH", f"{path} does not exist")
    if path.is_file() and not looks_like_mail(path):
        raise UsageError(
            "PATH", f"{path} is neither a mail (.eml), an mbox nor a Maildir"
        )


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_path(path: Path) -> Iterator[RawMail]:
    """Every mail at `path`: a Maildir, a folder of .eml files, an mbox or a file."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            yield from iter_maildir(path)
        else:
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if looks_like_mail(child):
                    yield from iter_path(child)
                else:
                    log.warning("%s skipped: not a mail, an mbox nor a Maildir", child)
    elif is_mbox(path):
        yield from iter_mbox(path)
    else:
        raw = path.read_bytes()
        yield RawMail(raw, _arrival(raw, _mtime(path)), f"file:{path}")


def iter_mbox(path: Path) -> Iterator[RawMail]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            raw = box.get_bytes(key)
            arrived = _arrival(raw, _mtime(path))
            yield RawMail(raw, arrived, f"mbox:{path}#{index}")
    finally:
        box.close()


def maildir_arrival(path: Path) -> dt.datetime:
    """The delivery time in a Maildir file name, else its modification time."""
    match = re.match(r"(\d{9,11})\.", path.name)
    if match:
        return dt.datetime.fromtimestamp(int(match.group(1)), UTC)
    return _mtime(path)


def maildir_files(path: Path, skip: Set[str] = frozenset()) -> list[Path]:
    """A Maildir's mail files, oldest delivery first, but those whose origin
    is in `skip`; nothing is read."""
    files = [
        p
        for sub in ("new", "cur")
        for p in (path / sub).glob("*")
        if p.is_file() and maildir_origin(path, p) not in skip
    ]
    return sorted(files, key=lambda p: (maildir_arrival(p), p.name))


def maildir_origin(path: Path, file: Path) -> str:
    return f"maildir:{path}#{file.name.split(':', 1)[0]}"


def iter_maildir(path: Path, files: list[Path] | None = None) -> Iterator[RawMail]:
    """A Maildir's mails (`files` of it, from `maildir_files`, else all),
    oldest delivery first; files are only read."""
    for file in maildir_files(path) if files is None else files:
        yield RawMail(
            file.read_bytes(), maildir_arrival(file), maildir_origin(path, file)
        )
