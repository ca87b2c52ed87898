"""Outgoing mail as a recipient's client reads it."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.compose import clean_header, compose

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


def _by_the_email_package(**kw: object) -> tuple[str, bytes]:
    """compose() as it was before mail was written directly: the oracle."""
    from email.message import EmailMessage

    from mailbot.compose import (
        _CONTENT_POLICY,
        _HEADERS_POLICY,
        clean_header,
        clean_ids,
    )

    label = kw["tlp_label"]
    message = EmailMessage(policy=_CONTENT_POLICY)
    message["From"] = kw["sender"]
    message["To"] = ", ".join(clean_header(a) for a in kw["to"])  # type: ignore[attr-defined]
    if kw["cc"]:
        message["Cc"] = ", ".join(clean_header(a) for a in kw["cc"])  # type: ignore[attr-defined]
    subject = clean_header(str(kw["subject"]))
    if f"[TLP:{label}]" not in subject:
        subject = f"[TLP:{label}] {subject}"
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(DATE)
    message["Message-ID"] = kw["message_id"]
    parents = clean_ids([kw["in_reply_to"]] if kw["in_reply_to"] else [])  # type: ignore[list-item]
    if parents:
        message["In-Reply-To"] = parents[0]
    chain = clean_ids([*kw["references"], *parents])  # type: ignore[misc]
    if chain:
        message["References"] = " ".join(chain[-20:])
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    message.set_content(f"TLP:{label}\n\n{kw['body']}", charset="utf-8")
    return str(message["Subject"]), message.as_bytes(policy=_HEADERS_POLICY)


# What the direct way writes, and what it must leave to the email package.
_PLAIN_WORDS = st.sampled_from(
    ["Reminder:", "wn3.site", "(192.0.2.1)", "<ok@x.org>", '"quoted"', "\\", "x"]
)
_ODD_WORDS = st.sampled_from(
    ["Ålpha", "=?utf-8?q?x?=", "a\tb", "\r\nBcc: x@y", "x" * 90, "", " ", "ü"]
)
_WORDS = st.one_of(_PLAIN_WORDS, _ODD_WORDS)
_PLAIN_ADDRESSES = st.sampled_from(["security@site-a.example.org", "a.b+c@x.example"])
_ODD_ADDRESSES = st.sampled_from(
    ["Ann <ann@x.org>", '"Smith, J" <js@x.org>', "bad..dots@x.org", "ünï@x.org",
     "no-domain@x", "x@y.example\r\nBcc: z@w.org"]
)  # fmt: skip
_ADDRESSES = st.one_of(_PLAIN_ADDRESSES, _ODD_ADDRESSES)
_IDS = st.sampled_from(
    ["<1.2.mb.EGI-20261204-01@csirt.example.org>", "<a@b.example>", "<x y@z>",
     "<ü@x.org>", "<" + "k" * 300 + "@x.org>", "no-brackets@x.org", ""]
)  # fmt: skip


def _mails(words: st.SearchStrategy[str], addresses: st.SearchStrategy[str]) -> Any:
    return st.fixed_dictionaries(
        {
            "subject": st.lists(words, max_size=6).map(" ".join),
            "to": st.lists(addresses, min_size=1, max_size=3),
            "cc": st.lists(addresses, max_size=2),
            "sender": st.sampled_from(
                ["abuse@egi.example", "CSIRT <abuse@egi.example>"]
            ),
            "body": st.lists(st.lists(words, max_size=5).map(" ".join), max_size=9).map(
                "\n".join
            ),
            "tlp_label": st.sampled_from(["AMBER", "RED", "AMBER+STRICT"]),
            # Message-IDs are mailbot's own (make_msgid): ASCII, never empty.
            "message_id": _IDS.filter(lambda m: m.isascii() and bool(m)),
            "in_reply_to": st.one_of(st.none(), _IDS),
            "references": st.lists(_IDS, max_size=25),
        }
    )


# Plain mail is mostly written directly, the mixed kind mostly is not.
@settings(max_examples=500, deadline=None)
@given(st.one_of(_mails(_WORDS, _ADDRESSES), _mails(_PLAIN_WORDS, _PLAIN_ADDRESSES)))
def test_written_directly_or_by_the_email_package_the_bytes_agree(
    kw: dict[str, Any],
) -> None:
    out = compose(date=DATE, **kw)
    assert (out.subject, out.raw) == _by_the_email_package(**kw)


def test_a_reminder_is_written_directly() -> None:
    # The common mail takes the direct way (and so costs little to write).
    from mailbot.compose import _plain_bytes

    headers = [("Subject", "[EGI-20261204-01] [TLP:AMBER] Reminder"), ("To", "a@b.org")]
    assert _plain_bytes(headers, "TLP:AMBER\n\nDear colleague,\n") is not None
    assert _plain_bytes(headers, "TLP:AMBER\n\nDear Ålpha,\n") is None


def test_a_broken_encoded_word_in_a_subject_is_sent_as_text() -> None:
    # From a mutated report: the email package decodes this word, then
    # fails to fold it (UnicodeEncodeError), which quarantined the report.
    broken = "=?utf-8?q?a_ja_b=C=B6se_auf_dem_Weg_bis_zur_K=C3=BCste?="
    out = compose(
        sender="abuse@egi.example",
        to=["security@site-alpha.example.org"],
        subject=f"[EGI-20261201-01] [TLP:AMBER] Re: {broken}",
        body="Text.\n",
        tlp_label="AMBER",
        message_id="<3.mb@egi.example>",
        date=DATE,
    )
    parsed = email.message_from_bytes(out.raw, policy=email.policy.default)
    assert parsed["Subject"] == out.subject
    assert out.subject.endswith(
        "Re: = ?utf-8?q?a_ja_b=C=B6se_auf_dem_Weg_bis_zur_K=C3=BCste?="
    )


def test_invisible_reordering_characters_leave_headers() -> None:
    # U+202E turns "moc.live" around on screen; zero-width space hides.
    assert clean_header("login \u202emoc.live now\u200b") == "login moc.live now"
    # Joiners are part of Persian and Indic words: kept.
    assert clean_header("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    )
