"""saved filters: a list's filters each person saved under a name, to apply again in one click

Revision ID: 0062
Revises: 0061
Create Date: 2026-11-28 10:00:00.000000

- ``saved_filters``: one row per person, list (``invoices``, ``aging``…) and name they chose: the list's own filters
  and its sort as its address carries them (``query_string``), and when they were saved. Unique on ``(user_id,
  list_name, name)``: saving under a name again replaces what it held; the constraint's index serves a person's
  filters of a list. An ordinary table: ``backoffice db grant-runtime`` grants the runtime role what it grants on every
  such table (filters are saved, replaced and deleted).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("query_string", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_saved_filters_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filters")),
        sa.UniqueConstraint("user_id", "list_name", "name", name=op.f("uq_saved_filters_user_id_list_name_name")),
    )


def downgrade():
    op.drop_table("saved_filters")
