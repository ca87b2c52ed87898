"""Reading ahead: fetched mail parsed and read in worker processes.

Extraction is about half of what a mail costs, and it needs no database. So
while the main process records one mail (in order, one transaction each),
worker processes parse and read the mails after it.

What extraction finds depends on the incident a mail threads into (its
sites' networks and time zone), and only the database knows that. A worker
takes the context the mail alone gives (the sender's site, or the site it
names); the main process uses the worker's findings only when its own
context, once the mail is threaded, is the same, and reads the mail itself
otherwise. Findings are a function of the text and the context: either way
they are the same.

Workers come from a fork server, never a fork of the daemon itself (which
runs threads). A worker that fails or dies costs only speed: the main
process reads the mail itself, and after a broken pool, every mail.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from mailbot import context, extract, limits, roles
from mailbot.classify import classify_parsed
from mailbot.csirt import commands
from mailbot.extract import own_text
from mailbot.parse import parse_within
from mailbot.settings import Settings
from mailbot.sites import Directory

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fewer mails than this in a poll are read in the main process: starting
# the workers costs up to a second, once per poll (they stop after it).
MIN_BATCH = 32
# Mails in flight per worker, and bytes in flight in all: enough to keep
# the workers busy through a run of costly mails (8 left the main process
# waiting a third of its time; 64 gave 1.3 times the serial rate, against
# 1.12), little enough to keep memory flat in the batch size.
PER_WORKER = 64
MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_for(configured: int) -> int:
    """[intake] workers as it can help: more than the CPUs only cost memory."""
    if configured > usable_cpus():
        log.warning(
            "intake.workers = %d, but %d CPUs: %d workers started at most",
            configured,
            usable_cpus(),
            usable_cpus(),
        )
        return usable_cpus()
    return configured


@dataclass(frozen=True)
class Prepared:
    """What a worker read: the context it assumed, what it found there, and
    what extraction warned of (name, level, message), for the main log."""

    context: extract.Context
    findings: tuple[extract.Finding, ...]
    warnings: tuple[tuple[str, int, str], ...] = ()
    notes: tuple[str, ...] = ()  # extract_noted's: what its budgets left unread


class ReadAhead:
    """A pool of workers and the findings they have for mails to come."""

    def __init__(self, app: App, workers: int) -> None:
        self.app = app
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._futures: dict[str, concurrent.futures.Future[Prepared | None]] = {}
        self._broken = False
        self.used = 0
        self.read_again = 0

    def stream(
        self, items: Iterable[T], raw: Callable[[T], bytes | None]
    ) -> Iterator[T]:
        """Yield `items` in order, the next ones' mails already handed out.

        `raw` gives an item's mail, or None for an item with none to read.
        """
        if self.workers <= 0 or self._broken:
            yield from items
            return
        source = iter(items)
        window: deque[tuple[T, str | None, int]] = deque()
        try:
            yield from self._window(source, raw, window)
        finally:
            # Left early (an error, the database gone): nothing stays behind.
            for _, key, _ in window:
                if key is not None:
                    self._forget(key)

    def _window(
        self,
        source: Iterator[T],
        raw: Callable[[T], bytes | None],
        window: deque[tuple[T, str | None, int]],
    ) -> Iterator[T]:
        in_flight = 0
        exhausted = False
        while True:
            while not exhausted and (
                len(window) < self.workers * PER_WORKER
                and in_flight < MAX_BYTES_IN_FLIGHT
            ):
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                mail = raw(item)
                key = self._submit(mail) if mail is not None else None
                size = len(mail) if mail is not None else 0
                window.append((item, key, size))
                in_flight += size
            if not window:
                return
            item, key, size = window.popleft()
            in_flight -= size
            try:
                yield item
            finally:
                # Taken or not (a duplicate is never read), it is done with.
                if key is not None:
                    self._forget(key)

    def findings(
        self, raw_sha256: str, context: extract.Context
    ) -> tuple[list[extract.Finding], list[str]] | None:
        """A worker's findings for this mail in `context` and its notes
        (`extract.extract_noted`), or None."""
        future = self._futures.pop(raw_sha256, None)
        if future is None:
            return None
        try:
            prepared = future.result()
        except BrokenProcessPool:
            self._break("a worker process died")
            return None
        if prepared is None or prepared.context != context:
            self.read_again += 1
            return None
        self.used += 1
        # Said here, in the mail's turn, as reading it here would have.
        for name, level, message in prepared.warnings:
            logging.getLogger(name).log(level, "%s", message)
        return list(prepared.findings), list(prepared.notes)

    def rest(self) -> None:
        """Let the workers go until the next batch (a daemon between polls)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._futures.clear()

    def close(self) -> None:
        self.rest()
        if self.used or self.read_again:
            log.info(
                "read ahead: %d mails' findings used, %d read again in context",
                self.used,
                self.read_again,
            )

    def _submit(self, raw: bytes) -> str:
        key = hashlib.sha256(raw).hexdigest()
        pool = self._start()
        if pool is not None and key not in self._futures:
            try:
                self._futures[key] = pool.submit(_prepare, raw)
            except Exception as exc:  # noqa: BLE001 - no workers: read here
                self._break(f"the workers could not take a mail ({exc})")
        return key

    def _forget(self, key: str) -> None:
        future = self._futures.pop(key, None)
        if future is not None:
            future.cancel()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor | None:
        if self._pool is None and not self._broken:
            context = multiprocessing.get_context("forkserver")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.app.settings, self.app.sites),
            )
        return self._pool

    def _break(self, why: str) -> None:
        if not self._broken:
            log.warning("read ahead off: %s; mails are read one by one", why)
        self._broken = True
        self._futures.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def read_ahead(
    app: App,
    items: Iterable[T],
    count: int,
    raw: Callable[[T], bytes | None] = lambda item: item.raw,  # type: ignore[attr-defined]
) -> Iterable[T]:
    """`items` in order, their mails read ahead by workers when there are
    at least MIN_BATCH of them (`count`) and workers are configured."""
    ahead = app.read_ahead if count >= MIN_BATCH else None
    return items if ahead is None else ahead.stream(items, raw)


