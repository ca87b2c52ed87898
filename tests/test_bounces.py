"""Bounces (BR-16 and its kind): matched to our mail, never answered.

The state of cases/README.md is built by test_cases.py's fixture: mailbot
acknowledged the report (.1), notified the site (.2) and reminded both site
contacts (.3); the bounces below return those mails.
"""

from __future__ import annotations

import email
import mailbox

import pytest
from test_cases import REPORT, TAG, State, _at, _case, _feed, state  # noqa: F401

from mailbot import views
from mailbot.db.models import ContactFailure, Mail
from mailbot.deadlines.sweep import sweep
from mailbot.incidents import by_tag
from mailbot.send import deliver_due


@pytest.fixture(autouse=True)
def _close_app(state):  # type: ignore[no-untyped-def]  # noqa: F811
    yield
    state.app.close()


def _sent(
    st: State, *, besides: frozenset[str] = frozenset()
) -> list[email.message.Message]:
    """The mails delivered to the sent Maildir, less those keyed in `besides`.

    A Maildir's keys hold microseconds without leading zeros: sorting them
    is no order of delivery, so new mail is told apart by its key.
    """
    box = mailbox.Maildir(st.sent, create=False)
    return [
        email.message_from_bytes(box.get_bytes(k))
        for k in box.iterkeys()
        if k not in besides
    ]


def _sent_keys(st: State) -> frozenset[str]:
    return frozenset(mailbox.Maildir(st.sent, create=False).iterkeys())


def _failure(st: State, address: str) -> ContactFailure | None:
    with st.app.db.transaction() as session:
        return session.get(ContactFailure, address)


def _qmail_bounce(original_id: str, address: str, code: str) -> bytes:
    text = (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mail.site-a.example.com\r\n"
        "To: abuse@csirt.example.org\r\n"
        "Subject: failure notice\r\n"
        "Date: Fri, 04 Dec 2026 15:30:00 +0000\r\n"
        f"Message-ID: <qmail-{code}@mail.site-a.example.com>\r\n"
        "\r\n"
        "Hi. This is the qmail-send program at mail.site-a.example.com.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following "
        "addresses.\r\nThis is a permanent error; I've given up. Sorry it didn't "
        "work out.\r\n\r\n"
        f"<{address}>:\r\n{code} sorry, no mailbox here by that name.\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        "From: abuse@csirt.example.org\r\n"
        f"To: {address}\r\n"
        f"Message-ID: {original_id}\r\n"
        "Subject: [EGI-20261204-01] Reminder\r\n\r\nPlease answer.\r\n"
    )
    return text.encode()


