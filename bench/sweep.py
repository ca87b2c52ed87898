"""The deadline sweep at scale: an index, not a scan.

    python bench/sweep.py [--incidents N] [--deadlines M] [--due K]
                          [--database URL|postgresql] [--repeat R]
                          [--profile FILE]

Fills a fresh database with N open incidents and M deadlines (five clocks
per incident by default: half of them met, half pending and due later),
then measures on mailbot's own code (mailbot.deadlines.sweep.sweep):

  none_due   one sweep when nothing is due: the wall time of the whole pass
             (the best and the median of R runs), and the query plan of its
             one query, which must use ix_deadline_next_action_at;
  due        K analysis clocks made due at once (each in its own incident,
             with a mail to answer in the thread): one sweep records each
             miss and queues K level-1 reminders, rendered, composed and
             written to the outbox with their unique chase rows.

--profile writes a cProfile of the due sweep (`python -m pstats FILE`);
it slows the sweep down, so the timings of such a run are not comparable.

The database is a new SQLite file by default; "postgresql" makes a new
database on the local server (127.0.0.1:5432, see tests/servers.py) and
drops it afterwards. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from sqlalchemy import insert, select, text, update  # noqa: E402

from mailbot.app import App, open_app  # noqa: E402
from mailbot.clock import Clock  # noqa: E402
from mailbot.config import load_settings  # noqa: E402
from mailbot.db.models import Deadline, Incident, IncidentSite, Mail, Outbox  # noqa: E402
from mailbot.deadlines.sweep import sweep  # noqa: E402

UTC = dt.UTC
# Monday 10:00 UTC: inside the working hours of the benchmark's site.
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
RULES = ("report", "containment", "downtime", "analysis", "closure_report")
CHUNK = 5_000
SITES = """
[[ngi]]
name = "NGI_BENCH"
security_contacts = ["ngi-sec@ngi-bench.example.org"]

[[site]]
name = "SITE-BENCH"
ngi = "NGI_BENCH"
timezone = "Europe/Amsterdam"
country = "NL"
security_contacts = ["security@site-bench.example.org", "admin@site-bench.example.org"]
domains = ["site-bench.example.org"]
"""


@contextmanager
def database(setting: str | None, directory: Path) -> Iterator[str]:
    """A fresh database: a new SQLite file, or a new database on a server."""
    if not setting or setting == "sqlite":
        yield f"sqlite:///{directory / 'sweep.db'}"
        return
    from servers import database_server, fresh_database

    with fresh_database(database_server(setting)) as url:
        yield url


def make_app(url: str, directory: Path) -> App:
    (directory / "sites.toml").write_text(SITES, encoding="utf-8")
    environ = {
        "MAILBOT_MAILBOT_ADDRESS": "abuse@csirt.example.org",
        "MAILBOT_DATABASE_URL": url,
        "MAILBOT_SOURCE_KIND": "maildir",
        "MAILBOT_SMTP_KIND": "maildir",
        "MAILBOT_SMTP_PATH": str(directory / "sent"),
        "MAILBOT_CSIRT_DUTY_ADDRESS": "duty@csirt.example.org",
        "MAILBOT_SITES_FILE": str(directory / "sites.toml"),
        # The brake (a cap on automatic mail per hour, recipient and
        # incident) would hold most of a thousand reminders at once: the
        # benchmark measures the queueing, so its caps are lifted.
        "MAILBOT_BRAKE_MAX_PER_HOUR": "10000000",
        "MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "10000000",
        "MAILBOT_BRAKE_MAX_PER_INCIDENT_PER_DAY": "10000000",
    }
    return open_app(load_settings(None, environ), Clock(NOW))


def fill(app: App, incidents: int, deadlines: int) -> None:
    """Open incidents, each with its share of clocks; none due at NOW."""
    per_incident = max(1, -(-deadlines // incidents))
    made = 0
    with app.db.engine.begin() as connection:
        for first in range(0, incidents, CHUNK):
            numbers = range(first, min(first + CHUNK, incidents))
            connection.execute(insert(Incident), [_incident(n) for n in numbers])
            connection.execute(
                insert(IncidentSite),
                [{"incident_id": n + 1, "site": "SITE-BENCH"} for n in numbers],
            )
            rows = []
            for n in numbers:
                for k in range(min(per_incident, deadlines - made)):
                    rows.append(_deadline(n + 1, k))
                    made += 1
            if rows:
                connection.execute(insert(Deadline), rows)


def _incident(n: int) -> dict[str, object]:
    return {
        "id": n + 1,
        "tag": f"EGI-20261204-{n + 1:06d}",
        "status": "open",
        "site": "SITE-BENCH",
        "ngi": "NGI_BENCH",
        "tlp": "AMBER",
        "tlp_locked": False,
        "subject": f"Security incident suspected at SITE-BENCH ({n + 1})",
        "opened_at": NOW - dt.timedelta(days=2),
    }


def _deadline(incident_id: int, k: int) -> dict[str, object]:
    started = NOW - dt.timedelta(days=2)
    later = NOW + dt.timedelta(hours=1 + (incident_id * 7 + k) % 700)
    met = (incident_id + k) % 2 == 0
    return {
        "incident_id": incident_id,
        "rule": RULES[k % len(RULES)],
        "site": "SITE-BENCH",
        "started_at": started,
        "due_at": started + dt.timedelta(days=1) if met else later,
        "state": "met" if met else "pending",
        "met_at": started + dt.timedelta(hours=3) if met else None,
        "next_action_at": None if met else later,
        "level": 0,
    }


def make_due(app: App, count: int) -> None:
    """Make the analysis clocks of `count` incidents due, each with a mail."""
    due = NOW - dt.timedelta(minutes=5)
    step = max(1, app_incidents(app) // count)
    chosen = [1 + i * step for i in range(count)]
    with app.db.engine.begin() as connection:
        for first in range(0, count, CHUNK):
            ids = chosen[first : first + CHUNK]
            connection.execute(insert(Mail), [_mail(i) for i in ids])
            connection.execute(
                update(Deadline)
                .where(Deadline.incident_id.in_(ids), Deadline.rule == "analysis")
                .values(state="pending", met_at=None, due_at=due, next_action_at=due)
            )


def app_incidents(app: App) -> int:
    with app.db.transaction() as session:
        return int(
            session.scalar(select(Incident.id).order_by(Incident.id.desc())) or 0
        )


def _mail(incident_id: int) -> dict[str, object]:
    raw = f"Subject: incident {incident_id}\r\n\r\nlogs\r\n".encode()
    return {
        "direction": "in",
        "dedupe_key": f"bench-{incident_id:064d}"[-64:],
        "raw_sha256": "0" * 64,
        "raw": raw,
        "size": len(raw),
        "message_id": f"<request-{incident_id}@csirt.example.org>",
        "subject": f"incident {incident_id}",
        "from_addr": "alice@csirt.example.org",
        "recipients": ["security@site-bench.example.org"],
        "arrived_at": NOW - dt.timedelta(days=1),
        "event_at": NOW - dt.timedelta(days=1),
        "state": "processed",
        "role": "csirt",
        "incident_id": incident_id,
        "defects": [],
        "flags": [],
    }


def query_plan(app: App) -> str:
    """The plan of the sweep's one query when nothing is due."""
    with app.db.engine.connect() as connection:
        if app.db.is_sqlite:
            sql = (
                "EXPLAIN QUERY PLAN SELECT next_action_at, id FROM deadline "
                "WHERE next_action_at <= ? ORDER BY next_action_at, id LIMIT 500"
            )
            rows = connection.exec_driver_sql(sql, (NOW.replace(tzinfo=None),))
            return " | ".join(str(row[-1]) for row in rows)
        connection.execute(text("ANALYZE deadline"))
        sql = text(
            "EXPLAIN SELECT next_action_at, id FROM deadline "
            "WHERE next_action_at <= :now ORDER BY next_action_at, id LIMIT 500"
        )
        rows = connection.execute(sql, {"now": NOW.replace(tzinfo=None)})
        return " | ".join(row[0].strip() for row in rows)


