"""Who wrote a mail, when the From header itself is the attack."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailbot_env import mail, make_app

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
