"""a mail that cites one not yet stored keeps the citation

A member's answer may reach the mailbox before the report it answers (the
site wrote to both at once): the answer opened an incident of its own and
the report, arriving later, another one, acknowledged and chased although
the member had judged it. `mail_citation` keeps, for a filed mail, the
Message-IDs it cites that no stored mail had, so that the cited mail joins
its incident when it arrives. Mails filed before keep no citations.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_citation",
        sa.Column("ref_key", sa.String(length=64), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["mail.id"],
            name=op.f("fk_mail_citation_mail_id_mail"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ref_key", "mail_id", name=op.f("pk_mail_citation")),
    )


def downgrade() -> None:
    op.drop_table("mail_citation")
