"""A folder's pending UIDs: mail listed by the server whose body has not
come yet, retried with backoff, and given up by name after [source]
max_fetch_attempts; and the step that marks a UID done, for the mail's own
transaction. `imap.Folder` is one of these (BR-22).
"""

from __future__ import annotations

import datetime as dt
import logging

from imapclient import IMAPClient
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.db.models import FolderState, PendingUid
from mailbot.message_text import decode_header_text

log = logging.getLogger(__name__)

# A UID done: the folder's highest moves up to it, and it is pending no more.
_MARK_DONE = (
    update(FolderState)
    .where(
        FolderState.source == bindparam("in_source"),
        FolderState.uidvalidity == bindparam("in_uidvalidity"),
        FolderState.last_uid < bindparam("done"),
    )
    .values(last_uid=bindparam("done"))
)
_NOT_PENDING = delete(PendingUid).where(
    PendingUid.source == bindparam("in_source"),
    PendingUid.uidvalidity == bindparam("in_uidvalidity"),
    PendingUid.uid == bindparam("done"),
)


class PendingUids:
    """The pending-UID bookkeeping of one folder of one account."""

    app: App
    client: IMAPClient
    source: str
    uidvalidity: int
    # UID -> what the server said when it refused to FETCH it alone.
    refused: dict[int, str]
    # UID -> RFC822.SIZE, as the server said before the FETCH of bodies.
    known_sizes: dict[int, int]

    def due_pending(self) -> list[int]:
        now = self.app.clock.now()
        with self.app.db.transaction() as session:
            return list(
                session.scalars(
                    select(PendingUid.uid)
                    .where(
                        PendingUid.source == self.source,
                        PendingUid.uidvalidity == self.uidvalidity,
                        PendingUid.next_try_at <= now,
                        # Given up after max_fetch_attempts (said in the log).
                        PendingUid.alerted.is_(False),
                    )
                    .order_by(PendingUid.uid)
                )
            )

    def _ask_alone(self, uids: list[int]) -> None:
        """Make `uids` pending, due now, without counting an attempt."""
        now = self.app.clock.now()
        with self.app.db.transaction() as session:
            for uid in uids:
                if session.get(PendingUid, (self.source, self.uidvalidity, uid)):
                    continue
                session.add(
                    PendingUid(
                        source=self.source,
                        uidvalidity=self.uidvalidity,
                        uid=uid,
                        attempts=0,
                        next_try_at=now,
                        alerted=False,
                    )
                )
        log.info(
            "%s the connection ended during a FETCH of UIDs %d to %d:"
            " they are asked one by one next time",
            self.source,
            uids[0],
            uids[-1],
        )

    def mark_done(self, uid: int, pending: bool = True):  # type: ignore[no-untyped-def]
        """The step that marks `uid` done, for the mail's own transaction.

        One UPDATE, and a DELETE only for a UID that was pending: this runs
        once per mail, so it must not load rows it does not change.
        """

        def _mark(session: Session) -> None:
            # Core statements on the mail's connection: the session holds no
            # folder rows (select and mark_pending use their own), and the
            # ORM's own statement cost five times as much, once per mail.
            connection = session.connection()
            place = {
                "in_source": self.source,
                "in_uidvalidity": self.uidvalidity,
                "done": uid,
            }
            connection.execute(_MARK_DONE, place)
            if pending:
                connection.execute(_NOT_PENDING, place)

        return _mark

    def not_delivered(self, uid: int) -> bool:
        """Deal with a UID whose body did not come: True when it is kept
        pending (to be fetched again), False when it is gone from the folder
        (expunged by someone since the SEARCH: nothing is left to read)."""
        refused = self.refused.pop(uid, None)
        if not self._in_folder(uid):
            with self.app.db.transaction() as session:
                self.mark_done(uid)(session)
            # Never recorded: said so that a person can look for it.
            size = self.known_sizes.get(uid)
            log.warning(
                "%s UID %d%s was moved or deleted on the server before mailbot"
                " read it: not recorded; if it is to be, find it (another"
                " folder, the trash) and give it to `mailbot ingest FILE`",
                self.source,
                uid,
                "" if size is None else f" ({size:,} bytes)",
            )
            return False
        self.mark_pending(uid, refused)
        return True

    def _in_folder(self, uid: int) -> bool:
        """Whether the folder still holds `uid` (True when the server will
        not say: the UID is then kept pending, never dropped on a guess)."""
        try:
            return uid in self.client.search(["UID", str(uid)])
        except IMAPClient.AbortError:
            raise
        except IMAPClient.Error:
            return True

    def mark_pending(
        self, uid: int, refused: str | None = None, gone: bool = False
    ) -> None:
        """Count a failed fetch of `uid` and retry it later, or give it up
        after [source] max_fetch_attempts; `gone`: the connection is lost, so
        the server is asked nothing more (the mail's subject)."""
        now = self.app.clock.now()
        limit = self.app.settings.source.max_fetch_attempts
        if gone:
            what = f"the server ended the session when asked for it ({refused})"
        elif refused is not None:
            what = f"the server refused to FETCH it ({refused})"
        else:
            what = "no body in FETCH"
        with self.app.db.transaction() as session:
            row = session.get(PendingUid, (self.source, self.uidvalidity, uid))
            if row is None:
                row = PendingUid(
                    source=self.source,
                    uidvalidity=self.uidvalidity,
                    uid=uid,
                    attempts=0,
                    alerted=False,
                )
                session.add(row)
            row.attempts += 1
            row.next_try_at = now + dt.timedelta(minutes=min(2**row.attempts, 240))
            state = session.get(FolderState, self.source)
            if state is not None and state.uidvalidity == self.uidvalidity:
                state.last_uid = max(int(state.last_uid), uid)
            given_up = row.attempts >= limit and not row.alerted
            if given_up:
                # Not fetched again ([source] max_fetch_attempts): the rest
                # of the folder goes on without it.
                row.alerted = True
            attempts = row.attempts
        if given_up:
            log.error(
                "%s UIDVALIDITY %d UID %d%s: %s after %d fetches; mailbot"
                " fetches it no more: look at it on the server (webmail, another"
                " client); save it and give it to `mailbot ingest FILE` if it"
                " is to be recorded, then delete it, or move it out of the"
                " folder and back (a new UID, fetched again)",
                self.source,
                self.uidvalidity,
                uid,
                "" if gone else self._subject(uid),
                "body not delivered" if refused is None else what,
                attempts,
            )
        else:
            log.warning(
                "%s UID %d: %s, retrying later (attempt %d of %d)",
                self.source,
                uid,
                what,
                attempts,
                limit,
            )

    def _subject(self, uid: int) -> str:
        """`, subject "..."` as the server's ENVELOPE gives it, or ""."""
        try:
            item = self.client.fetch([uid], [b"ENVELOPE"]).get(uid, {})
        except IMAPClient.AbortError:
            raise
        except IMAPClient.Error:
            return ""
        envelope = item.get(b"ENVELOPE")
        subject = getattr(envelope, "subject", None)
        if not subject:
            return ""
        if isinstance(subject, bytes):
            subject = subject.decode("utf-8", "replace")
        return f", subject {decode_header_text(subject)[:120]!r}"
