"""Seconds from a mail's arrival to its acknowledgement queued, under IDLE.

    python bench/latency.py [--mails 50] [--database URL] [--json]

Starts a private Dovecot and `python -m mailbot run` (IMAP IDLE on, a poll
interval of 60 s, so only IDLE can be fast), then appends one new incident
report at a time and watches the database until the mail is stored and its
acknowledgement is in the outbox (they are written in one transaction). The
next mail goes in once the previous one is done. The last line of output is
one JSON object with the median and the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy
from sqlalchemy.pool import NullPool

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from ingest import database, write_config  # noqa: E402
from servers import Dovecot  # noqa: E402

REPORT = """\
From: Site Security <security@site{site:02d}.example.org>
To: abuse@csirt.example.org
Subject: Security incident suspected at SITE-{site:02d} TLP: AMBER (case {n})
Date: {date}
Message-ID: <latency-{n}-{stamp}@site{site:02d}.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

We found a miner on wn{n:02d}.site{site:02d}.example.org (10.{site}.0.{n}).
Logins came from 203.0.113.{n}. The host is isolated.
"""


def report(n: int) -> bytes:
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    text = REPORT.format(site=n % 40, n=n, date=date, stamp=time.time_ns())
    return text.replace("\n", "\r\n").encode()


def queued(engine: sqlalchemy.Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sqlalchemy.text("SELECT count(*) FROM outbox")).scalar()
            or 0
        )


def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.002)
    return True


def start_daemon(config: Path, directory: Path) -> subprocess.Popen[bytes]:
    with (directory / "run.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def measure(count: int, dovecot: Dovecot, url: str, directory: Path) -> list[float]:
    # Only IDLE can make it fast: the periodic poll waits a minute.
    config = write_config(directory, dovecot, url, poll_interval=60)
    daemon = start_daemon(config, directory)
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    latencies = []
    try:
        # Ready once the first (empty) poll has run and IDLE is waiting.
        if not wait_for(lambda: _polled(engine), 60):
            raise SystemExit("mailbot run did not poll:\n" + _tail(directory))
        time.sleep(1.0)
        with dovecot.client(timeout=30) as client:
            for n in range(count):
                before = queued(engine)
                client.append("INBOX", report(n))
                appended = time.perf_counter()
                if not wait_for(lambda b=before: queued(engine) > b, 30):
                    raise SystemExit(f"mail {n} not acknowledged:\n{_tail(directory)}")
                latencies.append(time.perf_counter() - appended)
                time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        engine.dispose()
    return latencies


def _polled(engine: sqlalchemy.Engine) -> bool:
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sqlalchemy.text(
                    "SELECT count(*) FROM service_state WHERE key = 'last_poll_at'"
                )
            ).scalar()
    except sqlalchemy.exc.DBAPIError:
        return False  # not migrated yet
    return bool(found)


def _tail(directory: Path) -> str:
    return (directory / "run.log").read_text(errors="replace")[-3000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=50)
    parser.add_argument("--database", help="SQLAlchemy URL; default a new SQLite file")
    parser.add_argument("--json", action="store_true", help="end with a JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailbot-latency-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o755)
        with Dovecot() as dovecot, database(args.database, directory) as url:
            latencies = measure(args.mails, dovecot, url, directory)
            name = url.split(":", 1)[0].split("+", 1)[0]
    ordered = sorted(latencies)
    result = {
        "mails": len(latencies),
        "database": name,
        "median_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max_s": round(ordered[-1], 3),
        "min_s": round(ordered[0], 3),
    }
    print(f"{result['mails']} mails on {name}: median {result['median_s']} s, ")
    print(f"  90th percentile {result['p90_s']} s, max {result['max_s']} s")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
