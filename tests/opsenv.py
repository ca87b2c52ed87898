"""Running mailbot as an operator does: the CLI and the daemon as processes.

The settings come from an App built by mailbot_env.make_app, handed to the
child process as MAILBOT_<SECTION>_<KEY> variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mailbot.app import App


def cli_env(app: App, **extra: str) -> dict[str, str]:
    """The environment that configures a child mailbot like `app`."""
    s = app.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(
        {
            "MAILBOT_MAILBOT_ADDRESS": s.mailbot.address,
            "MAILBOT_MAILBOT_ALIASES": repr(list(s.mailbot.aliases)).replace("'", '"'),
            "MAILBOT_DATABASE_URL": s.database.url,
            "MAILBOT_CSIRT_MEMBERS": repr(list(s.csirt.members)).replace("'", '"'),
            "MAILBOT_CSIRT_AUTHSERV_IDS": repr(list(s.csirt.authserv_ids)).replace(
                "'", '"'
            ),
            "MAILBOT_CSIRT_DUTY_ADDRESS": s.csirt.duty_address or "",
            "MAILBOT_SITES_FILE": str(s.path(s.sites.file)),
            "MAILBOT_SOURCE_KIND": s.source.kind,
            "MAILBOT_SOURCE_POLL_INTERVAL": str(s.source.poll_interval),
            "MAILBOT_MAILDIR_PATH": str(s.path(s.maildir.path)),
            "MAILBOT_SMTP_KIND": s.smtp.kind,
            "MAILBOT_SMTP_PATH": str(s.path(s.smtp.path)),
            "MAILBOT_SMTP_TLS": s.smtp.tls,
        }
    )
    if s.imap.host:
        env.update(
            {
                "MAILBOT_IMAP_HOST": s.imap.host,
                "MAILBOT_IMAP_PORT": str(s.imap.port),
                "MAILBOT_IMAP_TLS": s.imap.tls,
                "MAILBOT_IMAP_USERNAME": s.imap.username,
                "MAILBOT_IMAP_PASSWORD": s.imap.password,
                "MAILBOT_IMAP_TIMEOUT": str(s.imap.timeout),
            }
        )
    if s.smtp.host:
        env.update(
            {"MAILBOT_SMTP_HOST": s.smtp.host, "MAILBOT_SMTP_PORT": str(s.smtp.port)}
        )
    env.update(extra)
    return env


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def wait_until(
    predicate: Callable[[], bool], timeout: float, step: float = 0.25
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class DaemonProcess:
    """`mailbot run` in a child process, its log in a file, stopped by SIGTERM."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbot", *args, "run"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=handle,
            )

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("mailbot run did not stop on SIGTERM") from None

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


SITE_A_REPORT = (
    "Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    "Pekka Admin <admin@site-a.example.com>",
    "<a1@site-a.example.com>",
    "Fri, 04 Dec 2026 09:55:00 +0000",
    "We found a miner on wn12.site-a.example.com (192.0.2.45).\n",
)
SITE_C_REPORT = (
    "Security incident at SITE-C",
    "SOC <soc@site-c.example.com>",
    "<c1@site-c.example.com>",
    "Fri, 04 Dec 2026 10:00:00 +0000",
    "Suspicious SSH logins to ui01.site-c.example.com from 203.0.113.77.\n",
)
SITE_C_ISOLATED = (
    "Re: [EGI-20261204-02] Security incident at SITE-C",
    "SOC <soc@site-c.example.com>",
    "<c2@site-c.example.com>",
    "Fri, 04 Dec 2026 16:00:00 +0000",
    "The host ui01 has been isolated from the network.\n",
)


def known_database(app: App) -> None:
    """Two incidents of 4 December 2026, swept on Monday 7 December 08:00 UTC.

    SITE-A reported at 09:55 and then went silent: report met at once,
    containment (due Saturday 09:55) missed and chased on Monday. SITE-C
    reported at 10:00 and isolated the host at 16:00: containment met after
    6 hours; the downtime clock that isolation started is missed.
    """
    import datetime as dt
    from email.utils import parsedate_to_datetime

    from mailbot_env import mail

    from mailbot import send
    from mailbot.deadlines.sweep import sweep
    from mailbot.mail import RawMail
    from mailbot.process import process_delivery

    app.clock.set(dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC))
    for subject, sender, message_id, date, body in (
        SITE_A_REPORT,
        SITE_C_REPORT,
        SITE_C_ISOLATED,
    ):
        raw = mail(
            subject=subject, sender=sender, message_id=message_id, date=date, body=body
        )
        process_delivery(app, RawMail(raw, parsedate_to_datetime(date), message_id))
    send.deliver_due(app)
    app.clock.set(dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC))
    sweep(app)
    send.deliver_due(app)
