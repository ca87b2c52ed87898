"""A refused setting names where it was written, with the nearest known name.

A value given by a MAILBOT_ variable is corrected in the variable, not in
the file: the error names the variable (MAILBOT_SMTP_KIND), and a misspelt
key given by one names the nearest variable. A bad choice, log level or
time zone names the nearest value, in the file as in a variable.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from test_config_values import BASE, mailbot
from test_csirt_env import SITES

from mailbot.config import load_settings
from mailbot.deadlines.rules import rules_from_config
from mailbot.errors import ConfigError
from mailbot.sites import directory_from_dict


def refused(environ: dict[str, str], text: str = "", tmp: Path | None = None) -> str:
    """The one line of the ConfigError that loading refuses with."""
    config = None
    if tmp is not None:
        config = tmp / "mailbot.toml"
        config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {**BASE, **environ})
    return str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (
            "MAILBOT_SMTP_KIND",
            "maildri",
            "must be one of smtp, maildir; did you mean maildir?",
        ),
        ("MAILBOT_BRAKE_MAX_PER_HOUR", "many", "must be a whole number"),
        ("MAILBOT_IMAP_PORT", "seven", "must be a whole number"),
        ("MAILBOT_SOURCE_KIND", "imapp", "did you mean imap?"),
        ("MAILBOT_LOGGING_FORMAT", "jsno", "did you mean json?"),
        (
            "MAILBOT_MAILBOT_TIMEZONE",
            "Europe/Amsterdm",
            "did you mean Europe/Amsterdam?",
        ),
        ("MAILBOT_CSIRT_MEMBERS", "a@x.org,b@y.org", "is not one mail address"),
        ("MAILBOT_LIMITS_MAX_SECONDS_PER_MAIL", "0", "must be greater than 0"),
        ("MAILBOT_DATABASE_TIMEOUT", "0", "must be greater than 0"),
        ("MAILBOT_SMTP_HOST", "", "is required when [smtp] kind is smtp"),
    ],
)
def test_a_bad_value_of_a_variable_names_the_variable(
    variable: str, value: str, said: str
) -> None:
    extra = {"MAILBOT_SMTP_KIND": "smtp"} if variable == "MAILBOT_SMTP_HOST" else {}
    line = refused({**extra, variable: value})
    assert line.startswith(f"{variable}: ")
    assert said in line


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            '[smtp]\nkind = "maildri"\n',
            "smtp.kind: must be one of smtp, maildir; did you mean maildir?",
        ),
        ('[logging]\nlevel = "WARN"\n', "logging.level: must be one of DEBUG"),
        ('[logging]\nlevel = "WARN"\n', "; did you mean WARNING?"),
        (
            '[mailbot]\ntimezone = "Europe/Amsterdm"\n',
            "mailbot.timezone: 'Europe/Amsterdm' is no IANA time zone;"
            " did you mean Europe/Amsterdam?",
        ),
    ],
)
def test_a_bad_value_in_the_file_names_the_key_and_the_nearest_value(
    tmp_path: Path, text: str, said: str
) -> None:
    # BASE gives no timezone, logging or smtp kind other than the file's.
    environ = {"MAILBOT_SMTP_KIND": "maildir"} if "[smtp]" not in text else {}
    base = {k: v for k, v in BASE.items() if k != "MAILBOT_SMTP_KIND"}
    config = tmp_path / "mailbot.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {**base, **environ})
    assert said in str(caught.value)


def test_a_bad_choice_of_a_rule_names_the_nearest_value() -> None:
    with pytest.raises(ConfigError) as caught:
        rules_from_config({"analysis": {"calendar": "workng"}})
    assert str(caught.value) == (
        "rules.analysis.calendar: 'workng' is not one of calendar, working;"
        " did you mean working?"
    )


def test_a_misspelt_key_of_a_variable_names_the_nearest_variable() -> None:
    line = refused({"MAILBOT_IMAP_HOTS": "imap.example.org"})
    assert line.startswith("MAILBOT_IMAP_HOTS: is no key of mailbot's;")
    assert "did you mean MAILBOT_IMAP_HOST?" in line


def test_a_misspelt_key_in_the_file_names_the_nearest_key(tmp_path: Path) -> None:
    line = refused({}, "[imap]\nhots = 'h'\n", tmp_path)
    assert line.startswith("imap.hots: is no key of mailbot's; did you mean host?")


def test_a_bad_time_zone_of_a_site_names_the_nearest_zone() -> None:
    text = re.sub(r'timezone = "[^"]*"', 'timezone = "Europe/Amsterdm"', SITES, count=1)
    assert text != SITES
    with pytest.raises(ConfigError) as caught:
        directory_from_dict(tomllib.loads(text))
    assert caught.value.key == "site SITE-A.timezone"
    assert caught.value.problem.endswith("; did you mean Europe/Amsterdam?")


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (
            {"MAILBOT_SMTP_KIND": "maildri"},
            "MAILBOT_SMTP_KIND: must be one of smtp, maildir; did you mean maildir?",
        ),
        # Checked when the App starts, after the settings loaded: still the
        # variable is named.
        (
            {"MAILBOT_TEMPLATES_DIRECTORY": "/nonexistent/tpl"},
            "MAILBOT_TEMPLATES_DIRECTORY: ",
        ),
        ({"MAILBOT_SITES_FILE": "/nonexistent/sites.toml"}, "MAILBOT_SITES_FILE: "),
    ],
)
def test_the_command_line_names_the_variable(
    tmp_path: Path, extra: dict[str, str], said: str
) -> None:
    done = mailbot(tmp_path, extra, "incidents")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"mailbot: configuration error: {said}")


@pytest.mark.parametrize(
    ("environ", "text", "expected"),
    [
        # A word of a list of choices, in any letter case, as the [rules]
        # tables and the log level took it already.
        ({"MAILBOT_SMTP_KIND": "MAILDIR"}, "", ("smtp", "kind", "maildir")),
        ({"MAILBOT_SOURCE_KIND": "Maildir"}, "", ("source", "kind", "maildir")),
        ({"MAILBOT_IMAP_TLS": "STARTTLS"}, "", ("imap", "tls", "starttls")),
        ({}, '[smtp]\ntls = "SSL"\n', ("smtp", "tls", "ssl")),
        ({"MAILBOT_LOGGING_FORMAT": "JSON"}, "", ("logging", "format", "json")),
        ({}, '[logging]\nlevel = "warning"\n', ("logging", "level", "WARNING")),
        # True and false, as a variable's text or a string of the file.
        ({"MAILBOT_IMAP_IDLE": "False"}, "", ("imap", "idle", False)),
        ({"MAILBOT_IMAP_IDLE": "NO"}, "", ("imap", "idle", False)),
        ({}, '[imap]\nidle = "off"\n', ("imap", "idle", False)),
        ({}, "[imap]\nidle = false\n", ("imap", "idle", False)),
        ({"MAILBOT_IMAP_IDLE": "true"}, "", ("imap", "idle", True)),
    ],
)
def test_a_choice_is_taken_in_any_letter_case(
    tmp_path: Path,
    environ: dict[str, str],
    text: str,
    expected: tuple[str, str, object],
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config, {**BASE, **environ})
    section, key, value = expected
    assert getattr(getattr(settings, section), key) == value


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("MAILBOT_SMTP_KIND", "MAILDRI", "; did you mean maildir?"),
        ("MAILBOT_IMAP_TLS", "StartTSL", "; did you mean starttls?"),
        ("MAILBOT_LOGGING_LEVEL", "warn", "; did you mean WARNING?"),
        ("MAILBOT_MAILBOT_TIMEZONE", "EUROPE/AMSTERDM", "mean Europe/Amsterdam?"),
        ("MAILBOT_IMAP_IDLE", "maybe", "'maybe' is not true or false"),
    ],
)
def test_a_choice_in_another_letter_case_names_the_nearest_value(
    variable: str, value: str, said: str
) -> None:
    line = refused({variable: value})
    assert line.startswith(f"{variable}: ") and said in line, line


def test_the_log_options_take_any_letter_case_and_name_the_nearest(
    tmp_path: Path,
) -> None:
    done = mailbot(tmp_path, {"MAILBOT_LOG_FORMAT": "JSN"}, "status")
    assert done.returncode == 2
    assert "MAILBOT_LOG_FORMAT: 'jsn' is not a log format (text, json);" in done.stderr
    assert "did you mean json?" in done.stderr
    done = mailbot(tmp_path, {}, "--log-level", "Warn", "status")
    assert done.returncode == 2
    assert "--log-level: 'WARN' is not a log level (DEBUG, INFO," in done.stderr
    assert "did you mean WARNING?" in done.stderr
    done = mailbot(
        tmp_path, {"MAILBOT_LOG_FORMAT": "Json"}, "--log-level", "info", "status"
    )
    assert "not a log" not in done.stderr, done.stderr
