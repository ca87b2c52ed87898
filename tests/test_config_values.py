"""Configured values as an operator writes them: addresses, variables, strings.

Every refused value exits with status 2 and one line naming the key (or the
variable) and saying how to write it; the command-line tests run mailbot as
a process, since the exit status is the contract.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from opsenv import run_cli

from mailbot.address import address_problem
from mailbot.config import load_settings
from mailbot.config_env import NOT_KEYS
from mailbot.errors import ConfigError

BASE = {
    "MAILBOT_MAILBOT_ADDRESS": "abuse@csirt.example.org",
    "MAILBOT_SOURCE_KIND": "maildir",
    "MAILBOT_SMTP_KIND": "maildir",
}


def mailbot(
    tmp_path: Path, extra: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`mailbot ARGS` as a process, configured by BASE and `extra` only."""
    (tmp_path / "sites.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env |= BASE | {"MAILBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    env |= {"MAILBOT_SITES_FILE": str(tmp_path / "sites.toml")} | extra
    return run_cli(env, *args, timeout=120)


@pytest.mark.parametrize(
    "value",
    [
        "alice@csirt.example.org",
        "a.b+tag@x-y.example",
        "root@localhost",
        "o'hara@ie.example",
    ],
)
def test_plain_addresses_pass(value: str) -> None:
    assert address_problem(value) is None


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("alice@x,bob@y", "comma"),
        ("alice@x.org; bob@y.org", "comma"),
        ("alice@x.org bob@y.org", "space"),
        ("abuse@x.org\nBcc: z@w.org", "control character"),
        ("abuse@x.org\r", "control character"),
        ("Alice <alice@x.org>", "display name"),
        ('"a b"@x.org', "display name"),
        ("admin at site-a", "space"),
        ("no-at-sign.example.org", "one @"),
        ("a@b@c.org", "one @"),
        ("@x.org", "one @"),
        ("alice@", "domain"),
        ("alice@-x.org", "domain"),
        ("alice@x..org", "domain"),
        ("a..b@x.org", "plain name"),
        ("élise@x.org", "ASCII"),
    ],
)
def test_what_is_not_one_address(value: str, said: str) -> None:
    problem = address_problem(value)
    assert problem is not None and said in problem


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILBOT_CSIRT_MEMBERS", "alice@x.org,bob@y.org"),
        ("MAILBOT_CSIRT_MEMBERS", "alice@x.org bob@y.org"),
        ("MAILBOT_CSIRT_MEMBERS", '["alice@x.org", "bob @y.org"]'),
        ("MAILBOT_MAILBOT_ALIASES", "a@x.org;b@x.org"),
        ("MAILBOT_MAILBOT_ADDRESS", "abuse@x.org\nBcc: z@w.org"),
        ("MAILBOT_CSIRT_DUTY_ADDRESS", "Duty <duty@x.org>"),
    ],
)
def test_every_address_key_takes_one_address(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**BASE, variable: value})
    # The variable that gave the value is named, as the key is in a file.
    assert caught.value.key == variable
    assert "\n" not in str(caught.value)


def test_a_list_in_one_string_exits_2_saying_how_to_write_a_list(
    tmp_path: Path,
) -> None:
    done = mailbot(
        tmp_path, {"MAILBOT_CSIRT_MEMBERS": "alice@x.org,bob@y.org"}, "incidents"
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "mailbot: configuration error: MAILBOT_CSIRT_MEMBERS: "
    )
    assert """MAILBOT_CSIRT_MEMBERS='["alice@x.org", "bob@y.org"]'""" in lines[0]
    # Written that way, the list is two members.
    listed = '["alice@x.org", "bob@y.org"]'
    settings = load_settings(None, {**BASE, "MAILBOT_CSIRT_MEMBERS": listed})
    assert settings.csirt.members == ("alice@x.org", "bob@y.org")
    assert (
        mailbot(tmp_path, {"MAILBOT_CSIRT_MEMBERS": listed}, "incidents").returncode
        == 0
    )


@pytest.mark.parametrize(
    ("variable", "value", "written"),
    [
        ("MAILBOT_CSIRT_MEMBERS", "Alice <alice@x.org>", '["alice@x.org"]'),
        (
            "MAILBOT_CSIRT_MEMBERS",
            '["Alice <alice@x.org>", "bob@y.org"]',
            '["alice@x.org"]',
        ),
        ("MAILBOT_MAILBOT_ALIASES", '"Abuse" <abuse2@x.org>', '["abuse2@x.org"]'),
    ],
)
def test_a_display_name_is_refused_with_advice_that_is_accepted(
    tmp_path: Path, variable: str, value: str, written: str
) -> None:
    """The advice names the bare address: written as advised, it loads (it
    advised ["Alice", "<alice@x.org>"], refused again)."""
    done = mailbot(tmp_path, {variable: value}, "incidents")
    assert done.returncode == 2
    said = done.stderr.strip()
    assert "give the bare address" in said
    assert f"{variable}='{written}' in the environment" in said
    assert load_settings(None, {**BASE, variable: written})
    assert mailbot(tmp_path, {variable: written}, "incidents").returncode == 0


