"""a customer's city and tax number

Revision ID: 0078
Revises: 0077
Create Date: 2026-11-28 13:20:00.000000

What the systems installations move from keep of a customer and an import now reads rather than drops: its city and
its tax number (NPWP, MST, KRA PIN), with their history, each one line of text (``ck_customers_<column>_one_line``, as migration 0072
holds the other one-line columns).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0078"
down_revision = "0077"
branch_labels = None
depends_on = None

COLUMNS = {"city": 100, "tax_number": 40}


def upgrade():
    for column, length in COLUMNS.items():
        op.add_column("customers", sa.Column(column, sa.String(length), nullable=True))
        op.add_column("customers_history", sa.Column(column, sa.String(length), autoincrement=False, nullable=True))
        op.execute(
            f"ALTER TABLE customers ADD CONSTRAINT ck_customers_{column}_one_line CHECK ({column} !~ '[[:cntrl:]]')"
        )


def downgrade():
    for column in reversed(COLUMNS):
        op.drop_column("customers_history", column)
        op.drop_column("customers", column)
