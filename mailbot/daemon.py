"""`mailbot run`: the daemon.

The intake loop owns the IMAP connection: catch up by UID after every
(re)connect, then wait in IDLE (renewed well under the 29 minutes RFC 2177
allows) or sleep for the poll interval where IDLE is not offered. The
outbox is delivered in a thread of its own (courier.py), woken after a poll
that fetched mail, so a slow relay never holds the intake. APScheduler
runs the periodic, idempotent jobs (deadline sweep, digest) from an
in-memory store; the deadlines themselves are rows in the database, so a
missed wake-up delays a reminder by one tick, never loses or doubles it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

from apscheduler.schedulers.background import BackgroundScheduler

from mailbot import health, leader, metrics, send, service
from mailbot.app import App
from mailbot.courier import Courier
from mailbot.db.faults import unavailable
from mailbot.errors import (
    DatabaseUnavailable,
    LoginRefused,
    SessionEndedAtMail,
    TemporaryError,
    Terminated,
)

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 9 * 60
MAX_BACKOFF_SECONDS = 300.0
# Seconds the database's answers to the work under way are waited for
# once `run` is told to stop (db/silence.py).
STOP_GRACE = 3.0


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        app.outages.retry = "retrying by itself"
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            }
        )
        self._outage: str | None = None
        self.leader = leader.for_settings(app.settings)
        self._standby = False
        # Seconds to wait before reconnecting after an outage; doubles per
        # failed attempt up to MAX_BACKOFF_SECONDS, back to 1 after a poll.
        self._backoff = 1.0
        # Set by run_command when [metrics] listen is configured.
        self.exporter: metrics.Exporter | None = None
        every = max(app.settings.source.poll_interval / 2, 15)
        self.courier = Courier(self._guard("outbox", self._deliver), every)

    def give_up(self) -> None:
        """At the stop: a database server that does not answer would hold
        the work under way, and so the stop, for ever; its waits end after
        STOP_GRACE seconds (db/silence.py)."""
        self.app.db.give_up_after(STOP_GRACE)
        self.leader.give_up_after(STOP_GRACE)

    def start_jobs(self) -> None:
        interval = self.app.settings.source.poll_interval
        self.scheduler.add_job(
            self._guard("sweep", self._sweep),
            "interval",
            seconds=max(interval, 30),
            id="sweep",
        )
        # The digest's day is decided from the database at each wake-up
        # (digest.py), so a late or doubled tick can neither skip nor repeat it.
        self.scheduler.add_job(
            self._guard("digest", self._digest),
            "interval",
            seconds=max(min(interval, 60), 15),
            id="digest",
        )
        self.scheduler.start()
        self.courier.start()

    def _deliver(self) -> None:
        send.deliver_due(self.app, stop=self.stopping)

    def _sweep(self) -> None:
        from mailbot.deadlines.sweep import sweep

        with self._timed("sweep"):
            sweep(self.app)

    def _digest(self) -> None:
        from mailbot import digest

        if digest.run_due(self.app) == "sent":
            self.courier.wake()

    def _timed(self, name: str) -> contextlib.AbstractContextManager[None]:
        if self.exporter is None:
            return contextlib.nullcontext()
        durations = self.exporter.durations
        return durations.timed(getattr(durations, name))

    def _guard(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():
                return  # a tick that fell after SIGTERM: the next start does it
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - a failed job must not stop the daemon
                if _database_down(exc) and self._ended_by_stop(f"job {name}", exc):
                    return
                if _database_down(exc):
                    # Logged once per outage, not once per job and tick.
                    self.app.outages.down(
                        "database", f"job {name}: {self.app.db.describe(exc)}"
                    )
                else:
                    log.exception("job %s failed; it runs again at its next time", name)

        return run

    def run(self) -> None:
        self.start_jobs()
        try:
            while not self.stopping.is_set():
                if not self._lead():
                    self.stopping.wait(self.app.settings.source.poll_interval)
                    continue
                try:
                    self._intake()
                except SessionEndedAtMail:
                    # That mail is counted and waits alone: no outage, and
                    # the next session reads on at once (said at WARNING).
                    self.stopping.wait(1.0)
                except Exception as exc:
                    if not isinstance(exc, (TemporaryError, OSError)) and not (
                        unavailable(exc)
                    ):
                        raise
                    self._report_outage(exc)
                    self.stopping.wait(self._backoff)
                    self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            # Also when `run` ends by an error: the delivery under way ends
            # after its mail, not after the whole outbox.
            self.stopping.set()
            self.courier.stop()
            self.scheduler.shutdown(wait=True)
            self.leader.release()
            log.info("stopped")

    def _lead(self) -> bool:
        """Whether this instance polls: it holds, or now takes, the leader lock."""
        if self.leader.held():
            return True
        if self.stopping.is_set():
            return False  # the lock lost at the stop: nothing to take
        if self.leader.try_acquire():
            log.info("%s taken: this instance polls the mailbox", self.leader.where)
            self._standby = False
            return True
        if not self.leader.contended:
            return False  # not reached: the lock said why, and it is retried
        if not self._standby:
            # Said once per stand-by period; it only sweeps and sends meanwhile.
            log.warning(
                "%s held by another mailbot: standing by (sweeping and sending), "
                "polling when it stops%s",
                self.leader.where,
                "; SQLite supports one mailbot per database"
                if self.app.db.is_sqlite
                else "",
            )
            self._standby = True
        return False

    def _ended_by_stop(self, what: str, exc: Exception) -> bool:
        """Whether `exc` came after the stop began: a statement the stop
        cut short (db/silence.py gives up on a silent server then) is no
        outage, and said as a WARNING, not an outage's ERROR."""
        if not self.stopping.is_set():
            return False
        log.warning("%s ended by the stop: %s", what, self.app.db.describe(exc))
        return True

    def _report_outage(self, exc: Exception) -> None:
        if _database_down(exc) and self._ended_by_stop("the poll under way", exc):
            return
        # An outage is logged once when it starts, not once per attempt.
        resource = "database" if _database_down(exc) else "mailbox"
        self.app.outages.down(
            resource,
            self.app.db.describe(exc),
            login_refused=isinstance(exc, LoginRefused),
            error=exc,
        )

    def _recovered(self) -> None:
        # A session that polled is a success: the next outage waits from
        # the start again, not where the last one left off.
        self._backoff = 1.0
        self.app.outages.up("mailbox")
        self.app.outages.up("database")

    def _intake(self) -> None:
        if self.app.settings.source.kind == "maildir":
            with self._timed("poll"):
                result = service.poll(self.app, deliver=False)
            self._recovered()
            if result.fetched:
                self.courier.wake()
            self.stopping.wait(self.app.settings.source.poll_interval)
            return
        self._imap_session()

    def _imap_session(self) -> None:
        from imapclient import IMAPClient

        from mailbot.fetch import imap

        client = imap.connect(self.app)
        try:
            while not self.stopping.is_set() and self.leader.held():
                self._poll_once(client)
                self._wait(client)
        except (IMAPClient.Error, IMAPClient.AbortError) as exc:
            raise TemporaryError(f"IMAP session ended: {exc}") from exc
        finally:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the connection may be gone already
                # Close the socket all the same: a dead session must not leak it.
                with contextlib.suppress(Exception):
                    client.shutdown()

    def _poll_once(self, client) -> None:  # type: ignore[no-untyped-def]
        from mailbot.fetch import imap
        from mailbot.process import resume_received

        with self._timed("poll"):
            resume_received(self.app)
            result = imap.catch_up(
                self.app,
                client,
                still_leader=self.leader.held,
                stopping=self.stopping,
            )
        service.set_state(self.app, "last_poll_at", _now_iso(self.app))
        self._recovered()
        if result.fetched:
            log.info("poll: %s", result.summary())
            # Sent beside the intake: a slow relay must not hold the next poll.
            self.courier.wake()

    def _wait(self, client) -> None:  # type: ignore[no-untyped-def]
        """Until the server reports news, the interval passes, or we stop."""
        interval = self.app.settings.source.poll_interval
        if not (self.app.settings.imap.idle and client.has_capability("IDLE")):
            self.stopping.wait(interval)
            return
        if _news(client):
            return
        client.idle()
        try:
            if _buffered(client):
                return
            waited = 0.0
            while not self.stopping.is_set() and waited < min(
                interval, IDLE_RENEW_SECONDS
            ):
                if client.idle_check(timeout=1.0):
                    break
                waited += 1.0
        finally:
            client.idle_done()


