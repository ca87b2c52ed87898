"""Subject tags and base subjects, in the forms mail clients produce."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from mailbot.tags import SubjectTags, find_tags
from mailbot.thread import (
    Body,
    Decision,
    Lookups,
    base_subject,
    decide,
    is_reply,
    reply_body,
)


@pytest.mark.parametrize(
    ("subject", "full", "date_only"),
    [
        (
            "Re: [EGI-20261204-01] [TLP:AMBER] Security incident suspected at X",
            ("EGI-20261204-01",),
            (),
        ),
        (
            "Security incident suspected at SITE [EGI-20261204] TLP: AMBER",
            (),
            ("EGI-20261204",),
        ),
        (
            "SV: [EXTERNAL] VS: WG: [EGI-20261204-01] Compromised host",
            ("EGI-20261204-01",),
            (),
        ),
        (
            "AW: [Ticket#2026120410000012] RE: egi-20261204-02 foo",
            ("EGI-20261204-02",),
            (),
        ),
        (
            "Antw: [RT #4711] EGI-20261204-03: bar (was: EGI-20261203-09)",
            ("EGI-20261204-03", "EGI-20261203-09"),
            (),
        ),
        ("Fwd: EGI-ADV-20261204 and EGI-SVG-2026-01 advisories", (), ()),
        ("Advisory-SVG-CVE-2026-1234", (), ()),
        ("Re: [EGI-20261204-0", (), ("EGI-20261204",)),
        ("XEGI-20261204-01 is not a tag", (), ()),
        # Counters start at 01: a counter of zeros names no incident.
        ("Re: [EGI-20261204-00] test", (), ("EGI-20261204",)),
        # Digits of other scripts are no tag's (they crashed outgoing mail).
        ("Re: [EGI-\uff12\uff10\uff12\uff16\uff11\uff12\uff10\uff14-42] x", (), ()),
        ("Re: [EGI-20261204-\u0664\u0662] x", (), ("EGI-20261204",)),
        # Past the 99th incident of a day the counter grows a digit.
        (
            "RE: [EGI-20261204-323] [TLP:AMBER] Compromised host",
            ("EGI-20261204-323",),
            (),
        ),
    ],
)
def test_find_tags(subject: str, full: tuple, date_only: tuple) -> None:
    assert find_tags(subject, "EGI") == SubjectTags(full, date_only)


def test_find_tags_keeps_a_tag_of_no_day_apart() -> None:
    assert find_tags("Re: [EGI-20261332-01] no such day [EGI-20260230]", "EGI") == (
        SubjectTags((), (), ("EGI-20261332-01", "EGI-20260230"))
    )


def test_other_prefix() -> None:
    assert find_tags("Re: [CSIRT-20261204-07] x", "CSIRT").full == (
        "CSIRT-20261204-07",
    )
    assert find_tags("Re: [EGI-20261204-07] x", "CSIRT").full == ()


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        (
            "SV: [EXTERNAL] VS: WG: [EGI-20261204-01] Compromised host 192.0.2.45"
            " - action "
            "required",
            "Compromised host 192.0.2.45 - action required",
        ),
        (
            "Re: [EGI-20261204-01] [TLP:AMBER] Security incident suspected at SITE-A",
            "Security incident suspected at SITE-A",
        ),
        (
            "Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
            "Security incident suspected at SITE-A",
        ),
        ("RE: AW: Fwd: [Ticket#12345] Re[2]: *EXTERNAL* mining", "mining"),
        ("Antw: [SPAM] TLP:RED ** report", "** report"),
    ],
)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject, "EGI") == base


def _lookups(tags=None, ids=None, dates=None, sites=None) -> Lookups:  # type: ignore[no-untyped-def]
    return Lookups(
        incident_by_tag=lambda t: (tags or {}).get(t),
        incident_by_message_ids=lambda m: next(
            ((ids or {})[i] for i in m if i in (ids or {})), None
        ),
        incident_by_date_tag=lambda t, s: (dates or {}).get((t, s)),
        sites_of=lambda i: (sites or {}).get(i, ()),
    )


def test_decide_order() -> None:
    tags = SubjectTags(("EGI-20261204-01",), ("EGI-20261204",))
    everything = _lookups(
        {"EGI-20261204-01": 1}, {"<a@x>": 1}, {("EGI-20261204", "S"): 3}, {1: ["S"]}
    )
    assert decide(tags, ["<a@x>"], "S", everything, "S") == Decision("tag", 1)
    assert decide(tags, [], "S", everything, "S") == Decision("tag", 1)
    no_tag = _lookups({}, {"<a@x>": 2}, {("EGI-20261204", "S"): 3})
    assert decide(tags, ["<a@x>"], "S", no_tag) == Decision("reference", 2)
    assert decide(tags, [], "S", no_tag) == Decision("date_tag", 3)
    assert decide(tags, [], "OTHER", no_tag) == Decision(
        "new", adopt_tag="EGI-20261204-01", date_tag="EGI-20261204"
    )


A, B = "EGI-20261207-01", "EGI-20261207-02"
# Incident 1 is SITE-ALPHA's (<ack-a> is mailbot's mail in it), 2 SITE-BETA's.
TWO_SITES = _lookups(
    {A: 1, B: 2}, {"<ack-a>": 1, "<ack-b>": 2}, {}, {1: ["ALPHA"], 2: ["BETA"]}
)


@pytest.mark.parametrize(
    ("subject", "ids", "expected"),
    [
        # The tag against In-Reply-To or References: the reference wins.
        (f"Re: [{B}] x", ["<ack-a>"], Decision("reference", 1, passed_over=(B,))),
        (
            f"Re: [{B}] x",
            ["<z@y>", "<ack-a>"],
            Decision("reference", 1, passed_over=(B,)),
        ),
        # Two tags, one agreeing with the reference.
        (f"[{B}] [{A}]", ["<ack-a>"], Decision("tag", 1, passed_over=(B,))),
        # Two tags, no reference: the incident the sender's site is part of.
        (f"[{B}] [{A}]", [], Decision("tag", 1, passed_over=(B,))),
        (f"[{A}] [{B}]", [], Decision("tag", 1, passed_over=(B,))),
        # Only another site's tag: a new incident, the tag not adopted.
        (f"Re: [{B}] x", [], Decision("new", passed_over=(B,))),
        (f"Re: [{B}] x", ["<unknown@y>"], Decision("new", passed_over=(B,))),
        # Its own tag, and an unknown one to adopt when nothing else fits.
        (f"Re: [{A}] x", [], Decision("tag", 1)),
        ("[EGI-20261207-09] x", [], Decision("new", adopt_tag="EGI-20261207-09")),
    ],
)
def test_decide_a_tag_against_the_sender_and_the_references(
    subject: str, ids: list[str], expected: Decision
) -> None:
    tags = find_tags(subject, "EGI")
    assert decide(tags, ids, "ALPHA", TWO_SITES, sender_site="ALPHA") == expected


def test_decide_a_tag_without_a_sender_site() -> None:
    # A member or a third party: the first tag, the others recorded.
    tags = find_tags(f"[{B}] [{A}]", "EGI")
    assert decide(tags, [], None, TWO_SITES) == Decision("tag", 2, passed_over=(A,))
    # An incident with no site yet takes the first site that writes with its
    # tag (a third party's report, the site found later).
    siteless = _lookups({A: 1, B: 2}, {}, {}, {2: ["BETA"]})
    assert decide(tags, [], "ALPHA", siteless, "ALPHA") == Decision(
        "tag", 1, passed_over=(B,)
    )
    # A member's tag is the incident meant, even against a reference: a
    # reply to an old mail of A retagged B carries commands for B.
    retagged = find_tags(f"Re: [{B}] x", "EGI")
    assert decide(retagged, ["<ack-a>"], None, TWO_SITES) == Decision(
        "reference", 1, passed_over=(B,)
    )
    assert decide(retagged, ["<ack-a>"], None, TWO_SITES, tag_first=True) == Decision(
        "tag", 2
    )
    # Her first tag is the incident meant; the second is none passed over
    # (nobody is told of a tag she chose not to follow).
    assert decide(tags, ["<ack-a>"], None, TWO_SITES, tag_first=True) == Decision(
        "tag", 2
    )
    assert decide(tags, [], None, TWO_SITES, tag_first=True) == Decision("tag", 2)
    # A merged-away tag names the incident it was merged into: no disagreement.
    merged = _lookups({A: 1, B: 1}, {}, {}, {1: ["ALPHA", "BETA"]})
    assert decide(tags, [], "BETA", merged, "BETA") == Decision("tag", 1)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        # Tomorrow is today somewhere: adopted, as a tag can be.
        ("[EGI-20261208-03] x", Decision("new", adopt_tag="EGI-20261208-03")),
        ("[EGI-20261208] x", Decision("new", date_tag="EGI-20261208")),
        # After tomorrow, or on no day: no incident was opened then.
        ("[EGI-20991231-01] x", Decision("new", refused=("EGI-20991231-01",))),
        ("[EGI-20261209] x", Decision("new", refused=("EGI-20261209",))),
        ("[EGI-20261399-01] x", Decision("new", refused=("EGI-20261399-01",))),
        # A real tag beside a future one is adopted all the same.
        (
            "[EGI-20991231-01] [EGI-20261207-09] x",
            Decision("new", adopt_tag="EGI-20261207-09", refused=("EGI-20991231-01",)),
        ),
        # One in a mail that goes to an incident anyway changes nothing.
        (f"[{A}] [EGI-20991231-01] x", Decision("tag", 1)),
    ],
)
def test_decide_a_tag_dated_after_tomorrow_is_not_adopted(
    subject: str, expected: Decision
) -> None:
    tags = find_tags(subject, "EGI")
    latest = dt.date(2026, 12, 8)
    assert decide(tags, [], "ALPHA", TWO_SITES, "ALPHA", latest_day=latest) == expected


def test_decide_follows_a_future_tag_an_incident_has() -> None:
    # Adopted before tags were checked: it names its incident still.
    known = _lookups({"EGI-20991231-01": 1}, {}, {}, {1: ["ALPHA"]})
    tags = find_tags("Re: [EGI-20991231-01] x", "EGI")
    latest = dt.date(2026, 12, 8)
    assert decide(tags, [], "ALPHA", known, "ALPHA", latest_day=latest) == Decision(
        "tag", 1
    )


def test_base_subject_drops_a_three_digit_tag() -> None:
    subject = "RE: [EGI-20261204-323] [TLP:AMBER] Compromised host 192.0.2.45"
    assert base_subject(subject, "EGI") == "Compromised host 192.0.2.45"


@pytest.mark.parametrize(
    "subject",
    [
        "RE: [EGI-20261116-2] suspicious logins",
        "RE: EGI-20261116-2 suspicious logins",
        "Re: [EGI-20261116-0] suspicious logins",
    ],
)
def test_base_subject_drops_a_cut_counter(subject: str) -> None:
    assert base_subject(subject, "EGI") == "suspicious logins"


def test_find_tags_reads_a_cut_counter_as_the_tag_and_its_date() -> None:
    assert find_tags("RE: [EGI-20261116-2] x", "EGI") == SubjectTags(
        (), ("EGI-20261116",), cut=("EGI-20261116-02",)
    )


def test_decide_a_cut_counter() -> None:
    tags = find_tags("RE: [EGI-20261116-2] x", "EGI")
    # It names an incident the site takes part in: that one.
    known = _lookups({"EGI-20261116-02": 2}, sites={2: ["S"]})
    assert decide(tags, [], "S", known, "S") == Decision("tag", 2)
    # It names none: the date's incident of the site, else a new incident
    # that does not adopt it.
    dated = _lookups(dates={("EGI-20261116", "S"): 3})
    assert decide(tags, [], "S", dated, "S") == Decision("date_tag", 3)
    assert decide(tags, [], "S", _lookups(), "S") == Decision(
        "new", date_tag="EGI-20261116"
    )
    # Another site's incident: the site's own of that date, nothing passed over.
    other = _lookups(
        {"EGI-20261116-02": 2}, dates={("EGI-20261116", "S"): 3}, sites={2: ["T"]}
    )
    assert decide(tags, [], "S", other, "S") == Decision("date_tag", 3)


@pytest.mark.parametrize(
    ("subject", "loose"),
    [
        ("Re: [EGI 20261207-01] x", ("EGI-20261207-01",)),
        ("Re: [EGI_20261207_01] x", ("EGI-20261207-01",)),
        ("Re: [EGI-2026-12-07-01] x", ("EGI-20261207-01",)),
        ("Re: [EGI\u201320261207\u20132] x", ("EGI-20261207-02",)),
        ("Re: [EGI20261207-01] x", ("EGI-20261207-01",)),
        ("Re: [EGI-20261207 01] x", ("EGI-20261207-01",)),
        # A date-only tag and a number: no counter.
        ("Re: EGI-20261207 12 hosts", ()),
        # Whole and cut tags are not damaged ones; other identifiers none.
        ("Re: [EGI-20261207-01] [EGI-20261207-2] x", ()),
        ("EGI-SVG-2026-12 and EGI-ADV-20261207", ()),
        ("Re: [EGI 2026-1207-01] [EGI 20261332-01] x", ()),
    ],
)
def test_find_tags_reads_a_damaged_tag(subject: str, loose: tuple) -> None:
    found = find_tags(subject, "EGI")
    assert found.loose == loose
    # Its date is read too, and no part of it is left in the base subject.
    assert all(tag.rpartition("-")[0] in found.date_only for tag in loose)
    if loose:
        assert base_subject(subject, "EGI") == "x"


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("Re: x", True),
        ("AW: WG: [EXTERNAL] x", True),
        ("[EXTERNAL] SV: x", True),
        ("Fwd: x", False),
        ("WG: FW: x", False),
        ("Security incident suspected at SITE-A", False),
        ("Fwd: Re: x", True),
    ],
)
def test_is_reply(subject: str, reply: bool) -> None:
    assert is_reply(subject) is reply


def _with(**extra) -> Lookups:  # type: ignore[no-untyped-def]
    """TWO_SITES, with the look-ups that the body's tags and counters use."""
    return replace(TWO_SITES, **extra)


