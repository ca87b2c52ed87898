"""The members of a compressed attachment (gzip, zip, tar, tar.gz).

A site sends its logs packed (`auth.log.gz`, `logs.zip`, `logs.tar.gz`),
Shadowserver its reports as `*.csv.zip`. Their members are read in memory
with the standard library, under bounds that make a bomb harmless:

- the bytes unpacked from one archive stop at max_attachment_bytes, and
  those of all the archives of one mail at the mail's own bound
  (max_mail_bytes); reads are bounded, declared sizes are not trusted,
  nothing is written to disk;
- at most `MAX_MEMBERS` members of one archive are read;
- one level only: an archive inside an archive is listed, not opened;
- encrypted zip members are skipped.

Whatever is not read (cut, too many, encrypted, binary, nested, corrupt)
is a defect on the mail naming the archive and why.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from mailbot.limits import OVER_LIMIT

# Members of one archive read at most; the rest are counted in a defect.
MAX_MEMBERS = 100
# The central directory of a zip read at most: zipfile reads it whole (a
# ZipInfo per entry) before a member can be opened; 1 MiB is 10,000 to
# 20,000 entries, and 0.2 s (a 10 MB zip of 115,000 empty members took 5 s
# and 65 MB).
MAX_ZIP_DIRECTORY = 1 << 20
# A member name kept in a part's name, at most.
_NAME_CHARS = 200
# Binary or nested members named in a defect, at most.
_NAMED = 3

_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".gzip")
# Files that are zips inside but documents or programs, not archives: their
# members (styles.xml, [Content_Types].xml, classes) are no one's log.
_DOCUMENT_SUFFIXES = (
    ".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".pptm", ".odt", ".ods", ".odp",
    ".odg", ".epub", ".jar", ".war", ".apk", ".xpi", ".vsdx", ".kmz",
)  # fmt: skip
_DOCUMENT_MEMBERS = frozenset(
    {"[Content_Types].xml", "mimetype", "META-INF/MANIFEST.MF"}
)


@dataclass
class Budget:
    """Unpacked bytes left to one mail's archives (shared by all of them)."""

    left: int


@dataclass
class Member:
    name: str
    data: bytes
    # Cut at the unpacked-bytes limit: `data` is its start, not all of it.
    cut: bool = False


