"""balances and totals that accumulate since inception: NUMERIC(20,2)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 10:00:00.000000

The books (account balances, journal lines), the wallets (balance, before/after of each
movement), the customers' and meters' totals, the monthly balances and the targets' achieved
amounts grow with the business: at NUMERIC(15,2) a large distributor's Cash or Revenue meets
the limit at about Rp 10 trillion. A discrepancy holds two such values and their difference.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WIDENED = {
    "accounts": ["balance"],
    "journal_lines": ["debit", "credit"],
    "customers": ["balance", "total_recharged", "total_spent", "amount_due", "overpayment"],
    "balance_transactions": ["balance_before", "balance_after"],
    "monthly_customer_balances": ["opening_balance", "total_deposits", "total_purchases", "closing_balance"],
    "meters": ["balance", "overpayment"],
    "targets": ["achieved_amount"],
}
DISCREPANCY_VALUES = ["stored", "expected", "difference"]


def upgrade():
    _alter(sa.Numeric(15, 2), sa.Numeric(20, 2), sa.Numeric(20, 4), sa.Numeric(24, 4))


def downgrade():
    _alter(sa.Numeric(20, 2), sa.Numeric(15, 2), sa.Numeric(24, 4), sa.Numeric(20, 4))


def _alter(money_from, money_to, values_from, values_to):
    changes = {table: [(c, money_from, money_to) for c in columns] for table, columns in WIDENED.items()}
    changes["reconciliation_discrepancies"] = [(c, values_from, values_to) for c in DISCREPANCY_VALUES]
    for table, columns in changes.items():
        for column, old, new in columns:
            op.alter_column(table, column, existing_type=old, type_=new)
