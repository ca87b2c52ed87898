"""The IMAP source: per folder, UIDVALIDITY and the highest UID done.

Mail is fetched with BODY.PEEK[] (flags stay as they are) in batches of
explicit UID lists, and marked done only in the transaction that stored its
results. A UID whose body the server did not send is retried by itself and,
failing that, kept pending with backoff (BR-22, fetch/pending.py). A server
that drops the connection in the middle of a batch (Dovecot says BYE when
it cannot read a message file) has its batch's UIDs asked one by one in the
next session, so the one it cannot read is kept pending alone and the
others go on; unless the server fails every FETCH, even of mail it read
before: then no UID is blamed. A changed UIDVALIDITY means the stored UIDs
name nothing any more: everything is fetched again and the dedupe key
recognises the mails already stored (BR-25).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator

from imapclient import IMAPClient
from sqlalchemy import delete, select

from mailbot.ahead import read_ahead
from mailbot.app import App
from mailbot.clock import as_utc
from mailbot.connection import IMAP, hint, tls_context
from mailbot.db.models import FolderState, Mail, PendingUid
from mailbot.errors import (
    FolderMissing,
    LoginRefused,
    ServerFailsFetch,
    SessionEndedAtMail,
    TemporaryError,
)
from mailbot.fetch import PollResult
from mailbot.fetch.pending import PendingUids
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.service import IMAP_FAILS_FETCH_KEY, note_imap_problem

log = logging.getLogger(__name__)

FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE"]
# The first byte of a body: enough to make the server open a message file.
PROBE_ITEMS = [b"BODY.PEEK[]<0.1>"]
# The bodies of one FETCH batch are held in memory together: bound them.
MAX_BATCH_BYTES = 4 * 1024 * 1024


def connect(app: App) -> IMAPClient:
    """A logged-in client; certificates are verified unless tls is "none"."""
    s = app.settings.imap
    context = tls_context(s.ca_file, "imap")
    try:
        client = IMAPClient(
            s.host,
            port=s.port,
            ssl=s.tls == "ssl",
            ssl_context=context,
            timeout=s.timeout,
        )
    except (OSError, IMAPClient.Error) as exc:
        raise TemporaryError(
            f"IMAP {s.host}:{s.port}: {_said(exc)}{hint(exc, s.tls, IMAP)}"
        ) from exc
    # Aware INTERNALDATEs: the arrival time is stored as UTC.
    client.normalise_times = False
    try:
        if s.tls == "starttls":
            client.starttls(context)
    except (OSError, IMAPClient.Error) as exc:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise TemporaryError(
            f"IMAP {s.host}:{s.port}: {_said(exc)}{hint(exc, s.tls, IMAP)}"
        ) from exc
    try:
        client.login(s.username, s.password)
    except IMAPClient.Error as exc:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise LoginRefused(
            f"IMAP {s.host}:{s.port}: login as {s.username!r} refused ({_said(exc)}):"
            " check [imap] username and password"
        ) from exc
    except OSError as exc:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise TemporaryError(f"IMAP {s.host}:{s.port}: {_said(exc)}") from exc
    return client


def _said(exc: BaseException) -> str:
    """What a server or the network said, as text (imaplib gives bytes)."""
    said = exc.args[0] if len(exc.args) == 1 else exc
    if isinstance(said, bytes):
        return said.decode("utf-8", "replace")
    # imapclient words some errors as the repr of the server's bytes.
    text = str(said)
    if len(text) > 2 and text[0] == "b" and text[1] in "'\"" and text[-1] == text[1]:
        return text[2:-1]
    return text


class Folder(PendingUids):
    """One folder of one account, as mailbot tracks it."""

    def __init__(self, app: App, client: IMAPClient) -> None:
        self.app = app
        self.client = client
        s = app.settings.imap
        self.name = s.folder
        self.source = f"imap://{s.username}@{s.host}:{s.port}/{s.folder}"
        self.uidvalidity = 0
        # UID -> what the server said when it refused to FETCH it alone.
        self.refused: dict[int, str] = {}
        # UID -> RFC822.SIZE, as the server said before the FETCH of bodies:
        # what names a mail that is gone before its body came.
        self.known_sizes: dict[int, int] = {}
        # Whether the server was seen to read mail in this session (a body
        # came, or `vouch` found so): only then does a mail asked alone
        # that fails count an attempt against that mail.
        self.vouched = False

    def select(self) -> int:
        """Select read-only and reconcile UIDVALIDITY; returns the last UID done."""
        try:
            info = self.client.select_folder(self.name, readonly=True)
        except IMAPClient.Error as exc:
            raise FolderMissing(
                f"{self.source}: the folder {self.name!r} cannot be opened"
                f" ({_said(exc)}): check [imap] folder"
            ) from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        with self.app.db.transaction() as session:
            state = session.get(FolderState, self.source)
            if state is None:
                state = FolderState(source=self.source, uidvalidity=self.uidvalidity)
                session.add(state)
                state.last_uid = 0
            elif state.uidvalidity != self.uidvalidity:
                log.warning(
                    "%s UIDVALIDITY changed from %d to %d: resyncing every mail",
                    self.source,
                    state.uidvalidity,
                    self.uidvalidity,
                )
                session.execute(
                    delete(PendingUid).where(PendingUid.source == self.source)
                )
                state.uidvalidity, state.last_uid = self.uidvalidity, 0
            return int(state.last_uid)

    def new_uids(self, last_uid: int) -> list[int]:
        # `UID n:*` answers the highest UID even when it is not above n.
        found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID, asked in large chunks (cheap: no bodies)."""
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), 5000):
            answer = self.client.fetch(uids[start : start + 5000], [b"RFC822.SIZE"])
            for uid, item in answer.items():
                size = item.get(b"RFC822.SIZE")
                if isinstance(size, int):
                    sizes[uid] = size
        self.known_sizes = sizes
        return sizes

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, RawMail | None]]:
        """(uid, delivery or None when the body never came), in UID order.

        A tagged NO for the whole FETCH (a server that cannot read one of its
        messages refuses every command naming it) is answered by asking each
        UID alone, so the one refused cannot hold back the others; why a UID
        was refused is kept in `refused` for `not_delivered`.
        """
        wanted = set(uids)
        batch_refused: str | None = None
        try:
            response = self._bodies(uids)
        except IMAPClient.Error as exc:
            log.debug("%s FETCH of %d UIDs refused: %s", self.source, len(uids), exc)
            response, batch_refused = {}, _said(exc)
        answers: list[tuple[int, dict]] = []
        for uid in uids:
            item = response.get(uid, {}) if uid in wanted else {}
            if item.get(b"BODY[]") is None:
                # Some servers answer without the body or split it: ask again
                # for this UID alone before giving up for this cycle.
                item = self._fetch_alone(uid)
            answers.append((uid, item))
        if (
            batch_refused is not None
            and len(uids) > 1
            and all(uid in self.refused for uid in uids)
        ):
            # Every UID refused, each alone too: the server's state, not its
            # messages' (kept pending, every one would be given up).
            for uid in uids:
                self.refused.pop(uid, None)
            raise TemporaryError(
                f"{self.source}: the server refuses to FETCH any mail ({batch_refused})"
            )
        for uid, item in answers:
            body = item.get(b"BODY[]")
            if body is None:
                yield uid, None
                continue
            self.refused.pop(uid, None)
            self.vouched = True
            yield (
                uid,
                RawMail(bytes(body), self._arrival(item), self.origin(uid)),
            )

    def vouch(self) -> None:
        """Ask the server for the first byte of mail it delivered before, so
        that a mail asked alone is blamed for a failure only when the server
        reads other mail; ServerFailsFetch when it fails that FETCH too.

        A server whose index is broken ends the session at every FETCH:
        counted against each mail in turn, every mail would be given up.
        With no such mail still in the folder nothing is known, and a mail
        that fails is blamed as before.
        """
        known = self._read_before()
        try:
            if known:
                self.client.fetch(known, PROBE_ITEMS)
        except IMAPClient.AbortError as exc:
            self._fails_every_fetch(known, "ended the session", exc)
        except IMAPClient.Error as exc:
            self._fails_every_fetch(known, "refused it", exc)
        self.vouched = True

    def _read_before(self) -> list[int]:
        """UIDs of the last few mails read from this folder and stored."""
        place = f"{self.source};UIDVALIDITY={self.uidvalidity};UID="
        with self.app.db.transaction() as session:
            origins = session.scalars(
                select(Mail.origin)
                .where(Mail.origin.startswith(place, autoescape=True))
                .order_by(Mail.id.desc())
                .limit(3)
            )
            return sorted(
                int(tail) for o in origins if (tail := o[len(place) :]).isdigit()
            )

    def _fails_every_fetch(self, known: list[int], what: str, exc: Exception) -> None:
        problem = (
            f"{self.source}: the server fails every FETCH, even of mail it"
            f" delivered before (UIDs {', '.join(map(str, known))}: it {what},"
            f" {_said(exc)[:300]}): the server's fault, not a mail's; no mail is"
            " counted against [source] max_fetch_attempts meanwhile; look at the"
            " server's log (Dovecot: its index files, the owner and mode of the"
            " mail files)"
        )
        note_imap_problem(self.app, IMAP_FAILS_FETCH_KEY, problem)
        raise ServerFailsFetch(problem) from exc

    def _fetch_alone(self, uid: int) -> dict:
        try:
            return dict(self._bodies([uid]).get(uid, {}))
        except IMAPClient.Error as exc:
            self.refused[uid] = _said(exc)[:300]
            return {}

    def _bodies(self, uids: list[int]) -> dict:
        """The FETCH of `uids`' bodies; a connection that ends under it is
        remembered against them before the error goes on.

        The server may have ended the session because of one of these mails
        (Dovecot says BYE when it cannot read a message file), and would do
        so again at every reconnect: a batch's UIDs are made pending, to be
        asked alone next time, and a UID asked alone counts an attempt, so
        that it alone waits, with backoff, and is given up in the end.
        """
        try:
            return self.client.fetch(uids, FETCH_ITEMS)
        except IMAPClient.AbortError as exc:
            if len(uids) > 1:
                self._ask_alone(uids)
                raise SessionEndedAtMail(
                    f"{self.source} UIDs {uids[0]} to {uids[-1]}: the server ended"
                    f" the session during their FETCH ({_said(exc)[:300]}); they"
                    " are asked for one by one next time"
                ) from exc
            self.mark_pending(uids[0], _said(exc)[:300], gone=True)
            raise SessionEndedAtMail(
                f"{self.source} UID {uids[0]}: the server ended the session"
                f" when asked for it ({_said(exc)[:300]}); it waits alone, with"
                " backoff, the others are read"
            ) from exc

    def origin(self, uid: int) -> str:
        # UIDVALIDITY is part of a mail's place: after a change, UID 5 is
        # another mail, and the same mail at UID 5 again is no refetch.
        return f"{self.source};UIDVALIDITY={self.uidvalidity};UID={uid}"

    def _arrival(self, item: dict) -> dt.datetime:
        when = item.get(b"INTERNALDATE")
        return as_utc(when) if isinstance(when, dt.datetime) else self.app.clock.now()


