"""The sites file as an operator writes it: contacts, typos, NGIs, networks.

A refused file exits with status 2 and one line naming the entry and key;
overlapping networks of two sites are allowed (the smaller network wins a
lookup) but said once at start-up, one line naming both sites.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path

import pytest
from mailbot_env import T
from opsenv import run_cli
from test_csirt_env import SITES

from mailbot.deadlines import WorkingCalendar
from mailbot.errors import ConfigError
from mailbot.sites import directory_from_dict, load_directory, overlapping_networks

# Every kind of entry: the sites of the cases, a VO and a CA.
GOOD = SITES


def mailbot(tmp_path: Path, sites: str | bytes, *args: str):  # type: ignore[no-untyped-def]
    """`mailbot ARGS` as a process, with `sites` as its sites file."""
    data = sites.encode() if isinstance(sites, str) else sites
    (tmp_path / "sites.toml").write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env |= {
        "MAILBOT_MAILBOT_ADDRESS": "abuse@csirt.example.org",
        "MAILBOT_SOURCE_KIND": "maildir",
        "MAILBOT_SMTP_KIND": "maildir",
        "MAILBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
        "MAILBOT_SITES_FILE": str(tmp_path / "sites.toml"),
    }
    return run_cli(env, *args, timeout=120)


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        directory_from_dict(tomllib.loads(text))
    return caught.value


def test_the_good_file_loads() -> None:
    directory = directory_from_dict(tomllib.loads(GOOD))
    assert [s.name for s in directory.sites] == ["SITE-A", "SITE-C"]
    assert overlapping_networks(directory.sites) == []


@pytest.mark.parametrize(
    ("old", "new", "key", "said"),
    [
        (
            '"admin@site-a.example.com"',
            '"admin at site-a, x@y\\nBcc: z@w.example"',
            "site SITE-A.security_contacts",
            "control character",
        ),
        (
            '"admin@site-a.example.com"',
            '"admin@site-a.example.com, other@site-a.example.com"',
            "site SITE-A.security_contacts",
            "write each bare address as its own string:"
            ' ["admin@site-a.example.com", "other@site-a.example.com"]',
        ),
        (
            '["ngi-sec@ngi-a.example.org"]',
            '["NGI A <ngi-sec@ngi-a.example.org>"]',
            "ngi NGI_A.security_contacts",
            "display name, quotes or <>: give the bare address; write each bare"
            ' address as its own string: ["ngi-sec@ngi-a.example.org"]',
        ),
        (
            '["vo-security@vo.example.org"]',
            '"vo security@vo.example.org"',
            "vo vo.example.org.security_contacts",
            "space",
        ),
        (
            '["ca@ca.example.org"]',
            '["ca.example.org"]',
            "ca Example Grid CA.security_contacts",
            "one @",
        ),
    ],
)
def test_every_contact_is_one_address(old: str, new: str, key: str, said: str) -> None:
    error = refused(GOOD.replace(old, new, 1))
    assert error.key == key and said in error.problem


@pytest.mark.parametrize(
    ("old", "new", "key", "said"),
    [
        ("domains =", "domian =", "site SITE-A.domian", "did you mean domains?"),
        ("networks =", "network =", "site SITE-A.network", "did you mean networks?"),
        (
            'ngi = "NGI_A"\ntimezone',
            'NGI = "NGI_A"\ntimezone',
            "site SITE-A.NGI",
            "ngi",
        ),
        (
            "[[vo]]\nname",
            "[[vo]]\ncontact = 1\nname",
            "vo vo.example.org.contact",
            "keys",
        ),
        ("[[ca]]", "[[cas]]", "cas", "did you mean ca?"),
    ],
)
def test_an_unknown_key_names_the_nearest(
    old: str, new: str, key: str, said: str
) -> None:
    error = refused(GOOD.replace(old, new, 1))
    assert error.key == key and said in error.problem


def test_a_site_naming_no_ngi_of_the_file_is_refused() -> None:
    error = refused(GOOD.replace('ngi = "NGI_A"', 'ngi = "NGI_ZZ"', 1))
    assert error.key == "site SITE-A.ngi"
    assert "'NGI_ZZ' is no NGI of this file" in error.problem
    assert "add an [[ngi]] entry named NGI_ZZ" in error.problem
    # The name is matched as every lookup matches it: in any case.
    directory_from_dict(tomllib.loads(GOOD.replace('ngi = "NGI_A"', 'ngi = "ngi_a"')))


def test_a_bad_sites_file_exits_2_with_one_line(tmp_path: Path) -> None:
    done = mailbot(tmp_path, GOOD.replace("domains =", "domian ="), "incidents")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mailbot: configuration error: site SITE-A.domian: is no key of a site; did"
        " you mean domains? (keys: name, ngi, timezone, country, security_contacts,"
        " domains, networks, holidays, working_hours, weekdays)"
    ]
    assert mailbot(tmp_path, GOOD, "incidents").returncode == 0


def test_an_unreadable_sites_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A sites file mailbot may not read (another user's, a folder, another
    encoding) ended in `mailbot: PermissionError: ...` (or IsADirectoryError,
    UnicodeDecodeError), exit 1, naming no key."""
    folder = tmp_path / "sites.d"
    folder.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_directory(folder)
    assert caught.value.key == "sites.file"
    assert caught.value.problem.startswith(f"cannot read {folder} (Is a directory):")
    # A FIFO made the start wait for a writer, for ever.
    fifo = tmp_path / "sites.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as caught:
        load_directory(fifo)
    assert caught.value.problem.startswith(f"cannot read {fifo} (not a file):")
    done = mailbot(tmp_path, "# Ümlaut\n".encode("latin-1"), "incidents")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"mailbot: configuration error: MAILBOT_SITES_FILE: cannot read"
        f" {tmp_path / 'sites.toml'} (it is not UTF-8): make it a UTF-8 file the"
        " user mailbot runs as can read, or point sites.file at one"
    ]


