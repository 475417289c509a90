"""accounts: a control account names the sub-ledger that moves it, and refuses manual journal entries

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 09:00:00.000000

- ``accounts.controlled_by``: the sub-ledger whose movements alone move the account, or none. A manual
  entry's line on such an account would set it apart from its sub-ledger, so posting refuses it.
- 2000 Customer deposits is controlled by the customers' wallets, 1100 Receivables by the meters'
  invoices and payments.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

CONTROLLED = {"1100": "the meters' invoices and payments", "2000": "the customers' wallets"}


def upgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("controlled_by", sa.String(length=80), nullable=True))
    accounts = sa.table("accounts", sa.column("code"), sa.column("controlled_by"))
    for code, ledger in CONTROLLED.items():
        op.execute(accounts.update().where(accounts.c.code == code).values(controlled_by=ledger))


def downgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("controlled_by")
