"""indexes the busiest pages read: the orders list's order, each check's latest result and success, recent jobs

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 09:00:00.000000

- ``orders (closing_date, id)``, the list's usual order: its first page is read off the index, where the
  index of the closing date alone made PostgreSQL join and sort every order of the newest day.
- ``reconciliation_check_results (check, id)`` and ``reconciliation_runs (finished_at)``: the health check and
  the metrics walk back from a check's newest result, and from the latest finished run, to the last full run,
  rather than read the whole history of runs.
- ``jobs (ended_at)``: the metrics count the jobs that failed in the last day.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_closing_date_id", ["closing_date", "id"], unique=False)
    with op.batch_alter_table("reconciliation_check_results", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_check_results_check_id", ["check", "id"], unique=False)
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_runs_finished_at", ["finished_at"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_ended_at", ["ended_at"], unique=False)


def downgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_ended_at")
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_runs_finished_at")
    with op.batch_alter_table("reconciliation_check_results", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_check_results_check_id")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_closing_date_id")
