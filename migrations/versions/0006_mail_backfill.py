"""a mail stored by `ingest --backfill` says so

`ingest --backfill` records and sends nothing, but the intent lived only in
the command: a backfilled mail quarantined and retried later (`quarantine
retry`, or the daemon's automatic retry) was answered like a new one.
`mail.backfill` keeps it with the mail. Mails stored before are taken as
not backfilled (what every later processing of them assumed so far).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "backfill", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.drop_column("backfill")
