"""Outgoing mail as a recipient's client reads it."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest

from mailbot.compose import compose

DATE = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "subject",
    [
        "[EGI-20261130-01] [TLP:AMBER] Security incident suspected at SITE-ALPHA",
        "[EGI-20261130-01] [TLP:AMBER] " + "very long subject " * 8,
    ],
)
def test_subject_reads_back_exactly(subject: str) -> None:
    out = compose(
        sender="abuse@egi.example",
        to=["security@site-alpha.example.org"],
        subject=subject,
        body="Dear Ålpha team,\n" + "a long line of the body " * 10 + "\n",
        tlp_label="AMBER",
        message_id="<1.mb@egi.example>",
        date=DATE,
    )
    parsed = email.message_from_bytes(out.raw, policy=email.policy.default)
    assert parsed["Subject"] == subject.strip()
    assert f"Subject: {subject.strip()}".encode() in out.raw
    # The body stays 7-bit quoted-printable with short lines.
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert (
        max(len(line) for line in out.raw.split(b"\r\n\r\n", 1)[1].splitlines()) <= 76
    )
    assert (
        parsed.get_content()
        .replace("\r\n", "\n")
        .startswith("TLP:AMBER\n\nDear Ålpha team,")
    )


def test_a_notice_outside_any_thread_names_its_label_too() -> None:
    out = compose(
        sender="abuse@egi.example",
        to=["duty@egi.example"],
        subject="mailbot brake engaged: 51 automatic mails in one hour",
        body="Held.\n",
        tlp_label="AMBER",
        message_id="<2.mb@egi.example>",
        date=DATE,
    )
    parsed = email.message_from_bytes(out.raw, policy=email.policy.default)
    assert (
        parsed["Subject"]
        == "[TLP:AMBER] mailbot brake engaged: 51 automatic mails in one hour"
    )
