"""a reading's calculation keeps the places its cost was rounded to

Revision ID: 0051
Revises: 0050
Create Date: 2026-11-26 01:10:00.000000

- ``transaction_calculations.places``: the decimal places ``total_price`` was rounded to. A reading is priced to its
  currency's unit (none for the Vietnamese đồng); every reading priced before this upgrade was priced to cents, and
  keeps its cost as it was, verified to the places it was rounded to.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("transaction_calculations") as batch:
        batch.add_column(sa.Column("places", sa.SmallInteger(), server_default=sa.text("2"), nullable=False))


def downgrade():
    with op.batch_alter_table("transaction_calculations") as batch:
        batch.drop_column("places")
