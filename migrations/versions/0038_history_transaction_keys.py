"""history versions reference their transaction

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-10 09:00:00.000000

Every ``*_history`` table's ``transaction_id`` becomes a foreign key to ``history_transactions.id``: a version can
only name a transaction that was written, so no one can plant a version under a transaction still to come and have
that transaction's commit take it for its own. A version whose transaction is missing stops the upgrade as its key
is added: its row is evidence to review, not to drop.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def _history_tables() -> list[str]:
    return sorted(name for name in sa.inspect(op.get_bind()).get_table_names() if name.endswith("_history"))


def _name(table: str) -> str:
    return op.f(f"fk_{table}_transaction")


def upgrade():
    for table in _history_tables():
        op.create_foreign_key(_name(table), table, "history_transactions", ["transaction_id"], ["id"])


def downgrade():
    for table in _history_tables():
        op.drop_constraint(_name(table), table, type_="foreignkey")
