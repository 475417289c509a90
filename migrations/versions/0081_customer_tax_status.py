"""a customer's tax status

Revision ID: 0081
Revises: 0080
Create Date: 2026-11-28 20:10:00.000000

How the tax office treats what a customer is sold: ``exempt`` or ``zero_rated``, else (NULL) taxed, VAT at the rate
in force, as every customer so far: on the customer's form and in imports, kept in its history. NULL for the taxed,
so that no row or sealed version changes (a NULL column is left out of a seal).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0081"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("customers", sa.Column("tax_status", sa.String(12), nullable=True))
    op.add_column("customers_history", sa.Column("tax_status", sa.String(12), autoincrement=False, nullable=True))
    op.create_check_constraint(
        "ck_customers_tax_status_known", "customers", "tax_status IN ('exempt', 'zero_rated')"
    )


def downgrade():
    op.drop_column("customers_history", "tax_status")
    op.drop_column("customers", "tax_status")
