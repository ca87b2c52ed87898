"""Prometheus metrics, scraped over HTTP on loopback."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path

from mailbot_env import mail, make_app
from opsenv import DaemonProcess, cli_env, run_cli, wait_until
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port

from mailbot import metrics, send, service, store
from mailbot.deadlines.sweep import sweep
from mailbot.mail import RawMail
from mailbot.process import process_delivery, quarantine

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
REPORT = mail(
    subject="Security incident suspected at SITE-A [EGI-20261204] TLP: AMBER",
    sender="Pekka Admin <admin@site-a.example.com>",
    message_id="<report-1@site-a.example.com>",
    date="Fri, 04 Dec 2026 09:55:00 +0000",
    body="We found a miner on wn12.site-a.example.com (192.0.2.45).\n",
)
THIRD_PARTY = mail(
    subject="[TLP:GREEN] Mining traffic from 198.51.100.77",
    sender="CERT <reporter@cert.example.net>",
    message_id="<cert-1@cert.example.net>",
    date="Fri, 04 Dec 2026 10:05:00 +0000",
    body="Stratum traffic seen from 198.51.100.77 to a pool.\n",
)


def scrape(host: str, port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _deliver(app, raw: bytes, origin: str) -> None:  # type: ignore[no-untyped-def]
    process_delivery(app, RawMail(raw, NOW - dt.timedelta(hours=2), origin))


def test_exporter_reports_the_database(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    exporter = metrics.serve(app, "127.0.0.1:0")
    try:
        host, port = exporter.address
        empty = scrape(host, port)
        assert empty[("mailbot_mails_fetched_total", ())] == 0
        assert empty[("mailbot_last_poll_timestamp_seconds", ())] == 0
        assert empty[("mailbot_database_up", ())] == 1

        _deliver(app, REPORT, "a")
        _deliver(app, REPORT, "b")
        _deliver(app, THIRD_PARTY, "c")
        with app.db.transaction() as session:
            junk = RawMail(mail(subject="x", message_id="<x@y>"), NOW, "junk")
            junk_id = store.accept(session, junk).mail_id
        quarantine(app, junk_id, "parse", "broken on purpose")
        service.set_state(app, "last_poll_at", "2026-12-04T12:00:00Z")
        app.clock.set(NOW + dt.timedelta(minutes=5))
        got = scrape(host, port)
        assert got[("mailbot_mails_fetched_total", ())] == 4
        assert got[("mailbot_mails_stored_total", (("role", "site"),))] == 1
        assert got[("mailbot_mails_stored_total", (("role", "reporter"),))] == 1
        assert got[("mailbot_mails_stored_total", (("role", "none"),))] == 1
        assert got[("mailbot_mails_duplicates_total", ())] == 1
        assert got[("mailbot_mails_quarantined_total", ())] == 1
        assert got[("mailbot_quarantine_mails", ())] == 1
        assert got[("mailbot_incidents_open", ())] == 2
        # Two acknowledgements wait, queued five minutes ago.
        assert got[("mailbot_outbox_mails", (("state", "pending"),))] == 2
        assert got[("mailbot_outbox_oldest_pending_seconds", ())] == 300
        assert got[("mailbot_last_poll_timestamp_seconds", ())] == NOW.timestamp()

        # A day and a half on, the containment clock is missed and chased.
        send.deliver_due(app)
        app.clock.set(dt.datetime(2026, 12, 7, 9, 30, tzinfo=UTC))
        with exporter.durations.timed(exporter.durations.sweep):
            sweep(app)
        send.deliver_due(app)
        got = scrape(host, port)
        reminders = {
            labels: value
            for (name, labels), value in got.items()
            if name == "mailbot_reminders_sent_total"
        }
        assert reminders, got
        assert all(dict(labels)["level"] == "1" for labels in reminders)
        assert (("level", "1"), ("rule", "containment")) in reminders
        assert got[("mailbot_outbox_mails", (("state", "pending"),))] == 0
        assert got[("mailbot_outbox_oldest_pending_seconds", ())] == 0
        assert got[("mailbot_sweep_duration_seconds_count", ())] == 1
        assert got[("mailbot_deadlines_missed", ())] >= 1
    finally:
        exporter.close()
        app.close()


def test_daemon_serves_metrics_that_survive_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url)
    inbox = Path(app.settings.path(app.settings.maildir.path))
    port = free_port()
    env = cli_env(
        app,
        MAILBOT_SOURCE_POLL_INTERVAL="1",
        MAILBOT_METRICS_LISTEN=f"127.0.0.1:{port}",
    )
    app.close()
    for n, raw in enumerate((REPORT, THIRD_PARTY, REPORT)):
        (inbox / "new" / f"17964000{n:02d}.M{n}P1.test").write_bytes(raw)

    def fetched() -> float:
        try:
            return scrape("127.0.0.1", port)[("mailbot_mails_fetched_total", ())]
        except OSError:
            return -1

    with DaemonProcess(env, tmp_path / "first.log") as daemon:
        assert wait_until(lambda: fetched() == 3, 60), daemon.log_text()
        # The poll is timed when it ends, just after its mails are stored.
        polls = ("mailbot_poll_duration_seconds_count", ())
        assert wait_until(lambda: scrape("127.0.0.1", port)[polls] >= 1, 30)
        first = scrape("127.0.0.1", port)
        assert first[("mailbot_last_poll_timestamp_seconds", ())] > 0
    assert daemon.process.returncode == 0

    with DaemonProcess(env, tmp_path / "second.log") as daemon:
        assert wait_until(lambda: fetched() == 3, 60), daemon.log_text()
        again = scrape("127.0.0.1", port)
    durable = [
        "mailbot_mails_fetched_total",
        "mailbot_mails_duplicates_total",
        "mailbot_mails_quarantined_total",
        "mailbot_incidents_open",
    ]
    for name in durable:
        assert again[(name, ())] == first[(name, ())], name
    assert again[("mailbot_mails_duplicates_total", ())] == 1
    # A listen address that is taken is a configuration error, exit 2.
    with DaemonProcess(env, tmp_path / "third.log") as daemon:
        assert wait_until(lambda: fetched() == 3, 60), daemon.log_text()
        clash = run_cli(env, "run", timeout=60)
    assert clash.returncode == 2
    # The listen address came from a variable (cli_env): it is named.
    assert "MAILBOT_METRICS_LISTEN: cannot listen on" in clash.stderr
