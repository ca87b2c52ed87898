"""SITE-P's incident of test_reminders_together, for the tests of what its
reminders look like (render, the forecast's JSON): a report on Sunday
evening, a member's request on Monday noon, both due at Tuesday's opening.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import AUTHENTICATED, T, mail, make_app
from test_sweep_reminders import SITE_CONTACTS, SITES

from mailbot.app import App
from mailbot.mail import RawMail
from mailbot.process import process_delivery

TAG = "EGI-20261206-01"
REPORT = mail(
    subject="Security incident suspected at SITE-P TLP:AMBER",
    sender="Marie <security@site-p.example.org>",
    message_id="<report@site-p.example.org>",
    date="Sun, 06 Dec 2026 20:00:00 +0000",
    body="We found a miner on wn3.site-p.example.org (192.0.2.130).\n"
    "We are still looking at it.\n",
)


def csirt_request(sender: str, n: int, date: str, body: str) -> bytes:
    """A member's question to SITE-P in the incident's thread."""
    return mail(
        subject=f"Re: [{TAG}] Security incident suspected at SITE-P",
        sender=sender,
        to=", ".join(SITE_CONTACTS),
        message_id=f"<request-{n}@csirt.example.org>",
        date=date,
        headers={**AUTHENTICATED, "In-Reply-To": "<report@site-p.example.org>"},
        body=body,
    )


REQUEST = csirt_request(
    "Alice <alice@csirt.example.org>",
    1,
    "Mon, 07 Dec 2026 12:00:00 +0000",
    "Which account was used to log in, and from where?\n",
)
TUESDAY = "2026-12-08T08:00:00"


def feed(app: App, raw: bytes, when: str) -> str | None:
    app.clock.set(T(when))
    outcome = process_delivery(app, RawMail(raw, T(when), "test"))
    assert outcome.result == "processed", outcome.reason
    return outcome.incident


# Named apart from the `app` fixtures of other modules: a plugin's fixture
# is seen by every test, and another plugin's `app` would replace it.
@pytest.fixture
def site_p(tmp_path: Path, database_url: str) -> Iterator[App]:
    """SITE-P's report on Sunday evening and Alice's request on Monday."""
    made = make_app(tmp_path, database_url, now=T("2026-12-06T20:00:00"), sites=SITES)
    assert feed(made, REPORT, "2026-12-06T20:00:00") == TAG
    assert feed(made, REQUEST, "2026-12-07T12:00:00") == TAG
    yield made
    made.close()


def third_party_report(app: App) -> str:
    """A national CSIRT's report of SITE-P's host on Monday 19:00, and a
    member's #discovered: the 4-hour report clock, and containment's."""
    third_party = mail(
        subject="Mining traffic from 192.0.2.130 TLP:GREEN",
        sender="cert@national-cert.example.net",
        message_id="<mining@national-cert.example.net>",
        date="Mon, 07 Dec 2026 19:00:00 +0000",
        body="Hello,\nwe see mining traffic from 192.0.2.130.\n",
    )
    tag = feed(app, third_party, "2026-12-07T19:00:00")
    assert tag is not None
    discovered = mail(
        subject=f"Re: [{tag}] Mining traffic from 192.0.2.130",
        sender="alice@csirt.example.org",
        message_id="<discovered@csirt.example.org>",
        date="Mon, 07 Dec 2026 19:10:00 +0000",
        headers=AUTHENTICATED,
        body="#discovered 2026-12-07T18:30:00Z\n#no-request\n",
    )
    feed(app, discovered, "2026-12-07T19:10:00")
    return tag


def with_templates(tmp_path: Path, database_url: str, files: dict[str, str]) -> App:
    """The `app` fixture's report and request, with templates of an
    operator's folder (`files`), on Monday 17:00."""
    own = tmp_path / "own-templates"
    own.mkdir()
    for name, text in files.items():
        (own / name).write_text(text, encoding="utf-8")
    extra = {"MAILBOT_TEMPLATES_DIRECTORY": str(own)}
    app = make_app(
        tmp_path, database_url, now=T("2026-12-06T20:00:00"), sites=SITES, extra=extra
    )
    feed(app, REPORT, "2026-12-06T20:00:00")
    feed(app, REQUEST, "2026-12-07T12:00:00")
    app.clock.set(T("2026-12-07T17:00:00"))
    return app


OWN_LEVEL_ONE = "Subject: Please answer: {{ subject }}\n\n{{ site }}: {{ rule }}.\n"
