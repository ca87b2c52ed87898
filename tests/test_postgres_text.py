"""Hostile text that only PostgreSQL refuses: NUL bytes, surrogates, encodings.

SQLite stores any str; PostgreSQL rejects NUL (0x00) in text and any string
that is not valid UTF-8, which surrogate-escaped 8-bit headers are not. A
mail carrying them must still be stored once, processed or quarantined with
a reason, and shown, on both engines (run with pytest --database postgresql).
"""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import subprocess
import sys
from pathlib import Path

import pytest
from mailbot_env import make_app
from sqlalchemy import select

from mailbot import service, views
from mailbot.db.models import FieldValue, Incident, Mail
from mailbot.parse.headers import bounded_id

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
HEAD = (
    b"From: Pekka Admin <admin@site-a.example.com>\r\n"
    b"To: abuse@csirt.example.org\r\n"
    b"Date: Fri, 04 Dec 2026 09:55:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
)

HOSTILE = {
    "nul-in-body": HEAD
    + b"Subject: Security incident suspected at SITE-A [EGI-20261204]\r\n"
    b"Message-ID: <nul-body@site-a.example.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Logins from 203.0.113.77\x00 to ui01.site-a.example.com\x00\x00 at 23:41.\r\n",
    "nul-in-headers": HEAD
    + b"Subject: Incident at SITE-A\x00 with a NUL [EGI-20261204]\r\n"
    b"Message-ID: <nul-\x00header@site-a.example.com>\r\n"
    b"X-Note: a\x00b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Scans came from 203.0.113.78.\r\n",
    "8bit-headers": HEAD
    + b"Subject: Sicherheitsvorfall bei SITE-A \xfc\xe4\xff [EGI-20261204]\r\n"
    b"Message-ID: <8bit@site-a.example.com>\r\n"
    b"Content-Type: text/plain\r\n\r\n"
    b"Rechner \xfcbernommen, Angreifer 203.0.113.79.\r\n",
    "unknown-charset": HEAD
    + b"Subject: =?x-unknown-9?Q?caf=E9?= at SITE-A [EGI-20261204]\r\n"
    b"Message-ID: <unknown-charset@site-a.example.com>\r\n"
    b"Content-Type: text/plain; charset=x-unknown-9\r\n\r\n"
    b"caf\xe9 \xff\xfe 203.0.113.80\r\n",
    "bad-utf8-and-nul-in-attachment": HEAD
    + b"Subject: Logs from SITE-A [EGI-20261204]\r\n"
    b"Message-ID: <attachment@site-a.example.com>\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the log.\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b'Content-Disposition: attachment; filename="a\xffb\x00.log"\r\n\r\n'
    b"sshd: Accepted password from 203.0.113.81\x00 \xc3\x28 \xed\xa0\x80\r\n"
    b"--b--\r\n",
    # A feedback report's (ARF) header blocks are read as text: a NUL there
    # reached a DN, kept on SQLite, and quarantined the mail on PostgreSQL.
    "nul-in-report": HEAD + b"Subject: Abuse report for SITE-A [EGI-20261204]\r\n"
    b"Message-ID: <nul-report@site-a.example.com>\r\n"
    b'Content-Type: multipart/report; report-type=feedback-report; boundary="b"'
    b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAbuse report.\r\n"
    b"--b\r\nContent-Type: message/feedback-report\r\n\r\n"
    b"Feedback-Type: abuse\r\nUser-Agent: x\r\n\r\n"
    b"Compromised user: /DC=org/DC=example/CN=Jane\x00Doe 1234\r\n--b--\r\n",
    "utf16-body": HEAD + b"Subject: UTF-16 report from SITE-A [EGI-20261204]\r\n"
    b"Message-ID: <utf16@site-a.example.com>\r\n"
    b"Content-Type: text/plain; charset=utf-16\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    + __import__("base64").encodebytes(
        "Attacker 203.0.113.82, host ui02.\r\n".encode("utf-16")
    ),
}


def _deliver(tmp_path: Path, raws: dict[str, bytes]) -> None:
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    for raw in raws.values():
        box.add(raw)


