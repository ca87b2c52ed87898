"""The daemon's delivery thread: the outbox is sent beside the intake.

A delivery pass lasts as long as the relay takes: thirty acknowledgements
to a relay that answers each DATA after two seconds take a minute. Made in
the intake's thread after a poll, it held the next poll (and IDLE) that
long: new mail waited, and `status --alive` failed a daemon that worked
(brk13 F2). The courier delivers in a thread of its own, woken after each
poll that fetched mail and after the digest, and at least every `every`
seconds; it is the daemon's only sender, one pass at a time (App.sending
holds any other caller in the process off besides).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Courier:
    """Runs `deliver` in its own thread when woken, else every `every` s."""

    def __init__(self, deliver: Callable[[], None], every: float) -> None:
        self._deliver = deliver
        self._every = every
        self._wake = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="courier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Deliver now, or right after the pass under way (a mail queued
        after its last look is sent then, not a tick later)."""
        self._wake.set()

    def stop(self) -> None:
        """End the thread after the pass under way (`deliver` ends its
        batch between two mails once the daemon stops)."""
        self._ended.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._ended.is_set():
            self._wake.wait(self._every)
            self._wake.clear()
            if self._ended.is_set():
                return
            self._deliver()
