"""Deliveries from files: .eml files, mbox files and Maildir folders.

A file's arrival time is its Date header (DOMAIN.md), else its mtime; a
Date after the file was written (or, under --now, after the clock) yields.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import mailbox
import os
import re
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass
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


def _arrival(raw: bytes, saved: dt.datetime, until: dt.datetime | None) -> dt.datetime:
    """When a mail kept in a file arrived: its Date, but never after the file
    was written (a Date in the year 3609 named an incident EGI-36090630-01).

    `until`, the command's own clock (--now) when it has one: the file's
    time is of the real clock then, and the clock bounds the Date instead
    (a replay of mail dated after the day its file was written)."""
    date = header_date(raw)
    if date is None:
        return saved
    return min(date, saved if until is None else until)


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


@dataclass(frozen=True)
class Unreadable:
    """A path given to read mail from that could not be read, and why;
    `reason` says what went wrong and what to do."""

    path: Path
    reason: str


# Told of each path that cannot be read; the reading goes on with the rest.
Report = Callable[[Unreadable], None]


def _ignore(_: Unreadable) -> None:
    pass


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def why_unreadable(path: Path, exc: OSError | None = None) -> str:
    """What is wrong with `path` (a failure to read it, `exc`, or its kind)
    and what to do about it."""
    if path.is_symlink() and not path.exists():
        return (
            f"is a symbolic link to {os.readlink(path)}, which does not exist:"
            " correct the link, or give the file itself"
        )
    if isinstance(exc, PermissionError):
        return (
            f"cannot be read ({exc.strerror}): make it readable by the user"
            f" mailbot runs as ({_user()})"
        )
    if isinstance(exc, IsADirectoryError) or (exc is None and path.is_dir()):
        return (
            "is a folder where a mail file belongs (inside a Maildir's cur/ or"
            " new/): move it out, and ingest it on its own if it holds mail"
        )
    if exc is None:
        return (
            "is not a regular file (a FIFO, a socket or a device): copy the"
            " mail into a file and ingest that"
        )
    reason = exc.strerror or str(exc)
    return f"cannot be read ({reason}): check the file and the disk it is on"


def _unreadable(path: Path, report: Report, exc: OSError | None = None) -> None:
    report(Unreadable(path, why_unreadable(path, exc)))


def check_path(path: Path) -> None:
    """Refuse, naming it, a path that holds no mail mailbot can read.

    A path that is there but cannot be read (a broken link, no permission)
    is not refused here: the reading reports it and goes on (`iter_path`).
    """
    if not os.path.lexists(path):
        raise UsageError("PATH", f"{path} does not exist")
    try:
        if path.is_file() and not looks_like_mail(path):
            raise UsageError(
                "PATH", f"{path} is neither a mail (.eml), an mbox nor a Maildir"
            )
    except OSError:
        pass


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def folder_files(path: Path, report: Report = _ignore) -> Iterator[Path]:
    """The regular files under the folder `path`, in sorted order; every
    other entry (a broken link, a link to a folder, a FIFO) and every
    folder that cannot be listed is reported, not skipped unsaid."""

    def listing_failed(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else path
        _unreadable(where, report, exc)

    found: list[Path] = []
    for root, folders, names in os.walk(path, onerror=listing_failed):
        here = Path(root)
        for name in folders:
            if (here / name).is_symlink():
                report(
                    Unreadable(
                        here / name,
                        "is a link to a folder, which is not followed inside a"
                        " folder: give the folder it names to ingest itself",
                    )
                )
        found.extend(here / name for name in names)
    for file in sorted(found):
        if file.is_file():
            yield file
        else:
            _unreadable(file, report)


def iter_path(
    path: Path, report: Report = _ignore, until: dt.datetime | None = None
) -> Iterator[RawMail]:
    """Every mail at `path`: a Maildir, a folder of .eml files, an mbox or a
    file. What cannot be read is given to `report`, and the rest is read.
    `until`: the command's clock when set by --now (_arrival)."""
    try:
        if path.is_dir():
            if is_maildir(path):
                yield from iter_maildir(path, report=report)
                return
            for child in folder_files(path, report):
                try:
                    mail = looks_like_mail(child)
                except OSError as exc:
                    _unreadable(child, report, exc)
                    continue
                if mail:
                    yield from iter_path(child, report, until)
                else:
                    log.warning("%s skipped: not a mail, an mbox nor a Maildir", child)
            return
        if not path.is_file():
            _unreadable(path, report)
        elif is_mbox(path):
            yield from iter_mbox(path, until)
        else:
            raw = path.read_bytes()
            yield RawMail(raw, _arrival(raw, _mtime(path), until), f"file:{path}")
    except OSError as exc:
        _unreadable(path, report, exc)