@dataclass
class _Unpacked:
    kind: str
    members: list[Member] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Whether reading stopped before the end of the bytes in hand (too many
    # members, a member cut): a cut of the bytes further on cut nothing read.
    stopped: bool = False


def kind_of(data: bytes, filename: str | None) -> str | None:
    """ "gzip", "zip" or "tar" when `data` is such an archive (by its magic
    bytes), "broken" when only its name says it is one, else None."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        if filename and filename.lower().endswith(_DOCUMENT_SUFFIXES):
            return None
        return "zip"
    if _is_tar(data):
        return "tar"
    if filename and filename.lower().endswith(_ARCHIVE_SUFFIXES):
        return "broken"
    return None


def unpack(
    data: bytes,
    kind: str,
    filename: str,
    cap: int,
    budget: Budget,
    where: str,
    defects: list[str],
) -> list[Member]:
    """The members of archive `data` of `kind`, each read up to what is left
    of `cap` (per archive) and `budget` (per mail); defects say what was
    not read. Never raises on a broken archive."""
    if kind == "broken":
        defects.append(f"{where}: not a readable archive, not unpacked")
        return []
    limit = min(cap, budget.left)
    if limit <= 0:
        defects.append(
            f"{OVER_LIMIT} {where}: not unpacked, the mail's archives already gave"
            " limits.max_mail_bytes"
        )
        return []
    readers: dict[str, Callable[[bytes, str, int], _Unpacked]] = {
        "gzip": _gunzip,
        "zip": _unzip,
        "tar": _untar,
    }
    try:
        unpacked = readers[kind](data, filename, limit)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError) as e:
        defects.append(
            f"{where}: corrupt {kind} archive ({type(e).__name__}), not read"
        )
        return []
    except (NotImplementedError, RuntimeError, ValueError, LookupError) as e:
        defects.append(f"{where}: unreadable {kind} archive ({type(e).__name__})")
        return []
    budget.left -= sum(len(m.data) for m in unpacked.members)
    defects.extend(f"{_prefix(note)}{where}: {_body(note)}" for note in unpacked.notes)
    return unpacked.members


def _prefix(note: str) -> str:
    return f"{OVER_LIMIT} " if note.startswith(OVER_LIMIT) else ""


def _body(note: str) -> str:
    return note.removeprefix(OVER_LIMIT).strip()


def is_nested(member: Member) -> bool:
    return kind_of(member.data, member.name) not in (None, "broken")


def _is_tar(data: bytes) -> bool:
    return len(data) >= 262 and data[257:262] == b"ustar"


def _cut_note(name: str, limit: int) -> str:
    return (
        f"{OVER_LIMIT} unpacked bytes over {limit} (limits.max_attachment_bytes,"
        f" or what the mail's archives had left of limits.max_mail_bytes):"
        f" {safe_name(name)} cut, the rest not read"
    )


def _gunzip(data: bytes, filename: str, limit: int) -> _Unpacked:
    """A gzip stream (all of its members), read to `limit` bytes; a tar
    inside (.tar.gz, .tgz) is the archive, opened as one."""
    inner, whole = _inflate(data, limit)
    name = _gunzipped_name(filename)
    if _is_tar(inner):
        unpacked = _untar(inner[:limit], name, limit)
        unpacked.kind = "tar.gz"
    else:
        unpacked = _Unpacked("gzip")
        unpacked.members.append(Member(name, inner[:limit], len(inner) > limit))
    if len(inner) > limit and not unpacked.stopped:
        unpacked.notes.append(_cut_note(name, limit))
    elif not whole:
        unpacked.notes.append("gzip stream cut short, what it held read")
    return unpacked


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    """At most `limit` + 1 bytes of the gzip members in `data`, and whether
    the last one ended. Bounded: zlib is never asked for more output than
    is left (a bomb stops there); bytes after the last member (a CRLF some
    mailers add) are ignored."""
    pieces: list[bytes] = []
    size = 0
    rest = data
    while rest[:2] == b"\x1f\x8b":
        stream = zlib.decompressobj(wbits=31)
        chunk = rest
        while True:
            piece = stream.decompress(chunk, limit + 1 - size)
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                return b"".join(pieces), True
            if stream.eof or not stream.unconsumed_tail:
                break
            if not piece and len(stream.unconsumed_tail) == len(chunk):
                raise zlib.error("gzip stream stuck")
            chunk = stream.unconsumed_tail
        if not stream.eof:
            if not pieces or not size:
                raise zlib.error("gzip stream without data")
            return b"".join(pieces), False
        rest = stream.unused_data.lstrip(b"\x00")
    return b"".join(pieces), True


def _gunzipped_name(filename: str) -> str:
    lower = filename.lower()
    for suffix, replacement in ((".tgz", ".tar"), (".gzip", ""), (".gz", "")):
        if lower.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)] + replacement
    return filename or "data"


def _unzip(data: bytes, _filename: str, limit: int) -> _Unpacked:
    unpacked = _Unpacked("zip")
    left = limit
    encrypted: list[str] = []
    directory = _zip_directory_size(data)
    if directory > MAX_ZIP_DIRECTORY:
        unpacked.notes.append(
            f"{OVER_LIMIT} a directory of {directory} bytes (more than"
            f" {MAX_ZIP_DIRECTORY}: tens of thousands of members), not opened"
        )
        return unpacked
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = [info for info in archive.infolist() if not info.is_dir()]
        if any(info.filename in _DOCUMENT_MEMBERS for info in files):
            # An office document or a program under another name: a binary
            # attachment like any other, not an archive.
            return unpacked
        for index, info in enumerate(files):
            if index >= MAX_MEMBERS:
                unpacked.notes.append(_too_many(len(files)))
                unpacked.stopped = True
                break
            if info.flag_bits & 0x1:
                encrypted.append(info.filename)
                continue
            if left <= 0:
                unpacked.notes.append(_cut_note(info.filename, limit))
                unpacked.stopped = True
                break
            try:
                with archive.open(info) as stream:
                    # Bounded: the declared size is not trusted.
                    body = stream.read(left + 1)
                name = _zip_name(info)
            except (zipfile.BadZipFile, NotImplementedError, OSError, zlib.error) as e:
                unpacked.notes.append(
                    f"member {safe_name(info.filename)} unreadable"
                    f" ({type(e).__name__}), not read"
                )
                continue
            if len(body) > left:
                unpacked.notes.append(_cut_note(info.filename, limit))
                unpacked.members.append(Member(name, body[:left], cut=True))
                unpacked.stopped = True
                break
            left -= len(body)
            unpacked.members.append(Member(name, body))
    if encrypted:
        unpacked.notes.append(
            f"{len(encrypted)} encrypted member(s) not read: {_names(encrypted)}"
        )
    return unpacked


def _zip_directory_size(data: bytes) -> int:
    """The size of a zip's central directory, as its end record (or zip64's)
    says: what zipfile will read, entry by entry."""
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:  # pragma: no cover - a later Python's zipfile
        return 0
    record = end_record(io.BytesIO(data))
    if not record:
        raise zipfile.BadZipFile("no end of central directory")
    return int(record[5])  # zipfile._ECD_SIZE


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name: zipfile reads one without the UTF-8 flag as CP437,
    but most packers write UTF-8 there."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


def _untar(data: bytes, _filename: str, limit: int) -> _Unpacked:
    unpacked = _Unpacked("tar")
    left = limit
    seen = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        while True:
            try:
                info = archive.next()
            except tarfile.TarError as e:
                unpacked.notes.append(f"archive cut or corrupt ({type(e).__name__})")
                break
            if info is None:
                break
            if not info.isfile():
                continue
            seen += 1
            if seen > MAX_MEMBERS:
                unpacked.notes.append(_too_many(None))
                unpacked.stopped = True
                break
            if left <= 0:
                unpacked.notes.append(_cut_note(info.name, limit))
                unpacked.stopped = True
                break
            # Sliced from the bytes in hand: a member cut at the limit (its
            # declared size past their end) keeps what is there.
            start = info.offset_data
            body = (
                b""
                if info.issparse()
                else data[start : start + min(info.size, left + 1)]
            )
            if len(body) > left:
                unpacked.notes.append(_cut_note(info.name, limit))
                unpacked.members.append(Member(info.name, body[:left], cut=True))
                unpacked.stopped = True
                break
            left -= len(body)
            # A member whose bytes end before its declared size ran into the
            # end of what was unpacked: only its start is there.
            cut = not info.issparse() and len(body) < info.size
            unpacked.members.append(Member(info.name, body, cut))
    return unpacked


def _too_many(total: int | None) -> str:
    """The note of an archive of more members than are read: how many, or,
    for a tar (whose members are only known one after the other), that
    there are more."""
    count = f"{total}" if total is not None else f"more than {MAX_MEMBERS}"
    return f"{OVER_LIMIT} {count} members, only the first {MAX_MEMBERS} read"


def _names(names: list[str]) -> str:
    shown = ", ".join(safe_name(name) for name in names[:_NAMED])
    return shown + (", ..." if len(names) > _NAMED else "")


def safe_name(name: str) -> str:
    """A member name fit to store and show: no control characters or lone
    surrogates (a tar name is raw bytes), cut at 200 characters."""
    cleaned = "".join(
        "?" if ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF else c
        for c in name[:_NAME_CHARS]
    )
    return cleaned or "?"
