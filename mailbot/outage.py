"""Outages of the servers mailbot depends on, each logged once.

When the mailbox, the SMTP server or the database is down, every attempt
fails the same way; a log line per attempt (or per mail) would bury the one
line that matters. An outage is logged when it starts (ERROR) and when it
ends (WARNING); the attempts in between go to DEBUG, but for a problem of
another kind (a database whose sessions were ended, then found read-only):
that is logged once too, as what to check has changed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from mailbot.errors import FolderMissing, ServerFailsFetch

log = logging.getLogger(__name__)

# What each resource is called in the log, and what to check.
_WHAT = {
    "mailbox": "mailbox (IMAP) unreachable",
    "smtp": "SMTP server not taking mail",
    "database": "database unreachable",
}
# The servers answer, but refuse mailbot's login: not unreachable.
_LOGIN_REFUSED = {
    "mailbox": "mailbox (IMAP) refused mailbot's login",
    "smtp": "SMTP server refused mailbot's login",
}
# The IMAP server answers and takes the login, but the folder cannot be
# opened, or it fails every FETCH: not unreachable either.
_HEADINGS: dict[type[Exception], str] = {
    FolderMissing: "IMAP folder missing (or not to be opened)",
    ServerFailsFetch: "mailbox (IMAP) fails every FETCH",
}


class Outages:
    """The resources down right now; safe to share between job threads."""

    def __init__(self) -> None:
        self._down: dict[str, str] = {}
        # The kinds of problem logged in each outage (see _kind).
        self._said: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        # The daemon retries by itself; after a one-shot command (poll,
        # sweep) the work waits for the next one.
        self.retry = "the next run retries"
        # Told of each refused login (resource, problem): the App keeps the
        # mailbox's in the database, for `status` in another process.
        self.on_login_refused: Callable[[str, str], None] | None = None

    def down(
        self,
        resource: str,
        problem: str,
        login_refused: bool = False,
        error: Exception | None = None,
    ) -> bool:
        """Note a failure; True (and one ERROR line) when an outage starts.

        `login_refused`: the server answered but refused the login, which the
        line's start says rather than "unreachable" (`problem` says what to
        check); so does an `error` of a class in _HEADINGS."""
        with self._lock:
            started = resource not in self._down
            self._down[resource] = problem
            said = self._said.setdefault(resource, set())
            new_kind = _kind(problem) not in said
            said.add(_kind(problem))
        what = _WHAT.get(resource, f"{resource} down")
        for kind, heading in _HEADINGS.items():
            if isinstance(error, kind):
                what = heading
        if login_refused:
            what = _LOGIN_REFUSED.get(resource, what)
            if self.on_login_refused is not None:
                self.on_login_refused(resource, problem)
        if started:
            log.error("%s, %s: %s", what, self.retry, problem)
        elif new_kind:
            log.error("%s (still), %s; now: %s", what, self.retry, problem)
        else:
            log.debug("%s still down: %s", resource, problem)
        return started

    def up(self, resource: str) -> bool:
        """Note a success; True (and one WARNING line) when an outage ends."""
        with self._lock:
            ended = self._down.pop(resource, None) is not None
            self._said.pop(resource, None)
        if ended:
            log.warning("%s back: work resumed", resource)
        return ended

    def is_down(self, resource: str) -> bool:
        with self._lock:
            return resource in self._down

    def current(self) -> dict[str, str]:
        with self._lock:
            return dict(self._down)


def _kind(problem: str) -> str:
    """A problem without what changes from one attempt to the next (ports,
    counts, ids, times): two attempts failing alike are one kind."""
    return re.sub(r"\d+", "#", problem)
