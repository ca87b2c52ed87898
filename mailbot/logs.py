"""Where log lines go and how they look: plain text or JSON lines, no secrets.

Only the entry point calls `configure`; every module just logs through
`logging.getLogger(__name__)`, starting each line with the identifier it is
about (incident tag, Message-ID, UID). The secrets of the settings are
replaced by `***` in every line that reaches the handler, whatever logger
wrote it: a password echoed in a server's error message must not end up in
a log file.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from mailbot.config_env import nearest
from mailbot.errors import ConfigError
from mailbot.settings import LOG_LEVELS, Settings

FORMATS = ("text", "json")
REDACTED = "***"
# Shorter values are too likely to occur in ordinary text to be blanked out.
_MIN_SECRET = 4


# The mail being processed, for the lines of code that cannot name it: the
# parser's and extraction's ("part 2: 5001 values read" says nothing of
# which mail). Set by `about_mail`; read by MailFilter.
_MAIL: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "mailbot_mail", default=None
)
# Loggers whose lines are about the mail in hand without naming it.
_UNNAMED = ("mailparser", "mailbot.extract", "mailbot.parse", "mailbot.html_text")


@contextlib.contextmanager
def about_mail(mail_id: int) -> Iterator[None]:
    """Lines logged inside are about mail `mail_id` (its row id, as `show`
    and `quarantine` list it)."""
    token = _MAIL.set(mail_id)
    try:
        yield
    finally:
        _MAIL.reset(token)


# mail-parser warns of each part type it has no reader for. A bounce's
# machine-readable parts are mailbot's to read (dsn_parts.py): that warning came
# with every bounce and told the operator nothing.
_READ_BY_DSN = tuple(
    f"'{kind}' not handled"
    for kind in ("rfc822-headers", "delivery-status", "global-delivery-status")
)


class MailFilter(logging.Filter):
    """Adds `record.mail`; a parser's or extraction's line starts with it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("mailparser") and record.getMessage().endswith(
            _READ_BY_DSN
        ):
            return False
        mail = record.mail = _MAIL.get()  # type: ignore[attr-defined]
        if mail is not None and record.name.startswith(_UNNAMED):
            message, named = record.getMessage(), f"mail {mail}"
            if not message.startswith(named):
                record.msg, record.args = f"{named}: {message}", None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and error);
    "mail" while a mail is being processed."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        mail = getattr(record, "mail", None)
        if mail is not None:
            entry["mail"] = mail
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class SecretFilter(logging.Filter):
    """Blanks out known secrets in the message and in any traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


_secrets = SecretFilter()
_MAIL_FILTER = MailFilter()


def add_secrets(values: Iterable[str | None]) -> None:
    """Never let these values reach a log line."""
    _secrets.secrets.update(v for v in values if v and len(v) >= _MIN_SECRET)


def settings_secrets(settings: Settings) -> list[str | None]:
    return [settings.imap.password, settings.smtp.password]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged.

    A handler holding the sys.stderr of its creation keeps writing there after
    it is replaced and closed (an embedding program's, a test runner's
    capture): threads that log later would fail on a closed file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        return None


def configure(
    level: str,
    fmt: str = "text",
    stream: IO[str] | None = None,
    names: tuple[str, str] = ("--log-level", "--log-format"),
) -> None:
    """Send every log line to `stream` (stderr) at `level` in `fmt`; `names`
    are where the level and format were given, for an error to name."""
    # In any letter case, as the [logging] keys take them (Section.choice).
    level, fmt = level.strip().upper(), fmt.strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigError(
            names[0],
            f"{level!r} is not a log level ({', '.join(LOG_LEVELS)})"
            + nearest(level, LOG_LEVELS),
        )
    if fmt not in FORMATS:
        raise ConfigError(
            names[1],
            f"{fmt!r} is not a log format (text, json){nearest(fmt, FORMATS)}",
        )
    handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_MAIL_FILTER)
    handler.addFilter(_secrets)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # imapclient logs every command and response at DEBUG, message bodies
    # included: keep wire traffic out of the log at every level. Its INFO
    # lines ("Connection closed" at each logout, each retry in an outage)
    # say nothing mailbot's own lines do not: its warnings only.
    numeric = logging.getLevelName(level)
    logging.getLogger("imapclient").setLevel(max(numeric, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))


def _given(
    flag: str | None, variable: str, default: tuple[str, str]
) -> tuple[str, str]:
    """(value, where it was given): the flag, else the variable, else `default`."""
    name = "--" + variable.removeprefix("MAILBOT_").lower().replace("_", "-")
    if flag:
        return flag, name
    if os.environ.get(variable):
        return os.environ[variable], variable
    return default


def from_command_line(level: str | None, fmt: str | None) -> None:
    """Logging before the settings are read: command line, else environment."""
    level, level_from = _given(level, "MAILBOT_LOG_LEVEL", ("INFO", "--log-level"))
    fmt, fmt_from = _given(fmt, "MAILBOT_LOG_FORMAT", ("text", "--log-format"))
    configure(level, fmt, names=(level_from, fmt_from))


def from_settings(settings: Settings, level: str | None, fmt: str | None) -> None:
    """Apply [logging] where the command line and environment said nothing."""
    add_secrets(settings_secrets(settings))
    level, level_from = _given(
        level, "MAILBOT_LOG_LEVEL", (settings.logging.level, "logging.level")
    )
    fmt, fmt_from = _given(
        fmt, "MAILBOT_LOG_FORMAT", (settings.logging.format, "logging.format")
    )
    configure(level, fmt, names=(level_from, fmt_from))
