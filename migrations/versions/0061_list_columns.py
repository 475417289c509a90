"""list columns: the columns each person chose to show or hide in each list

Revision ID: 0061
Revises: 0060
Create Date: 2026-11-27 15:00:00.000000

- ``list_columns``: one row per person and list (``customers``, ``customer-ledger``…) they chose columns for: each
  column they chose, by name, shown (``true``) or hidden (``false``). A column they did not choose gives way to the
  screen's width. An ordinary table: ``backoffice db grant-runtime`` grants the runtime role what it grants on every
  such table (a choice is written, changed and forgotten).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "list_columns",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=40), nullable=False),
        sa.Column("columns", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_list_columns_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "list_name", name=op.f("pk_list_columns")),
    )


def downgrade():
    op.drop_table("list_columns")
