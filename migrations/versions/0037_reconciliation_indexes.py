"""indexes: a run's check results, and a record's discrepancies, found by an index

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-08 09:00:00.000000

- ``reconciliation_check_results (run_id)``: the runs' list sums each run's results, a run's page and its report
  read them; the table's two indexes lead with the check's name, so each run's results were a scan of every
  result of every run.
- ``reconciliation_discrepancies (entity_type, entity_id)``: every record's page shows, in its history, what the
  runs found and fixed on it; they were found by a scan of every discrepancy of every run.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("reconciliation_check_results", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_check_results_run_id", ["run_id"], unique=False)
    with op.batch_alter_table("reconciliation_discrepancies", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_discrepancies_entity", ["entity_type", "entity_id"], unique=False)


def downgrade():
    with op.batch_alter_table("reconciliation_discrepancies", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_discrepancies_entity")
    with op.batch_alter_table("reconciliation_check_results", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_check_results_run_id")
