"""Paths and names that may not be empty, and the folder a Maildir outbox takes.

An empty path is the configuration's own folder: `MAILBOT_SMTP_PATH=""`
turned the folder of mailbot.toml into a Maildir and delivered mail into
it. Such a value is refused naming the key or variable, and so is an
existing folder that holds other files and is no Maildir. So is an empty
option on the command line, and one given twice with two values; a file
that is no TOML is told with where and what to correct.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_config_values import BASE, mailbot

from mailbot.cli import main
from mailbot.config import load_settings
from mailbot.errors import ConfigError


@pytest.mark.parametrize(
    "variable",
    [
        "MAILBOT_SMTP_PATH",
        "MAILBOT_MAILDIR_PATH",
        "MAILBOT_SITES_FILE",
        "MAILBOT_IMAP_FOLDER",
    ],
)
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_path_or_name_is_refused_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**BASE, variable: value})
    assert caught.value.key == variable
    assert caught.value.problem.startswith("is empty")
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('[smtp]\nkind = "maildir"\npath = ""\n', "smtp.path"),
        ('[smtp]\nkind = "smtp"\nhost = ""\n', "smtp.host"),
        ('[maildir]\npath = ""\n', "maildir.path"),
        ('[sites]\nfile = ""\n', "sites.file"),
    ],
)
def test_an_empty_path_in_the_file_is_refused_naming_the_key(
    tmp_path: Path, table: str, key: str
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text('[mailbot]\naddress = "a@x.example"\n' + table, encoding="utf-8")
    environ = {"MAILBOT_SOURCE_KIND": "maildir"}
    if "[smtp]" not in table:
        environ["MAILBOT_SMTP_KIND"] = "maildir"
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ)
    assert caught.value.key == key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mailbot.toml"]


def test_an_empty_outbox_path_leaves_the_configuration_folder_alone(
    tmp_path: Path,
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "abuse@csirt.example.org"\n'
        '[smtp]\nkind = "maildir"\npath = "sent"\n',
        encoding="utf-8",
    )
    done = mailbot(
        tmp_path, {"MAILBOT_CONFIG": str(config), "MAILBOT_SMTP_PATH": ""}, "sweep"
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("mailbot: configuration error: MAILBOT_SMTP_PATH: is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mailbot.toml", "sites.toml"]


@pytest.mark.parametrize(
    ("entries", "refused"),
    [
        # Another folder's files: it would be made a Maildir beside them.
        (["notes.txt"], True),
        (["new/", "notes.txt"], True),
        ([".profile", "cur/"], True),
        # Nothing but a Maildir's own folders, or a Maildir with its server's
        # files: taken as it is.
        ([], False),
        (["new/"], False),
        (["cur/", "new/", "tmp/", "dovecot-uidlist", ".Sent/"], False),
    ],
)
def test_a_folder_that_is_no_maildir_is_refused_as_outbox(
    tmp_path: Path, entries: list[str], refused: bool
) -> None:
    path = tmp_path / "outbox"
    path.mkdir()
    for entry in entries:
        if entry.endswith("/"):
            (path / entry).mkdir()
        else:
            (path / entry).write_text("x\n", encoding="utf-8")
    before = sorted(p.name for p in path.iterdir())
    environ = {**BASE, "MAILBOT_SMTP_PATH": str(path)}
    if not refused:
        assert load_settings(None, environ).smtp.path == str(path)
        return
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    assert caught.value.key == "MAILBOT_SMTP_PATH"
    assert f"{path} holds other files and is no Maildir" in caught.value.problem
    assert "a new or empty folder" in caught.value.problem
    assert sorted(p.name for p in path.iterdir()) == before


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of `mailbot()` above, for main() in this process."""
    for name in [n for n in os.environ if n.startswith("MAILBOT_")]:
        monkeypatch.delenv(name)
    (tmp_path / "sites.toml").touch()
    for name, value in {
        **BASE,
        "MAILBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
        "MAILBOT_SITES_FILE": str(tmp_path / "sites.toml"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--config", "", "incidents"], "--config"),
        (["--log-format", "", "incidents"], "--log-format"),
        (["--log-level", " ", "incidents"], "--log-level"),
        (["--now", "", "incidents"], "--now"),
        (["sweep", "--now", ""], "--now"),
        (["demo", "--dir", ""], "--dir"),
    ],
)
def test_an_empty_option_is_refused_naming_it(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    option: str,
) -> None:
    # Each was taken as left out: --config "" said "no configuration
    # found", demo --dir "" used a new temporary folder.
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert refused.value.code == 2
    assert f"argument {option}: is empty: give a value" in capsys.readouterr().err
    assert not (configured / "m.db").exists()


def test_a_bad_clock_is_named_where_it_was_given(
    configured: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MAILBOT_NOW", "garbage")
    assert main(["incidents"]) == 2
    assert capsys.readouterr().err.startswith("mailbot incidents: MAILBOT_NOW: ")
    assert main(["--now", "tomorrow", "incidents"]) == 2
    assert capsys.readouterr().err.startswith("mailbot incidents: --now: ")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            b"\xef\xbb\xbf[mailbot]\naddress = 'abuse@csirt.example.org'\n",
            "starts with a byte order mark (U+FEFF, as some Windows editors save"
            " UTF-8), which TOML does not allow: save it as UTF-8 without one",
        ),
        (b"garbage", "(at end of document); its last line is unfinished"),
        (b"[mailbot]\naddress = \n", "(at line 2, column 11); correct line 2"),
    ],
)
def test_a_file_that_is_no_toml_is_told_with_where(
    configured: Path, capsys: pytest.CaptureFixture[str], text: bytes, said: str
) -> None:
    # A byte order mark was "Invalid statement (at line 1, column 1)"; an
    # unfinished last line "(at end of document); correct that line".
    config = configured / "bad.toml"
    config.write_bytes(text)
    assert main(["--config", str(config), "incidents"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mailbot: configuration error: --config: {config} ")
    assert said in err
    # The sites file is read the same way.
    (configured / "sites.toml").write_bytes(text)
    assert main(["incidents"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mailbot: configuration error: MAILBOT_SITES_FILE: ")
    assert said in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--now", "2026-12-07T08:05:00Z", "sweep", "--now", "2026-12-08T08:10Z"],
            "--now given twice, '2026-12-07T08:05:00Z' before the command and"
            " '2026-12-08T08:10Z' after it: give it once",
        ),
        (
            ["--log-level", "DEBUG", "--log-level", "ERROR", "incidents"],
            "--log-level given twice, 'DEBUG' and 'ERROR': give it once",
        ),
    ],
)
def test_an_option_given_twice_with_two_values_is_refused(
    configured: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    # The value after the command (or the last) won, silently.
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert refused.value.code == 2
    assert f"mailbot: error: {said}\n" in capsys.readouterr().err
    assert not (configured / "m.db").exists()
    # Twice with the same value is one value.
    same = ["--now", "2026-12-07T08:05:00Z", "sweep", "--now", "2026-12-07T08:05:00Z"]
    assert main([*same, "--json"]) == 0
