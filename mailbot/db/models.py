"""SQLAlchemy models: every table mailbot keeps.

All times are stored as UTC. Columns use `UtcDateTime`, which hands back aware
datetimes on every engine (SQLite keeps no zone of its own).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored naive in UTC and read back aware in UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Mail(Base):
    """One mail, incoming or outgoing, with its raw bytes.

    `state` is "received" (raw stored, not yet processed), "processed" or
    "quarantined" (set aside with `stage` and `error`).
    """

    __tablename__ = "mail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    # What the author wrote (redelivery.content_key), on the first incoming
    # mail recorded with it: a copy re-encoded on the way is a duplicate.
    content_key: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    arrived_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    thread_reason: Mapped[str | None] = mapped_column(String(16))
    tlp: Mapped[str | None] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL"), index=True
    )
    site: Mapped[str | None] = mapped_column(String(100))
    defects: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What the raw bytes carry as attachments: part, name, content type,
    # size (None for mails recorded before this was listed).
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    stage: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Stored by `ingest --backfill`: recorded, answered by nothing, however
    # often it is processed again (a quarantine retry, a resumed crash).
    backfill: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    incident: Mapped[Incident | None] = relationship(back_populates="mails")

    @property
    def ident(self) -> str:
        """How log lines name this mail: its Message-ID (cut: the sender
        chose it, up to kilobytes), else its id."""
        if self.message_id:
            return (
                self.message_id
                if len(self.message_id) <= 120
                else (self.message_id[:119] + "\u2026")
            )
        return f"mail {self.id}"


class Duplicate(Base):
    """A delivery recognised as a mail already stored (counted in `status`)."""

    __tablename__ = "duplicate"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mail.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(Text, default="")
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The delivery's own bytes when they differ from the mail's beyond the
    # trace headers (re-encoded on the way); None for a copy of the bytes.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)


# An incident's clocks are chased while it is open or resolved (the closure
# report is still owed); closing it or calling it a false positive ends that.
CHASED_STATUSES = ("open", "resolved")


class Incident(Base):
    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    site: Mapped[str | None] = mapped_column(String(100))
    ngi: Mapped[str | None] = mapped_column(String(100))
    tlp: Mapped[str] = mapped_column(String(16), default="AMBER")
    tlp_locked: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    discovered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    isolated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL")
    )

    mails: Mapped[list[Mail]] = relationship(back_populates="incident")
    aliases: Mapped[list[Alias]] = relationship(cascade="all, delete-orphan")


class Alias(Base):
    """Another name of an incident: a date-only tag, a merged or adopted tag.

    A date-only tag (kind "date") may belong to several incidents of one day;
    the other kinds name exactly one incident.
    """

    __tablename__ = "alias"
    __table_args__ = (UniqueConstraint("alias", "incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE")
    )


class MailCitation(Base):
    """A mail mailbot had not stored when a filed mail cited it (In-Reply-To,
    References): the cited mail, arriving later, joins the citing mail's
    incident (a member's answer that reached the mailbox before the report
    it answers). `ref_key` is the SHA-256 of the cited Message-ID: a short
    key to index, whatever the Message-ID's length."""

    __tablename__ = "mail_citation"

    ref_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    mail_id: Mapped[int] = mapped_column(
        ForeignKey("mail.id", ondelete="CASCADE"), primary_key=True
    )
    mail: Mapped[Mail] = relationship()


