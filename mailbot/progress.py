"""Progress of a long `ingest`: a bar on a terminal, plain log lines elsewhere.

On a terminal the bar is redrawn in place on stderr, at most ten times a
second, with the count, the rate and the time left; a log line written
meanwhile clears the bar first and the bar comes back under it. Anywhere
else (a pipe, a file, a container's log) a plain line goes through logging
every `interval` seconds, so it follows --log-format like every other line.

Written here rather than taken from a library: the bar has to share stderr
with mailbot's own log handler (text or JSON), and that is most of the work;
the drawing itself is a few lines.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1
LINE_SECONDS = 10.0


def count_mails(path: Path) -> int:
    """How many mails `fetch.files.iter_path(path)` will yield, read quickly;
    what cannot be read counts none (the reading reports it)."""
    from mailbot.fetch.files import (
        folder_files,
        is_maildir,
        is_mbox,
        maildir_files,
    )

    try:
        if path.is_dir():
            if is_maildir(path):
                return len(maildir_files(path))
            return sum(count_mails(p) for p in folder_files(path) if _readable_mail(p))
        if not path.is_file():
            # Opening a FIFO given as a PATH waited for a writer for ever;
            # the reading names it as unreadable (fetch.files.iter_path).
            return 0
        if is_mbox(path):
            # The mailbox module starts a message at every line beginning
            # "From ".
            with path.open("rb") as handle:
                return sum(1 for line in handle if line.startswith(b"From "))
        return 1
    except OSError:
        return 0


def _readable_mail(path: Path) -> bool:
    from mailbot.fetch.files import looks_like_mail

    try:
        return looks_like_mail(path)
    except OSError:
        return False


def duration(seconds: float) -> str:
    seconds = max(int(seconds + 0.5), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Counts done items against a total; shows them as a bar or as lines."""

    def __init__(
        self,
        total: int | None,
        *,
        label: str = "ingest",
        stream: IO[str] | None = None,
        tty: bool | None = None,
        interval: float = LINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval, self.clock = interval, clock
        self.done = 0
        self.started = self.clock()
        self._last_shown = self.started
        self._bar_visible = False
        self._wrapped: list[tuple[logging.StreamHandler[Any], IO[str]]] = []

    def __enter__(self) -> Progress:
        if self.tty:
            self._wrap_log_handlers()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, count: int = 1) -> None:
        self.done += count
        now = self.clock()
        if self.tty and now - self._last_shown >= REDRAW_SECONDS:
            self._draw(now)
        elif not self.tty and now - self._last_shown >= self.interval:
            self._last_shown = now
            log.info("%s", self.line(now))

    def close(self) -> None:
        now = self.clock()
        if self.tty:
            self._draw(now)
            self.stream.write("\n")
            self.stream.flush()
            self._bar_visible = False
            self._unwrap_log_handlers()
        elapsed = max(now - self.started, 1e-9)
        log.info(
            "%s: %d mails in %s (%.0f mails/s)",
            self.label,
            self.done,
            duration(elapsed),
            self.done / elapsed,
        )

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def left(self, now: float) -> str:
        rate = self.rate(now)
        if self.total is None or rate <= 0:
            return "?"
        return duration(max(self.total - self.done, 0) / rate)

    def line(self, now: float) -> str:
        """The plain progress line: count, share, rate, time left."""
        of = f"/{self.total}" if self.total is not None else ""
        share = f" ({self._share():.0%})" if self.total else ""
        return (
            f"{self.label}: {self.done}{of} mails{share}, "
            f"{self.rate(now):.0f} mails/s, {self.left(now)} left"
        )

    def bar(self, now: float) -> str:
        filled = int(BAR_WIDTH * self._share()) if self.total else 0
        drawn = "#" * filled + "-" * (BAR_WIDTH - filled)
        of = f"/{self.total}" if self.total is not None else ""
        return (
            f"{self.label} [{drawn}] {self.done}{of} {self._share():4.0%} "
            f"{self.rate(now):.0f} mails/s, {self.left(now)} left"
        )

    def _share(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def _draw(self, now: float) -> None:
        self._last_shown = now
        self.stream.write("\r" + self.bar(now) + "\x1b[K")
        self.stream.flush()
        self._bar_visible = True

    def clear(self) -> None:
        """Take the bar off its line before something else is written there."""
        if self._bar_visible:
            self.stream.write("\r\x1b[K")
            self._bar_visible = False

    def _wrap_log_handlers(self) -> None:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                self.stream,
                sys.stderr,
            ):
                original = handler.setStream(_BarAware(handler.stream, self))
                if original is not None:
                    self._wrapped.append((handler, original))

    def _unwrap_log_handlers(self) -> None:
        for handler, original in self._wrapped:
            handler.setStream(original)
        self._wrapped.clear()


class _BarAware:
    """A log handler's stream that clears the bar before a line and redraws it."""

    def __init__(self, stream: IO[str], progress: Progress) -> None:
        self._stream, self._progress = stream, progress

    def write(self, text: str) -> int:
        self._progress.clear()
        written = self._stream.write(text)
        if text.endswith("\n"):
            self._progress._draw(self._progress.clock())
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
