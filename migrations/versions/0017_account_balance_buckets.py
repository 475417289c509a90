"""an account's balance split over buckets, summed when read

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 09:00:00.000000

Every money event moved the balance of the same two account rows, so every posting waited for
the one before it to commit, whatever the customer. Each account's balance is now the sum of
its rows in ``account_balance_buckets``, a posting moving the bucket its customer falls in.
The balance an account had becomes its bucket 0; the downgrade sums the buckets back.
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
    op.drop_column("accounts", "balance")


def downgrade():
    op.add_column(
        "accounts",
        sa.Column("balance", sa.Numeric(precision=20, scale=2), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE accounts SET balance = (SELECT coalesce(sum(b.balance), 0) FROM account_balance_buckets b "
        "WHERE b.account_id = accounts.id)"
    )
    op.drop_table("account_balance_buckets")
