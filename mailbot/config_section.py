"""Typed reads of one section of the configuration, and checks of values.

Every read names its key `section.key` in the error; a value set by a
MAILBOT_ variable is read from the variable's own text where a string is
wanted (config_env.py).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mailbot.address import address_problem, addresses_in
from mailbot.config_env import Texts, flag_of, nearest, variable
from mailbot.errors import ConfigError


class Section:
    """Typed reads from one section, each error naming `section.key`."""

    def __init__(
        self,
        data: Mapping[str, Any],
        name: str,
        base_dir: Path,
        texts: Texts,
        unread_secrets: frozenset[str] = frozenset(),
    ) -> None:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(name, "must be a table like [" + name + "]")
        self.values = value
        self.name = name
        self.base_dir = base_dir
        # The environment's text of each key it set, for keys read as strings.
        self.texts = texts.get(name, {})
        self.read: set[str] = set()
        # Keys whose `<key>_file` is not read: a command that does not use
        # them runs where that file is not readable (an operator's account).
        self.unread_secrets = unread_secrets

    def check_unread(self) -> None:
        """Every key given was read: a misspelt one would be silently lost."""
        for key in sorted(set(self.values) - self.read):
            if key in self.texts:
                # Given by a variable: the nearest variable, not the key.
                known = {self.variable(k): k for k in self.read}
                guess = nearest(self.variable(key), known)
                raise ConfigError(
                    self.variable(key),
                    f"is no key of mailbot's{guess} (MAILBOT_{self.name.upper()}_"
                    "<KEY> sets a key of config.example.toml)",
                )
            raise ConfigError(
                self.key(key),
                f"is no key of mailbot's{nearest(key, self.read)};"
                " config.example.toml lists them",
            )

    def variable(self, key: str) -> str:
        return variable(self.name, key)

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, kind: type, default: Any, check: Callable | None = None):
        value = self._secret(key)
        if value is None:
            return default
        if kind is str and not isinstance(value, str) and key in self.texts:
            # MAILBOT_IMAP_PASSWORD=12345 is a password, not a number.
            value = self.texts[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is bool:
            value = self._flag(key, value)
        if kind is tuple:
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(
                isinstance(v, str) for v in value
            ):
                raise ConfigError(
                    self.key(key), "must be a list of strings; " + self.list_hint(key)
                )
            value = tuple(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            # The value itself is not shown: it may be a password.
            hint = f' (in quotes: {key} = "...")' if kind is str else ""
            raise ConfigError(self.key(key), f"must be {_KIND_NAMES[kind]}{hint}")
        if check is not None:
            problem = check(value)
            if problem:
                raise ConfigError(self.key(key), problem)
        return value

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        """One of `choices`, in any letter case; as `choices` writes it."""
        value = self.get(key, str, default)
        folded = {choice.casefold(): choice for choice in choices}
        found = folded.get(value.strip().casefold())
        if found is None:
            raise ConfigError(
                self.key(key),
                f"must be one of {', '.join(choices)}{nearest(value, choices)}",
            )
        return found

    def _flag(self, key: str, value: Any) -> Any:
        """True or false, as TOML writes it or as FLAGS spell it in text."""
        if key in self.texts:
            value = self.texts[key]
        if not isinstance(value, str):
            return value
        flag = flag_of(value)
        if flag is None:
            raise ConfigError(
                self.key(key),
                f"{value!r} is not true or false (yes and no, on and off, 1 and 0"
                " are taken too)",
            )
        return flag

    def list_hint(self, key: str, items: Sequence[str] = ("a", "b")) -> str:
        """How to write a list of this key, in the file and in the environment."""
        listed = ", ".join(f'"{item}"' for item in items)
        return (
            f"write a list as {key} = [{listed}] in the file, or"
            f" {self.variable(key)}='[{listed}]' in the environment"
        )

    def addresses(self, key: str) -> tuple[str, ...]:
        """A list of mail addresses, each one plain addr-spec, lower case."""
        values = self.get(key, tuple, ())
        for value in values:
            if problem := address_problem(value):
                # Each address its own string, the bare address without a
                # display name: the advice names what the value holds.
                example = addresses_in(value) or ("a@x.example", "b@y.example")
                raise ConfigError(
                    self.key(key),
                    f"{value!r} is not one mail address: it {problem}; "
                    + self.list_hint(key, example[:2]),
                )
        return tuple(v.lower() for v in values)

    def address(self, key: str, default: str | None) -> str | None:
        """One mail address, plain addr-spec, lower case."""
        value = self.get(key, str, default)
        if not value:
            return None  # "" says: none
        if problem := one_address(value):
            raise ConfigError(self.key(key), problem)
        return value.lower()

    def required(self, key: str) -> str:
        value = self.get(key, str, None)
        if not value:
            raise ConfigError(self.key(key), "is required and has no default")
        return value

    def _both(self, key: str, file_key: str) -> str:
        """A secret given as itself and as a file: which to take out, where."""
        problem = f"give {key} or {file_key}, not both"
        by_env = [k for k in (key, file_key) if k in self.texts]
        if len(by_env) != 1:
            return problem
        other = file_key if by_env[0] == key else key
        return (
            f"{problem}: {self.variable(by_env[0])} gives {by_env[0]} and the"
            f" file gives {other}; a variable replaces no secret written the"
            f" other way, so take {other} out of the file's [{self.name}] (or set"
            f" {self.variable(other)} instead)"
        )

    def _secret(self, key: str) -> Any:
        # A secret may be given as `<key>_file`, a path to a file holding it.
        file_key = key + "_file"
        self.read.update((key, file_key))
        if key in self.values and file_key in self.values:
            by_env = [k for k in (key, file_key) if k in self.texts]
            named = self.variable(by_env[0]) if len(by_env) == 1 else None
            raise ConfigError(named or self.key(file_key), self._both(key, file_key))
        if key in self.values:
            return self.values[key]
        if file_key not in self.values or key in self.unread_secrets:
            return None
        path = Path(str(self.values[file_key])).expanduser()
        path = path if path.is_absolute() else self.base_dir / path
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            problem = f"{path} does not exist: correct the path"
        except UnicodeDecodeError as exc:
            problem = f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8"
        except OSError as exc:
            problem = (
                f"cannot read {path} ({exc.strerror or exc}): make it readable"
                " by the user mailbot runs as"
            )
        raise ConfigError(self.key(file_key), problem)


_KIND_NAMES = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
}


def filled(what: str, default: str) -> Callable[[str], str | None]:
    """A check that the value is not empty: an empty path is the config's
    own folder, never the one meant."""
    problem = f"is empty: give {what}, or leave it out for its default, {default}"
    return lambda v: None if v.strip() else problem


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def valid_port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be a port number from 1 to 65535"


def valid_zone(value: str) -> str | None:
    """None for an IANA time zone; else the problem, with the nearest zone."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        guess = nearest(value, zoneinfo.available_timezones())
        return f"{value!r} is no IANA time zone{guess or ' (like Europe/Amsterdam)'}"
    return None


def one_address(value: str) -> str | None:
    problem = address_problem(value)
    if problem is None:
        return None
    held = addresses_in(value)
    like = f'write it "{held[0]}"' if len(held) == 1 else "give one, like a@x.example"
    return f"{value!r} is not one mail address: it {problem}; {like}"
