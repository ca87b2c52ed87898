"""one outbox row per outgoing mail

Each row delivers one mail of its own (outbox.py makes them together): a
second row for the same mail would send it twice. The unique index says so
in the database, and serves the joins from mail to outbox (status, bounces,
the brake) and the cascade when a mail is deleted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 06:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ux_outbox_mail_id", ["mail_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ux_outbox_mail_id")
