"""wallet movements: the occasion the system wrote a movement on, so that its words are rendered from it

Revision ID: 0044
Revises: 0043
Create Date: 2026-11-25 02:00:00.000000

- ``balance_transactions.occasion``: why the system wrote a movement its kind and reference do not explain (a
  reading's first charge, its correction, its deletion, a re-pricing, a move to the meter's holder, a review of
  tampered evidence), ``backoffice.models.Occasion``. NULL for every row before, whose stored words say it (a NULL
  value is left out of a seal, so the rows sealed before keep their seals); covered by the seals of the rows after.
- A downgrade refuses while a row carries an occasion: its seal covers it, and dropping it would make the row fail
  its seal (restore the backup taken before the upgrade instead).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("balance_transactions", sa.Column("occasion", sa.String(length=40), nullable=True))


def downgrade():
    written = op.get_bind().scalar(sa.text("SELECT count(*) FROM balance_transactions WHERE occasion IS NOT NULL"))
    if written:
        raise RuntimeError(
            f"{written} wallet movement(s) carry an occasion that their seals cover: dropping the column would make "
            "them fail their seals. Restore the backup taken before the upgrade to 0044 instead."
        )
    op.drop_column("balance_transactions", "occasion")
