"""`[templates] directory`: checked, and every template in it compiled, at
start-up, as the operator who edits a template meets it.

A template with a syntax error let `mailbot poll` exit 0 and set every new
report aside at the stage "record" with a Jinja2 message naming no file; a
folder that does not exist was silently ignored (the custom wording lost
without a word); a number crashed with a TypeError. Each is now exit 2 and
one line naming templates.directory (and the file and line). A template
that compiles but fails when a mail is rendered names its file and line in
the mail's quarantine reason, without a traceback in the log.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from opsenv import cli_env, run_cli
from sqlalchemy import select

from mailbot import render
from mailbot.db.models import Mail, Outbox
from mailbot.errors import ConfigError

NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
SHIPPED = Path(render.__file__).parent / "templates"
ACK = "acknowledgement.txt.j2"


def _report(tmp_path: Path, n: int = 1) -> None:
    path = tmp_path / "inbox" / "new" / f"{n}.eml"
    path.write_bytes(
        mail(
            subject=f"Scans from 203.0.113.{n}",
            sender=f"reporter{n}@cert{n}.example.net",
            message_id=f"<tmpl-{n}@cert.example.net>",
            body=f"Scans from 203.0.113.{n}.\n",
        )
    )
    os.utime(path, (NOW.timestamp(), NOW.timestamp()))


def _custom(tmp_path: Path, text: str) -> Path:
    """A templates folder overriding the acknowledgement with `text`."""
    folder = tmp_path / "tmpl"
    folder.mkdir(exist_ok=True)
    (folder / ACK).write_text(text, encoding="utf-8")
    return folder


def _mails(app) -> list[tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    with app.db.transaction() as session:
        return [
            (m.state, m.stage, m.error)
            for m in session.scalars(select(Mail).where(Mail.direction == "in"))
        ]


NOW_ARG = ("--now", (NOW + dt.timedelta(minutes=1)).isoformat())


@pytest.mark.parametrize(
    "command",
    [
        ("poll",),
        ("sweep",),
        ("status",),
        ("render", "acknowledgement", "--incident", "EGI-20261204-01"),
    ],
)
def test_a_template_with_a_syntax_error_stops_every_command_at_start(
    tmp_path: Path, database_url: str, command: tuple[str, ...]
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    _report(tmp_path)
    folder = _custom(tmp_path, "Subject: Received\n\n{% if %}\nThanks.\n{% endif %}\n")
    env = cli_env(app, MAILBOT_TEMPLATES_DIRECTORY=str(folder))
    done = run_cli(env, *NOW_ARG, *command)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    line = done.stderr
    assert line.startswith(
        "mailbot: configuration error: MAILBOT_TEMPLATES_DIRECTORY: "
    )
    assert f"{folder / ACK} line 3: " in line and "Expected an expression" in line
    assert "correct the template" in line and "Traceback" not in line
    # Nothing was read, nothing set aside: the mail waits for the fix.
    assert _mails(app) == []
    assert (tmp_path / "inbox" / "new" / "1.eml").exists()
    app.close()


def _config(tmp_path: Path, templates_line: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(f"[templates]\n{templates_line}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('"/nonexistent-mailbot-templates"', "does not exist: create it"),
        ('"a-file"', "is not a folder"),
        ("5", 'must be a string (in quotes: directory = "...")'),
        ('["tmpl"]', "must be a string"),
    ],
)
def test_a_templates_directory_that_cannot_be_used_is_a_configuration_error(
    tmp_path: Path, database_url: str, value: str, said: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    _report(tmp_path)
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    config = _config(tmp_path, f"directory = {value}")
    for command in ("poll", "sweep"):
        done = run_cli(cli_env(app), "--config", str(config), *NOW_ARG, command)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(
            "mailbot: configuration error: templates.directory: "
        )
        assert said in done.stderr
    assert _mails(app) == []
    app.close()


def test_a_template_that_cannot_be_read_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "tmpl"
    folder.mkdir()
    (folder / ACK).write_bytes(b"Subject: Re\xe7u\n\nMerci.\n")
    with pytest.raises(ConfigError) as raised:
        render.environment(folder)
    assert raised.value.key == "templates.directory"
    assert f"{folder / ACK} is not UTF-8 text" in str(raised.value)


def test_the_shipped_templates_pass_the_check(tmp_path: Path) -> None:
    # A folder holding a copy of every shipped template (what an operator
    # starts from) is accepted, and every one of them compiles.
    folder = tmp_path / "tmpl"
    folder.mkdir()
    names = sorted(p.name for p in SHIPPED.glob("*.j2"))
    assert ACK in names and "reminder-1.txt.j2" in names
    for name in names:
        (folder / name).write_bytes((SHIPPED / name).read_bytes())
    (folder / "README").write_text("{% not a template\n", encoding="utf-8")
    env = render.environment(folder)
    for name in names:
        assert env.get_template(name).filename == str(folder / name)
    render.environment(SHIPPED)


def test_a_template_that_fails_when_rendered_names_its_file(
    tmp_path: Path, database_url: str
) -> None:
    """Compiles, but uses a variable mailbot does not give: the mail is set
    aside, its reason names the file and line, and no traceback is logged."""
    app = make_app(tmp_path, database_url, now=NOW)
    _report(tmp_path)
    folder = _custom(
        tmp_path, "Subject: Received\n\nDear {{ reporter_name }},\nthanks.\n"
    )
    env = cli_env(app, MAILBOT_TEMPLATES_DIRECTORY=str(folder))
    done = run_cli(env, *NOW_ARG, "poll")
    assert "Traceback" not in done.stderr, done.stderr
    [(state, stage, error)] = _mails(app)
    assert (state, stage) == ("quarantined", "record")
    assert f"{folder / ACK} line 3" in (error or ""), error
    assert "'reporter_name' is undefined" in (error or "")
    with app.db.transaction() as session:
        assert session.scalars(select(Outbox)).all() == []
    # The template corrected, the mail goes through and is acknowledged.
    _custom(tmp_path, "Subject: Received\n\nDear reporter,\nthanks.\n")
    with app.db.transaction() as session:
        mail_id = session.scalars(select(Mail.id).where(Mail.direction == "in")).one()
    done = run_cli(env, *NOW_ARG, "quarantine", "retry", str(mail_id))
    assert done.returncode == 0, done.stderr
    assert [s for s, _, _ in _mails(app)] == ["processed"]
    with app.db.transaction() as session:
        [ack] = session.scalars(select(Outbox)).all()
        assert ack.purpose == "acknowledgement"
    app.close()


@pytest.mark.parametrize(
    ("line", "missing"),
    [
        ('{% include "nonexist.txt.j2" %}', "nonexist.txt.j2"),
        ('{% extends "base.txt.j2" %}', "base.txt.j2"),
        ('{% import "macros.j2" as m %}', "macros.j2"),
        ('{% from "macros.j2" import greeting %}', "macros.j2"),
        ('{% include ["gone.j2", "also-gone.j2"] %}', "gone.j2, also-gone.j2"),
    ],
)
def test_a_template_naming_one_that_does_not_exist_is_refused(
    tmp_path: Path, line: str, missing: str
) -> None:
    """It compiled, so it passed the check; every report was then set aside
    at "record" (TemplateNotFound) while `mailbot ingest` exited 0."""
    folder = _custom(tmp_path, f"Subject: Received\n\nThanks.\n{line}\n")
    with pytest.raises(ConfigError) as raised:
        render.environment(folder)
    assert raised.value.key == "templates.directory"
    said = str(raised.value)
    assert f"{folder / ACK} line 4: " in said
    assert f"names {missing}, which is no template" in said


@pytest.mark.parametrize(
    "line",
    [
        # One of the shipped templates, one of the folder's, one that may be
        # missing, a list of which one is there, a name known only when sent.
        '{% include "_owed.txt.j2" %}',
        '{% include "extra.j2" %}',
        '{% include "nonexist.txt.j2" ignore missing %}',
        '{% include ["gone.j2", "extra.j2"] %}',
        "{% include tag ~ '.j2' if tag is defined else 'extra.j2' %}",
    ],
)
def test_a_template_naming_one_that_exists_is_accepted(
    tmp_path: Path, line: str
) -> None:
    folder = _custom(tmp_path, f"Subject: Received\n\nThanks.\n{line}\n")
    (folder / "extra.j2").write_text("More.\n", encoding="utf-8")
    env = render.environment(folder)
    assert env.get_template(ACK).filename == str(folder / ACK)


def test_a_dangling_link_in_the_folder_is_refused(tmp_path: Path) -> None:
    """A link to a template that is gone was passed over without a word: the
    shipped template was sent instead of the operator's."""
    folder = tmp_path / "tmpl"
    folder.mkdir()
    (folder / ACK).symlink_to(tmp_path / "elsewhere" / ACK)
    with pytest.raises(ConfigError) as raised:
        render.environment(folder)
    assert raised.value.key == "templates.directory"
    assert f"{folder / ACK} is a link to {tmp_path / 'elsewhere' / ACK}," in str(
        raised.value
    )
    # A link that leads to a template is a template.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / ACK).write_text("Subject: Hi\n\nHi.\n", encoding="utf-8")
    assert render.environment(folder).get_template(ACK).filename == str(folder / ACK)


def test_ingest_with_an_include_of_no_template_exits_2_and_sets_nothing_aside(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    _report(tmp_path)
    folder = _custom(
        tmp_path, 'Subject: Received\n\nThanks.\n{% include "nonexist.txt.j2" %}\n'
    )
    env = cli_env(app, MAILBOT_TEMPLATES_DIRECTORY=str(folder))
    done = run_cli(env, *NOW_ARG, "ingest", str(tmp_path / "inbox" / "new" / "1.eml"))
    assert done.returncode == 2, (done.stdout, done.stderr)
    [line] = done.stderr.splitlines()
    assert f"{folder / ACK} line 4: names nonexist.txt.j2" in line
    assert _mails(app) == []
    app.close()
