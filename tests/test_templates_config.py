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


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        # A variable mailbot does not give.
        (
            ACK,
            "Subject: Received\n\nDear {{ reporter_name }},\nthanks.\n",
            "line 3: UndefinedError: 'reporter_name' is undefined",
        ),
        # No `Subject:` line first.
        (ACK, "Dear {{ greeting }},\nthanks.\n", "line 1: it must start with a"),
        # An included template's name computed from the values, not there.
        (
            "reminder-1.txt.j2",
            'Subject: R\n\n{% include "_owed-" ~ rule ~ "-text.txt.j2" %}\n',
            "line 3: TemplateNotFound: _owed-report-text.txt.j2",
        ),
        # A part the shipped reminders include, rendered through them.
        (
            "_owed-containment.txt.j2",
            "isolate them within {{ containment_hours }} hours.\n",
            "line 1: UndefinedError: 'containment_hours' is undefined",
        ),
        # A branch taken only when the level reaches the NGI alone.
        (
            "reminder-2.txt.j2",
            "Subject: R2\n\n{% if to_ngi_alone %}{{ ngi_name }}{% endif %}\n",
            "line 3: UndefinedError: 'ngi_name' is undefined",
        ),
        # A name the incident mails are given, but not the digest (the check
        # gave every mail the sample incident's tag).
        (
            "digest.txt.j2",
            "Subject: Digest\n\n{{ tag }}\n",
            "line 3: UndefinedError: 'tag' is undefined",
        ),
    ],
)
def test_a_template_that_fails_when_rendered_stops_every_command_at_start(
    tmp_path: Path, database_url: str, name: str, text: str, said: str
) -> None:
    """It compiled, so it passed the check: every report was then set aside
    at "record" while `mailbot ingest` exited 0 (or every reminder failed)."""
    app = make_app(tmp_path, database_url, now=NOW)
    _report(tmp_path)
    folder = tmp_path / "tmpl"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    env = cli_env(app, MAILBOT_TEMPLATES_DIRECTORY=str(folder))
    for command in (
        ("ingest", str(tmp_path / "inbox" / "new" / "1.eml")),
        ("poll",),
        ("sweep",),
        ("status",),
    ):
        done = run_cli(env, *NOW_ARG, *command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        [line] = done.stderr.splitlines()
        assert line.startswith(
            "mailbot: configuration error: MAILBOT_TEMPLATES_DIRECTORY: "
            f"{folder / name} {said}"
        ), line
        assert "with sample values" in line and "remove it to use the shipped" in line
    # Nothing was read, nothing set aside: the mail waits for the fix.
    assert _mails(app) == []
    assert (tmp_path / "inbox" / "new" / "1.eml").exists()
    app.close()


def test_a_fault_the_check_cannot_reach_fails_the_command_that_met_it(
    tmp_path: Path, database_url: str
) -> None:
    """A branch taken by no sample value (this sender's name) passes the
    check; the mail is set aside with the file and line, and `poll` and
    `ingest` say so and exit 1, not 0. A bad mail alone fails neither."""
    app = make_app(tmp_path, database_url, now=NOW)
    _report(tmp_path)
    folder = _custom(
        tmp_path,
        "Subject: Received\n\n{% if greeting != 'Jane Doe' %}{{ nope }}"
        "{% endif %}thanks.\n",
    )
    env = cli_env(app, MAILBOT_TEMPLATES_DIRECTORY=str(folder))
    done = run_cli(env, *NOW_ARG, "poll")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert "quarantined: 1" in done.stdout
    last = done.stderr.splitlines()[-1]
    assert last.startswith(
        "mailbot: poll: 1 of 1 mail(s) were set aside for a fault of the"
        " configuration, not of the mail: TemplateFault: template "
        f"{folder / ACK} line 3: UndefinedError: 'nope' is undefined"
    ), last
    assert "`mailbot quarantine retry ID`" in last
    [(state, stage, error)] = _mails(app)
    assert (state, stage) == ("quarantined", "record")
    assert f"{folder / ACK} line 3" in (error or ""), error
    with app.db.transaction() as session:
        assert session.scalars(select(Outbox)).all() == []
        mail_id = session.scalars(select(Mail.id).where(Mail.direction == "in")).one()

    # Ingest says the same of its own mail.
    _report(tmp_path, 9)
    done = run_cli(env, *NOW_ARG, "ingest", str(tmp_path / "inbox" / "new" / "9.eml"))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.splitlines()[-1].startswith(
        "mailbot: ingest: 1 of 1 mail(s) were set aside for a fault of the"
        " configuration"
    )

    # Hostile mail (a header block over the limit) is set aside and the
    # command goes on and succeeds: it is no fault of the configuration.
    _report(tmp_path, 8)
    hostile = tmp_path / "hostile.eml"
    padded = (tmp_path / "inbox" / "new" / "8.eml").read_bytes()
    hostile.write_bytes(b"X-Pad: " + b"a" * 300_000 + b"\r\n" + padded)
    done = run_cli(env, *NOW_ARG, "ingest", str(hostile))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "quarantined: 1" in done.stdout

    # The template corrected, the mail goes through and is acknowledged.
    _custom(tmp_path, "Subject: Received\n\nDear reporter,\nthanks.\n")
    done = run_cli(env, *NOW_ARG, "quarantine", "retry", str(mail_id))
    assert done.returncode == 0, done.stderr
    with app.db.transaction() as session:
        assert session.get(Mail, mail_id).state == "processed"
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


def test_the_check_gives_a_reminder_what_the_sweep_gives_it(
    tmp_path: Path, database_url: str
) -> None:
    """The sample values of a reminder are the names chase.context gives at
    each level: a template the check passes renders when mail goes out."""
    from opsenv import known_database

    from mailbot import template_check
    from mailbot.db.models import Deadline, Incident
    from mailbot.deadlines import chase

    app = make_app(tmp_path, database_url)
    known_database(app)
    samples = {
        case: set(context)
        for name, case, context in template_check.samples(
            app.templates, app.rules, app.chase_policy.levels, "a@x.example"
        )
        if name.startswith(("reminder-", "escalation"))
    }
    with app.db.transaction() as session:
        deadline = session.scalars(select(Deadline).order_by(Deadline.id)).first()
        assert deadline is not None
        incident = session.get(Incident, deadline.incident_id)
        for level in range(1, app.chase_policy.levels + 1):
            given = set(chase.context(app, session, incident, deadline, level))
            case = f"level {level} of rule {deadline.rule} to a site that is reached"
            assert samples[case] == given, (level, samples[case] ^ given)
    app.close()


def test_every_shipped_template_renders_with_the_check_s_values(
    tmp_path: Path,
) -> None:
    from mailbot import template_check
    from mailbot.deadlines import chase_policy_from_config, rules_from_config

    folder = tmp_path / "tmpl"
    folder.mkdir()
    for path in SHIPPED.glob("*.j2"):
        (folder / path.name).write_bytes(path.read_bytes())
    env = render.environment(folder)
    rules = rules_from_config(None, ())
    levels = chase_policy_from_config(None, ()).levels
    rendered = {
        name for name, _, _ in template_check.samples(env, rules, levels, "a@x.ex")
    }
    # Each mail mailbot sends is among them (the parts through the others).
    assert rendered == {p.name for p in SHIPPED.glob("*.j2")} - {
        p.name for p in SHIPPED.glob("_*.j2")
    }
    template_check.check(env, rules, levels, "abuse@csirt.example.org")