# In a worker process: what it was started with.
_WORKER: tuple[Settings, Directory] | None = None


class _Kept(logging.Handler):
    """Extraction's warnings about the mail being read, kept for the main log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("mailbot.extract"):
            self.records.append((record.name, record.levelno, record.getMessage()))


_KEPT = _Kept()


def _start_worker(settings: Settings, directory: Directory) -> None:
    global _WORKER
    _WORKER = (settings, directory)
    # The main process logs what concerns the mail (it parses the mail
    # again itself); of a worker's own log, extraction's warnings go back
    # with the findings and the rest is dropped.
    root = logging.getLogger()
    root.handlers[:] = [_KEPT]
    root.setLevel(logging.WARNING)
    # A worker holds both ends of its task queue, so it would wait for work
    # for ever after the main process is killed: it watches that process.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), daemon=True).start()


def _exit_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(0)


def _prepare(raw: bytes) -> Prepared | None:
    """Parse and read one mail as the main process would; None if it cannot."""
    assert _WORKER is not None
    settings, directory = _WORKER
    bounds = settings.limits
    if limits.check_raw(raw, bounds) is not None:
        return None
    try:
        with limits.time_limit(bounds.max_seconds_per_mail):
            parsed = parse_within(raw, bounds)
            classification = classify_parsed(parsed)
        author = roles.identify(
            parsed, classification, settings, directory, sent_by_us=False
        )
        if author.role in roles.ROBOT_ROLES:
            return None
        site = roles.site_of(author, directory, parsed, own_text(parsed.body_text))
        names = {site.name} if site is not None else set()
        # The arrival is not known here: the Date is assumed plausible, and
        # the main process reads the mail again when it is not.
        assumed = context.context_of(
            settings, directory, names, parsed, author.role, parsed.date
        )
        _KEPT.records.clear()
        parts = commands.readable_parts(parsed.text_parts, author.role)
        found, notes = extract.extract_noted(parts, assumed)
    except Exception:  # noqa: BLE001 - the main process meets it again
        return None
    return Prepared(assumed, tuple(found), tuple(_KEPT.records), tuple(notes))