def test_one_address_with_a_display_name_is_advised_bare() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**BASE, "MAILBOT_CSIRT_DUTY_ADDRESS": "Duty <d@x.org>"})
    assert caught.value.problem.endswith('give the bare address; write it "d@x.org"')


def test_an_address_with_a_newline_exits_2(tmp_path: Path) -> None:
    done = mailbot(
        tmp_path, {"MAILBOT_MAILBOT_ADDRESS": "abuse@x.org\nBcc: z@w.org"}, "incidents"
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mailbot: configuration error: MAILBOT_MAILBOT_ADDRESS:"
        " 'abuse@x.org\\nBcc: z@w.org'"
        " is not one mail address: it holds a control character (a newline?);"
        " give one, like a@x.example"
    ]


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        ("MAILBOT_CSRIT_MEMBERS", "did you mean MAILBOT_CSIRT_MEMBERS?"),
        ("MAILBOT_IMPA_PASSWORD", "did you mean MAILBOT_IMAP_PASSWORD?"),
        ("MAILBOT_FOO_BAR", "FOO is no section of mailbot's ("),
        ("MAILBOT_CSIRT", "names no key; write MAILBOT_CSIRT_<KEY>"),
    ],
)
def test_a_variable_of_no_section_exits_2_naming_it(
    tmp_path: Path, variable: str, said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**BASE, variable: "alice@x.org"})
    assert caught.value.key == variable and said in caught.value.problem
    done = mailbot(tmp_path, {variable: "alice@x.org"}, "incidents")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"mailbot: configuration error: {variable}: "
    )


def test_a_misspelt_key_names_the_nearest() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**BASE, "MAILBOT_CSIRT_MEMBRES": '["a@x.org"]'})
    assert caught.value.key == "MAILBOT_CSIRT_MEMBRES"
    assert "did you mean MAILBOT_CSIRT_MEMBERS?" in caught.value.problem


def test_the_variables_that_are_no_key_are_allowed_and_documented(
    tmp_path: Path,
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(
        encoding="utf-8"
    )
    values = {
        "MAILBOT_NOW": "2026-12-04T09:00:00Z",
        "MAILBOT_LOG_LEVEL": "INFO",
        "MAILBOT_LOG_FORMAT": "text",
    }
    extra = {
        name: values.get(name, "1") for name in NOT_KEYS if name != "MAILBOT_CONFIG"
    }
    load_settings(None, {**BASE, **extra, "MAILBOT_CONFIG": "x.toml"})
    assert mailbot(tmp_path, extra, "incidents").returncode == 0
    for name in NOT_KEYS:
        assert f"`{name}`" in readme


def test_a_string_key_takes_the_variables_text(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            **BASE,
            "MAILBOT_IMAP_PASSWORD": "12345",
            "MAILBOT_IMAP_USERNAME": "true",
            "MAILBOT_SMTP_PASSWORD": '"quoted"',
        },
    )
    assert settings.imap.password == "12345"
    assert settings.imap.username == "true"
    assert settings.smtp.password == "quoted"
    # Numbers stay numbers where a number is meant.
    assert load_settings(None, {**BASE, "MAILBOT_IMAP_PORT": "1143"}).imap.port == 1143
    done = mailbot(tmp_path, {"MAILBOT_IMAP_PASSWORD": "12345"}, "incidents")
    assert done.returncode == 0, done.stderr


