"""One pass over the outbox: what became of its mails, and what it learnt
about the relay.

A refusal is a mail's own only when the server takes other mail in the
same pass. A relay that refuses every mail (its login, its policy, one
permanent answer at DATA to all) is an outage: the mail waits, no attempt
spent, and `status` names the problem (the service_state keys below).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailbot.app import App
from mailbot.db.models import Outbox, ServiceState

log = logging.getLogger(__name__)

# Set (service_state) while the SMTP server refuses mailbot's login: `status`
# is unhealthy until a mail goes out again.
LOGIN_REFUSED_KEY = "smtp_login_refused"
# Set while the server refuses every mail at DATA with one permanent answer,
# or mailbot's sender or every recipient for its policy (RelayRefused): the
# relay's condition, not the mails'. `status` is unhealthy, naming it.
DATA_REFUSED_KEY = "smtp_refuses_every_mail"
# The last permanent refusal at DATA since the server last took a mail: its
# kind (refusal_kind) and the rows it failed (JSON). A lone mail refused for
# good fails (BR-37); the next one refused alike shows the relay refusing all.
DATA_REFUSAL_SEEN_KEY = "smtp_data_refusal_seen"
# While the server refuses every mail of a batch for now (an outage of the
# relay, not of the mails), a mail waits this share of its age, within bounds.
OUTAGE_WAIT_SHARE = 4
OUTAGE_WAIT_MAX = dt.timedelta(minutes=30)


@dataclass
class DeliveryCounts:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    # Not sent: the reason was gone when its turn came (withdraw.py).
    withdrawn: int = 0


@dataclass
class Batch:
    """What one pass over the outbox learnt about the server."""

    # The server took a mail: a temporary refusal is then the mail's own.
    took_mail: bool = False
    # Rows refused for now before the server took any mail: not yet charged
    # an attempt (the relay may be refusing everything).
    deferred: list[int] = field(default_factory=list)
    last_refusal: str = ""
    # Rows refused for good at DATA before the server took any mail, and
    # the kinds of answer (refusal_kind): one answer to every mail is the
    # relay's.
    refused_at_data: list[int] = field(default_factory=list)
    data_answers: dict[str, str] = field(default_factory=dict)


def note_service_problem(app: App, key: str, problem: str) -> None:
    with app.db.transaction() as session:
        row = session.get(ServiceState, key)
        if row is None:
            session.add(
                ServiceState(key=key, value=problem, updated_at=app.clock.now())
            )
        elif row.value != problem:
            row.value = problem


def end_batch(app: App, batch: Batch, counts: DeliveryCounts) -> None:
    if batch.took_mail:
        with app.db.transaction() as session:
            session.execute(
                delete(ServiceState).where(
                    ServiceState.key.in_(
                        (LOGIN_REFUSED_KEY, DATA_REFUSED_KEY, DATA_REFUSAL_SEEN_KEY)
                    )
                )
            )
        return
    if batch.refused_at_data and _refused_at_data(app, batch, counts):
        return
    if batch.deferred:
        app.outages.down(
            "smtp",
            f"every mail refused for now ({len(batch.deferred)} in this batch; "
            "not counted against [smtp] max_attempts, the mail waits): "
            f"{batch.last_refusal}",
        )


def _refused_at_data(app: App, batch: Batch, counts: DeliveryCounts) -> bool:
    """Decide on the mails refused for good at DATA in a pass in which the
    server took none; True when that is the relay's outage.

    Answers that differ judge each mail: each failed for good. So does a
    lone mail refused with an answer not seen since the server last took a
    mail (BR-37: a 550 is permanent). Two or more mails refused alike, in
    this pass or since the last mail taken, are the relay refusing
    everything: they wait (those failed already are queued again), no
    attempt spent, and `status` says so until a mail goes.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        seen = session.get(ServiceState, DATA_REFUSAL_SEEN_KEY)
        if len(batch.data_answers) > 1:
            fail_refused_at_data(session, batch, counts)
            return False
        [(kind, answer)] = batch.data_answers.items()
        earlier = json.loads(seen.value) if seen is not None else {}
        alike = earlier.get("kind") == kind
        rows = list(
            dict.fromkeys(
                [*(earlier.get("rows", []) if alike else []), *batch.refused_at_data]
            )
        )
        record = json.dumps({"kind": kind, "rows": rows})
        if seen is None:
            session.add(
                ServiceState(key=DATA_REFUSAL_SEEN_KEY, value=record, updated_at=now)
            )
        else:
            seen.value, seen.updated_at = record, now
        if len(rows) < 2:
            fail_refused_at_data(session, batch, counts)
            return False
        for row in session.scalars(
            select(Outbox).where(Outbox.id.in_(rows), Outbox.state == "failed")
        ):
            # Failed alone before; the relay's refusal, it turns out.
            row.state, row.attempts = "pending", max(row.attempts - 1, 0)
            row.next_try_at = now + outage_wait(row, now)
            log.warning(
                "outbox %d queued again: the relay refuses every mail alike", row.id
            )
    problem = (
        f"the SMTP server refuses every mail with one permanent answer ({answer};"
        f" {len(rows)} mail(s) since it last took one): the relay's condition, not"
        " the mails'. Check its log and its policy for [mailbot] address (a"
        " blocked sender, a quota, a content filter); the mail waits, no attempt"
        " spent, and leaves once the relay takes mail. If it is the mails'"
        " content, `mailbot outbox drop ID` dismisses one"
    )
    note_service_problem(app, DATA_REFUSED_KEY, problem)
    app.outages.down("smtp", problem)
    return True


