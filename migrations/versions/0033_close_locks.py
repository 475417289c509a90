"""a month's close takes its table locks through the owner's functions, so the runtime role need not own or change the tables

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05 09:00:00.000000

A close (and a reopening) locks ``period_actions``, and a close the tables whose rows a closed month refuses,
``IN SHARE ROW EXCLUSIVE MODE`` (see ``services/periods.py``). PostgreSQL lets only a role that may ``UPDATE``,
``DELETE`` or ``TRUNCATE`` a table lock it so, which the runtime role may not do to the append-only tables. These
two functions take the locks as their owner (``SECURITY DEFINER``); the locks last until the caller's transaction
ends, under the caller's ``lock_timeout``. Only the roles ``backoffice db grant-runtime`` names may call them.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

LOCKS = {
    "lock_period_actions": "period_actions",
    # In the order a writer inserts into them: a close never holds one that a writer in flight needs to finish.
    "lock_period_writers": "meter_readings, journal_entries, balance_transactions, invoices, payments",
}


def upgrade():
    for function, tables in LOCKS.items():
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT "
            f"AS $$ BEGIN LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE; END $$"
        )
        op.execute(f"REVOKE EXECUTE ON FUNCTION {function}() FROM PUBLIC")


def downgrade():
    for function in LOCKS:
        op.execute(f"DROP FUNCTION {function}()")