def time_sweeps(app: App, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = sweep(app)
        times.append((time.perf_counter() - started) * 1000)
        assert result["examined"] == 0, result
    return times


def run(args: argparse.Namespace, directory: Path) -> dict[str, object]:
    with database(args.database, directory) as url:
        app = make_app(url, directory)
        try:
            started = time.perf_counter()
            fill(app, args.incidents, args.deadlines)
            filled = time.perf_counter() - started
            if not app.db.is_sqlite:
                with app.db.engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            none_due = time_sweeps(app, args.repeat)
            plan = query_plan(app)
            make_due(app, args.due)
            profile = cProfile.Profile() if args.profile else None
            started, cpu = time.perf_counter(), time.process_time()
            result = sweep(app) if profile is None else profile.runcall(sweep, app)
            due_seconds = time.perf_counter() - started
            if profile is not None:
                profile.dump_stats(args.profile)
            # The CPU time of this process alone (the database server's, for
            # PostgreSQL, not included): on a shared machine it tells the
            # work apart from the waiting.
            due_cpu = time.process_time() - cpu
            with app.db.transaction() as session:
                queued = session.scalar(
                    select(text("count(*)")).select_from(Outbox)
                    .where(Outbox.purpose == "chase-analysis-1")
                )  # fmt: skip
            again = sweep(app)
        finally:
            app.close()
    return {
        "benchmark": "sweep",
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "incidents": args.incidents,
        "deadlines": args.deadlines,
        "fill_seconds": round(filled, 1),
        "none_due_ms_best": round(min(none_due), 2),
        "none_due_ms_median": round(statistics.median(none_due), 2),
        "none_due_target_ms": 50,
        "plan": plan,
        "index_used": "ix_deadline_next_action_at" in plan,
        "due": args.due,
        "reminders_queued": queued,
        "missed_recorded": result["missed"],
        "due_seconds": round(due_seconds, 3),
        "due_cpu_seconds": round(due_cpu, 3),
        "due_target_seconds": 2,
        "per_reminder_ms": round(due_seconds * 1000 / max(1, args.due), 2),
        "second_sweep_reminders": again["reminders"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--deadlines", type=int, default=500_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", help='SQLAlchemy URL or "postgresql"')
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the due sweep to FILE"
    )
    args = parser.parse_args()
    if args.due > args.incidents:
        parser.error("--due cannot exceed --incidents (one due clock per incident)")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mailbot-sweep-bench-") as directory:
        figures = run(args, Path(directory))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