class TagCounter(Base):
    """The last daily counter used for PREFIX-YYYYMMDD, bumped atomically."""

    __tablename__ = "tag_counter"

    day: Mapped[str] = mapped_column(String(40), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class IncidentSite(Base):
    """A site involved in an incident; each owes its own clocks."""

    __tablename__ = "incident_site"
    __table_args__ = (UniqueConstraint("incident_id", "site"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    site: Mapped[str] = mapped_column(String(100))


class FieldValue(Base):
    """One Analysis Guideline value, with the mail and place it came from.

    A mail gives each (field, value) once (fields.record_findings). No index
    holds `value`: a value has no bound, and PostgreSQL refuses an index
    entry over 2,704 bytes (migration 0005).
    """

    __tablename__ = "field_value"
    __table_args__ = (
        Index("ix_field_value_incident_field", "incident_id", "field"),
        Index("ix_field_value_mail_id", "mail_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE")
    )
    mail_id: Mapped[int] = mapped_column(ForeignKey("mail.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="text")
    part: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[int] = mapped_column(Integer, default=0)


class Deadline(Base):
    """One clock a site owes: started, due, and how it ended."""

    __tablename__ = "deadline"
    __table_args__ = (
        Index("ix_deadline_next_action_at", "next_action_at"),
        Index("ix_deadline_incident_rule", "incident_id", "rule", "site"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE")
    )
    rule: Mapped[str] = mapped_column(String(40))
    site: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    met_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    start_mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail.id", ondelete="SET NULL")
    )
    # When the sweep next has something to do for this clock (its due time,
    # then each chase level's time); NULL once nothing is left to do.
    next_action_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    level: Mapped[int] = mapped_column(Integer, default=0)


class Chase(Base):
    """A reminder sent for a deadline, at most once per level."""

    __tablename__ = "chase"
    __table_args__ = (UniqueConstraint("deadline_id", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deadline_id: Mapped[int] = mapped_column(
        ForeignKey("deadline.id", ondelete="CASCADE")
    )
    level: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail.id", ondelete="SET NULL")
    )

    # Set before the mail has an id: one flush then writes a batch of both.
    mail: Mapped[Mail | None] = relationship()


# Outbox states of a mail that reached no one and never will by itself:
# failed for good, withdrawn (its reason gone), held (by the caps or the
# brake, until released), dropped by the operator (`mailbot outbox drop`).
NOT_SENT = ("failed", "withdrawn", "held", "dropped")


class Outbox(Base):
    """A mail to deliver. `state`: pending, sending, sent, uncertain, failed,
    held, withdrawn, dropped."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_try_at"),
        # The brake counts the last hour's and day's mail: a range, not a scan.
        Index("ix_outbox_queued_at", "queued_at"),
        # One row per outgoing mail: a second would send it twice.
        Index("ux_outbox_mail_id", "mail_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mail.id", ondelete="CASCADE"))
    envelope_from: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_try_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    # Set before the mail has an id: one flush then writes a batch of both.
    mail: Mapped[Mail] = relationship()

    # A row "sending" whose lease ran out: its sender stopped during the
    # exchange, and the mail is uncertain, though send.claim.expire_leases has
    # not marked it yet. `status`, `outbox` and the sender all call it so.
    @classmethod
    def lease_lapsed(cls, now: dt.datetime) -> ColumnElement[bool]:
        return and_(cls.state == "sending", cls.lease_until < now)

    def state_at(self, now: dt.datetime) -> str:
        """The row's state, "uncertain" for a lapsed lease (lease_lapsed)."""
        lapsed = self.lease_until is not None and self.lease_until < now
        return "uncertain" if self.state == "sending" and lapsed else self.state


class Audit(Base):
    """The incident's trail: who did what, when, through which mail."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail.id", ondelete="SET NULL")
    )


class FolderState(Base):
    """Per mailbox folder: its UIDVALIDITY and the highest UID done."""

    __tablename__ = "folder_state"

    source: Mapped[str] = mapped_column(String(400), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)


class PendingUid(Base):
    """A UID the server listed but whose body did not come; retried later."""

    __tablename__ = "pending_uid"

    source: Mapped[str] = mapped_column(String(400), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    alerted: Mapped[bool] = mapped_column(default=False)


class ServiceState(Base):
    """Small named facts about the service, such as the last successful poll."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ContactFailure(Base):
    """A recipient whose mail bounced; a permanent failure stops chasing it."""

    __tablename__ = "contact_failure"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    permanent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str | None] = mapped_column(String(16))
    diagnostic: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail.id", ondelete="SET NULL")
    )
    original_message_id: Mapped[str | None] = mapped_column(String(998))
