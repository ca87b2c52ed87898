"""Import of GOCDB XML exports into the sites file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailbot.gocdb import GocdbError, country_code, parse_gocdb
from mailbot.sites import directory_from_dict
from mailbot.sites_merge import render_sites_toml

SAMPLE = Path(__file__).parent / "data" / "gocdb_sample.xml"


@pytest.fixture
def sample() -> dict:
    return parse_gocdb(SAMPLE.read_bytes())


def site(data: dict, name: str) -> dict:
    return next(entry for entry in data["site"] if entry["name"] == name)


def test_sites_and_ngis(sample: dict) -> None:
    alpha = site(sample, "EXAMPLE-ALPHA")
    assert alpha == {
        "name": "EXAMPLE-ALPHA",
        "ngi": "NGI_AA",
        "timezone": "Europe/Rome",
        "country": "IT",
        "security_contacts": ["security@alpha.example.org"],
        "domains": ["alpha.example.org"],
    }
    assert [n["name"] for n in sample["ngi"]] == ["NGI_AA", "NGI_BB", "NGI_CC"]
    assert sample["ngi"][1]["security_contacts"] == [
        "sec@ngi-bb.example.org",
        "officer@ngi-bb.example.org",
    ]


def test_round_trip_through_the_sites_file(sample: dict) -> None:
    text = render_sites_toml(sample)
    # The import's own notes ("warnings", "defaulted") are no table of the file.
    tables = {kind: sample[kind] for kind in ("ngi", "site")}
    assert directory_from_dict(tomllib.loads(text)) == directory_from_dict(tables)
    directory = directory_from_dict(tomllib.loads(text))
    assert directory.site_by_domain("grid.alpha.example.org").name == "EXAMPLE-ALPHA"
    assert directory.ngi_contacts(directory.site("EXAMPLE-ALPHA")) == (
        "ngi-sec@ngi-aa.example.org",
    )


def test_several_addresses_in_one_field(sample: dict) -> None:
    beta = site(sample, "EXAMPLE-BETA")
    assert beta["security_contacts"] == [
        "cert@beta.example.org",
        "admin@beta.example.org",
        "soc@beta-soc.example.org",
    ]
    assert beta["domains"] == ["beta.example.org", "beta-soc.example.org"]
    assert beta["country"] == "NL"


def test_missing_fields(sample: dict) -> None:
    delta = site(sample, "EXAMPLE-DELTA")
    assert delta == {
        "name": "EXAMPLE-DELTA",
        "ngi": "NGI_CC",
        "timezone": "UTC",
        "security_contacts": [],
        "domains": [],
    }
    warnings = " | ".join(sample["warnings"])
    assert "EXAMPLE-DELTA: no usable CSIRT_EMAIL" in warnings
    assert "EXAMPLE-DELTA: no TIMEZONE" in warnings
    assert "NGI NGI_CC: no NGI element" in warnings


def test_bad_time_zone_becomes_utc_with_a_warning(sample: dict) -> None:
    gamma = site(sample, "EXAMPLE-GAMMA")
    assert gamma["timezone"] == "UTC"
    assert gamma["country"] == "GB"
    assert any("Mars/Olympus_Mons" in w for w in sample["warnings"])


def test_warnings_are_comments_of_the_sites_file(sample: dict) -> None:
    text = render_sites_toml(sample)
    assert "# warning: site EXAMPLE-GAMMA: TIMEZONE 'Mars/Olympus_Mons'" in text
    assert "warnings" not in tomllib.loads(text)


def test_separate_exports_merge() -> None:
    sites = b"""<results><SITE NAME="X-ONE"><ROC>NGI_X</ROC>
        <CSIRT_EMAIL>sec@one.example.org</CSIRT_EMAIL>
        <TIMEZONE>Asia/Tokyo</TIMEZONE><COUNTRY>Japan</COUNTRY></SITE></results>"""
    ngis = b"""<results><NGI><NAME>NGI_X</NAME>
        <SECURITY_EMAIL>sec@ngi-x.example.org</SECURITY_EMAIL></NGI></results>"""
    data = parse_gocdb(sites, ngis)
    assert data["ngi"] == [
        {"name": "NGI_X", "security_contacts": ["sec@ngi-x.example.org"]}
    ]
    assert data["site"][0]["name"] == "X-ONE"  # from the NAME attribute
    assert data["site"][0]["country"] == "JP"
    assert data["warnings"] == []


def test_shared_and_public_domains_are_left_out() -> None:
    xml = b"""<results>
      <SITE><SHORT_NAME>S-ONE</SHORT_NAME>
        <CSIRT_EMAIL>sec@ngi-z.example.org</CSIRT_EMAIL></SITE>
      <SITE><SHORT_NAME>S-TWO</SHORT_NAME>
        <CSIRT_EMAIL>sec@ngi-z.example.org two@gmail.com bad-address</CSIRT_EMAIL>
      </SITE></results>"""
    data = parse_gocdb(xml)
    assert [s["domains"] for s in data["site"]] == [[], []]
    assert data["site"][1]["security_contacts"] == [
        "sec@ngi-z.example.org",
        "two@gmail.com",
    ]
    assert any("ngi-z.example.org is given by 2 sites" in w for w in data["warnings"])
    assert any("'bad-address' is no mail address" in w for w in data["warnings"])
    # A shared contact is kept, and said: its mail is told apart by its words.
    assert (
        "security contact sec@ngi-z.example.org is given by sites S-ONE, S-TWO:"
        " its mail counts for the one it names, else for the first"
    ) in data["warnings"]


def test_doctype_bomb_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE results [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<results><SITE><SHORT_NAME>&d;</SHORT_NAME></SITE></results>"""
    with pytest.raises(GocdbError, match="DOCTYPE"):
        parse_gocdb(bomb)
    with pytest.raises(GocdbError, match="DOCTYPE"):
        parse_gocdb(bomb.decode().encode("utf-16"))


