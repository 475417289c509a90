"""order month totals: per account manager and closing month, how many orders and the sum of their grand totals

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02 09:00:00.000000

The orders list reads its count and grand total here when it is filtered by manager and/or month only, instead of
summing the orders on every request. The table is filled from the orders as they stand, set-based, so an upgraded
installation is right at once; from then on the write path keeps it and the ``order_month_totals`` check verifies it.
A month without orders has no row.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

FIRST_OF_MONTH = "CAST(date_trunc('month', CAST(closing_date AS TIMESTAMP)) AS DATE)"


def upgrade():
    op.create_table(
        "order_month_totals",
        sa.Column("account_manager_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("grand_total", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.CheckConstraint("order_count > 0", name=op.f("ck_order_month_totals_order_count_positive")),
        sa.CheckConstraint("grand_total >= 0", name=op.f("ck_order_month_totals_grand_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_manager_id"],
            ["account_managers.id"],
            name=op.f("fk_order_month_totals_account_manager_id_account_managers"),
        ),
        sa.PrimaryKeyConstraint("account_manager_id", "month", name=op.f("pk_order_month_totals")),
    )
    op.execute(
        "INSERT INTO order_month_totals (account_manager_id, month, order_count, grand_total) "
        f"SELECT account_manager_id, {FIRST_OF_MONTH}, count(*), round(sum(grand_total), 2) FROM orders "
        f"GROUP BY account_manager_id, {FIRST_OF_MONTH}"
    )


def downgrade():
    op.drop_table("order_month_totals")
