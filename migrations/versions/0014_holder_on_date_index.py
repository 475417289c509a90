"""who held a meter on a date: its assignments by start

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('meter_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_meter_assignments_meter_period', ['meter_id', 'started_on'], unique=False)


def downgrade():
    with op.batch_alter_table('meter_assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_meter_assignments_meter_period')