def test_a_number_for_a_string_in_the_file_says_to_quote_it(tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text("[imap]\npassword = 12345\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, BASE)
    assert (
        str(caught.value)
        == 'imap.password: must be a string (in quotes: password = "...")'
    )
    assert "12345" not in str(caught.value)


def test_a_list_of_toml_lines_is_one_value() -> None:
    # A list over several lines is TOML; text followed by more lines is text.
    members = '[\n  "alice@x.org",\n  "bob@y.org",\n]'
    settings = load_settings(None, {**BASE, "MAILBOT_CSIRT_MEMBERS": members})
    assert settings.csirt.members == ("alice@x.org", "bob@y.org")
    settings = load_settings(None, {**BASE, "MAILBOT_IMAP_PASSWORD": "1\nother = 2"})
    assert settings.imap.password == "1\nother = 2"


def test_a_file_that_is_no_database_exits_2_naming_the_key(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a db\n")
    url = {"MAILBOT_DATABASE_URL": f"sqlite:///{junk}"}
    done = mailbot(tmp_path, url, "incidents")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"mailbot: configuration error: MAILBOT_DATABASE_URL: {junk} is no SQLite"
        " database (file is not a database): point MAILBOT_DATABASE_URL at"
        " mailbot's database, or at a new file"
    ]
    assert junk.read_bytes() == b"not a db\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("report", "--since", "2026-13-01"), "mailbot report: --since: month must be"),
        (("report", "--until", "tomorrow"), "mailbot report: --until: "),
        (("reextract",), "mailbot reextract: TAG: give one incident's tag"),
        (("outbox", "settle"), "mailbot outbox: settle: give the ID"),
        (("quarantine", "retry"), "mailbot quarantine: ID: quarantine retry needs"),
        # Past datetime's range in UTC: each exited 1 with an OverflowError.
        (
            ("report", "--until", "9999-12-31"),
            "mailbot report: --until: '9999-12-31' is out of range",
        ),
        (
            ("report", "--since", "0001-01-01"),
            "mailbot report: --since: '0001-01-01' is out of range",
        ),
        (
            ("report", "--until", "9999-12-31T23:59:59-00:01"),
            "mailbot report: --until: '9999",
        ),
        (
            ("--now", "9999-12-31T23:59:59-00:01", "status"),
            "mailbot status: --now: '9999",
        ),
        (
            ("--now", "0001-01-01T00:00:00+01:00", "report"),
            "mailbot report: --now: '0001",
        ),
    ],
)
def test_a_bad_argument_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    done = mailbot(tmp_path, {}, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(said), lines


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (
            {"MAILBOT_CSIRT_DUTY_ADDRESS": "Abuse@CSIRT.example.org"},
            "MAILBOT_CSIRT_DUTY_ADDRESS",
        ),
        (
            {
                "MAILBOT_MAILBOT_ALIASES": '["csirt@csirt.example.org"]',
                "MAILBOT_CSIRT_DUTY_ADDRESS": "csirt@csirt.example.org",
            },
            "MAILBOT_CSIRT_DUTY_ADDRESS",
        ),
        (
            {"MAILBOT_CSIRT_MEMBERS": '["alice@x.org", "abuse@csirt.example.org"]'},
            "MAILBOT_CSIRT_MEMBERS",
        ),
    ],
)
def test_an_address_mailbot_sends_to_may_not_be_its_own(
    tmp_path: Path, extra: dict[str, str], key: str
) -> None:
    # Escalations, notices and the digest to the duty address, confirmations
    # to members: set to mailbot's own mailbox, mailbot mailed itself.
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {**BASE, **extra})
    assert caught.value.key == key
    assert "mailbot's own address" in caught.value.problem
    done = mailbot(tmp_path, extra, "incidents")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"mailbot: configuration error: {key}: ")


@pytest.mark.parametrize("kind", ["site", "ngi", "vo", "ca"])
def test_a_sites_file_contact_may_not_be_mailbot_s_own_address(
    tmp_path: Path, kind: str
) -> None:
    # Reminders, copies to the NGI and notices to a VO or CA would go to
    # mailbot's own mailbox and come back as new mail.
    own = "csirt@csirt.example.org"
    entries = {
        "ngi": '[[ngi]]\nname = "NGI_X"\nsecurity_contacts = ["{}"]\n',
        "site": '[[site]]\nname = "SITE-X"\nngi = "NGI_X"\n'
        'security_contacts = ["{}"]\n',
        "vo": '[[vo]]\nname = "vo.x.org"\nsecurity_contacts = ["{}"]\n',
        "ca": '[[ca]]\nname = "X CA"\nsecurity_contacts = ["{}"]\n',
    }
    text = "".join(
        entry.format(own.upper() if name == kind else f"sec@{name}.x.org")
        for name, entry in entries.items()
    )
    sites = tmp_path / "given-sites.toml"
    sites.write_text(text, encoding="utf-8")
    extra = {
        "MAILBOT_MAILBOT_ALIASES": f'["{own}"]',
        "MAILBOT_SITES_FILE": str(sites),
    }
    done = mailbot(tmp_path, extra, "incidents")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    name = {"site": "SITE-X", "ngi": "NGI_X", "vo": "vo.x.org", "ca": "X CA"}[kind]
    assert line.startswith(
        f"mailbot: configuration error: {kind} {name}.security_contacts: "
    )
    assert "mailbot's own address" in line


