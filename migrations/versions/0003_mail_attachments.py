"""a mail's attachments, listed

The raw bytes keep every attachment; this column lists them (part, name as
decoded, content type, size) so that `show` can say what a mail carried
without parsing it again. Mails recorded before it have none listed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail", schema=None) as batch_op:
        batch_op.drop_column("attachments")