def test_decide_a_damaged_tag_follows_its_incident_and_names_none() -> None:
    tags = find_tags("Re: [EGI 20261207-02] x", "EGI")
    assert decide(tags, [], "BETA", TWO_SITES, "BETA") == Decision("tag", 2)
    # Another site's: that site's incident of the day, else a new one that
    # does not adopt it (told).
    assert decide(tags, [], "ALPHA", TWO_SITES, "ALPHA") == Decision(
        "new", date_tag="EGI-20261207", passed_over=(B,), refused=()
    )
    unknown = find_tags("Re: [EGI 20261207-05] x", "EGI")
    assert decide(unknown, [], "ALPHA", TWO_SITES, "ALPHA") == Decision(
        "new", date_tag="EGI-20261207", refused=("EGI-20261207-05",)
    )


def test_decide_follows_a_tag_in_the_text_of_a_reply() -> None:
    tags = find_tags("Re: Security incident", "EGI")
    body = Body((f"as in {B}", f"> [{A}] x"), "EGI", "soc@alpha.example.org")
    assert decide(tags, [], "ALPHA", TWO_SITES, "ALPHA", body=body) == Decision(
        "body_tag", 1
    )
    # Not the sender's: none, unless it wrote there (a reporter).
    assert decide(tags, [], None, TWO_SITES, None, body=body).reason == "new"
    wrote = _with(wrote_in=lambda i, a: (i, a) == (2, "soc@alpha.example.org"))
    assert decide(tags, [], None, wrote, None, body=body) == Decision("body_tag", 2)
    # A member's is the first that names an incident; a closed one none.
    assert decide(tags, [], None, TWO_SITES, None, True, body=body) == Decision(
        "body_tag", 2
    )
    closed = _with(going_on=lambda i: i != 1)
    assert decide(tags, [], "ALPHA", closed, "ALPHA", body=body).reason == "new"


