"""Prometheus metrics, served on `[metrics] listen` by the daemon.

The counts that must survive a restart (mails fetched, stored, duplicates,
quarantined, reminders sent, the outbox) are read from the database at each
scrape, so a restarted daemon reports the same totals instead of starting
from zero. Only the durations of the passes this process ran are kept in
memory: they describe the running process and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.clock import parse_instant
from mailbot.db.models import (
    Chase,
    Deadline,
    Duplicate,
    Incident,
    Mail,
    Outbox,
    ServiceState,
)

log = logging.getLogger(__name__)

# Poll and sweep passes take milliseconds when idle and minutes on a backlog.
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
_CHASE_PREFIX = "chase-"


class Durations:
    """Histograms of the passes this process runs (poll, sweep)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.poll = Histogram(
            "mailbot_poll_duration_seconds",
            "How long one pass over the mailbox took.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.sweep = Histogram(
            "mailbot_sweep_duration_seconds",
            "How long one pass over the deadlines took.",
            buckets=_BUCKETS,
            registry=registry,
        )

    @contextlib.contextmanager
    def timed(self, histogram: Histogram) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            histogram.observe(time.monotonic() - started)


class DatabaseCollector(Collector):
    """The durable counts, read from the database at every scrape."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "mailbot_database_up", "1 when the last scrape could read the database."
        )
        try:
            with self.app.db.transaction() as session:
                families = list(_families(session, self.app))
        except Exception as exc:  # noqa: BLE001 - a scrape must still answer
            log.error("metrics: database unreadable: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]


def _families(session: Session, app: App) -> Iterator[Metric]:
    yield from _mail_families(session)
    yield _reminders(session)
    yield from _outbox_families(session, app)
    yield _gauge(
        "mailbot_incidents_open",
        "Open incidents (merged-away tags not counted).",
        _count(
            session,
            select(func.count())
            .select_from(Incident)
            .where(Incident.status == "open", Incident.merged_into_id.is_(None)),
        ),
    )
    yield _gauge(
        "mailbot_deadlines_missed",
        "Deadlines past their due time and not met in time.",
        _count(
            session,
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.state == "missed"),
        ),
    )
    yield _last_poll(session)


def _mail_families(session: Session) -> Iterator[Metric]:
    by_role: dict[str, int] = {}
    for role, count in session.execute(
        select(Mail.role, func.count())
        .where(Mail.direction == "in")
        .group_by(Mail.role)
    ).all():
        by_role[role or "none"] = by_role.get(role or "none", 0) + count
    duplicates = _count(session, select(func.count()).select_from(Duplicate))
    fetched = CounterMetricFamily(
        "mailbot_mails_fetched",
        "Deliveries fetched: every one is stored once or counted as a duplicate.",
    )
    fetched.add_metric([], sum(by_role.values()) + duplicates)
    yield fetched
    stored = CounterMetricFamily(
        "mailbot_mails_stored",
        "Incoming mails stored, by the role of their author "
        "(none: not yet processed or in quarantine).",
        labels=["role"],
    )
    for role, count in sorted(by_role.items()):
        stored.add_metric([role], count)
    yield stored
    dup = CounterMetricFamily(
        "mailbot_mails_duplicates", "Deliveries recognised as mails already stored."
    )
    dup.add_metric([], duplicates)
    yield dup
    # A quarantined mail keeps its stage after a successful retry, so this
    # count only grows.
    events = CounterMetricFamily(
        "mailbot_mails_quarantined",
        "Mails set aside in quarantine (a mail retried since stays counted).",
    )
    events.add_metric(
        [],
        _count(
            session,
            select(func.count()).select_from(Mail).where(Mail.stage.is_not(None)),
        ),
    )
    yield events
    yield _gauge(
        "mailbot_quarantine_mails",
        "Mails in quarantine now.",
        _count(
            session,
            select(func.count()).select_from(Mail).where(Mail.state == "quarantined"),
        ),
    )


def _reminders(session: Session) -> Metric:
    family = CounterMetricFamily(
        "mailbot_reminders_sent",
        "Reminders and escalations delivered, by rule and level.",
        labels=["rule", "level"],
    )
    # By the clocks each mail reminded of (one mail may list several of a
    # site, deadlines/together.py): a mail counts once for each rule and
    # level it carried.
    rows = session.execute(
        select(Deadline.rule, Chase.level, func.count(distinct(Chase.mail_id)))
        .join(Chase, Chase.deadline_id == Deadline.id)
        .join(Outbox, Outbox.mail_id == Chase.mail_id)
        .where(Outbox.purpose.startswith(_CHASE_PREFIX), Outbox.state == "sent")
        .group_by(Deadline.rule, Chase.level)
    ).all()
    for rule, level, count in sorted(rows):
        family.add_metric([rule, str(level)], count)
    return family


def _outbox_families(session: Session, app: App) -> Iterator[Metric]:
    states = dict(
        session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all()
    )
    family = GaugeMetricFamily(
        "mailbot_outbox_mails", "Outgoing mails by delivery state.", labels=["state"]
    )
    for state in (
        "pending",
        "sending",
        "sent",
        "uncertain",
        "failed",
        "held",
        "withdrawn",
        "dropped",
    ):
        family.add_metric([state], states.get(state, 0))
    yield family
    oldest = session.scalar(
        select(func.min(Outbox.queued_at)).where(
            Outbox.state.in_(("pending", "sending"))
        )
    )
    age = (app.clock.now() - oldest).total_seconds() if oldest is not None else 0
    yield _gauge(
        "mailbot_outbox_oldest_pending_seconds",
        "Age of the oldest mail waiting to be delivered (0: none waiting).",
        max(age, 0.0),
    )


def _last_poll(session: Session) -> Metric:
    row = session.get(ServiceState, "last_poll_at")
    value = parse_instant(row.value).timestamp() if row and row.value else 0
    return _gauge(
        "mailbot_last_poll_timestamp_seconds",
        "When the mailbox was last polled successfully (Unix time; 0: never).",
        value,
    )


def _gauge(name: str, documentation: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(query) or 0)


def parse_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "HOST:PORT" or "[v6]:PORT" (checked by config)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass
class Exporter:
    """The metrics of one daemon, and the HTTP server that serves them."""

    registry: CollectorRegistry
    durations: Durations
    server: Any = None
    thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return host, port

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def build(app: App) -> Exporter:
    """Metrics for `app`, not yet served."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(app))
    return Exporter(registry=registry, durations=Durations(registry))


def serve(app: App, listen: str) -> Exporter:
    """Serve the metrics on `listen` ("HOST:PORT"; port 0 picks a free one)."""
    from prometheus_client import start_http_server

    exporter = build(app)
    host, port = parse_listen(listen)
    try:
        exporter.server, exporter.thread = start_http_server(
            port, addr=host, registry=exporter.registry
        )
    except OSError as exc:
        from mailbot.errors import ConfigError

        raise ConfigError(
            "metrics.listen", f"cannot listen on {listen}: {exc.strerror or exc}"
        ) from None
    log.info("metrics served on http://%s:%d/metrics", *exporter.address)
    return exporter
