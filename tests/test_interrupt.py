"""Ctrl-C or SIGTERM of a one-shot command while a mail is being sent.

`mailbot poll` or `sweep` stopped mid-exchange left the mail's outbox row
"sending" until its lease ran out (10 minutes), and then uncertain even
when the server never got the message (opsfix7). An orderly stop puts it
back in the outbox at once, or marks it uncertain at once when the message
data was already handed over. Through a real mailbot process, a real SMTP
server on loopback, and one that never answers.
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from opsenv import DaemonProcess, cli_env, wait_until
from servers import SmtpSink
from sqlalchemy import func, select

from mailbot import send
from mailbot.app import App
from mailbot.db.models import Mail, Outbox
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
REPORT = mail(subject="Scans from 203.0.113.9", message_id="<int@cert.example.net>")
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _row(app: App) -> Outbox:
    with app.db.transaction() as session:
        row = session.get(Outbox, 1)
        assert row is not None
        session.expunge(row)
        return row


def _state(app: App) -> str:
    return _row(app).state


def _interrupt_sweep(app: App, signum: int, ready, **extra: str) -> int:  # type: ignore[no-untyped-def]
    """`mailbot sweep` in a process of its own, given `signum` once the
    acknowledgement is being sent and `ready()` holds; its exit status."""
    env = cli_env(app, MAILBOT_SMTP_TIMEOUT="600", **extra)
    later = (NOW + dt.timedelta(minutes=1)).isoformat()
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--now", later, "sweep"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A test run in the background may ignore SIGINT; Ctrl-C would not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # The child's start takes seconds on a loaded machine: a bound only.
        assert wait_until(
            lambda: child.poll() is not None or (_state(app) == "sending" and ready()),
            120,
            0.05,
        )
        assert child.poll() is None, child.communicate()
        child.send_signal(signum)
        # At once: no QUIT waiting for the server, no [smtp] timeout (600 s);
        # the bound leaves room for a loaded machine's slow exit.
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert "Traceback" not in err.decode(), err.decode()
    return child.returncode


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopped_before_the_data_the_mail_is_queued_again_at_once(
    tmp_path: Path, database_url: str, signum: int
) -> None:
    # A server that accepts the connection and never greets: the exchange
    # is under way, and the server has nothing of the mail.
    silent = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []
    threading.Thread(
        target=lambda: taken.append(silent.accept()[0]), daemon=True
    ).start()
    port = silent.getsockname()[1]
    smtp = {
        "MAILBOT_SMTP_KIND": "smtp",
        "MAILBOT_SMTP_HOST": "127.0.0.1",
        "MAILBOT_SMTP_PORT": str(port),
        "MAILBOT_SMTP_TLS": "none",
    }
    app = make_app(tmp_path, database_url, now=NOW, extra=smtp)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    try:
        code = _interrupt_sweep(app, signum, lambda: bool(taken), **smtp)
    finally:
        for sock in [*taken, silent]:
            sock.close()
    assert code == CODES[signum]
    row = _row(app)
    assert (row.state, row.attempts, row.lease_until) == ("pending", 0, None)
    # The next run sends it, to a server that answers on the same port.
    sink = SmtpSink()
    sink.port = port
    with sink:
        assert send.deliver_due(app).sent == 1
    app.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopped_after_the_data_the_mail_is_uncertain_at_once(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, signum: int
) -> None:
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW)
    process_delivery(app, RawMail(REPORT, NOW, "test"))
    smtp_sink.stall()  # takes the message, holds its answer
    code = _interrupt_sweep(app, signum, lambda: len(smtp_sink.messages) == 1)
    smtp_sink.release()
    assert code == CODES[signum]
    row = _row(app)
    assert (row.state, row.lease_until) == ("uncertain", None)
    assert "interrupted after the message data" in (row.last_error or "")


# A signal while the process exits, after the command's work: the lock
# files' release (an exit callback) was interrupted with a traceback.
LATE_SIGNAL = """
import atexit, os, signal, sys, time

def late() -> None:
    os.kill(os.getpid(), signal.{name})
    time.sleep(0.2)

atexit.register(late)
sys.argv[0] = "mailbot"
from mailbot.cli import entry
entry()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_process_exits_prints_no_traceback(
    tmp_path: Path, database_url: str, signum: int
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    env = cli_env(app)
    app.close()
    done = subprocess.run(
        [sys.executable, "-c", LATE_SIGNAL.format(name=signum.name), "sweep"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        # A test run in the background may ignore SIGINT; a terminal would not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert "mailbot: the SMTP" not in done.stderr


def _stored(app: App) -> int:
    with app.db.transaction() as session:
        query = select(func.count()).select_from(Mail).where(Mail.direction == "in")
        return int(session.scalar(query) or 0)


def test_run_stops_within_a_mail_of_a_long_catch_up(
    tmp_path: Path, database_url: str, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM to `run` took effect only once the whole catch-up was read
    (about 2 minutes for 4,500 mails): a container or service manager kills
    it first. It stops after the mail under way; the next start reads on,
    each mail once."""
    # Long enough that a loaded machine still sees the first mails stored
    # well before the last (about 10 s of reading on a quiet one).
    total = 1000
    dovecot.append_many(
        mail(
            subject=f"Scans from 198.51.100.{n % 250}",
            sender=f"reporter{n}@cert{n}.example.net",
            message_id=f"<catch-up-{n}@cert.example.net>",
            body=f"Scans from 198.51.100.{n % 250} at 10:{n % 60:02d} UTC.\n",
        )
        for n in range(total)
    )
    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink)
    env = cli_env(app, MAILBOT_DIGEST_TIME="")
    with DaemonProcess(env, tmp_path / "run.log") as daemon:
        assert wait_until(lambda: _stored(app) >= 10, 120), daemon.log_text()
        asked = time.monotonic()
        assert daemon.stop() == 0, daemon.log_text()
        took = time.monotonic() - asked
    at_stop = _stored(app)
    # Main read every mail before it stopped: 1,000 of 1,000.
    assert at_stop < total, (at_stop, daemon.log_text())
    assert took < 20, took
    assert "the rest at the next start" in daemon.log_text()
    with DaemonProcess(env, tmp_path / "run2.log") as again:
        assert wait_until(lambda: _stored(app) == total, 300), again.log_text()
    with app.db.transaction() as session:
        ids = session.scalars(select(Mail.message_id).where(Mail.direction == "in"))
        assert len(set(ids)) == total
    app.close()
