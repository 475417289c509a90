"""reconciliation chunks: a run split into one job per key range of each check records each range it has done

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-01 09:00:00.000000

``reconciliation_chunks`` holds, per run split into jobs, each check's key ranges: its step, its bounds, its
status (``queued``, ``started``, ``done``, ``failed``), its attempts, the queue's job of the latest, its last
heartbeat and, once done, what it found (counts, and per field the sum of the stored values and what the
fixes move it by). A chunk is recorded done in the transaction that writes its fixes and audit rows.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reconciliation_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=True),
        sa.Column("high", sa.BigInteger(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "started",
                "done",
                "failed",
                name="reconciliation_chunk_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("mismatched", sa.Integer(), nullable=False),
        sa.Column("fixed", sa.Integer(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_chunks_run_id_reconciliation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_chunks")),
        sa.UniqueConstraint("run_id", "check", "position", name=op.f("uq_reconciliation_chunks_run_id")),
    )
    op.create_index("ix_reconciliation_chunks_status", "reconciliation_chunks", ["status"])


def downgrade():
    op.drop_table("reconciliation_chunks")
