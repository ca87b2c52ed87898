"""Progress of `ingest`: a bar on a terminal, periodic plain lines elsewhere."""

from __future__ import annotations

import io
import logging
import mailbox
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from mailbot_env import mail, make_app
from opsenv import cli_env

from mailbot.progress import Progress, count_mails


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _mbox(path: Path, count: int) -> Path:
    box = mailbox.mbox(path)
    for n in range(count):
        box.add(
            mail(
                subject=f"Report {n}",
                message_id=f"<bulk-{n}@cert.example.net>",
                body=f"From now on, line {n}.\n",
            )
        )
    box.flush()
    box.close()
    return path


def test_count_matches_what_ingest_reads(tmp_path: Path) -> None:
    box = _mbox(tmp_path / "box.mbox", 7)
    maildir = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n in range(3):
        (maildir / "new" / f"17964000{n:02d}.M{n}.x").write_bytes(b"Subject: x\n\nx\n")
    assert (count_mails(box), count_mails(maildir), count_mails(tmp_path)) == (7, 3, 10)


def test_plain_lines_every_interval(caplog) -> None:  # type: ignore[no-untyped-def]
    clock, out = FakeClock(), io.StringIO()
    caplog.set_level(logging.INFO, logger="mailbot.progress")
    with Progress(1000, stream=out, tty=False, interval=10, clock=clock) as p:
        for _ in range(250):
            clock.t += 0.01  # 100 mails/s
            p.update()
        assert caplog.messages == []
        for _ in range(1000 - 250):
            clock.t += 0.01
            p.update()
    assert out.getvalue() == ""  # nothing drawn: lines go through logging
    assert caplog.messages == [
        "ingest: 1000/1000 mails (100%), 100 mails/s, 0:00:00 left",
        "ingest: 1000 mails in 0:00:10 (100 mails/s)",
    ]


def test_plain_line_says_time_left(caplog) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="mailbot.progress")
    p = Progress(5000, stream=io.StringIO(), tty=False, interval=10, clock=clock)
    for _ in range(1000):
        clock.t += 0.0105
        p.update()
    # The line comes once 10 s have passed: 953 mails at 95/s, 4047 to go.
    assert caplog.messages == ["ingest: 953/5000 mails (19%), 95 mails/s, 0:00:42 left"]


def test_bar_on_a_terminal_keeps_log_lines_apart() -> None:
    clock, out = FakeClock(), io.StringIO()
    root = logging.getLogger()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        with Progress(200, stream=out, tty=True, clock=clock) as p:
            for n in range(100):
                clock.t += 0.05
                p.update()
                if n == 50:
                    logging.getLogger("mailbot.x").info("EGI-20261204-01 opened")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = out.getvalue()
    assert "\r" in text and "\x1b[K" in text
    # The log line stands on a line of its own, the bar redrawn after it.
    assert "\r\x1b[KEGI-20261204-01 opened\n\ringest [" in text
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("ingest [############------------] 100/200  50% 20 mails/s")
    assert "0:00:05 left" in last
    assert handler.stream is out  # the handler got its stream back


def test_ingest_on_a_terminal_and_in_a_pipe(tmp_path: Path, database_url: str) -> None:
    box = _mbox(tmp_path / "bulk.mbox", 60)
    app = make_app(tmp_path, database_url)
    env = cli_env(app)
    app.close()
    args = [sys.executable, "-m", "mailbot", "--log-level", "WARNING",
            "ingest", "--backfill", str(box)]  # fmt: skip

    piped = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "[#" not in piped.stderr

    env = {**env, "MAILBOT_LOG_LEVEL": "INFO"}
    args = [a for a in args if a not in ("--log-level", "WARNING")]
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # EIO once the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    assert child.wait(timeout=120) == 0
    reader.join(timeout=10)
    os.close(controller)
    screen = b"".join(chunks).decode(errors="replace")
    assert "ingest [" in screen and "mails/s" in screen and "left" in screen
    assert "60/60 100%" in screen
    # Log lines were written on lines of their own: none starts inside the bar.
    for line in screen.replace("\r\n", "\n").split("\n"):
        assert line.count("ingest [") <= line.count("\r") + 1
