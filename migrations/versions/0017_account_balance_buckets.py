"""an account's balance split over buckets, summed when read

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 09:00:00.000000

Every money event moved the balance of the same two account rows, so every posting waited for
the one before it to commit, whatever the customer. Each account's balance is now the sum of
its rows in ``account_balance_buckets``, a posting moving the bucket its customer falls in.
The balance an account had becomes its bucket 0; the downgrade sums the buckets back.

Dropping ``accounts.balance`` rebuilds the table on SQLite (batch mode), with the triggers set
aside meanwhile and put back after, as in 0013.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "account_balance_buckets",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("balance", sa.Numeric(precision=20, scale=2), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("bucket >= 0 AND bucket < 64", name=op.f("ck_account_balance_buckets_bucket_in_range")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_balance_buckets_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "bucket", name=op.f("pk_account_balance_buckets")),
    )
    # A bucket is created by its first amount: an account with nothing on it needs none.
    op.execute(
        "INSERT INTO account_balance_buckets (account_id, bucket, balance) "
        "SELECT id, 0, balance FROM accounts WHERE balance <> 0"
    )
    _rebuilding_accounts(lambda batch_op: batch_op.drop_column("balance"))


def downgrade():
    _rebuilding_accounts(
        lambda batch_op: batch_op.add_column(
            sa.Column("balance", sa.Numeric(precision=20, scale=2), server_default=sa.text("0"), nullable=False)
        )
    )
    op.execute(
        "UPDATE accounts SET balance = (SELECT coalesce(sum(b.balance), 0) FROM account_balance_buckets b "
        "WHERE b.account_id = accounts.id)"
    )
    op.drop_table("account_balance_buckets")


def _rebuilding_accounts(change):
    # A rebuild renames its new table into place, and SQLite then checks every trigger that names
    # the table, on any table: all of them are set aside while the table is rebuilt.
    triggers = _set_aside_triggers() if op.get_bind().dialect.name == "sqlite" else []
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        change(batch_op)
    for trigger in triggers:
        op.execute(trigger)


def _set_aside_triggers() -> list[str]:
    rows = op.get_bind().execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
    for name, _sql in rows:
        op.execute(f'DROP TRIGGER "{name}"')
    return [sql for _name, sql in rows]
