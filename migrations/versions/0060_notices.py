"""what a user is told happened: their request decided, a request waiting for them, their job ended

Revision ID: 0060
Revises: 0059
Create Date: 2026-11-27 12:00:00.000000

- ``notices``: one row per notice, for one user (``user_id``), saying what happened as its kind and its facts (JSON),
  never as text, with the path it opens, when it was made and when its user read it. Indexed on ``(user_id,
  read_at)`` for the header's count of the unread, and on ``(user_id, id)`` for a user's notices newest first.
  An ordinary table: ``backoffice db grant-runtime`` grants the runtime role what it grants on every such table (it
  inserts notices and marks them read).
- ``approval_requests`` indexed on ``(requested_by_id, id)``: a user's own requests, newest first.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0060"
down_revision = "0059"
branch_labels = None
depends_on = None

KINDS = ("request_waiting", "request_approved", "request_rejected", "job_finished", "job_failed")


def upgrade():
    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum(*KINDS, name="notice_kind", native_enum=False, length=20), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(op.f("ix_notices_user_id_read_at"), "notices", ["user_id", "read_at"])
    op.create_index(op.f("ix_notices_user_id_id"), "notices", ["user_id", "id"])
    op.create_index(op.f("ix_approval_requests_requested_by_id_id"), "approval_requests", ["requested_by_id", "id"])


def downgrade():
    op.drop_index(op.f("ix_approval_requests_requested_by_id_id"), table_name="approval_requests")
    op.drop_index(op.f("ix_notices_user_id_id"), table_name="notices")
    op.drop_index(op.f("ix_notices_user_id_read_at"), table_name="notices")
    op.drop_table("notices")