def _news(client) -> bool:  # type: ignore[no-untyped-def]
    """Whether mail came while we polled: asked with NOOP before IDLE.

    Dovecot announces such mail right after IDLE's continuation, often in the
    same packet; imaplib keeps it in its buffer, and idle_check(), which
    watches the socket, would not see it before the next keep-alive (two
    minutes later).
    """
    _, responses = client.noop()
    return any(
        isinstance(item, tuple) and len(item) > 1 and item[1] == b"EXISTS"
        for item in responses
    )


def _buffered(client) -> bool:  # type: ignore[no-untyped-def]
    """Whether imaplib already read past IDLE's continuation line.

    A mail that lands between the NOOP and IDLE is announced in the packet
    that carries the continuation; imaplib's reader buffers it, and
    idle_check() polls the socket, so it would wait for the next keep-alive
    (measured: 4 in 200 arrivals). A non-blocking peek finds it. Private
    attributes: without them this answers False and only the race remains.
    """
    reader = getattr(getattr(client, "_imap", None), "file", None)
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return bool(reader.peek(1))
    except OSError:  # nothing there: EAGAIN, or TLS wanting to read
        return False
    finally:
        sock.settimeout(timeout)


def _database_down(exc: BaseException) -> bool:
    """Whether `exc` is the database being out of reach or read-only (one
    rule with the intake's: db/faults.py)."""
    return isinstance(exc, DatabaseUnavailable) or unavailable(exc)


