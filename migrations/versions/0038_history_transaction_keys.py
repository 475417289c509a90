"""history versions reference their transaction

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-10 09:00:00.000000

Every ``*_history`` table's ``transaction_id`` becomes a foreign key to ``history_transactions.id``: a version can
only name a transaction that was written, so no one can plant a version under a transaction still to come and have
that transaction's commit take it for its own. A version whose transaction is missing stops the upgrade (on SQLite
the check runs as the migration ends; on PostgreSQL when the key is added): its row is evidence to review, not to
drop. SQLite rebuilds each table to add the key, and its guards (triggers) are created again after.
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


def _rebuilt(table: str, change) -> None:
    """Change the table in batch mode (SQLite rebuilds it), keeping its triggers."""
    bind = op.get_bind()
    triggers = []
    if bind.dialect.name == "sqlite":
        triggers = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
        ).scalars()
        triggers = list(triggers)
    with op.batch_alter_table(table) as batch_op:
        change(batch_op)
    for sql in triggers:
        op.execute(sql)


def upgrade():
    for table in _history_tables():
        _rebuilt(
            table,
            lambda batch_op, table=table: batch_op.create_foreign_key(
                _name(table), "history_transactions", ["transaction_id"], ["id"]
            ),
        )


def downgrade():
    for table in _history_tables():
        _rebuilt(table, lambda batch_op, table=table: batch_op.drop_constraint(_name(table), type_="foreignkey"))
