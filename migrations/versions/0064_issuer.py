"""the issuer of the documents customers receive: name, address, tax number, bank accounts, logo, with its history

Revision ID: 0064
Revises: 0063
Create Date: 2026-11-26 15:20:00.000000

- ``issuer``: one row (its id is 1), edited by admins; its logo's bytes beside it, their digest in its history.
- ``issuer_history``: SQLAlchemy-Continuum's versions of it, append-only as every history table is (the database
  refuses UPDATE, DELETE and TRUNCATE of them), sealed as they are written.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0064"
down_revision = "0063"
branch_labels = None
depends_on = None

TEXTS = (
    ("name", sa.String(length=200)),
    ("address", sa.String(length=500)),
    ("tax_number", sa.String(length=40)),
    ("bank_accounts", sa.Text()),
    ("payment_instructions", sa.Text()),
    ("email", sa.String(length=254)),
    ("phone", sa.String(length=40)),
    ("logo_type", sa.String(length=20)),
    ("logo_sha256", sa.String(length=64)),
)


def upgrade():
    op.create_table(
        "issuer",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, kind, nullable=False) for name, kind in TEXTS),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_issuer_one_issuer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuer")),
    )
    op.create_table(
        "issuer_history",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, kind, autoincrement=False, nullable=True) for name, kind in TEXTS),
        sa.Column("transaction_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("operation_type", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["history_transactions.id"], name=op.f("fk_issuer_history_transaction")
        ),
        sa.PrimaryKeyConstraint("id", "transaction_id", name=op.f("pk_issuer_history")),
    )
    op.create_index(op.f("ix_issuer_history_operation_type"), "issuer_history", ["operation_type"])
    op.create_index(
        "ix_issuer_history_pk_transaction_id", "issuer_history", ["id", sa.literal_column("transaction_id DESC")]
    )
    op.create_index(op.f("ix_issuer_history_transaction_id"), "issuer_history", ["transaction_id"])
    op.execute(
        "CREATE TRIGGER issuer_history_append_only BEFORE UPDATE OR DELETE ON issuer_history "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER issuer_history_no_truncate BEFORE TRUNCATE ON issuer_history "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.execute("DELETE FROM seals WHERE kind = 'issuer_history'")
    op.drop_table("issuer_history")
    op.drop_table("issuer")
