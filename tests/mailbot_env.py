"""Build a configured mailbot App for tests, on the real servers given."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

from mailbot.app import App, open_app
from mailbot.clock import Clock
from mailbot.config import load_settings
from mailbot.daemon import Daemon
from mailbot.mail import RawMail
from mailbot.process import process_delivery

# The state that ../shared/cases assume (cases/README.md).
# A member's mail as our MTA vouches for it (authn.verify_sender).
AUTHENTICATED = {
    "Authentication-Results": "mx.csirt.example.org; dkim=pass "
    "header.d=csirt.example.org; spf=pass smtp.mailfrom=csirt.example.org"
}

CASES_SITES = """
[[ngi]]
name = "NGI_A"
security_contacts = ["ngi-sec@ngi-a.example.org"]

[[site]]
name = "SITE-A"
ngi = "NGI_A"
timezone = "Europe/Helsinki"
country = "FI"
security_contacts = ["admin@site-a.example.com", "admin-old@site-a.example.com"]
domains = ["site-a.example.com"]
networks = ["192.0.2.0/25"]

[[site]]
name = "SITE-C"
ngi = "NGI_A"
timezone = "Asia/Jerusalem"
country = "IL"
security_contacts = ["soc@site-c.example.com"]
domains = ["site-c.example.com"]
networks = ["198.51.100.128/25"]
"""


# Two sites giving one security contact (a university's central CERT).
SHARED_CONTACT_SITES = """
[[site]]
name = "SITE-UNI1"
ngi = "NGI_A"
security_contacts = ["cert@uni.example.edu"]
networks = ["203.0.113.0/26"]

[[site]]
name = "SITE-UNI2"
ngi = "NGI_A"
security_contacts = ["cert@uni.example.edu"]
networks = ["203.0.113.64/26"]
"""

# Every App made here, closed by conftest after each test: a pooled
# connection left open would be reported when collected, and would keep a
# PostgreSQL test database from being dropped.
OPENED: list[App] = []


def make_app(
    tmp_path: Path,
    database_url: str,
    *,
    dovecot=None,  # type: ignore[no-untyped-def]
    smtp=None,  # type: ignore[no-untyped-def]
    now: dt.datetime | None = None,
    sites: str = CASES_SITES,
    extra: dict[str, str] | None = None,
) -> App:
    """An App like an operator's, with the database migrated."""
    (tmp_path / "sites.toml").write_text(sites, encoding="utf-8")
    environ = {
        "MAILBOT_MAILBOT_ADDRESS": "abuse@csirt.example.org",
        "MAILBOT_MAILBOT_ALIASES": '["csirt@csirt.example.org"]',
        "MAILBOT_DATABASE_URL": database_url,
        "MAILBOT_CSIRT_MEMBERS": '["alice@csirt.example.org", "bob@csirt.example.org"]',
        "MAILBOT_CSIRT_AUTHSERV_IDS": '["mx.csirt.example.org"]',
        "MAILBOT_CSIRT_DUTY_ADDRESS": "duty@csirt.example.org",
        "MAILBOT_SITES_FILE": str(tmp_path / "sites.toml"),
    }
    environ.update(_source(tmp_path, dovecot))
    environ.update(_smtp(tmp_path, smtp))
    environ.update(extra or {})
    settings = load_settings(None, environ)
    app = open_app(settings, Clock(now) if now else Clock())
    OPENED.append(app)
    return app


def T(text: str) -> dt.datetime:
    """An ISO 8601 time without a zone ("2026-11-16T08:00"), in UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def rfc(text: str) -> str:
    """The same time as a mail's Date header writes it."""
    return T(text).strftime("%a, %d %b %Y %H:%M:%S +0000")


def opened(tmp_path: Path, database_url: str, sites: str, now: str) -> Iterator[App]:
    """For a fixture: an App on the test's database at `now` (UTC), closed
    after the test."""
    made = make_app(tmp_path, database_url, now=T(now), sites=sites)
    yield made
    made.close()


def feed(app: App, raw: bytes, arrived: str) -> str | None:
    """Deliver `raw` as arrived at `arrived` (UTC), the clock set to it;
    the mail must be processed. Its incident's tag, if any."""
    app.clock.set(T(arrived))
    outcome = process_delivery(app, RawMail(raw, T(arrived), "test"))
    assert outcome.result == "processed", outcome.reason
    return outcome.incident


def _source(tmp_path: Path, dovecot) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if dovecot is None:
        (tmp_path / "inbox").mkdir(exist_ok=True)
        for sub in ("cur", "new", "tmp"):
            (tmp_path / "inbox" / sub).mkdir(exist_ok=True)
        return {
            "MAILBOT_SOURCE_KIND": "maildir",
            "MAILBOT_MAILDIR_PATH": str(tmp_path / "inbox"),
        }
    return {
        "MAILBOT_SOURCE_KIND": "imap",
        "MAILBOT_IMAP_HOST": dovecot.host,
        "MAILBOT_IMAP_PORT": str(dovecot.port),
        "MAILBOT_IMAP_TLS": "none",
        "MAILBOT_IMAP_USERNAME": dovecot.username,
        "MAILBOT_IMAP_PASSWORD": dovecot.password,
        "MAILBOT_IMAP_TIMEOUT": "10",
    }


def _smtp(tmp_path: Path, smtp) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if smtp is None:
        return {
            "MAILBOT_SMTP_KIND": "maildir",
            "MAILBOT_SMTP_PATH": str(tmp_path / "sent"),
        }
    return {
        "MAILBOT_SMTP_HOST": smtp.host,
        "MAILBOT_SMTP_PORT": str(smtp.port),
        "MAILBOT_SMTP_TLS": "none",
        "MAILBOT_SMTP_TIMEOUT": "5",
    }


def mail(
    *,
    subject: str,
    body: str = "Hello.\n",
    sender: str = "reporter@cert.example.net",
    to: str = "abuse@csirt.example.org",
    message_id: str,
    date: str = "Fri, 04 Dec 2026 08:40:00 +0000",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A small, well-formed mail as bytes."""
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    return "\r\n".join(lines).encode("utf-8")


@contextlib.contextmanager
def running_daemon(app: App) -> Iterator[Daemon]:
    """`mailbot run` on `app` in a thread, stopped (and waited for) after."""
    daemon = Daemon(app)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        yield daemon
    finally:
        daemon.stopping.set()
        thread.join(60)
        assert not thread.is_alive()
