"""an import's columns mapped to its fields, and the mapping remembered

Revision ID: 0076
Revises: 0075
Create Date: 2026-11-28 12:40:00.000000

An import keeps the mapping its admin chose (a file's header to a field, or to none: not kept), so the job that
checks and writes it reads the file the way the preview showed; ``import_columns`` remembers each choice per kind for
the next file with the same headers.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0076"
down_revision = "0075"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("imports", sa.Column("mapping", postgresql.JSONB(), nullable=True))
    op.create_table(
        "import_columns",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("header", sa.String(255), nullable=False),
        sa.Column("field", sa.String(40), nullable=True),
        sa.Column(
            "chosen_by_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name=op.f("fk_import_columns_chosen_by_id_users")),
            nullable=True,
        ),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "header", name=op.f("pk_import_columns")),
    )


def downgrade():
    op.drop_table("import_columns")
    op.drop_column("imports", "mapping")
