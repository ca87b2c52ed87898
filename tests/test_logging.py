"""Log lines: identifier first, text or JSON lines, no secrets, no bodies."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from opsenv import cli_env, run_cli

from mailbot import logs

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
SENTINEL = "BODYSENTINEL4f1e9a"
REPORT = mail(
    subject="Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    sender="Pekka Admin <admin@site-a.example.com>",
    message_id="<report-1@site-a.example.com>",
    date="Fri, 04 Dec 2026 09:55:00 +0000",
    body=f"We found a miner on wn12.site-a.example.com.\n{SENTINEL}\n",
)
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: .+$")


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _poll(tmp_path, dovecot, smtp_sink, database_url, *args, **env):  # type: ignore[no-untyped-def]
    dovecot.append_many([REPORT], internaldate=NOW - dt.timedelta(hours=1))
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink, now=NOW)
    child_env = cli_env(app, **env)
    app.close()
    done = run_cli(child_env, "--now", "2026-12-04T12:00:00Z", *args, "poll")
    assert done.returncode == 0, done.stderr
    return done.stderr, dovecot.password


def test_json_lines_without_secrets_or_bodies(
    tmp_path: Path, dovecot, smtp_sink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    log, password = _poll(
        tmp_path,
        dovecot,
        smtp_sink,
        database_url,
        "--log-format",
        "json",
        "--log-level",
        "DEBUG",
    )
    assert password not in log
    assert SENTINEL not in log
    entries = [json.loads(line) for line in log.splitlines()]
    assert entries and all(
        set(e) >= {"time", "level", "logger", "message"} for e in entries
    )
    assert any(e["level"] == "DEBUG" for e in entries)
    messages = [e["message"] for e in entries]
    # State changes: identifier first.
    assert any(m.startswith("EGI-20261204-01 opened") for m in messages), messages
    assert any(re.match(r"<[^>]+@csirt\.example\.org> queued", m) for m in messages)
    assert any(re.match(r"<[^>]+@csirt\.example\.org> sent", m) for m in messages)


def test_text_by_default_and_level_from_config(
    tmp_path: Path, dovecot, smtp_sink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    log, password = _poll(
        tmp_path, dovecot, smtp_sink, database_url, MAILBOT_LOGGING_LEVEL="WARNING"
    )
    assert password not in log
    # [logging] level = WARNING: the INFO lines of a normal poll are gone.
    assert " INFO " not in log
    assert all(TEXT_LINE.match(line) for line in log.splitlines()), log


def test_config_format_and_command_line_level(
    tmp_path: Path, dovecot, smtp_sink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    log, _ = _poll(
        tmp_path,
        dovecot,
        smtp_sink,
        database_url,
        "--log-level",
        "INFO",
        MAILBOT_LOGGING_FORMAT="json",
        MAILBOT_LOGGING_LEVEL="ERROR",
    )
    levels = {json.loads(line)["level"] for line in log.splitlines()}
    assert "INFO" in levels and "DEBUG" not in levels


def test_bad_log_settings_name_their_key(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url)
    env = cli_env(app)
    app.close()
    bad_flag = run_cli(env, "--log-format", "xml", "status")
    assert bad_flag.returncode == 2
    assert "--log-format" in bad_flag.stderr
    bad_key = run_cli({**env, "MAILBOT_LOGGING_FORMAT": "xml"}, "status")
    assert bad_key.returncode == 2
    # The variable that gave the value is named, as the file's key would be.
    assert "MAILBOT_LOGGING_FORMAT: must be one of text, json" in bad_key.stderr
    bad_variable = run_cli({**env, "MAILBOT_LOG_LEVEL": "LOUD"}, "status")
    assert bad_variable.returncode == 2
    assert "MAILBOT_LOG_LEVEL: 'LOUD'" in bad_variable.stderr
    # Wrong arguments are usage errors naming the argument, not the config.
    for args, named in (
        (("deadlines", "--due-within", "bogus"), "mailbot deadlines: --due-within:"),
        (
            ("deadlines", "--due-within", "99999999999d"),
            "mailbot deadlines: --due-within:",
        ),
        (
            ("deadlines", "--due-within", "P99999999Y"),
            "mailbot deadlines: --due-within:",
        ),
        (
            ("render", "nonsense", "--incident", "EGI-20261204-01"),
            "mailbot render: TEMPLATE:",
        ),
    ):
        done = run_cli(env, *args)
        assert done.returncode == 2 and named in done.stderr, done.stderr
        assert "configuration error" not in done.stderr


def test_secrets_are_blanked_in_messages_and_tracebacks(restore_logging) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    logs.configure("INFO", "text", stream=out)
    logs.add_secrets(["s3cret-pass", "abc"])
    log = logging.getLogger("mailbot.test")
    log.error("login refused for %s", "s3cret-pass")
    try:
        raise RuntimeError("server said: bad password s3cret-pass")
    except RuntimeError:
        log.exception("connection failed")
    text = out.getvalue()
    assert "s3cret-pass" not in text
    # The message, the source line and the exception text of the traceback.
    assert text.count(logs.REDACTED) == 3
    # Too short to blank out without mangling ordinary words.
    log.info("abc stays")
    assert "abc stays" in out.getvalue()


def test_lines_of_the_parser_and_extraction_name_their_mail(
    tmp_path: Path, database_url: str, restore_logging
) -> None:  # type: ignore[no-untyped-def]
    from mailbot.mail import RawMail
    from mailbot.process import process_delivery

    app = make_app(tmp_path, database_url, now=NOW)
    # More addresses than a part's value budget: extraction warns, and its
    # warning cannot name the mail itself.
    flood = "".join(f"203.0.{n // 250}.{n % 250 + 1}\n" for n in range(5_200))
    raw = mail(subject="Scans", message_id="<flood@cert.example.net>", body=flood)
    out = io.StringIO()
    logs.configure("WARNING", "text", stream=out)
    outcome = process_delivery(app, RawMail(raw, NOW, "test"))
    lines = out.getvalue().splitlines()
    budget = [line for line in lines if "values read" in line]
    assert budget and all(
        f"mailbot.extract.part: mail {outcome.mail_id}: part " in line
        for line in budget
    ), lines
    # JSON lines carry the mail as a field of its own.
    out = io.StringIO()
    logs.configure("WARNING", "json", stream=out)
    second = mail(subject="Scans", message_id="<flood-2@cert.example.net>", body=flood)
    outcome = process_delivery(app, RawMail(second, NOW, "test"))
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    warned = [e for e in entries if "values read" in e["message"]]
    assert warned and all(e["mail"] == outcome.mail_id for e in warned)
    # Outside a mail's processing nothing is added.
    logging.getLogger("mailbot.extract.part").warning("no mail here")
    last = json.loads(out.getvalue().splitlines()[-1])
    assert "mail" not in last and last["message"] == "no mail here"
    app.close()


def test_a_mail_is_named_by_a_short_message_id_or_its_id() -> None:
    from mailbot.db.models import Mail

    assert Mail(id=7, message_id=None).ident == "mail 7"
    assert Mail(id=7, message_id="<a@b.example>").ident == "<a@b.example>"
    long = Mail(id=7, message_id="<" + "x" * 5000 + "@b.example>").ident
    assert len(long) == 120 and long.endswith("\u2026")


def test_the_parser_s_warning_on_every_bounce_is_not_passed_on() -> None:
    # mail-parser has no reader for a DSN's own parts and says so on every
    # bounce; dsn_parts.py reads them. Other parts it cannot read are still told.
    from mailbot.logs import MailFilter

    def passes(message: str) -> bool:
        record = logging.LogRecord(
            "mailparser.core", logging.WARNING, __file__, 1, message, None, None
        )
        return MailFilter().filter(record)

    assert not passes("Email content 'rfc822-headers' not handled")
    assert not passes("Email content 'delivery-status' not handled")
    assert passes("Email content 'x-weird' not handled")