def batches(
    sizes: dict[int, int],
    uids: list[int],
    count: int,
    max_bytes: int,
    alone: frozenset[int] | set[int] = frozenset(),
) -> Iterator[list[int]]:
    """`uids` in order, cut into batches of at most `count` mails and about
    `max_bytes` (a bigger mail goes alone), so memory stays flat however
    large the mails of one batch are. A UID of `alone` (one that failed
    before) is a batch of its own, so that it can fail alone."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= count or total + size > max_bytes or uid in alone):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
        if uid in alone:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def catch_up(
    app: App,
    client: IMAPClient,
    still_leader: Callable[[], bool] | None = None,
    stopping: threading.Event | None = None,
) -> PollResult:
    """Fetch and process everything new in the folder, and due pending UIDs.

    `still_leader` is asked before each batch: a daemon that lost its leader
    lock stops, so that it and the new leader do not fetch the same mail.
    `stopping` is looked at before each mail: a daemon told to stop ends
    after the mail under way, the rest is read at its next start.
    """
    folder = Folder(app, client)
    last_uid = folder.select()
    pending = set(folder.due_pending())
    uids = sorted(pending | set(folder.new_uids(last_uid)))
    result = PollResult()
    try:
        _fetch_batches(app, folder, uids, pending, result, still_leader, stopping)
    finally:
        # Workers that read ahead are let go between polls (a daemon idles).
        if app.read_ahead is not None:
            app.read_ahead.rest()
    return result


def _fetch_batches(
    app: App,
    folder: Folder,
    uids: list[int],
    pending: set[int],
    result: PollResult,
    still_leader: Callable[[], bool] | None,
    stopping: threading.Event | None,
) -> None:
    # One stream over every batch, so that reading ahead runs on across
    # their borders instead of emptying at each.
    fetched = _fetched(app, folder, uids, pending, still_leader)
    for uid, delivery in read_ahead(app, fetched, len(uids), _delivered_raw):
        if stopping is not None and stopping.is_set():
            log.info(
                "%s stopping: %d of %d mails read, the rest at the next start",
                folder.source,
                result.handled,
                len(uids),
            )
            return
        if delivery is None:
            if folder.not_delivered(uid):
                result.pending += 1
            else:
                result.gone += 1
            continue
        done = folder.mark_done(uid, pending=uid in pending)
        outcome = process_delivery(app, delivery, done)
        result.add(outcome)


def _fetched(
    app: App,
    folder: Folder,
    uids: list[int],
    pending: set[int],
    still_leader: Callable[[], bool] | None,
) -> Iterator[tuple[int, RawMail | None]]:
    """The mails of `uids` in FETCH batches (a pending UID alone), asking
    before each batch whether this instance still leads."""
    count = app.settings.source.batch_size
    sizes = folder.sizes(uids)
    for batch in batches(sizes, uids, count, MAX_BATCH_BYTES, alone=pending):
        if still_leader is not None and not still_leader():
            log.warning("%s leader lock lost: stopping this poll", folder.source)
            return
        if len(batch) == 1 and not folder.vouched:
            # A mail asked alone that fails is counted: first make sure
            # that the server reads mail at all.
            folder.vouch()
        yield from folder.fetch(batch)


def _delivered_raw(fetched: tuple[int, RawMail | None]) -> bytes | None:
    return fetched[1].raw if fetched[1] is not None else None


def poll_imap(app: App) -> PollResult:
    client = connect(app)
    try:
        return catch_up(app, client)
    except (SessionEndedAtMail, IMAPClient.AbortError) as exc:
        # At a mail's FETCH (which says what becomes of it) or elsewhere, the
        # session is gone alike: the next poll reads on.
        s = app.settings.imap
        ended = (
            str(exc)
            if isinstance(exc, SessionEndedAtMail)
            else f"IMAP {s.host}:{s.port}: the server ended the session ({_said(exc)})"
        )
        raise TemporaryError(f"{ended}; what was read is kept: poll again") from exc
    finally:
        # The session may be gone already; there is nothing left to close.
        with contextlib.suppress(OSError, IMAPClient.Error):
            client.logout()