def test_overlapping_networks_of_two_sites_are_warned_once(tmp_path: Path) -> None:
    text = GOOD.replace('"198.51.100.128/25"', '"198.51.100.128/25", "192.0.2.64/26"')
    text += '[[site]]\nname = "SITE-D"\nnetworks = ["192.0.2.0/24", "2001:db8::/32"]\n'
    text += '[[site]]\nname = "SITE-E"\nnetworks = ["2001:db8:1::/48"]\n'
    directory = directory_from_dict(tomllib.loads(text))
    pairs = {frozenset((a[0], b[0])) for a, b in overlapping_networks(directory.sites)}
    assert pairs == {
        frozenset(("SITE-A", "SITE-C")),
        frozenset(("SITE-A", "SITE-D")),
        frozenset(("SITE-C", "SITE-D")),
        frozenset(("SITE-D", "SITE-E")),
    }
    # The smaller network still wins a lookup.
    import ipaddress

    site = directory.site_by_address(ipaddress.ip_address("192.0.2.70"))
    assert site is not None and site.name == "SITE-C"
    # Start-up says it, one line for each pair, naming both sites.
    done = mailbot(tmp_path, text, "--log-format", "text", "incidents")
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "overlaps" in line]
    assert len(warned) == 4
    assert any(
        "site SITE-A: network 192.0.2.0/25 overlaps site SITE-C's 192.0.2.64/26" in line
        for line in warned
    )


def test_a_shared_contact_is_warned_at_start_up(tmp_path: Path) -> None:
    text = GOOD + (
        '[[site]]\nname = "SITE-UNI1"\nsecurity_contacts = ["cert@uni.example.edu"]\n'
        '[[site]]\nname = "SITE-UNI2"\nsecurity_contacts = ["cert@uni.example.edu"]\n'
    )
    done = mailbot(tmp_path, text, "--log-format", "text", "incidents")
    assert done.returncode == 0, done.stderr
    [warned] = [line for line in done.stderr.splitlines() if "cert@uni" in line]
    assert "given by sites SITE-UNI1, SITE-UNI2" in warned
    assert "else for SITE-UNI1" in warned


def test_a_missing_sites_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_directory(tmp_path / "sites.toml")
    assert caught.value.key == "sites.file"
    assert "mailbot sites import FILE..." in caught.value.problem
    assert "write it" in caught.value.problem


IL_SITE = """
[[site]]
name = "SITE-TLV"
timezone = "Asia/Jerusalem"
security_contacts = ["sec@site-tlv.example.il"]
"""


def test_a_site_working_week_is_its_own() -> None:
    text = IL_SITE + 'weekdays = ["Sun", "monday", "Tue", "Wed", "THU"]\n'
    site = directory_from_dict(tomllib.loads(text)).sites[0]
    assert site.weekdays == ("mon", "tue", "wed", "thu", "sun")
    calendar = WorkingCalendar.for_site(site)
    # Thursday 15:00 in Tel Aviv: two working hours that day, Friday and
    # Saturday off, the other two on Sunday morning.
    due = calendar.add(T("2026-12-03T13:00"), dt.timedelta(hours=4))
    assert due == T("2026-12-06T09:00")
    assert not calendar.is_working_day(dt.date(2026, 12, 4))
    # Left out, the week is Monday to Friday.
    default = WorkingCalendar.for_site(
        directory_from_dict(tomllib.loads(IL_SITE)).sites[0]
    )
    assert default.add(T("2026-12-03T13:00"), dt.timedelta(hours=4)) == T(
        "2026-12-04T09:00"
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('["Sun", "Fry"]', "'Fry' is no day name"),
        ("[]", "must be a list of day names"),
        ('"Sun-Thu"', "must be a list of day names"),
        ("[1, 2]", "1 is no day name"),
    ],
)
def test_bad_weekdays_are_refused_naming_the_site_and_key(
    value: str, said: str
) -> None:
    error = refused(IL_SITE + f"weekdays = {value}\n")
    assert error.key == "site SITE-TLV.weekdays"
    assert said in error.problem
