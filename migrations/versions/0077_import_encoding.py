"""an import keeps the encoding its admin chose for its file

Revision ID: 0077
Revises: 0076
Create Date: 2026-11-28 13:00:00.000000

A text file whose encoding was guessed from its letters is read in the encoding its admin chose on the preview (or
with ``--encoding``), by the check and by the write alike.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0077"
down_revision = "0076"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("imports", sa.Column("encoding", sa.String(40), nullable=True))


def downgrade():
    op.drop_column("imports", "encoding")
