"""Configuration: defaults, environment overrides, secrets, errors naming keys."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from mailbot.cli import main
from mailbot.config import load_settings
from mailbot.errors import ConfigError

BASE = {
    "MAILBOT_MAILBOT_ADDRESS": "abuse@egi.example",
    "MAILBOT_SOURCE_KIND": "maildir",
    "MAILBOT_SMTP_KIND": "maildir",
}


def test_defaults_of_interface() -> None:
    settings = load_settings(None, BASE)
    assert settings.mailbot.tag_prefix == "EGI"
    assert settings.mailbot.timezone == "Europe/Amsterdam"
    assert settings.database.url == f"sqlite:///{Path.cwd() / 'mailbot.db'}"
    assert settings.imap.port == 993 and settings.imap.tls == "ssl"
    assert settings.imap.folder == "INBOX" and settings.imap.username == "abuse"
    assert settings.smtp.port == 587 and settings.smtp.tls == "starttls"
    assert settings.sites.file == "sites.toml"


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "a@b.example"\n[imap]\nhost = "h"\nport = 1\n'
        '[smtp]\nhost = "s"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {"MAILBOT_IMAP_PORT": "1143"})
    assert settings.imap.port == 1143
    assert settings.imap.host == "h"


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n", encoding="utf-8")
    settings = load_settings(None, {**BASE, "MAILBOT_IMAP_PASSWORD_FILE": str(secret)})
    assert settings.imap.password == "s3cret"


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        # Nothing at all: the error says where a configuration is looked for.
        ({}, "--config"),
        ({"MAILBOT_SMTP_KIND": "maildir"}, "--config"),
        (
            {"MAILBOT_MAILBOT_ADDRESS": "x@y", "MAILBOT_SMTP_KIND": "maildir"},
            "imap.host",
        ),
        (
            {**BASE, "MAILBOT_SOURCE_KIND": "imap", "MAILBOT_IMAP_HOST": " "},
            "MAILBOT_IMAP_HOST",
        ),
        # A value a variable gave is named by the variable (test_config_named).
        ({**BASE, "MAILBOT_IMAP_PORT": "seven"}, "MAILBOT_IMAP_PORT"),
        ({**BASE, "MAILBOT_IMAP_TLS": "maybe"}, "MAILBOT_IMAP_TLS"),
        (
            {**BASE, "MAILBOT_MAILBOT_TIMEZONE": "Mars/Olympus"},
            "MAILBOT_MAILBOT_TIMEZONE",
        ),
        (
            {**BASE, "MAILBOT_CSIRT_MEMBERS": '["not-an-address"]'},
            "MAILBOT_CSIRT_MEMBERS",
        ),
        ({**BASE, "MAILBOT_SMTP_KIND": "smtp"}, "smtp.host"),
        (
            {**BASE, "MAILBOT_IMAP_PASSWORD_FILE": "/nonexistent/pw"},
            "MAILBOT_IMAP_PASSWORD_FILE",
        ),
    ],
)
def test_errors_name_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    assert caught.value.key == key
    assert str(caught.value).startswith(key)


def test_cli_exits_2_with_one_line(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("MAILBOT_"):
            monkeypatch.delenv(name)
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        "mailbot: configuration error: --config: no configuration found"
    )
    assert f"mailbot.toml in {tmp_path}" in err[0]
    # A file without the address still names the key.
    (tmp_path / "mailbot.toml").write_text("[imap]\nhost = 'h'\n", encoding="utf-8")
    assert main(["status"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mailbot: configuration error: mailbot.address: is required and has no default"
    )


def _clear_mailbot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAILBOT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (None, "does not exist: write one (`mailbot example-config >"),
        ("directory", "is a directory: point it at the TOML file itself"),
        (b"[mailbot]\naddress = 'abuse@example.org'\n# caf\xe9\n", "is not UTF-8 text"),
        (b"[mailbot\naddress = 1\n", "is not valid TOML"),
    ],
)
def test_an_unreadable_file_names_what_named_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    write: bytes | str | None,
    expected: str,
) -> None:
    # The error points at the place to correct: the variable when the
    # variable named the file (a container sets MAILBOT_CONFIG), the option
    # when the option did; and it says what to do.
    monkeypatch.chdir(tmp_path)
    _clear_mailbot_environment(monkeypatch)
    path = tmp_path / "mailbot.toml"
    if write == "directory":
        path.mkdir()
    elif isinstance(write, bytes):
        path.write_bytes(write)
    monkeypatch.setenv("MAILBOT_CONFIG", str(path))
    assert main(["status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"mailbot: configuration error: MAILBOT_CONFIG: {path} ")
    assert expected in err[0]
    # --config wins over the variable, and is the one named then.
    assert main(["--config", str(path), "status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mailbot: configuration error: --config: {path} ")
    assert expected in err


@pytest.mark.parametrize(
    "command",
    [
        "db",
        "run",
        "poll",
        "sweep",
        "ingest",
        "incidents",
        "show",
        "status",
        "quarantine",
        "demo",
        "example-config",
    ],
)
def test_help_needs_no_config(command: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    assert "usage: mailbot" in capsys.readouterr().out


def test_relative_sqlite_file_is_the_config_files(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "mailbot.toml"
    config.parent.mkdir()
    config.write_text(
        '[database]\nurl = "sqlite:///data/mailbot.db"\n', encoding="utf-8"
    )
    settings = load_settings(config, BASE)
    assert (
        settings.database.url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'mailbot.db'}"
    )
    absolute = load_settings(
        config, {**BASE, "MAILBOT_DATABASE_URL": "sqlite:////x/m.db"}
    )
    assert absolute.database.url == "sqlite:////x/m.db"


@pytest.mark.parametrize("url", ["nonsense", "mysql://root@127.0.0.1/test"])
def test_database_url_errors_name_the_key(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"^MAILBOT_DATABASE_URL: "):
        load_settings(None, {**BASE, "MAILBOT_DATABASE_URL": url})
    config = tmp_path / "mailbot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^database\.url: "):
        load_settings(config, BASE)


@pytest.mark.parametrize(
    ("text", "environ", "key"),
    [
        ("[imap]\nprot = 1\n", {}, "imap.prot"),
        ("[imapp]\nport = 1\n", {}, "imapp"),
        ("", {"MAILBOT_IMAP_PORTT": "1"}, "MAILBOT_IMAP_PORTT"),
        ('[templates]\ndir = "t"\n', {}, "templates.dir"),
        ('[imap]\npassword = "x"\npassword_file = "pw"\n', {}, "imap.password_file"),
    ],
)
def test_misspelt_keys_and_sections_are_errors(
    tmp_path: Path, text: str, environ: dict[str, str], key: str
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, {**BASE, **environ})
    assert str(raised.value).startswith(f"{key}: ")


def test_every_key_of_the_example_is_known() -> None:
    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    settings = load_settings(example, {})
    assert settings.mailbot.address


def test_the_example_writes_each_keys_default_or_says_example() -> None:
    """config.example.toml claims "every key, its default": a value that is
    no default (members, authserv_ids, duty_address, the hosts) is marked
    "# example", and every key the loader takes is written in it (owed_by
    was taken and listed in errors, documented nowhere)."""
    import dataclasses
    import re
    import tomllib

    from mailbot.config import _SECTION_BUILDERS
    from mailbot.deadlines.rules import CHASE_KEYS, RULE_KEYS

    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    defaults = load_settings(None, BASE)
    marked = set()
    section = ""
    for line in text.splitlines():
        if heading := re.fullmatch(r"\[([a-z_.]+)\]", line):
            section = heading.group(1)
        elif (key := re.match(r"([a-z_]+) = ", line)) and line.endswith("# example"):
            marked.add(f"{section}.{key.group(1)}")
    differing = set()
    for name in _SECTION_BUILDERS:
        settings = getattr(defaults, name)
        fields = {f.name for f in dataclasses.fields(settings)}
        for key in fields:
            # Each key the loader takes is written, as a value or commented out.
            assert re.search(rf"^(# )?{key} = ", text, re.M), f"{name}.{key}"
        for key, value in data.get(name, {}).items():
            assert key in fields, f"{name}.{key}"
            default = getattr(settings, key)
            value = tuple(value) if isinstance(value, list) else value
            if (name, key) == ("database", "url"):
                default = "sqlite:///mailbot.db"  # made absolute by the loader
            if (name, key) == ("mailbot", "address"):
                default = None  # required: BASE gives it
            if (name, key) in (("source", "kind"), ("smtp", "kind")):
                default = {"source": "imap", "smtp": "smtp"}[name]
            if value != default and not (default is None and value == ""):
                differing.add(f"{name}.{key}")
    assert differing == marked
    assert differing >= {
        "csirt.members",
        "csirt.authserv_ids",
        "csirt.duty_address",
        "imap.host",
        "smtp.host",
    }
    rules_comment = text[text.index("# The procedure's clocks") :]
    for key in RULE_KEYS:
        assert f"#   {key}:" in rules_comment, f"rules.*.{key}"
    assert set(data["chase"]) == CHASE_KEYS


@pytest.mark.parametrize(
    ("written", "variable", "out"),
    [
        ('password_file = "secret"', "MAILBOT_IMAP_PASSWORD", "password_file"),
        ('password = "x"', "MAILBOT_IMAP_PASSWORD_FILE", "password"),
    ],
)
def test_a_secret_set_both_ways_by_file_and_variable_says_which_to_take_out(
    tmp_path: Path, written: str, variable: str, out: str
) -> None:
    """README says every key can be overridden by a variable; a secret the
    file gives the other way is not, and the error says so."""
    config = tmp_path / "mailbot.toml"
    config.write_text(f"[imap]\n{written}\n", encoding="utf-8")
    (tmp_path / "secret").write_text("x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {**BASE, variable: "secret"})
    assert caught.value.key == variable
    assert (
        f"{variable} gives {variable.removeprefix('MAILBOT_IMAP_').lower()} and the"
        f" file gives {out}; a variable replaces no secret written the other way,"
        f" so take {out} out of the file's [imap]"
    ) in caught.value.problem
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(
        encoding="utf-8"
    )
    assert "except a secret the file gives the other way" in " ".join(readme.split())


def test_a_database_that_cannot_be_reached_is_named_by_its_key(tmp_path: Path) -> None:
    """Named as the variable when one set the URL: "check [database] url"
    sent the operator to a file that did not hold the URL in use."""
    from servers import free_port

    from mailbot.app import open_app
    from mailbot.errors import MailbotError

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/mailbot"
    config = tmp_path / "mailbot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    for settings, key, check in (
        (load_settings(config, BASE), "database.url", "[database] url"),
        (
            load_settings(None, {**BASE, "MAILBOT_DATABASE_URL": url}),
            "MAILBOT_DATABASE_URL",
            "MAILBOT_DATABASE_URL",
        ),
    ):
        with pytest.raises(MailbotError) as caught:
            open_app(settings)
        message = str(caught.value)
        assert message.startswith(f"{key}: cannot use the database (")
        assert f"check {check} (host" in message


def test_status_json_reports_an_unusable_database(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """`status --json` printed nothing on stdout when the database was down:
    a monitor parsing it got a JSON error instead of the verdict."""
    import json

    from servers import free_port

    _clear_mailbot_environment(monkeypatch)
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/mailbot"
    for name, value in {**BASE, "MAILBOT_DATABASE_URL": url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mailbot.toml").write_text("", encoding="utf-8")
    assert main(["status", "--json"]) == 1
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["healthy"] is False
    problem = "MAILBOT_DATABASE_URL: cannot use the database"
    assert data["problems"][0].startswith(problem)
    assert f"mailbot: {problem}" in err


def test_status_json_reports_a_database_it_cannot_open(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A database of a newer mailbot (exit 1) or a SQLite path in a missing
    folder (exit 2): `status --json` still printed nothing (retester)."""
    import json

    from sqlalchemy import text

    from mailbot.db.engine import make_engine, upgrade

    _clear_mailbot_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mailbot.toml").write_text("", encoding="utf-8")
    newer = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(newer)
    engine = make_engine(newer)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    missing = f"sqlite:///{tmp_path / 'no-such-folder' / 'mailbot.db'}"
    for url, status, words in ((newer, 1, "0099"), (missing, 2, "does not exist")):
        for name, value in {**BASE, "MAILBOT_DATABASE_URL": url}.items():
            monkeypatch.setenv(name, value)
        assert main(["status", "--json"]) == status
        data = json.loads(capsys.readouterr().out)
        assert data["healthy"] is False and words in data["problems"][0], data


