"""a manual journal entry's idempotency key; the decisions on tampered evidence sealed

Revision ID: 0040
Revises: 0039
Create Date: 2026-11-24 20:30:00.000000

- ``journal_entries.idempotency_key``: the key of the form that wrote a manual entry (posted or saved as a draft),
  unique, so that a double submit writes the entry once. NULL for the entries written before, and for those a
  money event posts (the wallet movement carries that key); a NULL value is left out of an entry's seal, so the
  entries sealed before keep their seals.
- The decisions on tampered evidence made so far are sealed (``evidence_decisions``), with the key the application
  runs with: from now on a decision vouches for its row only while its own seal holds.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("journal_entries", sa.Column("idempotency_key", sa.String(length=100), nullable=True))
    op.create_index("uq_journal_entries_idempotency_key", "journal_entries", ["idempotency_key"], unique=True)
    from backoffice.evidence import sealing  # with the key the application runs with: the upgrade runs in its context

    sealing.seal(op.get_bind(), [("evidence_decisions", sa.true())])


def downgrade():
    op.drop_index("uq_journal_entries_idempotency_key", table_name="journal_entries")
    op.drop_column("journal_entries", "idempotency_key")
