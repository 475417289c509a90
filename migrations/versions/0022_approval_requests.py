"""approval requests: money moved by hand above a limit waits for a second admin

Revision ID: 0022
Revises: 0020
Create Date: 2026-11-30 09:00:00.000000

``approval_requests`` keeps what was asked (a wallet adjustment or reversal, a manual entry kept as
a draft, an entry's reversal), who asked and why, and how it was decided: by whom, when, the
rejection's reason or what approving posted. A movement or an entry has one pending request at most.
The wallet movements it names have no foreign key: the ledger refuses ``TRUNCATE`` with its own message,
which a key to it would pre-empt with PostgreSQL's.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

PENDING_ONLY = sa.text("status = 'pending'")


def upgrade():
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "adjustment",
                "wallet_reversal",
                "journal_entry",
                "entry_reversal",
                name="approval_kind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "rejected", name="approval_status", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("signed_amount", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("movement_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("adjustment_reason", sa.String(length=40), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=300), nullable=True),
        sa.Column("result_movement_id", sa.Integer(), nullable=True),
        sa.Column("result_entry_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_approval_requests_amount_positive")),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_approval_requests_reason_given")),
        sa.CheckConstraint(
            "status = 'pending' OR decided_by_id IS NOT NULL", name=op.f("ck_approval_requests_decided_by_someone")
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR length(trim(rejection_reason)) > 0",
            name=op.f("ck_approval_requests_rejection_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_approval_requests_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_approval_requests_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_approval_requests_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_approval_requests_decided_by_id_users")),
        sa.ForeignKeyConstraint(
            ["result_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_approval_requests_result_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_requests")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_approval_requests_idempotency_key")),
    )
    op.create_index("ix_approval_requests_status_id", "approval_requests", ["status", "id"])
    for column in ("movement_id", "entry_id"):
        op.create_index(
            f"uq_approval_requests_pending_{column.removesuffix('_id')}",
            "approval_requests",
            [column],
            unique=True,
            postgresql_where=PENDING_ONLY,
        )


def downgrade():
    op.drop_table("approval_requests")
