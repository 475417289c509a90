"""seals: found by when they were sealed, for the nightly's rows sealed since the last anchor

Revision ID: 0045
Revises: 0044
Create Date: 2026-11-25 11:00:00.000000

- ``seals (kind, sealed_at)``: each night verifies in full the rows sealed since shortly before the last anchor (a
  posting, a decision, a run finished after its row was inserted); they were found by a scan of every seal of the
  kind, which grows with all history, where the rest of the night's work grows with the day's.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_seals_sealed_at", "seals", ["kind", "sealed_at"], unique=False)


def downgrade():
    op.drop_index("ix_seals_sealed_at", table_name="seals")
