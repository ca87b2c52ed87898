"""What a part's bytes are, whatever its Content-Type says.

A client or a gateway may type a program, an image or a random blob
`text/plain`: read as text, its bytes gave host names and values that no
one wrote (a breaker's F8). The bytes decide: the magic number of a known
binary format, or control bytes scattered through them as no text has.
Whether an attachment is worth reading as text at all (a log, a CSV, a
report) is asked here too: its type, its name, or bytes that look like text.
"""

from __future__ import annotations

from typing import Final

# Magic numbers of files that are never text, and the name said in the
# mail's defect. Archives are not here: parts.py opens them first.
_MAGIC: Final = (
    (b"\x7fELF", "ELF executable"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"%PDF-", "PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE document"),
    (b"\xca\xfe\xba\xbe", "Java class or Mach-O binary"),
    (b"\xfe\xed\xfa\xce", "Mach-O binary"),
    (b"\xfe\xed\xfa\xcf", "Mach-O binary"),
    (b"\xce\xfa\xed\xfe", "Mach-O binary"),
    (b"\xcf\xfa\xed\xfe", "Mach-O binary"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
)
# Bytes no text holds: C0 controls but tab, line feed, vertical tab, form
# feed, carriage return and escape (colour codes of a terminal log), and
# DEL. NUL is left out: UTF-16 text is half NUL, and a log cut by a crash
# holds runs of it; parts.py removes it.
_CONTROLS: Final = bytes(
    b for b in [*range(1, 32), 127] if b not in (9, 10, 11, 12, 13, 27)
)
_HEAD: Final = 65536
# Share of the bytes (NUL aside) that may be controls in text: random bytes
# have one in ten, text none but a stray one.
_MOST_CONTROLS: Final = 0.03


def binary_kind(data: bytes) -> str | None:
    """What binary content `data` is ("ELF executable", "binary data"), or
    None when its bytes may be text."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    # A Windows program: "MZ" and a NUL in its first header, as no text is.
    if data.startswith(b"MZ") and b"\x00" in data[2:64]:
        return "Windows executable"
    head = data[:_HEAD]
    kept = len(head) - head.count(0)
    if not kept:
        return "binary data" if head else None
    controls = kept - len(head.translate(None, _CONTROLS).replace(b"\x00", b""))
    return "binary data" if controls > _MOST_CONTROLS * kept else None


_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/csv", "application/x-csv"}
    | {"application/txt", "application/plain", "application/x-log"}
)
_TEXT_SUFFIXES = (".txt", ".log", ".csv", ".tsv", ".json", ".xml", ".md", ".eml")


def text_like(ctype: str, filename: str | None, data: bytes) -> bool:
    """Whether an attachment is worth reading as text (logs, CSV, reports)."""
    if ctype.startswith("text/"):
        return True
    if b"\x00" in data[:4096]:
        return False
    if ctype in _TEXT_TYPES:
        return True
    if filename and filename.lower().endswith(_TEXT_SUFFIXES):
        return True
    # A sensor log sent as an unnamed octet-stream is still a log: read an
    # untyped attachment when its bytes look like text.
    return _untyped(ctype) and _sniffs_as_text(data)


def _untyped(ctype: str) -> bool:
    return ctype == "application/octet-stream" or ctype.split("/")[0] not in (
        "application", "image", "audio", "video", "font", "model", "message",
        "multipart",
    )  # fmt: skip


def _sniffs_as_text(data: bytes) -> bool:
    """Valid UTF-8, or mostly printable ASCII, in the first 64 KiB; no NUL."""
    head = data[:65536]
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the 64 KiB mark is still UTF-8.
        if error.start >= len(head) - 3 and len(data) > len(head):
            return True
    printable = sum(1 for byte in head if 32 <= byte < 127 or byte in (9, 10, 13))
    return printable >= 0.95 * len(head)
