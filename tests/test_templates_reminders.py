"""Every reminder template renders, for every level and rule, strictly.

Undefined variables are errors (render.py uses StrictUndefined), so each
template is rendered with exactly the context the sweep gives it
(chase.context), and once more with one variable missing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
import pytest

from mailbot import render
from mailbot.deadlines import DEFAULT_RULES, chase

RULES = [rule.name for rule in DEFAULT_RULES]
OWED = {
    "report": "report the incident to its local security team",
    "containment": "isolate the compromised systems while keeping the forensic",
    "downtime": "announce a downtime for the affected services",
    "analysis": "answer EGI CSIRT's request in this thread",
    "closure_report": "send the closure report, with the lessons learnt",
}
SUBJECTS = {1: "Reminder: ", 2: "Second reminder: ", 3: "Escalation: SITE-A silent on "}


def context(rule: str, level: int, **changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "tag": "EGI-20261204-01",
        "rule": rule,
        "duration": "4h",
        "working_time": rule == "analysis",
        "site": "SITE-A",
        "level": level,
        "levels": 3,
        "started_at": "2026-12-04T14:00:00Z",
        "due_at": "2026-12-07T10:00:00Z",
        "due_local": "Mon 2026-12-07 11:00 CET",
        "missing": ["detected_by", "evidence"],
        "subject": "Compromised host 192.0.2.45",
        "tlp": "AMBER",
        "mailbox": "abuse@csirt.example.org",
    }
    values.update(changes)
    # The clocks the mail lists (chase._item): this one alone.
    item_keys = ("rule", "level", "duration", "working_time", "started_at")
    values["items"] = [
        {
            **{key: values[key] for key in item_keys},
            "due_at": values.get("due_at", ""),
            "due_local": values.get("due_local", ""),
            "reached": None if level <= 2 else level - 1,
        }
    ]
    return values


def test_the_template_context_is_what_the_sweep_gives() -> None:
    # chase.context builds the dictionary the templates get; the test context
    # above must name the same variables, or these tests prove nothing.
    import inspect

    source = inspect.getsource(chase.context)
    for name in context("report", 1):
        assert f'"{name}"' in source


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_every_level_and_rule_renders(rule: str, level: int) -> None:
    env = render.environment()
    name = chase.template_name(env, level, rule)
    subject, body = render.render(env, name, **context(rule, level))
    assert subject == SUBJECTS[level] + "Compromised host 192.0.2.45"
    flat = " ".join(body.split())
    assert OWED[rule] in flat
    assert "EGI-20261204-01" in body
    assert "2026-12-07T10:00:00Z (Mon 2026-12-07 11:00 CET)" in body
    assert "  - detected_by: who or what detected" in body
    assert "  - evidence: the evidence of the compromise" in body
    assert "{{" not in body and "{%" not in body
    assert "\n\n\n" not in body


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_every_line_fits_a_plain_text_mail(rule: str, level: int) -> None:
    # Lines of at most 76 characters go out as they are (7bit), not
    # quoted-printable, and compose.py writes such mail directly (fast).
    env = render.environment()
    values = context(rule, level, site="SITE-WITH-A-LONG-NAME", duration="1 day")
    _, body = render.render(env, chase.template_name(env, level, rule), **values)
    assert max(len(line) for line in body.splitlines()) <= 76


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_missing_variable_is_an_error(level: int) -> None:
    env = render.environment()
    values = context("analysis", level)
    del values["due_local"]
    name = chase.template_name(env, level, "analysis")
    with pytest.raises(render.TemplateFault, match="'due_local' is undefined") as e:
        render.render(env, name, **values)
    assert isinstance(e.value.__cause__, jinja2.UndefinedError)
    # The error names the template file, and the line, where it failed.
    assert f"{env.get_template(name).filename} line " in str(e.value)


def test_nothing_missing_leaves_the_field_list_out() -> None:
    env = render.environment()
    _, body = render.render(
        env, "reminder-1.txt.j2", **context("report", 1, missing=[])
    )
    assert "Analysis Guideline" not in body


def test_a_configured_rule_gets_the_generic_wording() -> None:
    env = render.environment()
    _, body = render.render(
        env, "reminder-1.txt.j2", **context("patching", 1, duration="2 days")
    )
    assert 'meet the procedure\'s rule "patching" (due 2 days after its start)' in (
        " ".join(body.split())
    )


def test_level_two_names_the_ngi_and_level_three_the_suspension() -> None:
    env = render.environment()
    _, second = render.render(env, "reminder-2.txt.j2", **context("analysis", 2))
    assert "Your NGI security officer is in copy" in second
    _, third = render.render(env, "escalation.txt.j2", **context("analysis", 3))
    assert "SITE-A has not answered 2 reminders" in third
    assert "Suspension of SITE-A should be considered" in third
    _, fourth = render.render(env, "escalation.txt.j2", **context("analysis", 4))
    assert "SITE-A has not answered 3 reminders" in fourth


def test_templates_are_overridden_from_the_configured_directory(
    tmp_path: Path, database_url: str
) -> None:
    from mailbot_env import make_app

    own = tmp_path / "own-templates"
    own.mkdir()
    (own / "reminder-1.txt.j2").write_text(
        "Subject: Please answer: {{ subject }}\n\nDear {{ site }}, {{ rule }} "
        "was due {{ due_at }}.\n",
        encoding="utf-8",
    )
    (own / "reminder-2-analysis.txt.j2").write_text(
        "Subject: Analysis overdue\n\n{{ site }}: answer {{ tag }} now.\n",
        encoding="utf-8",
    )
    (own / "_owed-downtime.txt.j2").write_text(
        "declare the downtime in GOCDB\n", encoding="utf-8"
    )
    app = make_app(
        tmp_path,
        database_url,
        now=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
        extra={"MAILBOT_TEMPLATES_DIRECTORY": str(own)},
    )
    try:
        env = app.templates
    finally:
        app.close()
    assert chase.template_name(env, 1, "analysis") == "reminder-1.txt.j2"
    subject, body = render.render(env, "reminder-1.txt.j2", **context("analysis", 1))
    assert subject == "Please answer: Compromised host 192.0.2.45"
    assert body == "Dear SITE-A, analysis was due 2026-12-07T10:00:00Z.\n"
    # A rule's own template wins over the level's; other rules keep theirs.
    assert chase.template_name(env, 2, "analysis") == "reminder-2-analysis.txt.j2"
    assert chase.template_name(env, 2, "report") == "reminder-2.txt.j2"
    # An included piece is overridden on its own, the shipped frame kept.
    _, body = render.render(env, "reminder-2.txt.j2", **context("downtime", 2))
    assert "declare the downtime in GOCDB" in body
    assert "Your NGI security officer is in copy" in body
