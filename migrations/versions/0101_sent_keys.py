"""one table of the keys a maker sends, whatever the door

Revision ID: 0101
Revises: 0100
Create Date: 2026-11-30 03:00:00.000000

``form_submissions`` becomes ``sent_keys``: every key a person, a client or a command sends with what it asks — a
form's key, a wallet movement's, a manual entry's — names its maker (``maker_id``; none for a command run without a
user or a client's call, whose key carries the client) and what it wrote (``wrote``, ``wrote_id``: the table's name
and the row's id; none for a form's key, whose view says what it did in ``said``). Its primary key holds each key
once across every door: a key sent again by its maker is answered with what it wrote; by anyone else, refused. The
keys the ledger's and the journal's rows already hold (the application's own aside, which start with ``~``) are
written into it by their maker.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade():
    op.rename_table("form_submissions", "sent_keys")
    op.execute("ALTER TABLE sent_keys RENAME CONSTRAINT pk_form_submissions TO pk_sent_keys")
    op.execute("ALTER TABLE sent_keys RENAME CONSTRAINT fk_form_submissions_user_id_users TO fk_sent_keys_maker_id_users")
    op.alter_column("sent_keys", "user_id", new_column_name="maker_id")
    op.alter_column("sent_keys", "endpoint", new_column_name="door", nullable=True)
    op.alter_column("sent_keys", "key", type_=sa.String(length=100))
    op.add_column("sent_keys", sa.Column("wrote", sa.String(length=40), nullable=True))
    op.add_column("sent_keys", sa.Column("wrote_id", sa.Integer(), nullable=True))
    op.execute(
        "INSERT INTO sent_keys (key, maker_id, sent_at, wrote, wrote_id) "
        "SELECT idempotency_key, created_by_id, created_at, 'balance_transactions', id FROM balance_transactions "
        "WHERE idempotency_key IS NOT NULL AND idempotency_key NOT LIKE '~%' ORDER BY id "
        "ON CONFLICT (key) DO NOTHING"
    )
    op.execute(
        "INSERT INTO sent_keys (key, maker_id, sent_at, wrote, wrote_id) "
        "SELECT idempotency_key, posted_by_id, created_at, 'journal_entries', id FROM journal_entries "
        "WHERE idempotency_key IS NOT NULL AND idempotency_key NOT LIKE '~%' ORDER BY id "
        "ON CONFLICT (key) DO NOTHING"
    )


def downgrade():
    op.execute("DELETE FROM sent_keys WHERE wrote IS NOT NULL")
    op.drop_column("sent_keys", "wrote_id")
    op.drop_column("sent_keys", "wrote")
    op.execute("UPDATE sent_keys SET door = '' WHERE door IS NULL")
    op.alter_column("sent_keys", "key", type_=sa.String(length=64))
    op.alter_column("sent_keys", "door", new_column_name="endpoint", nullable=False)
    op.alter_column("sent_keys", "maker_id", new_column_name="user_id")
    op.execute("ALTER TABLE sent_keys RENAME CONSTRAINT fk_sent_keys_maker_id_users TO fk_form_submissions_user_id_users")
    op.execute("ALTER TABLE sent_keys RENAME CONSTRAINT pk_sent_keys TO pk_form_submissions")
    op.rename_table("sent_keys", "form_submissions")
