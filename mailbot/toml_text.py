"""What is wrong with a TOML file mailbot reads (the configuration, the
sites file), said with where and what to do."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

_WHERE = re.compile(r"\(at line (\d+), column \d+\)$")


def problem(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """Why `text`, read from `path`, is no TOML, and what to correct."""
    if text.startswith("\ufeff"):
        # tomllib said "Invalid statement (at line 1, column 1)" of it: the
        # mark is invisible in most editors.
        return (
            f"{path} starts with a byte order mark (U+FEFF, as some Windows"
            " editors save UTF-8), which TOML does not allow: save it as"
            " UTF-8 without one"
        )
    found = _WHERE.search(str(exc))
    if found:
        return f"{path} is not valid TOML: {exc}; correct line {found[1]}"
    # "(at end of document)": the last statement is unfinished.
    return (
        f"{path} is not valid TOML: {exc}; its last line is unfinished (a key"
        " without `= value`, a string, bracket or table header not closed):"
        " correct it, or point at the TOML file meant"
    )
