"""approval_requests: the seal of the journal entry asked for

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 09:00:00.000000

- ``approval_requests.entry_seal``: a keyed digest of the entry a request asks to post or reverse (its date,
  description and lines), made when it is asked; approving posts that entry only while it is still what the
  approver was shown. Requests asked before it have none and are approved as before.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry_seal", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_column("entry_seal")