def _now_iso(app: App) -> str:
    from mailbot.clock import iso

    return iso(app.clock.now()) or ""


# Signals whose default ends a process without a word: `systemctl reload`
# and a closed terminal send SIGHUP, a log rotation set up for another
# daemon SIGUSR1, and a unit that restarts only on failure left the mailbox
# unread. cli.main ignores them from the start, and `run` says so once it
# logs.
UNUSED_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def _unused(signum: int, _frame: object) -> None:
    name = signal.Signals(signum).name
    if signum == signal.SIGHUP:
        log.warning(
            "SIGHUP ignored: mailbot reads its configuration when it starts;"
            " restart it to apply a changed one"
        )
    else:
        log.warning(
            "%s ignored: mailbot has no use for it (it reopens no log file:"
            " it logs to standard error); SIGTERM stops it",
            name,
        )


class Stopper:
    """The handler of SIGTERM and SIGINT in `run`: the daemon stops after
    the work under way; a connection attempt at start is given up at once."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        # Set while `run` waits for the database at start: nothing is under
        # way that a stop could spoil, and an attempt to reach a server
        # that does not answer lasts minutes (psycopg gives up after 130 s).
        self.interruptible = False
        # Called once at the stop, in the handler (Daemon.give_up).
        self.on_stop: list[Callable[[], None]] = []

    def __call__(self, signum: int, _frame: object) -> None:
        if self.stopping.is_set():
            # A second signal (a person who saw no stop yet) is no new stop.
            log.info(
                "signal %d received again: already stopping, after the work under way",
                signum,
            )
            return
        log.info("signal %d received, stopping", signum)
        self.stopping.set()
        for stop in self.on_stop:
            stop()
        if self.interruptible:
            raise Terminated(f"signal {signum}")

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """A signal within stops the work at once (raises Terminated)."""
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = False


def run_command(args: argparse.Namespace) -> int:
    from mailbot.commands import collect_garbage_less_often

    collect_garbage_less_often()
    stopper = Stopper()
    signal.signal(signal.SIGTERM, stopper)
    signal.signal(signal.SIGINT, stopper)
    for unused in UNUSED_SIGNALS:
        signal.signal(unused, _unused)
    app = _started(args, stopper)
    if app is None:
        log.info("stopped")
        return 0
    daemon = Daemon(app)
    daemon.stopping = stopper.stopping
    stopper.on_stop.append(daemon.give_up)
    if app.settings.metrics.listen:
        daemon.exporter = metrics.serve(app, app.settings.metrics.listen)
    log.info("mailbot running (source %s)", app.settings.source.kind)
    try:
        health.warn_sites_not_in_file(app)
        daemon.run()
    finally:
        if daemon.exporter is not None:
            daemon.exporter.close()
        app.close()
    return 0


def _started(args: argparse.Namespace, stopper: Stopper) -> App | None:
    """The App, once its database can be used; None when stopped before.

    A database down at start (a host booting mailbot before PostgreSQL) is
    waited out like one that goes away later: logged once, retried with
    backoff. A configuration error (a database or role that does not exist,
    a refused password, a bad URL) still ends `run` at once.
    """
    from mailbot.app import DatabaseUnusable
    from mailbot.commands import app_from
    from mailbot.outage import Outages

    outages = Outages()
    outages.retry = "retrying by itself"
    backoff = 1.0
    while True:
        try:
            with stopper.interrupting():
                return app_from(args, outages=outages)
        except Terminated:
            return None
        except DatabaseUnusable as exc:
            if not exc.outage:
                raise
            outages.down("database", str(exc))
        if stopper.stopping.wait(backoff):
            return None
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