def test_external_entity_and_undefined_entity_are_refused() -> None:
    external = b"""<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<results><SITE><SHORT_NAME>&x;</SHORT_NAME></SITE></results>"""
    with pytest.raises(GocdbError, match="refused"):
        parse_gocdb(external)
    with pytest.raises(GocdbError, match="not well-formed"):
        parse_gocdb(b"<results><SITE>&x;</SITE></results>")


def test_broken_xml_is_a_clear_error() -> None:
    with pytest.raises(GocdbError, match="not well-formed XML"):
        parse_gocdb(b"<results><SITE></results>")


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("Italy", "IT"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("Czech Republic", "CZ"),
        ("Korea, Republic of", "KR"),
        ("Bosnia and Herzegovina", "BA"),
        ("nl", "NL"),
        ("Atlantis", None),
        ("ZZ", None),
        ("", None),
    ],
)
def test_country_codes(given: str, code: str | None) -> None:
    assert country_code(given) == code


def test_country_code_preferred_over_name_and_unknown_warned() -> None:
    xml = b"""<results>
      <SITE><SHORT_NAME>S-A</SHORT_NAME><COUNTRY>Holland</COUNTRY>
        <COUNTRY_CODE>NL</COUNTRY_CODE><TIMEZONE>UTC</TIMEZONE></SITE>
      <SITE><SHORT_NAME>S-B</SHORT_NAME><COUNTRY>Atlantis</COUNTRY>
        <TIMEZONE>UTC</TIMEZONE></SITE></results>"""
    data = parse_gocdb(xml)
    assert data["site"][0]["country"] == "NL"
    assert "country" not in data["site"][1]
    assert any("'Atlantis'" in w for w in data["warnings"])


def test_render_escapes_strings() -> None:
    data = {
        "ngi": [{"name": 'NGI "Q"\\', "security_contacts": []}],
        "site": [
            {
                "name": "S\tONE",
                "timezone": "UTC",
                "working_hours": ["08:00", "16:00"],
                "holidays": ["2026-12-24"],
            }
        ],
    }
    text = render_sites_toml(data)
    assert directory_from_dict(tomllib.loads(text)) == directory_from_dict(data)
    with pytest.raises(ValueError):
        render_sites_toml({"site": [{"name": "X", "extra": {"a": 1}}]})


@pytest.mark.parametrize(
    ("given", "zone"),
    [
        ("UTC+1", "Etc/GMT-1"),
        ("GMT -05:00", "Etc/GMT+5"),
        ("utc+0900", "Etc/GMT-9"),
        ("UTC+0", "UTC"),
        ("UTC+5:30", None),  # no Etc zone for half hours
        ("UTC+15", None),
    ],
)
def test_a_timezone_given_as_an_offset_keeps_its_offset(
    given: str, zone: str | None
) -> None:
    """TIMEZONE "UTC+1" became UTC: the site's working hours moved an hour."""
    xml = f"""<results><SITE><SHORT_NAME>X-OFF</SHORT_NAME><ROC>NGI_X</ROC>
        <CSIRT_EMAIL>sec@off.example.org</CSIRT_EMAIL>
        <TIMEZONE>{given}</TIMEZONE></SITE></results>""".encode()
    data = parse_gocdb(xml)
    assert data["site"][0]["timezone"] == (zone or "UTC")
    (warning,) = [w for w in data["warnings"] if "TIMEZONE" in w]
    assert "name the site's" in warning and "sites file" in warning
    directory_from_dict(tomllib.loads(render_sites_toml(data)))  # it loads


@pytest.mark.parametrize(
    "document",
    [
        b"<html><body>GOCDB login</body></html>",
        b"<results/>",
        b'<?xml version="1.0"?><error>Access denied</error>',
    ],
)
def test_a_document_with_no_site_or_ngi_is_refused(document: bytes) -> None:
    """A login page was read as an export of no site, and the sites file
    was rewritten from it (comments lost, the backup replaced)."""
    with pytest.raises(GocdbError, match="holds no SITE or NGI element"):
        parse_gocdb(document)
    with pytest.raises(GocdbError, match="no get_site or get_ngi output"):
        parse_gocdb(SAMPLE.read_bytes(), document)
