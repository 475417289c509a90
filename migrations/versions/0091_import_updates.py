"""the fields an import fills or changes of the records that exist

Revision ID: 0091
Revises: 0090
Create Date: 2026-11-29 12:00:00.000000

Routes from a meter reader's book could not be added to customers that exist ("PLG-0595 exists with other values"):
an import keeps the fields its user chose for it to fill or change of the records that exist (``imports.updates``;
a customer's details, never its code or money), so that its check and its write do the same.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0091"
down_revision = "0090"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("imports", sa.Column("updates", postgresql.JSONB(), nullable=True))


def downgrade():
    op.drop_column("imports", "updates")