def iter_mbox(path: Path, until: dt.datetime | None = None) -> Iterator[RawMail]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            raw = box.get_bytes(key)
            arrived = _arrival(raw, _mtime(path), until)
            yield RawMail(raw, arrived, f"mbox:{path}#{index}")
    finally:
        box.close()


def maildir_arrival(path: Path) -> dt.datetime:
    """The delivery time in a Maildir file name, else its modification time
    (the end of time, for a file gone meanwhile: it sorts last, and is
    looked for again when read)."""
    match = re.match(r"(\d{9,11})\.", path.name)
    if match:
        return dt.datetime.fromtimestamp(int(match.group(1)), UTC)
    try:
        return _mtime(path)
    except OSError:
        return dt.datetime.max.replace(tzinfo=UTC)


def _unique(file: Path) -> str:
    """A Maildir file's unique name: what stays when a mail client moves it
    from new/ to cur/ or changes its flags (the part after the colon)."""
    return file.name.split(":", 1)[0]


def maildir_files(
    path: Path, skip: Set[str] = frozenset(), report: Report = _ignore
) -> list[Path]:
    """A Maildir's mail files, oldest delivery first, but those whose origin
    is in `skip`; nothing is read. An entry that is no regular file (a
    folder, a broken link) is reported; one that another mail client moved
    while this listed (new/ to cur/) is listed once."""
    files: dict[str, Path] = {}
    for sub in ("new", "cur"):
        try:
            entries = sorted((path / sub).iterdir()) if (path / sub).is_dir() else []
        except OSError as exc:
            _unreadable(path / sub, report, exc)
            continue
        for entry in entries:
            if maildir_origin(path, entry) in skip:
                continue
            if entry.is_file():
                files[_unique(entry)] = entry
            elif entry.name.startswith(".") or not os.path.lexists(entry):
                continue  # hidden, or moved or deleted since it was listed
            else:
                _unreadable(entry, report)
    return sorted(files.values(), key=lambda p: (maildir_arrival(p), p.name))


def maildir_origin(path: Path, file: Path) -> str:
    return f"maildir:{path}#{_unique(file)}"


def _moved(path: Path, file: Path) -> Path | None:
    """Where `file` is now if a mail client moved it within the Maildir
    (new/ to cur/, or new flags) after it was listed."""
    unique = _unique(file)
    for sub in ("cur", "new"):
        try:
            for entry in (path / sub).iterdir():
                if _unique(entry) == unique and entry != file:
                    return entry
        except OSError:
            continue
    return None


def _read_maildir_file(path: Path, file: Path) -> tuple[bytes, Path]:
    """A Maildir file's bytes and where they were read, following the file
    if another mail client moved it meanwhile (each move is followed once:
    a file moved on and on is read at the next poll)."""
    try:
        return file.read_bytes(), file
    except FileNotFoundError:
        moved = _moved(path, file)
        if moved is None:
            raise
        return moved.read_bytes(), moved


def iter_maildir(
    path: Path, files: list[Path] | None = None, report: Report = _ignore
) -> Iterator[RawMail]:
    """A Maildir's mails (`files` of it, from `maildir_files`, else all),
    oldest delivery first; files are only read, and one that cannot be read
    is reported (one deleted since it was listed, as gone)."""
    for file in maildir_files(path, report=report) if files is None else files:
        try:
            raw, file = _read_maildir_file(path, file)
        except FileNotFoundError:
            report(
                Unreadable(
                    file,
                    "was deleted from the Maildir while mailbot read it (by"
                    " another mail client?): nothing to do if that was meant;"
                    " else restore it from a backup and ingest it",
                )
            )
            continue
        except OSError as exc:
            _unreadable(file, report, exc)
            continue
        yield RawMail(raw, maildir_arrival(file), maildir_origin(path, file))
