"""a customer's tax status

Revision ID: 0081
Revises: 0080
Create Date: 2026-11-28 20:10:00.000000

How the tax office treats what a customer is sold: ``taxed`` (VAT at the rate in force: every customer so far),
``exempt`` or ``zero_rated``, on the customer's form and in imports, kept in its history.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0081"
down_revision = "0080"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("customers", sa.Column("tax_status", sa.String(12), nullable=False, server_default="taxed"))
    op.add_column("customers_history", sa.Column("tax_status", sa.String(12), autoincrement=False, nullable=True))
    op.create_check_constraint(
        "ck_customers_tax_status_known", "customers", "tax_status IN ('taxed', 'exempt', 'zero_rated')"
    )


def downgrade():
    op.drop_column("customers_history", "tax_status")
    op.drop_column("customers", "tax_status")
