"""how an import's file writes its amounts and dates

Revision ID: 0088
Revises: 0087
Create Date: 2026-11-29 10:40:00.000000

ERPNext writes ``1282050.00`` on an Indonesian installation, which reads ``1.282.050,00``: every row was refused. An
import keeps how its file writes amounts (its decimal mark) and dates (their order), as its cells say where they say
it one way only, or as its user chose, so that its check and its write read every cell alike.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0088"
down_revision = "0087"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("imports", sa.Column("written", postgresql.JSONB(), nullable=True))


def downgrade():
    op.drop_column("imports", "written")