def _clean(text: str) -> bool:
    """Text PostgreSQL takes: valid UTF-8 (no lone surrogates), no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@pytest.fixture
def app(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    application = make_app(tmp_path, database_url, now=NOW)
    yield application
    application.close()


def test_hostile_text_is_stored_once_and_processed(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _deliver(tmp_path, HOSTILE)
    result = service.poll(app, deliver=False)
    assert result.fetched == len(HOSTILE)
    assert result.processed + result.quarantined + result.duplicates == len(HOSTILE)
    assert result.processed == len(HOSTILE), result
    with app.db.transaction() as session:
        mails = session.scalars(select(Mail).where(Mail.direction == "in")).all()
        assert len(mails) == len(HOSTILE)
        for mail in mails:
            for column in ("subject", "from_addr", "message_id", "error", "origin"):
                value = getattr(mail, column)
                assert value is None or _clean(value), (column, value)
            assert all(_clean(item) for item in [*mail.recipients, *mail.defects])
        values = session.scalars(select(FieldValue.value)).all()
        assert all(_clean(value) for value in values)
        assert "203.0.113.77" in values
        tags = session.scalars(select(Incident.tag)).all()
    # A second poll takes nothing again.
    assert service.poll(app, deliver=False).fetched == 0
    for tag in tags:
        shown = views.show(app, tag)
        assert shown is not None
        json.dumps(shown)


def test_hostile_text_through_the_cli(tmp_path: Path, database_url: str) -> None:
    """`mailbot show --json` prints them (the CLI path, as an operator runs it)."""
    app = make_app(tmp_path, database_url, now=NOW)
    _deliver(tmp_path, {"nul": HOSTILE["nul-in-headers"]})
    service.poll(app, deliver=False)
    with app.db.transaction() as session:
        tag = session.scalars(select(Incident.tag)).one()
    app.close()
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbot]\naddress = "abuse@csirt.example.org"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[source]\nkind = "maildir"\n[maildir]\npath = "{tmp_path / "inbox"}"\n'
        f'[smtp]\nkind = "maildir"\npath = "{tmp_path / "sent"}"\n'
        f'[sites]\nfile = "{tmp_path / "sites.toml"}"\n',
        encoding="utf-8",
    )
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailbot",
            "--config",
            str(config),
            "show",
            tag,
            "--json",
        ],
        capture_output=True,
        check=True,
    )
    data = json.loads(shown.stdout)
    assert data["tag"] == tag
    assert all("\x00" not in m["subject"] for m in data["messages"])


def test_a_nul_is_taken_out_of_every_text_the_same_way_on_both_engines(
    app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # One rule for NUL in text, as for a body part: removed (with a note),
    # so that SQLite and PostgreSQL store the same DN and the mail is processed.
    _deliver(tmp_path, {"report": HOSTILE["nul-in-report"]})
    result = service.poll(app, deliver=False)
    assert (result.processed, result.quarantined) == (1, 0)
    with app.db.transaction() as session:
        dns = session.scalars(
            select(FieldValue.value).where(FieldValue.field == "x509_dns")
        ).all()
        [mail] = session.scalars(select(Mail).where(Mail.direction == "in")).all()
        assert any("NUL characters removed" in d for d in mail.defects)
    assert dns == ["/DC=org/DC=example/CN=JaneDoe 1234"]


def _long_lines(count: int) -> bytes:
    """A report whose evidence lines run to thousands of bytes: CJK text
    takes three bytes a character, so 1,000 characters are 3,000 bytes."""
    import random

    rng = random.Random(count)
    lines = []
    for n in range(count):
        junk = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(1500))
        lines.append(
            f"2026-12-04 0{n}:00:00 sshd[1{n}]: Failed password from "
            f"203.0.113.{90 + n} {junk}"
        )
    url = "http://198.51.100.7/" + "".join(
        chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(3000)
    )
    body = "\r\n".join(
        [
            "Host ui03.site-a.example.com was broken into.",
            f"Payload from {url}",
            "",
            *lines,
        ]
    )
    return (
        HEAD + b"Subject: Long log lines from SITE-A [EGI-20261204]\r\n"
        b"Message-ID: <long-lines@site-a.example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.encode("utf-8") + b"\r\n"
    )


def test_values_of_any_length_are_kept_and_block_nothing(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A value of thousands of bytes (PostgreSQL refuses an index entry over
    2,704 bytes) is stored like any other, and the mails after it are read:
    the refusal was taken for a database outage, so one such mail stopped
    every poll and ingest on PostgreSQL."""
    raws = {"long": _long_lines(3), "after": HOSTILE["8bit-headers"]}
    _deliver(tmp_path, raws)
    result = service.poll(app, deliver=False)
    assert (result.processed, result.quarantined) == (2, 0), result
    with app.db.transaction() as session:
        values = session.scalars(select(FieldValue.value)).all()
    assert max(len(value.encode("utf-8")) for value in values) > 2704
    assert {"203.0.113.90", "203.0.113.92", "203.0.113.79"} <= set(values)
    assert service.poll(app, deliver=False).fetched == 0