def test_br16_bounce_marks_contact_tells_csirt_answers_nobody(cases_dir, state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    deliver_due(state.app)
    before = _sent_keys(state)
    _at(state.app, "2026-12-04T15:20:02")
    assert _feed(state.app, _case(cases_dir, "BR-16.eml", state)) == TAG
    deliver_due(state.app)
    new = _sent(state, besides=before)
    # One mail only: the notice to the duty address, in the incident's thread.
    assert [m["To"] for m in new] == ["duty@csirt.example.org"]
    notice = new[0]
    assert notice["Subject"].startswith(f"[{TAG}] ")
    assert "admin-old@site-a.example.com" in notice.get_payload(decode=True).decode()
    assert "mx.site-a.example.com" not in str(notice["To"])
    failure = _failure(state, "admin-old@site-a.example.com")
    assert failure is not None and failure.permanent
    assert failure.original_message_id == state.ids[3]
    # The bounce is in the thread but meets nothing and chases nobody.
    shown = views.show(state.app, TAG)
    bounce = [m for m in shown["messages"] if m["role"] == "bounce"]
    assert len(bounce) == 1 and bounce[0]["thread_reason"] == "reference"
    assert [d["state"] for d in shown["deadlines"] if d["rule"] == "analysis"] == [
        "missed"
    ]
    # The same bounce again (a redelivery) tells nobody a second time.
    _feed(state.app, _case(cases_dir, "BR-16.eml", state), origin="again")
    deliver_due(state.app)
    assert len(_sent(state)) == len(before) + 1
    # Later reminders leave the bouncing address out.
    _at(state.app, "2026-12-07T13:00:00")
    assert sweep(state.app)["reminders"] == 1
    deliver_due(state.app)
    level2 = [m for m in _sent(state) if "ngi-sec@ngi-a.example.org" in str(m["Cc"])]
    assert [m["To"] for m in level2] == ["admin@site-a.example.com"]


def test_temporary_failure_is_only_recorded(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    raw = _qmail_bounce(state.ids[3], "admin-old@site-a.example.com", "452")
    raw = raw.replace(b"This is a permanent error; I've given up.", b"Will retry.")
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    failure = _failure(state, "admin-old@site-a.example.com")
    assert failure is not None and not failure.permanent
    with state.app.db.transaction() as session:
        assert session.query(Mail).filter_by(direction="out").count() == 3


def test_nonstandard_bounce_is_matched_by_returned_message_id(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _at(state.app, "2026-12-04T15:30:00")
    raw = _qmail_bounce(state.ids[3], "admin-old@site-a.example.com", "550")
    assert _feed(state.app, raw) == TAG
    failure = _failure(state, "admin-old@site-a.example.com")
    assert failure is not None and failure.permanent


def test_bounce_naming_no_mail_of_ours_changes_nothing(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # Anyone can write a bounce: without our Message-ID it silences nobody.
    raw = _qmail_bounce(
        "<never-sent@csirt.example.org>", "admin@site-a.example.com", "550"
    )
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    assert _failure(state, "admin@site-a.example.com") is None
    assert views.status(state.app, None)["unattached"] == 1


def test_bounce_of_the_duty_notice_does_not_loop(cases_dir, state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _at(state.app, "2026-12-04T15:20:02")
    _feed(state.app, _case(cases_dir, "BR-16.eml", state))
    with state.app.db.transaction() as session:
        notice = (
            session.query(Mail)
            .filter_by(direction="out")
            .order_by(Mail.id.desc())
            .first()
        )
        notice_id, queued = (
            notice.message_id,
            session.query(Mail).filter_by(direction="out").count(),
        )
    _feed(state.app, _qmail_bounce(notice_id, "duty@csirt.example.org", "550"))
    failure = _failure(state, "duty@csirt.example.org")
    assert failure is not None and failure.permanent
    with state.app.db.transaction() as session:
        assert session.query(Mail).filter_by(direction="out").count() == queued


def test_bounce_for_an_address_our_mail_never_went_to_silences_nobody(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # A reporter learns the Message-ID of its acknowledgement (.1), then
    # forges a bounce of it naming the site's security contact.
    deliver_due(state.app)
    before = _sent_keys(state)
    raw = _qmail_bounce(state.ids[1], "admin@site-a.example.com", "550")
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    assert _failure(state, "admin@site-a.example.com") is None
    deliver_due(state.app)
    assert _sent(state, besides=before) == []
    shown = views.show(state.app, TAG)
    bounce = [m for m in shown["messages"] if m["role"] == "bounce"]
    assert [m["flags"] for m in bounce] == [["bounce_not_recipient"]]
    # The contact is still chased.
    _at(state.app, "2026-12-07T13:00:00")
    assert sweep(state.app)["reminders"] == 1
    deliver_due(state.app)
    level2 = [m for m in _sent(state) if "ngi-sec@ngi-a.example.org" in str(m["Cc"])]
    assert len(level2) == 1 and "admin@site-a.example.com" in str(level2[0]["To"])


def _forwarded_bounce(original_id: str, original: str | None, final: str) -> bytes:
    """An RFC 3464 report from the MTA of a forwarding's final address."""
    named = f"Original-Recipient: rfc822;{original}\r\n" if original else ""
    text = (
        "Return-Path: <>\r\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.elsewhere.example.net>\r\n"
        "To: abuse@csirt.example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Fri, 04 Dec 2026 15:30:00 +0000\r\n"
        "Message-ID: <dsn-1@mx.elsewhere.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        f"Your message could not be delivered to {final}.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.elsewhere.example.net\r\n\r\n"
        f"{named}Final-Recipient: rfc822;{final}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: abuse@csirt.example.org\r\n"
        f"To: {original or final}\r\n"
        f"Message-ID: {original_id}\r\n"
        "Subject: [EGI-20261204-01] Reminder\r\n"
        "\r\n--B--\r\n"
    )
    return text.encode()


def test_bounce_from_a_forwarding_counts_for_its_original_recipient(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # The reminder (.3) went to admin-old@, which forwards to an address
    # that no longer exists; that MTA's report names both.
    deliver_due(state.app)
    before = _sent_keys(state)
    final = "old-admin@elsewhere.example.net"
    raw = _forwarded_bounce(state.ids[3], "Admin-Old@site-a.example.com", final)
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    failure = _failure(state, "admin-old@site-a.example.com")
    assert failure is not None and failure.permanent and failure.status == "5.1.1"
    assert _failure(state, final) is None
    shown = views.show(state.app, TAG)
    [bounce] = [m for m in shown["messages"] if m["role"] == "bounce"]
    assert bounce["flags"] == []
    deliver_due(state.app)
    [notice] = _sent(state, besides=before)
    assert notice["To"] == "duty@csirt.example.org"
    assert "admin-old@site-a.example.com" in notice.get_payload(decode=True).decode()


@pytest.mark.parametrize(
    "original", [None, "someone@elsewhere.example.net", "admin@site-a.example.com"]
)
def test_bounce_from_a_forwarding_of_no_recipient_counts_for_nobody(
    state,  # type: ignore[no-untyped-def]  # noqa: F811
    original: str | None,
) -> None:
    # No Original-Recipient, or one the returned mail did not go to (the
    # acknowledgement .1 went to the reporter alone; a reporter forging a
    # bounce of it names the site's contact): logged and flagged.
    raw = _forwarded_bounce(state.ids[1], original, "x@elsewhere.example.net")
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    for address in ("admin@site-a.example.com", "x@elsewhere.example.net"):
        assert _failure(state, address) is None
    if original:
        assert _failure(state, original) is None
    shown = views.show(state.app, TAG)
    [bounce] = [m for m in shown["messages"] if m["role"] == "bounce"]
    assert bounce["flags"] == ["bounce_not_recipient"]


def test_bounce_address_is_compared_without_case(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # The reminder (.3) went to admin-old@; the remote MTA writes it in capitals.
    raw = _qmail_bounce(state.ids[3], "Admin-Old@Site-A.example.com", "550")
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    failure = _failure(state, "admin-old@site-a.example.com")
    assert failure is not None and failure.permanent


def test_bounce_notice_goes_to_the_incident_of_the_returned_mail(state) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # A bounce whose subject carries another incident's tag (an MTA keeps the
    # original subject, or a sender picks it) is filed there; the notice
    # about the reminder (.3) belongs in the reminder's own incident.
    other = REPORT.replace(b"<cert-report-1@", b"<cert-report-2@")
    _at(state.app, "2026-12-04T15:00:00")
    other_tag = _feed(state.app, other)
    assert other_tag is not None and other_tag != TAG
    raw = _qmail_bounce(state.ids[3], "admin-old@site-a.example.com", "550")
    raw = raw.replace(
        b"Subject: failure notice", f"Subject: failure notice [{other_tag}]".encode()
    )
    _at(state.app, "2026-12-04T15:30:00")
    _feed(state.app, raw)
    with state.app.db.transaction() as session:
        notice = session.query(Mail).filter(Mail.origin == "outbox:notice-bounce").one()
        assert notice.subject.startswith(f"[{TAG}] ")
        assert by_tag(session, TAG).id == notice.incident_id