@pytest.mark.parametrize(
    ("said", "advice"),
    [
        ("database is locked", "another process held it locked"),
        ("unable to open database file", "cannot be written"),
        ("attempt to write a readonly database", "cannot be written"),
        ("database or disk is full", "the disk is full"),
        ("connection refused", "check [database] url"),
    ],
)
def test_a_database_error_names_what_to_look_at(said: str, advice: str) -> None:
    """A locked SQLite file or a read-only file system was reported as
    "check [database] url", which was right."""
    from mailbot.app import _advice

    assert advice in _advice(said)


def test_a_database_in_a_directory_that_does_not_exist_is_refused(
    tmp_path: Path,
) -> None:
    # A typo must not start an empty database (which would poll the whole
    # mailbox again and answer last week's mail twice).
    from mailbot.app import open_app

    url = f"sqlite:///{tmp_path / 'typo' / 'mailbot.db'}"
    settings = load_settings(None, {**BASE, "MAILBOT_DATABASE_URL": url})
    with pytest.raises(ConfigError) as caught:
        open_app(settings)
    assert caught.value.key == "database.url"
    assert "does not exist" in str(caught.value)
    assert not (tmp_path / "typo").exists()
    # The file itself is made on first use, where the directory exists.
    url = f"sqlite:///{tmp_path / 'mailbot.db'}"
    open_app(load_settings(None, {**BASE, "MAILBOT_DATABASE_URL": url})).close()
    assert (tmp_path / "mailbot.db").exists()


