"""field values of any length; field values found by their mail

The unique constraint on (incident_id, field, value, mail_id) put whole
values into an index: PostgreSQL refuses an index entry over 2,704 bytes,
and a long log line or URL in non-Latin script made one, so the mail could
not be recorded. A mail gives each value once (mailbot/fields.py), which
the constraint only repeated. The index on mail_id serves what looks values
up by their mail (reextract, a closure report's values replaced, a mail's
rows deleted with it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("field_value", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_field_value_incident_id_field_value_mail_id", type_="unique"
        )
        batch_op.create_index("ix_field_value_mail_id", ["mail_id"], unique=False)


def downgrade() -> None:
    # Values over 2,704 bytes, if any were stored, make the constraint fail
    # on PostgreSQL: such a database stays at this revision.
    with op.batch_alter_table("field_value", schema=None) as batch_op:
        batch_op.drop_index("ix_field_value_mail_id")
        batch_op.create_unique_constraint(
            "uq_field_value_incident_id_field_value_mail_id",
            ["incident_id", "field", "value", "mail_id"],
        )
