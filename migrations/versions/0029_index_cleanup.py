"""indexes: the jobs of a run found by an index; the closing date's own index dropped

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-02 09:00:00.000000

- ``jobs (run_id)``: each chunk of a split run that ends, the run's end and the sweep find the run's job by it.
- ``orders (closing_date)`` is dropped: ``orders (closing_date, id)`` serves every read it served, and each
  order saved wrote both; and so is its copy on the orders' history, which nothing reads by date.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_run_id", ["run_id"], unique=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_closing_date")
    with op.batch_alter_table("orders_history", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_history_closing_date")


def downgrade():
    with op.batch_alter_table("orders_history", schema=None) as batch_op:
        batch_op.create_index("ix_orders_history_closing_date", ["closing_date"], unique=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_closing_date", ["closing_date"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_run_id")
