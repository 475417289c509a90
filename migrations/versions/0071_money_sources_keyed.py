"""each money source keyed once: a payment's reference on its meter, a customer's opening balance

Revision ID: 0071
Revises: 0070
Create Date: 2026-11-27 15:00:00.000000

- ``uq_payments_meter_reference``: a payment's reference (a bank transfer's, a receipt's) is recorded once on its
  meter; a payment without a reference is not keyed.
- ``uq_balance_transactions_opening``: a customer's opening balance is set once; a correction of it is an
  adjustment.

Both key the rows the application writes, whose ids its sequences give: a row inserted by SQL with an id no sequence
gives (zero, negative) is a forgery the evidence's review finds, and never keeps the application from writing the
source it forged.

Two writers of the same source at once (two imports of one file, an import and a clerk) write it once: the second
is refused by the database, whatever door it came through. A database that already holds a source twice is not
upgraded: the migration names what to resolve first.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0071"
down_revision = "0070"
branch_labels = None
depends_on = None

KEYS = [
    (
        "uq_payments_meter_reference",
        "payments",
        ["meter_id", "reference"],
        "reference <> '' AND id > 0",
        "SELECT meter_id, reference FROM payments WHERE reference <> '' AND id > 0 GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5",
    ),
    (
        "uq_balance_transactions_opening",
        "balance_transactions",
        ["customer_id"],
        "kind = 'opening' AND id > 0",
        "SELECT customer_id FROM balance_transactions WHERE kind = 'opening' AND id > 0 GROUP BY 1 HAVING count(*) > 1 LIMIT 5",
    ),
]


def upgrade():
    connection = op.get_bind()
    for name, table, columns, where, twice in KEYS:
        found = connection.execute(sa.text(twice)).all()
        if found:
            raise RuntimeError(
                f"{table} holds the same source more than once ({', '.join(map(str, found))}): "
                f"resolve them before upgrading, then {name} keys each once."
            )
        op.create_index(name, table, columns, unique=True, postgresql_where=sa.text(where))


def downgrade():
    for name, table, _columns, _where, _twice in reversed(KEYS):
        op.drop_index(name, table_name=table)