@pytest.mark.parametrize("where", ["a file", "a file in it", "under /proc"])
def test_a_maildir_outbox_that_cannot_be_written_is_refused_at_start(
    tmp_path: Path, where: str
) -> None:
    """`[smtp] kind = "maildir"` with a `path` mail cannot be written to:
    `sweep` crashed with "NotADirectoryError" (exit 1, no key named) and
    left the mail it had claimed "sending", then uncertain, though nothing
    was delivered. It is checked at start like any path: exit 2, one line
    naming smtp.path, no row claimed, nothing left behind."""
    path = tmp_path / "outbox"
    if where == "a file":
        path.write_text("not a folder\n", encoding="utf-8")
    elif where == "a file in it":
        path.mkdir()
        (path / "tmp").mkdir()
        (path / "new").write_text("not a folder\n", encoding="utf-8")
    else:
        path = Path("/proc/mailbot-outbox")
    (tmp_path / "sites.toml").touch()
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in ("sweep", "poll"):
        done = mailbot(tmp_path, {"MAILBOT_SMTP_PATH": str(path)}, command)
        assert done.returncode == 2, (done.stdout, done.stderr)
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(
            "mailbot: configuration error: MAILBOT_SMTP_PATH: cannot deliver into the"
            f" Maildir {path}: "
        ), line
        assert "point [smtp] path at a folder mailbot can write" in line
        if where == "a file":
            assert "it is a file, not a folder" in line
        if where == "a file in it":
            assert str(path / "new") in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if path.is_dir():
        assert sorted(p.name for p in (path / "tmp").iterdir()) == []


def test_a_maildir_outbox_is_made_when_missing_and_checked_without_a_trace(
    tmp_path: Path,
) -> None:
    # A folder still to be made is no error; the check leaves nothing.
    path = tmp_path / "mail" / "outbox"
    settings = load_settings(None, BASE | {"MAILBOT_SMTP_PATH": str(path)})
    assert settings.smtp.path == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("table", "said"),
    [
        (
            '[rules.analysys]\nduration = "8h"\n',
            "rules.analysys: is no rule of mailbot's; did you mean rules.analysis?",
        ),
        (
            '[rules.analysis]\nduraton = "8h"\n',
            "rules.analysis.duraton: is no rule setting; did you mean duration?",
        ),
        (
            '[chase]\nmax_latenes = "1d"\n',
            "chase.max_latenes: is no key of [chase]; did you mean max_lateness?",
        ),
    ],
)
def test_a_misspelt_rule_in_the_file_names_the_nearest(
    tmp_path: Path, table: str, said: str
) -> None:
    """A new rule's name close to a rule's is a typo of it (it said only
    "rules.analysys.calendar: a new rule needs this key")."""
    config = tmp_path / "mailbot.toml"
    config.write_text(table, encoding="utf-8")
    done = mailbot(tmp_path, {"MAILBOT_CONFIG": str(config)}, "incidents")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"mailbot: configuration error: {said}"
    )


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        (
            "MAILBOT_RULES_ANALYSYS_DURATION",
            "ANALYSYS is no rule of mailbot's; did you mean"
            " MAILBOT_RULES_ANALYSIS_DURATION?",
        ),
        (
            "MAILBOT_RULES_ANALYSIS_DURATON",
            "sets no rule setting; did you mean MAILBOT_RULES_ANALYSIS_DURATION?",
        ),
        (
            "MAILBOT_RULES_CLOSURE_REPORT_DURATON",
            "did you mean MAILBOT_RULES_CLOSURE_REPORT_DURATION?",
        ),
        ("MAILBOT_CHASE_MAX_LATENES", "did you mean max_lateness?"),
        ("MAILBOT_RULES_ANALYSIS_DURATION", "'8x' is not a duration"),
        ("MAILBOT_CHASE_MAX_LATENESS", "'8x' is not a duration"),
    ],
)
def test_a_rule_variables_error_names_the_variable(
    tmp_path: Path, variable: str, said: str
) -> None:
    """It named "rules.analysis_duraton", a key written nowhere."""
    value = "8x" if "'8x'" in said else "8h"
    done = mailbot(tmp_path, {variable: value}, "incidents")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"mailbot: configuration error: {variable}: ")
    assert said in lines[0]
    # Written as advised, the setting is taken.
    if "did you mean MAILBOT_" in said:
        fixed = said.rpartition("did you mean ")[2].rstrip("?")
        assert mailbot(tmp_path, {fixed: "8h"}, "incidents").returncode == 0
