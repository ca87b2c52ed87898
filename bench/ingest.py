"""Mails per second through `mailbot poll`, against the floor of fetch + parse.

    python bench/ingest.py --messages N [--database URL] [--json]

Starts a private Dovecot on loopback (tests/servers.py), fills its INBOX with
N generated mails (bench/generate.py), then measures in one run:

  floor    the same mails fetched in batches of BODY.PEEK[] and parsed with
           mail-parser, every attribute a caller reads, nothing stored;
  mailbot  `python -m mailbot poll` on a fresh database, as a subprocess,
           wall time from start to exit (start-up and migrations included).

The database is a new SQLite file by default; with --database naming a
PostgreSQL server (a URL, or "postgresql" for the local one) a new database
is made on it and dropped afterwards. Acknowledgements go to a local Maildir.
The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "tests"), str(ROOT)]

from generate import AUTHSERV_ID, MAILBOX, NOW, generate, sites_toml  # noqa: E402
from parse import mail_parser_floor  # noqa: E402
from servers import Dovecot, database_server, fresh_database  # noqa: E402

FETCH_BATCH = 500


def fill(dovecot: Dovecot, count: int, seed: int) -> int:
    """Append `count` generated mails, each with its arrival time; total bytes."""
    total = 0
    with dovecot.client(timeout=60) as client:
        for mail in generate(count, seed):
            client.append("INBOX", mail.raw, msg_time=mail.arrived_at)
            total += len(mail.raw)
    return total


def fetch_all(dovecot: Dovecot, parse: bool) -> tuple[int, float, float]:
    """Fetch every mail in batches (parsing each if asked); (count, seconds,
    CPU seconds of this process: Dovecot's own work is not counted)."""
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    with dovecot.client(timeout=60) as client:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            response = client.fetch(batch, [b"BODY.PEEK[]", b"INTERNALDATE"])
            for uid in batch:
                raw = response[uid][b"BODY[]"]
                if parse:
                    mail_parser_floor(raw)
                count += 1
            del response
    return count, time.perf_counter() - started, time.process_time() - cpu


def write_config(
    directory: Path,
    dovecot: Dovecot,
    database_url: str,
    poll_interval: float = 60,
    workers: int | None = None,
) -> Path:
    (directory / "sites.toml").write_text(sites_toml(), encoding="utf-8")
    config = directory / "mailbot.toml"
    config.write_text(
        f"""\
[mailbot]
address = "{MAILBOX}"

[database]
url = "{database_url}"

[source]
kind = "imap"
poll_interval = {poll_interval}

[imap]
host = "{dovecot.host}"
port = {dovecot.port}
tls = "none"
username = "{dovecot.username}"
password = "{dovecot.password}"
timeout = 60

[smtp]
kind = "maildir"
path = "{directory / "sent"}"

[csirt]
members = ["alice@csirt.example.org"]
authserv_ids = ["{AUTHSERV_ID}"]
duty_address = "duty@csirt.example.org"

[sites]
file = "{directory / "sites.toml"}"

# Every acknowledgement is queued and sent: the run measures intake and its
# replies, not the brake on automatic mail.
[brake]
max_per_recipient_per_day = 1000000
max_per_incident_per_day = 1000000
max_per_hour = 1000000
"""
        + ("" if workers is None else f"\n[intake]\nworkers = {workers}\n"),
        encoding="utf-8",
    )
    return config


def run_mailbot(
    config: Path, directory: Path, profile: Path | None
) -> tuple[dict, float, float]:
    """Run `mailbot poll --json`; (its JSON, seconds, its memory peaks)."""
    command = [sys.executable, "-m", "mailbot", *command_tail(config)]
    if profile is not None:
        # Under py-spy the peak RSS is py-spy's: a profiled run times nothing.
        spy = Path(sys.executable).with_name("py-spy")
        command = [str(spy), "record", "-f", "speedscope", "-o", str(profile), "--"]
        command += [sys.executable, "-m", "mailbot", *command_tail(config)]
    out, err = directory / "poll.out", directory / "poll.log"
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=directory)
        # The peak of the whole tree (mailbot and its read-ahead workers),
        # sampled; wait4's figure would be the largest single process.
        tree = TreeMemory(process.pid)
        while process.poll() is None:
            tree.sample()
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = err.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mailbot poll exited {process.returncode}:\n{tail}")
    text = out.read_text(errors="replace")
    # py-spy prints its own lines after mailbot's JSON.
    report, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    return report, seconds, tree


