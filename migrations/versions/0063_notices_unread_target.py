"""the unread notices of a request found by its path, to mark them read once the request is decided

Revision ID: 0063
Revises: 0062
Create Date: 2026-11-26 15:30:00.000000

- ``notices`` indexed on ``target`` where ``read_at`` is null: a request decided marks every admin's unread notice
  that it waited read, whoever decided it.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        op.f("ix_notices_unread_target"), "notices", ["target"], postgresql_where=sa.text("read_at IS NULL")
    )


def downgrade():
    op.drop_index(op.f("ix_notices_unread_target"), table_name="notices")
