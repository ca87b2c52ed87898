"""Who wrote a mail, when the From header itself is the attack."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailbot_env import SHARED_CONTACT_SITES, mail, make_app

from mailbot.classify import Classification
from mailbot.parse import parse
from mailbot.roles import identify, not_to_answer, reply_address

PASSING = (
    "mx.csirt.example.org; dkim=pass header.d=csirt.example.org; "
    "spf=pass smtp.mailfrom=csirt.example.org"
)
HUMAN = Classification(kind="human", reason=None, dsn=None)


@pytest.mark.parametrize(
    ("sender", "extra"),
    [
        # Two From fields: a signature may cover the other one.
        ("alice@csirt.example.org", {"From": "mallory@evil.example.net"}),
        # Two authors in one field.
        ("alice@csirt.example.org, mallory@evil.example.net", {}),
    ],
)
def test_a_mail_with_several_authors_is_no_members(
    tmp_path: Path, database_url: str, sender: str, extra: dict[str, str]
) -> None:
    app = make_app(tmp_path, database_url)
    raw = mail(
        subject="Re: [EGI-20261204-01] x",
        sender=sender,
        message_id="<two-from@csirt.example.org>",
        headers={"Authentication-Results": PASSING, **extra},
        body="#close\n",
    )
    author = identify(parse(raw), HUMAN, app.settings, app.sites, sent_by_us=False)
    assert author.role != "csirt"
    assert author.flags == ("possible_forgery",)
    app.close()


def test_one_authenticated_author_is_a_member(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url)
    raw = mail(
        subject="Re: [EGI-20261204-01] x",
        sender="Alice <alice@csirt.example.org>",
        message_id="<one-from@csirt.example.org>",
        headers={"Authentication-Results": PASSING},
    )
    author = identify(parse(raw), HUMAN, app.settings, app.sites, sent_by_us=False)
    assert author.role == "csirt"
    app.close()


@pytest.mark.parametrize(
    ("reply_to", "expected"),
    [
        ("abuse@csirt.example.org", "reporter@cert.example.net"),
        ("duty@csirt.example.org", "reporter@cert.example.net"),
        ("desk@cert.example.net", "desk@cert.example.net"),
        ("noreply@cert.example.net", None),
    ],
)
def test_answers_never_go_to_mailbot_itself(
    tmp_path: Path, database_url: str, reply_to: str, expected: str | None
) -> None:
    app = make_app(tmp_path, database_url)
    raw = mail(
        subject="Compromised host",
        message_id="<r@cert.example.net>",
        headers={"Reply-To": reply_to},
    )
    ours = not_to_answer(app.settings)
    assert reply_address(parse(raw), ours) == expected
    app.close()


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Security incident at SITE-UNI2", "wn01 was compromised.\n", "SITE-UNI2"),
        ("Security incident", "At SITE-UNI2, wn01 was compromised.\n", "SITE-UNI2"),
        ("Security incident", "wn01 (203.0.113.70) was compromised.\n", "SITE-UNI2"),
        # A site the contact does not write for is no choice.
        ("Seen from SITE-A", "SITE-UNI2's wn01 was compromised.\n", "SITE-UNI2"),
        ("Security incident", "wn01 (203.0.113.10) was compromised.\n", "SITE-UNI1"),
        # Naming none, the first of the file.
        ("Security incident", "wn01 was compromised.\n", "SITE-UNI1"),
    ],
)
def test_a_shared_contact_writes_for_the_site_its_mail_names(
    tmp_path: Path, database_url: str, subject: str, body: str, expected: str
) -> None:
    # Two sites giving one contact (a university's central CERT): its mail
    # was always the first site's, even when it named the second one.
    import tomllib

    from test_csirt_env import SITES

    from mailbot.sites import directory_from_dict

    app = make_app(tmp_path, database_url)
    directory = directory_from_dict(tomllib.loads(SITES + SHARED_CONTACT_SITES))
    raw = mail(
        subject=subject, sender="cert@uni.example.edu", body=body,
        message_id="<shared@uni.example.edu>",
    )  # fmt: skip
    author = identify(parse(raw), HUMAN, app.settings, directory, sent_by_us=False)
    assert author.role == "site"
    assert author.site is not None and author.site.name == expected
    app.close()