def test_a_rule_setting_from_the_environment(tmp_path: Path) -> None:
    """MAILBOT_RULES_<RULE>_<KEY> sets one setting of a rule, over the file's
    value for it; the rule's other settings in the file stay."""
    from mailbot.deadlines.rules import Duration, rules_from_config

    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[rules.analysis]\nduration = "4h"\ncalendar = "calendar"\n', encoding="utf-8"
    )
    environ = {
        **BASE,
        "MAILBOT_RULES_ANALYSIS_DURATION": "8h",
        "MAILBOT_RULES_CLOSURE_REPORT_ENABLED": "false",
    }
    loaded = rules_from_config(load_settings(config, environ).raw["rules"])
    rules = {rule.name: rule for rule in loaded}
    assert rules["analysis"].duration == Duration(time=dt.timedelta(hours=8))
    assert rules["analysis"].calendar == "calendar"
    assert "closure_report" not in rules and "report" in rules


def test_a_rule_set_to_a_value_says_how_to_set_one_setting() -> None:
    from mailbot.deadlines.rules import rules_from_config

    settings = load_settings(None, {**BASE, "MAILBOT_RULES_ANALYSIS": "8h"})
    with pytest.raises(ConfigError) as caught:
        rules_from_config(settings.raw["rules"])
    assert caught.value.key == "rules.analysis"
    assert "MAILBOT_RULES_<RULE>_<KEY> (MAILBOT_RULES_ANALYSIS_DURATION=8h)" in str(
        caught.value
    )


