"""Tables of values in HTML mail (breaker F7): a column's header gives the
role of the values under it, and <br> inside a cell separates values."""

from __future__ import annotations

import ipaddress

import pytest

from mailbot import extract
from mailbot.html_text import html_to_text
from mailbot.mail import TextPart

SITE = extract.Context(
    site_networks=(ipaddress.ip_network("192.0.2.0/25"),),
    site_domains=("site-a.example.org",),
)


def _values(markup: str) -> set[tuple[str, str]]:
    part = TextPart("1", "text/html", "html", html_to_text(markup))
    found = extract.extract((part,), SITE)
    return {(f.field, f.value) for f in found if f.kind != "text"}


CONNECTIONS = """<p>We see these connections:</p>
<table><tr><th>Time</th><th>Source IP</th><th>Destination</th></tr>
<tr><td>2026-12-03 21:14 UTC</td><td>203.0.113.77</td><td>192.0.2.15</td></tr>
<tr><td>2026-12-03 21:20 UTC</td><td>203.0.113.78<br>203.0.113.79</td>
<td>ui01.site-a.example.org</td></tr></table>"""


def test_source_ip_column_names_the_attacker() -> None:
    found = _values(CONNECTIONS)
    for address in ("203.0.113.77", "203.0.113.78", "203.0.113.79"):
        assert ("attacker_ips", address) in found
    assert ("affected_hosts", "192.0.2.15") in found
    assert ("affected_hosts", "ui01.site-a.example.org") in found


@pytest.mark.parametrize("br", ["<br>", "<br/>", "<br />", "</p><p>"])
def test_br_separates_the_values_of_a_cell(br: str) -> None:
    markup = (
        "<table><tr><th>Attacker</th><th>Target host</th></tr>"
        f"<tr><td><p>198.51.100.7{br}198.51.100.8</p></td>"
        f"<td>wn17.example.net{br}wn18.example.net</td></tr></table>"
    )
    assert "198.51.100.7, 198.51.100.8\twn17.example.net, wn18" in html_to_text(markup)
    assert _values(markup) == {
        ("attacker_ips", "198.51.100.7"),
        ("attacker_ips", "198.51.100.8"),
        ("affected_hosts", "wn17.example.net"),
        ("affected_hosts", "wn18.example.net"),
    }


def test_each_cell_has_its_column() -> None:
    # Values side by side in one row are not one group of the first's role.
    markup = (
        "<table><tr><td><b>Source IP</b></td><td><b>Target host</b></td>"
        "<td>Port</td></tr><tr><td>198.51.100.7</td><td>wn17.example.net</td>"
        "<td>22</td></tr></table>"
    )
    assert _values(markup) == {
        ("attacker_ips", "198.51.100.7"),
        ("affected_hosts", "wn17.example.net"),
    }


def test_a_destination_not_the_sites_stays_unclassified() -> None:
    # A compromised VM's connections go to its C2: a destination is affected
    # only when it is the site's.
    markup = (
        "<table><tr><th>Source</th><th>Destination</th><th>Port</th></tr>"
        "<tr><td>192.0.2.40</td><td>203.0.113.9</td><td>3333</td></tr></table>"
    )
    assert _values(markup) == {
        ("affected_hosts", "192.0.2.40"),
        ("unclassified", "203.0.113.9"),
    }


def test_key_value_table_rows_keep_their_own_labels() -> None:
    markup = (
        "<table><tr><td>Site</td><td>SITE-A</td></tr>"
        "<tr><td>Affected hosts</td><td>wn17.site-a.example.org<br>"
        "wn18.site-a.example.org</td></tr>"
        "<tr><td>Notes</td><td>scans seen by our IDS</td></tr>"
        "<tr><td>Attacker IP</td><td>203.0.113.5</td></tr>"
        "<tr><td>Remarks</td><td>we also saw 198.51.100.9</td></tr></table>"
    )
    assert _values(markup) == {
        ("affected_hosts", "wn17.site-a.example.org"),
        ("affected_hosts", "wn18.site-a.example.org"),
        ("attacker_ips", "203.0.113.5"),
        ("unclassified", "198.51.100.9"),
    }


def test_a_mail_in_one_layout_cell_keeps_its_lines() -> None:
    markup = (
        "<table width=600><tr><td><p>Dear CSIRT,</p><p>we saw logins from"
        " 203.0.113.5 on ui01.site-a.example.org at 21:14 UTC.</p>"
        "<p>The host was isolated at 22:00.</p><p>Regards,<br>Admin</p>"
        "</td></tr></table>"
    )
    text = html_to_text(markup)
    assert text.startswith("Dear CSIRT,\n\nwe saw logins")
    assert "Regards,\nAdmin" in text


def test_relay_trace_columns_name_no_attacker() -> None:
    # A bounce's message hops: FROM is the relay before, not an attacker.
    markup = (
        "<table><tr><th>HOP</th><th>TIME (UTC)</th><th>FROM</th><th>TO</th>"
        "<th>WITH</th></tr><tr><td>1</td><td>10/13/2026, 11:10:11 AM</td>"
        "<td>relay.example.net</td><td>mx.example.org</td><td>SMTP</td></tr>"
        "</table>"
    )
    assert {field for field, _ in _values(markup)} == {"unclassified", "evidence"}
