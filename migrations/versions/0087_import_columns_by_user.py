"""an import's column choices remembered for whoever chose them

Revision ID: 0087
Revises: 0086
Create Date: 2026-11-29 10:30:00.000000

A mapping was remembered per kind, whoever chose it: a clerk's choice of columns read the next file of the kind the
same way, an admin's included. A choice is now remembered with whoever chose it (none: the command, run by an
operator), under ``(kind, header, chosen_by_id)`` with ``NULLS NOT DISTINCT``; the next file is offered its
uploader's own choices, else the house's (an admin's or the command's), never another clerk's.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0087"
down_revision = "0086"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint("pk_import_columns", "import_columns", type_="primary")
    op.add_column("import_columns", sa.Column("id", sa.Integer(), sa.Identity(), nullable=False))
    op.create_primary_key("pk_import_columns", "import_columns", ["id"])
    op.create_index(
        "uq_import_columns_kind_header_chosen_by_id",
        "import_columns",
        ["kind", "header", "chosen_by_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )


def downgrade():
    op.execute(
        "DELETE FROM import_columns WHERE id NOT IN "
        "(SELECT DISTINCT ON (kind, header) id FROM import_columns ORDER BY kind, header, chosen_at DESC)"
    )
    op.drop_index("uq_import_columns_kind_header_chosen_by_id", "import_columns")
    op.drop_constraint("pk_import_columns", "import_columns", type_="primary")
    op.drop_column("import_columns", "id")
    op.create_primary_key("pk_import_columns", "import_columns", ["kind", "header"])