def test_a_long_non_ascii_message_id_is_stored(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A Message-ID within 998 characters but of three bytes each was kept
    whole, and its index entry, over PostgreSQL's 2,704 bytes, failed the
    store itself: the mail was never kept, and it stopped every poll."""
    local = "".join(chr(0x4E00 + n) for n in range(990))
    raws = {
        "long-id": HEAD + b"Subject: Incident at SITE-A [EGI-20261204]\r\n"
        b"Message-ID: <" + local.encode("utf-8") + b"@site-a.example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Scans from 203.0.113.83.\r\n",
        "after": HOSTILE["8bit-headers"],
    }
    _deliver(tmp_path, raws)
    result = service.poll(app, deliver=False)
    assert (result.processed, result.quarantined) == (2, 0), result
    with app.db.transaction() as session:
        ids = session.scalars(select(Mail.message_id)).all()
    assert any(i and local[:100] in i for i in ids), ids
    assert service.poll(app, deliver=False).fetched == 0


def test_a_refusal_of_the_mail_s_data_is_no_outage() -> None:
    """What psycopg raises as an OperationalError for one mail's data (a
    program limit, SQLSTATE class 54) sets that mail aside; a lost
    connection or a server shutting down still makes the work wait."""
    import psycopg.errors
    from sqlalchemy.exc import DataError, OperationalError

    from mailbot.process import unavailable

    def wrapped(error: Exception) -> OperationalError:
        return OperationalError("INSERT ...", {}, error)

    assert not unavailable(wrapped(psycopg.errors.ProgramLimitExceeded("index row")))
    assert not unavailable(wrapped(psycopg.errors.NumericValueOutOfRange("too big")))
    assert not unavailable(DataError("INSERT ...", {}, Exception("bad")))
    assert unavailable(wrapped(psycopg.errors.AdminShutdown("shutting down")))
    assert unavailable(wrapped(psycopg.OperationalError("connection refused")))
    assert unavailable(wrapped(psycopg.errors.DiskFull("no space left")))


def test_long_message_ids_alike_in_their_first_bytes_stay_apart(
    app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Cut at 998 bytes, two ids that differ only after them were stored as
    one: a reply by In-Reply-To threaded into the other report's incident
    (retester). A cut id keeps a digest of the whole."""
    stem = "".join(chr(0x4E00 + n) for n in range(400))
    ids = [f"<{stem}{end}@cert.example.net>" for end in ("a", "b")]

    def report(n: int, message_id: str, extra: str = "") -> bytes:
        return (
            f"From: CERT {n} <soc{n}@cert{n}.example.net>\r\n"
            "To: abuse@csirt.example.org\r\n"
            "Date: Fri, 04 Dec 2026 09:5{n}:00 +0000\r\n"
            f"Subject: Scans from 203.0.113.{90 + n}\r\n"
            f"Message-ID: {message_id}\r\n{extra}"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            f"We saw scans from 203.0.113.{90 + n}.\r\n"
        ).encode()

    _deliver(tmp_path, {"a": report(1, ids[0]), "b": report(2, ids[1])})
    service.poll(app, deliver=False)
    reply = report(2, "<reply-b@cert2.example.net>", f"In-Reply-To: {ids[1]}\r\n")
    _deliver(
        tmp_path, {"reply": reply.replace(b"Subject: Scans", b"Subject: Re: Scans")}
    )
    service.poll(app, deliver=False)
    with app.db.transaction() as session:
        rows = session.execute(
            select(Mail.message_id, Mail.incident_id).where(Mail.direction == "in")
        ).all()
    by_id = {message_id: incident for message_id, incident in rows}
    a, b = (by_id[bounded_id(i, "Message-ID", [])] for i in ids)
    assert a != b
    assert by_id["<reply-b@cert2.example.net>"] == b