def fail_refused_at_data(
    session: Session, batch: Batch, counts: DeliveryCounts
) -> None:
    """The server takes (or judges) mail after all: the mails it refused
    for good at DATA are refused for their own sake."""
    for row in session.scalars(
        select(Outbox).where(Outbox.id.in_(batch.refused_at_data))
    ):
        if row.state == "pending":
            row.state = "failed"
            row.attempts += 1
            counts.retried -= 1
            counts.failed += 1
            log.error("outbox %d delivery failed: %s", row.id, row.last_error)
    batch.refused_at_data.clear()


def charge(app: App, session: Session, ids: list[int], now: dt.datetime) -> None:
    """The server takes mail after all: the refusals of `ids` were theirs."""
    for row in session.scalars(select(Outbox).where(Outbox.id.in_(ids))):
        if row.state != "pending":
            continue
        row.attempts += 1
        if row.attempts >= app.settings.smtp.max_attempts:
            row.state = "failed"
            log.error("outbox %d delivery failed: %s", row.id, row.last_error)
        else:
            row.next_try_at = now + backoff(row.attempts)
    ids.clear()


_DATA_ANSWER_RE = re.compile(r"(\d{3})[ -]+(?:([245]\.\d{1,3}\.\d{1,3})\b)?")


def refusal_kind(error: str) -> str:
    """What a refusal at DATA says, less what differs between mails (a
    queue id, a score): the reply code and enhanced status code, else the
    reply code and its words."""
    text = error.split(": ", 1)[-1]
    found = _DATA_ANSWER_RE.match(text)
    if found is None:
        return text
    if found.group(2):
        return f"{found.group(1)} {found.group(2)}"
    words = re.sub(r"[^a-z ]+", "", text[3:].lower()).split()
    return f"{found.group(1)} {' '.join(words)}"


def outage_wait(row: Outbox, now: dt.datetime) -> dt.timedelta:
    """How long a mail waits while the server refuses every mail for now.

    A share of how long it has waited already, so a long outage is not
    hammered, and at most OUTAGE_WAIT_MAX, so it leaves soon after.
    """
    waited = (now - row.queued_at) / OUTAGE_WAIT_SHARE
    return max(dt.timedelta(minutes=1), min(waited, OUTAGE_WAIT_MAX))


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4, ... minutes, at most six hours."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))