def test_the_example_configuration_ships_with_mailbot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An installed mailbot (a wheel, the Docker image) has no source tree:
    # the error for a missing file points at this command, which must give
    # the very file of the repository, and one mailbot reads.
    monkeypatch.chdir(tmp_path)
    _clear_mailbot_environment(monkeypatch)
    assert main(["example-config"]) == 0
    printed = capsys.readouterr().out
    source = Path(__file__).resolve().parents[1] / "config.example.toml"
    assert printed == source.read_text(encoding="utf-8")
    written = tmp_path / "mailbot.toml"
    written.write_text(printed, encoding="utf-8")
    settings = load_settings(written, {})
    assert settings.mailbot.address


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_a_missing_database_driver_names_the_key_and_the_extra(
    tmp_path: Path, capsys, monkeypatch, driver: str
) -> None:  # type: ignore[no-untyped-def]
    """`pip install .` leaves psycopg out (it is the postgresql extra): a
    PostgreSQL URL then ended every command in a ModuleNotFoundError."""
    _clear_mailbot_environment(monkeypatch)
    monkeypatch.setitem(__import__("sys").modules, driver, None)
    (tmp_path / "sites.toml").write_text("", encoding="utf-8")
    config = tmp_path / "mailbot.toml"
    config.write_text(
        "[mailbot]\naddress = 'abuse@example.org'\n"
        f"[database]\nurl = 'postgresql+{driver}://mailbot@127.0.0.1:9/mailbot'\n"
        "[source]\nkind = 'maildir'\n[maildir]\npath = 'inbox'\n"
        "[smtp]\nkind = 'maildir'\npath = 'sent'\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "incidents"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mailbot: configuration error: database.url: "), err
    assert "pip install 'mailbot[postgresql]'" in err
    assert "postgresql+psycopg://" in err


