"""MAILBOT_<SECTION>_<KEY> variables: which are keys, and what their text means.

A variable whose section mailbot does not know is an error, as a misspelt
section in the file is: a typo in a password's variable would otherwise
leave the old password in use with no word said. The few MAILBOT_ variables
that are no key are listed here and in README.md.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from mailbot.errors import ConfigError

PREFIX = "MAILBOT_"

# Variables read by name, not as a key: the command line's own and the
# build's (setup.py; it may still be set when mailbot runs).
NOT_KEYS = frozenset(
    {
        "MAILBOT_CONFIG",
        "MAILBOT_NOW",
        "MAILBOT_LOG_LEVEL",
        "MAILBOT_LOG_FORMAT",
        "MAILBOT_MYPYC",
    }
)

# Per section, per key: the variable's own text, for keys read as strings.
Texts = dict[str, dict[str, str]]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word` (a typo's likely intent), or None.

    Letter case counts for nothing: MAILDIR is nearest to maildir.
    """
    folded: dict[str, str] = {}
    for choice in sorted(choices):
        folded.setdefault(choice.casefold(), choice)
    close = difflib.get_close_matches(word.casefold(), folded, n=1, cutoff=0.6)
    return folded[close[0]] if close else None


# The spellings of true and false a value may take, in any letter case (a
# variable's text is not TOML's `true`; the [rules] tables take these too).
FLAGS = {"true": True, "yes": True, "on": True, "1": True}
FLAGS.update({"false": False, "no": False, "off": False, "0": False})


def flag_of(text: str) -> bool | None:
    """The truth `text` spells (FLAGS), or None."""
    return FLAGS.get(text.strip().lower())


def nearest(word: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' for the choice closest to `word`, or ''."""
    choice = closest(word, choices)
    return f"; did you mean {choice}?" if choice else ""


def variable(section: str, key: str) -> str:
    """The MAILBOT_ variable that sets `section`'s `key`."""
    return f"{PREFIX}{section.upper()}_{key.upper()}"


def by_variable(exc: ConfigError, variables: Collection[str]) -> ConfigError:
    """`exc` naming the variable that set its key, when one of `variables` did.

    A value given by a variable is corrected in the variable: an error that
    names the file's key would send the operator to a file that lacks it,
    or holds a value that is not the one in use.
    """
    section, dot, key = exc.key.partition(".")
    if not dot or variable(section, key) not in variables:
        return exc
    return ConfigError(variable(section, key), exc.problem)


def apply_environment(
    data: Mapping[str, Any], environ: Mapping[str, str], sections: Iterable[str]
) -> tuple[dict[str, Any], Texts]:
    """`data` overlaid with the variables' values, and the variables' texts."""
    known = sorted(sections)
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    texts: Texts = {}
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in NOT_KEYS:
            continue
        section, key = _section_and_key(name, known)
        merged.setdefault(section, {})
        if not isinstance(merged[section], dict):
            raise ConfigError(section, f"is a table, not a value ({name} sets a key)")
        merged[section][key] = value_of(environ[name])
        texts.setdefault(section, {})[key] = environ[name]
    return merged, texts


def _section_and_key(name: str, known: list[str]) -> tuple[str, str]:
    section, _, key = name[len(PREFIX) :].lower().partition("_")
    if section in known and key:
        return section, key
    if section in known:
        problem = f"names no key; write MAILBOT_{section.upper()}_<KEY>"
    else:
        guess = closest(section, known)
        fixed = f"{PREFIX}{(guess or '').upper()}_{key.upper()}"
        suggestion = f"; did you mean {fixed}?" if guess else ""
        problem = (
            f"{section.upper() or '(empty)'} is no section of mailbot's{suggestion}"
        )
    raise ConfigError(
        name,
        f"{problem} (MAILBOT_<SECTION>_<KEY> sets a key of config.example.toml;"
        f" the other MAILBOT_ variables are {', '.join(sorted(NOT_KEYS))})",
    )


def value_of(text: str) -> Any:
    """A variable's TOML value (a number, a list, "a string"), else its text.

    Anything that is not TOML is taken as a plain string, so a password
    needs no quoting; a key read as a string takes the text even where it
    looks like a number (see `Texts`).
    """
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    # Lines after a value would be read as more keys: such text is text.
    return parsed["v"] if len(parsed) == 1 else text
