"""approval_requests: corrections of metering's source data that give money back wait for a second admin

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 09:00:00.000000

- ``approval_requests.correction``: what a source correction asks (a reading edited or deleted, a customer's
  pricing row, a tariff change) and what it gives back to each customer's wallet, so that approving applies
  exactly that. Its kinds (``reading_correction``, ``pricing_change``, ``tariff_change``) are new values of the
  ``kind`` column, a VARCHAR(20) with no database enum type: nothing to alter for them.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correction", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_column("correction")