def test_commands_that_reach_no_server_run_without_the_password_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The password files are readable by the daemon's user alone: an
    # operator's `mailbot incidents` stopped at imap.password_file.
    monkeypatch.chdir(tmp_path)
    _clear_mailbot_environment(monkeypatch)
    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "abuse@egi.example"\n'
        '[database]\nurl = "sqlite:///mb.db"\n'
        '[imap]\nhost = "127.0.0.1"\npassword_file = "/nonexistent/imap-pw"\n'
        '[smtp]\nhost = "127.0.0.1"\npassword_file = "/nonexistent/smtp-pw"\n',
        encoding="utf-8",
    )
    for command in (
        ["incidents"],
        ["status", "--json"],
        ["deadlines"],
        ["report"],
        ["outbox"],
        ["brake"],
        ["bounces"],
    ):
        main(["--config", str(config), *command])
        err = capsys.readouterr().err
        assert "password_file" not in err, (command, err)
    # What reaches a server still needs its password, and says which.
    assert main(["--config", str(config), "poll"]) == 2
    err = capsys.readouterr().err
    assert "imap.password_file: /nonexistent/imap-pw does not exist" in err
    assert load_settings(config, {}, servers=False).imap.password == ""


def test_a_password_file_that_is_not_text_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "pw").write_bytes(b"\xff\xfe\x00secret")
    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "abuse@egi.example"\n[source]\nkind = "maildir"\n'
        '[smtp]\nhost = "127.0.0.1"\npassword_file = "pw"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert caught.value.key == "smtp.password_file"
    assert "is not UTF-8 text" in str(caught.value)


def test_the_readme_says_which_file_is_read_where_it_introduces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """./mailbot.toml is read when neither --config nor $MAILBOT_CONFIG names
    a file; only an error message said so."""
    from mailbot.config import find_config

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(
        encoding="utf-8"
    )
    intro = readme[readme.index("## Pointing mailbot at a real mailbox") :]
    intro = " ".join(intro[: intro.index("```")].split())
    for said in ("`--config PATH`", "`$MAILBOT_CONFIG`", "`./mailbot.toml`"):
        assert said in intro
    assert "(the default configuration file)" in intro
    # And so it is.
    monkeypatch.chdir(tmp_path)
    _clear_mailbot_environment(monkeypatch)
    (tmp_path / "mailbot.toml").write_text("", encoding="utf-8")
    assert find_config(None) == (Path("mailbot.toml"), "--config")
    monkeypatch.setenv("MAILBOT_CONFIG", str(tmp_path / "other.toml"))
    assert find_config(None)[0] == tmp_path / "other.toml"
    assert find_config("x.toml")[0] == Path("x.toml")
