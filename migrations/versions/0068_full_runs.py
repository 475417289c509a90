"""the runs over everything, indexed apart from the runs over some customers: each check's latest full run is read
off them, however many runs over a customer were made since

Revision ID: 0068
Revises: 0067
Create Date: 2026-11-27 14:00:00.000000

The dashboard, the health check and the metrics read each check's newest result of a full run, and its latest full
run that succeeded. Walking back over every run found the full ones among the runs over some customers, which a
clerk's "recalculate customer" adds by the thousand: ``ix_reconciliation_runs_full`` (the full runs' ids) and
``ix_reconciliation_runs_full_finished`` (their ends) hold the full runs alone.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0068"
down_revision = "0067"
branch_labels = None
depends_on = None

FULL = "CAST(scope AS VARCHAR) = '{}'"


def upgrade():
    op.create_index("ix_reconciliation_runs_full", "reconciliation_runs", ["id"], postgresql_where=sa.text(FULL))
    op.create_index(
        "ix_reconciliation_runs_full_finished", "reconciliation_runs", ["finished_at"], postgresql_where=sa.text(FULL)
    )


def downgrade():
    op.drop_index("ix_reconciliation_runs_full_finished", table_name="reconciliation_runs")
    op.drop_index("ix_reconciliation_runs_full", table_name="reconciliation_runs")
