"""users: the language each user reads their pages in

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 09:00:00.000000

- ``users.language``: ``en``, ``id`` or ``vi``, or none (the browser's language, else the installation's). A
  preference, not history: ``users_history`` does not keep it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("language", sa.String(length=5), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