def test_reply_body_reads_replies_only() -> None:
    texts = ("about EGI 20261207-01 and EGI-20261207-02", "> [EGI-20261207-01] x")
    assert reply_body("New miner", False, texts, "EGI", "A@x") == Body()
    assert reply_body("Re: miner", False, texts, "EGI", "A@x").tags() == (B, A)
    assert reply_body("Re: miner", False, texts, "EGI", "A@x").sender == "a@x"
    assert reply_body("miner", True, texts[1:], "EGI", None).tags() == (A,)


@pytest.mark.parametrize(
    ("subject", "last", "expected"),
    [
        # A counter with a leading zero past two digits is a typo: read as
        # its date, never adopted, told.
        (
            "Re: [EGI-20261207-011] x",
            0,
            Decision("new", date_tag="EGI-20261207", refused=("EGI-20261207-011",)),
        ),
        # Filed by its date, and told as a tag not followed.
        (
            "Re: [EGI-20261207-011] x",
            120,
            Decision("date_tag", 3, refused=("EGI-20261207-011",)),
        ),
        # Three digits before the day's 99th incident: the same.
        (
            "Re: [EGI-20261208-143] x",
            98,
            Decision("new", date_tag="EGI-20261208", refused=("EGI-20261208-143",)),
        ),
        # Past it, mailbot's own form: adopted.
        ("Re: [EGI-20261208-143] x", 99, Decision("new", adopt_tag="EGI-20261208-143")),
        # Long past: not adopted, and its date names no day.
        (
            "Re: [EGI-20200101-05] x",
            0,
            Decision(
                "new",
                date_tag="EGI-20200101",
                refused=("EGI-20200101-05", "EGI-20200101"),
            ),
        ),
        (
            "Re: [EGI-20200101] x",
            0,
            Decision("new", date_tag="EGI-20200101", refused=("EGI-20200101",)),
        ),
        # Within a week (a date-only tag) or half a year (a full one): kept.
        ("[EGI-20261130] x", 0, Decision("new", date_tag="EGI-20261130")),
        ("[EGI-20260701-04] x", 0, Decision("new", adopt_tag="EGI-20260701-04")),
    ],
)
def test_decide_adopts_only_tags_mailbot_would_write(
    subject: str, last: int, expected: Decision
) -> None:
    lookups = replace(
        _lookups(dates={("EGI-20261207", "S"): 3} if last == 120 else {}),
        last_counter=lambda day: last,
    )
    tags = find_tags(subject, "EGI")
    today, tomorrow = dt.date(2026, 12, 7), dt.date(2026, 12, 8)
    assert (
        decide(tags, [], "S", lookups, "S", latest_day=tomorrow, arrived_on=today)
        == expected
    )