class TreeMemory:
    """The largest sums of memory over a process and its descendants.

    RSS counts a page shared by several processes (the interpreter, shared
    libraries) once in each; PSS splits it between them, so its sum is the
    memory the tree takes.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_kb = 0
        self.peak_pss_kb = 0

    def sample(self) -> None:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                # The command name may hold spaces: the fields follow ")".
                parents[int(entry)] = int(stat.rpartition(")")[2].split()[1])
        tree, grew = {self.root}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree}
            grew = not more <= tree
            tree |= more
        self.peak_kb = max(
            self.peak_kb, sum(_kb(pid, "status", "VmRSS:") for pid in tree)
        )
        pss = sum(_kb(pid, "smaps_rollup", "Pss:") for pid in tree)
        self.peak_pss_kb = max(self.peak_pss_kb, pss)


def _kb(pid: int, name: str, field: str) -> int:
    """A kB figure of /proc/PID/NAME, 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def command_tail(config: Path) -> list[str]:
    return ["--config", str(config), "--now", NOW.isoformat(), "poll", "--json"]


@contextmanager
def database(url: str | None, directory: Path) -> Iterator[str]:
    """A fresh database: a new SQLite file, or a new database on a server."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite:///{directory / 'mailbot.db'}"
        return
    with fresh_database(database_server(url)) as fresh:
        yield fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--database", help="SQLAlchemy URL; default a new SQLite file")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        help="[intake] workers for mailbot (default: mailbot's own, 0: no read-ahead)",
    )
    parser.add_argument("--json", action="store_true", help="end with a JSON line")
    parser.add_argument(
        "--profile", type=Path, help="record mailbot with py-spy into this file"
    )
    args = parser.parse_args()
    # mail-parser warns about every part type it does not handle.
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o755)
        with Dovecot() as dovecot, database(args.database, directory) as url:
            result = measure(args, directory, dovecot, url)
    print(
        f"{result['messages']} mails ({result['megabytes']} MB) on {result['database']}"
    )
    print(f"  floor    {result['floor_msgs_per_s']:8.1f} mails/s")
    print(
        f"  mailbot  {result['mailbot_msgs_per_s']:8.1f} mails/s"
        f"   CPU {result['mailbot_cpu_ms_per_mail']} ms a mail"
    )
    print(
        f"  ratio    {result['ratio']:8.2f}   peak RSS {result['peak_rss_mb']} MB"
        f" (PSS {result['peak_pss_mb']} MB), all processes"
    )
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


def measure(args: argparse.Namespace, directory: Path, dovecot: Dovecot, url: str):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    size = fill(dovecot, args.messages, args.seed)
    filled = time.perf_counter() - began
    # One untimed pass warms Dovecot's indexes and the page cache for both sides.
    fetch_all(dovecot, parse=False)
    count, floor_seconds, floor_cpu = fetch_all(dovecot, parse=True)
    config = write_config(directory, dovecot, url, workers=args.workers)
    # The CPU of the mailbot process and of the workers it waited for (its
    # children's figures are added to its own when it is waited for).
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report, seconds, memory = run_mailbot(config, directory, args.profile)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    mailbot_cpu = (used.ru_utime - children.ru_utime) + (
        used.ru_stime - children.ru_stime
    )
    if report.get("fetched") != count:
        raise SystemExit(f"mailbot fetched {report.get('fetched')} of {count} mails")
    floor_rate, mailbot_rate = count / floor_seconds, count / seconds
    return {
        "messages": count,
        "megabytes": round(size / 1e6, 1),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "floor_msgs_per_s": round(floor_rate, 1),
        "mailbot_msgs_per_s": round(mailbot_rate, 1),
        "ratio": round(mailbot_rate / floor_rate, 3),
        "peak_rss_mb": round(memory.peak_kb / 1024, 1),
        "peak_pss_mb": round(memory.peak_pss_kb / 1024, 1),
        "workers": "default" if args.workers is None else args.workers,
        "floor_seconds": round(floor_seconds, 2),
        "floor_cpu_ms_per_mail": round(1000 * floor_cpu / count, 2),
        "mailbot_cpu_ms_per_mail": round(1000 * mailbot_cpu / count, 2),
        "mailbot_seconds": round(seconds, 2),
        "fill_seconds": round(filled, 1),
        "processed": report.get("processed"),
        "quarantined": report.get("quarantined"),
        "duplicates": report.get("duplicates"),
        "incidents": len(report.get("incidents", [])),
        "profiled": args.profile is not None,
    }


if __name__ == "__main__":
    sys.exit(main())
