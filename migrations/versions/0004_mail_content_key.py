"""a mail's content key; a re-encoded duplicate's bytes

`mail.content_key` names what the author wrote (mailbot/redelivery.py), kept
on the first incoming mail recorded with it, so that a copy re-encoded on
the way is known as a duplicate. Mails recorded before have none: they are
found by their Message-ID and keyed when a copy of them comes. The unique
index makes the look-up one probe, and two copies recorded at once cannot
both keep the key. `duplicate.raw` keeps the bytes of such a copy.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_key", sa.String(64), nullable=True))
    op.create_index("ix_mail_content_key", "mail", ["content_key"], unique=True)
    with op.batch_alter_table("duplicate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("duplicate", schema=None) as batch_op:
        batch_op.drop_column("raw")
    op.drop_index("ix_mail_content_key", table_name="mail")
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.drop_column("content_key")
