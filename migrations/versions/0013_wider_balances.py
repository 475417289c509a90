"""balances and totals that accumulate since inception: NUMERIC(20,2)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 10:00:00.000000

The books (account balances, journal lines), the wallets (balance, before/after of each
movement), the customers' and meters' totals, the monthly balances and the targets' achieved
amounts grow with the business: at NUMERIC(15,2) a large distributor's Cash or Revenue meets
the limit at about Rp 10 trillion. A discrepancy holds two such values and their difference.

SQLite keeps every NUMERIC the same way, so there only the declared type changes: its
tables are rebuilt (batch mode), with the triggers set aside meanwhile and put back after.
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
    # A rebuild renames its new table into place, and SQLite then checks every trigger that names
    # the table, on any table: all of them are set aside while the tables are rebuilt.
    triggers = _set_aside_triggers() if op.get_bind().dialect.name == "sqlite" else []
    for table, columns in changes.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, old, new in columns:
                batch_op.alter_column(column, existing_type=old, type_=new)
    for trigger in triggers:
        op.execute(trigger)


def _set_aside_triggers() -> list[str]:
    rows = op.get_bind().execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
    for name, _sql in rows:
        op.execute(f'DROP TRIGGER "{name}"')
    return [sql for _name, sql in rows]
