"""reconciliation runs, check results and discrepancies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:14:37.626307

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reconciliation_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.Enum('verify', 'fix', 'rebuild', 'dry-run', name='reconciliation_mode', native_enum=False, length=20), nullable=False),
    sa.Column('trigger', sa.Enum('user', 'cli', 'api', 'schedule', 'write-path', name='reconciliation_trigger', native_enum=False, length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('running', 'succeeded', 'failed', name='reconciliation_status', native_enum=False, length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reconciliation_runs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_runs'))
    )
    with op.batch_alter_table('reconciliation_runs', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_runs_started_at', ['started_at'], unique=False)

    op.create_table('reconciliation_check_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('check', sa.String(length=64), nullable=False),
    sa.Column('checked', sa.Integer(), nullable=False),
    sa.Column('mismatched', sa.Integer(), nullable=False),
    sa.Column('fixed', sa.Integer(), nullable=False),
    sa.Column('totals', sa.JSON(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id'], name=op.f('fk_reconciliation_check_results_run_id_reconciliation_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_check_results'))
    )
    with op.batch_alter_table('reconciliation_check_results', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_check_results_check_run', ['check', 'run_id'], unique=False)

    op.create_table('reconciliation_discrepancies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('check', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('stored', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('expected', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('difference', sa.Numeric(precision=20, scale=4), nullable=False),
    sa.Column('fixed', sa.Boolean(), nullable=False),
    sa.Column('fixed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id'], name=op.f('fk_reconciliation_discrepancies_run_id_reconciliation_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_discrepancies'))
    )
    with op.batch_alter_table('reconciliation_discrepancies', schema=None) as batch_op:
        batch_op.create_index('ix_reconciliation_discrepancies_run_check', ['run_id', 'check'], unique=False)



def downgrade():
    with op.batch_alter_table('reconciliation_discrepancies', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_discrepancies_run_check')

    op.drop_table('reconciliation_discrepancies')
    with op.batch_alter_table('reconciliation_check_results', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_check_results_check_run')

    op.drop_table('reconciliation_check_results')
    with op.batch_alter_table('reconciliation_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_runs_started_at')

    op.drop_table('reconciliation_runs')
