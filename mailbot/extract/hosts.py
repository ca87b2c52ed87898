"""Hostnames: real public suffixes only, and file names are not hosts."""

from __future__ import annotations

import functools
import logging
import re
from typing import Final

import tldextract

log = logging.getLogger(__name__)

# The snapshot of the Public Suffix List bundled with tldextract: no download,
# no cache directory, so extraction never touches the network or the disk.
_SUFFIXES: Final = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

# RFC 2606 / RFC 6761 names that test beds and documentation use; the Public
# Suffix List leaves them out, but reports do name hosts under them.
_RESERVED: Final = frozenset({"test", "example", "invalid"})

# Suffixes that are also common file extensions: "evil.sh", "x.py" and
# "README.md" are files when the name has only one label before them.
_FILE_SUFFIXES: Final = frozenset(
    {
        "py", "pl", "pm", "sh", "md", "so", "zip", "rs", "ps", "cc", "mov",
        "run", "pid", "java", "mo", "pub", "cab", "properties", "mk", "sc",
    }
)  # fmt: skip
_LABEL: Final = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


@functools.lru_cache(maxsize=4096)
def is_hostname(name: str) -> bool:
    """Whether lower-case `name` is a fully qualified name under a real suffix."""
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253:
        return False
    if not all(_LABEL.match(label) for label in labels):
        return False
    if labels[-1] in _RESERVED:
        return True
    if len(labels) == 2 and labels[-1] in _FILE_SUFFIXES:
        return False
    parts = _SUFFIXES(name)
    return bool(parts.suffix and parts.domain)


def registered_domain(name: str) -> str | None:
    """The domain `name` was registered as (`dl.shadowserver.org`: the
    `shadowserver.org` under the public suffix `org`), or None."""
    labels = name.lower().rstrip(".").split(".")
    if len(labels) >= 2 and labels[-1] in _RESERVED:
        return ".".join(labels[-2:])
    return _SUFFIXES(name.lower()).top_domain_under_public_suffix or None


def is_within(name: str, domains: frozenset[str] | tuple[str, ...]) -> bool:
    """Whether `name` is one of `domains` or a name below one of them."""
    return name in domains or name.endswith(_below(domains))


@functools.lru_cache(maxsize=64)
def _below(domains: frozenset[str] | tuple[str, ...]) -> tuple[str, ...]:
    # The endings of names below `domains`: str.endswith tries a tuple in C.
    return tuple("." + domain for domain in domains)
