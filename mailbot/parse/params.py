"""What a leaf's Content-Type and Content-Disposition say about it.

Its filename (RFC 2231 values, encoded words, raw 8-bit bytes repaired),
its disposition, its charset, and whether its text is format=flowed (RFC
3676), whose soft line breaks `unflowed` joins. Each header's parameters
are read once; what is wrong with them is a defect of the mail.
"""

from __future__ import annotations

from email.message import Message
from typing import NamedTuple

from mailbot.parse import charsets, headers


class Meta(NamedTuple):
    """What a leaf's Content-Type and Content-Disposition say about it."""

    filename: str | None
    disposition: str | None
    charset: str | None
    flowed: str = ""  # "flowed", or "delsp" for format=flowed; delsp=yes


def meta_of(part: Message, number: str, defects: list[str]) -> Meta:
    """Filename, disposition and charset, each header's parameters read once."""
    content_type = _params(part, "content-type", number, defects)
    disposition = _params(part, "content-disposition", number, defects)
    filename = None
    for params, key in ((disposition, "filename"), (content_type, "name")):
        if key in params:
            filename = _param_text(params[key], f"part {number} {key}", defects)
        if filename:
            break
    return Meta(
        filename or None,
        part.get_content_disposition(),
        _charset(content_type),
        _flowed(content_type),
    )


def _flowed(params: dict[str, str | tuple[str, str, str]]) -> str:
    value = params.get("format")
    if not isinstance(value, str) or value.strip().lower() != "flowed":
        return ""
    delsp = params.get("delsp")
    if isinstance(delsp, str) and delsp.strip().lower() == "yes":
        return "delsp"
    return "flowed"


def unflowed(text: str, delsp: bool = False) -> str:
    """A format=flowed text (RFC 3676) with its soft line breaks joined.

    A line ending in a space (but the signature separator "-- ") is continued
    by the next line of the same quote depth; the continuation loses its
    quote marks and its stuffed space, and with delsp=yes the flowed line
    its trailing space. A mail client that flows its text wraps it there
    ("/CN=John " then "Smith 5678"): read as two lines, the DN, a sentence
    or an address split across them were cut.
    """
    if " \n" not in text:
        return text
    out: list[str] = []
    joining = False
    depth = 0
    for line in text.split("\n"):
        quotes = len(line) - len(line.lstrip(">"))
        if joining and quotes == depth and line[quotes:].strip():
            content = line[quotes:]
            out[-1] += content[1:] if content.startswith(" ") else content
        else:
            out.append(line)
            depth = quotes
        joining = line.endswith(" ") and line[quotes:].strip() != "--"
        if joining and delsp:
            out[-1] = out[-1][:-1]
    return "\n".join(out)


def _params(
    part: Message, header: str, number: str, defects: list[str]
) -> dict[str, str | tuple[str, str, str]]:
    value = part.get(header)
    if value is None:
        return {}
    if not isinstance(value, str):
        # compat32 hands out a header with raw 8-bit bytes as a Header already
        # decoded with replacement characters: repair the raw value instead.
        raw = next(v for k, v in part.raw_items() if k.lower() == header)
        fixed = headers.repair_8bit(
            headers.unfold(raw), f"part {number} {header}", defects
        )
        part = Message()
        part[header] = fixed
    elif ";" not in value:
        return {}
    return {
        str(key).lower(): val for key, val in (part.get_params(None, header) or [])[1:]
    }


def _charset(params: dict[str, str | tuple[str, str, str]]) -> str | None:
    value = params.get("charset")
    if isinstance(value, tuple):
        value = value[2]
    if not value or not value.isascii():
        return None
    return value.strip().lower()


def _param_text(
    value: str | tuple[str, str, str], what: str, defects: list[str]
) -> str:
    """One MIME parameter value: RFC 2231, encoded words, or raw 8-bit."""
    if isinstance(value, tuple):
        charset, _language, text = value
        try:
            data = text.encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogatepass")
        return headers.clean(_rfc2231_text(data, charset or "us-ascii", what, defects))
    return headers.decode_value(value, what, defects)


def _rfc2231_text(data: bytes, charset: str, what: str, defects: list[str]) -> str:
    codec = charsets.resolve(charset).name or "ascii"
    for name in (codec, "utf-8"):
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            continue
    defects.append(f"{what}: undecodable RFC 2231 value ({charset}): latin-1 fallback")
    return charsets.latin1(data)
