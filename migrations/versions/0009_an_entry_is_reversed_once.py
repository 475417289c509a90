"""an entry is reversed once

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 15:00:09.580835

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.create_index('uq_journal_entries_reverses_id', ['reverses_id'], unique=True)



def downgrade():
    with op.batch_alter_table('journal_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_journal_entries_reverses_id')

