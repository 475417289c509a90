"""monthly balances

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 12:19:23.395350

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('monthly_customer_balances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('year_month', sa.String(length=7), nullable=False),
    sa.Column('opening_balance', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('total_deposits', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('total_purchases', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('closing_balance', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('total_volume_sm3', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('calculation_details', sa.JSON(), nullable=False),
    sa.Column('last_calculated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_monthly_customer_balances_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_customer_balances')),
    sa.UniqueConstraint('customer_id', 'year_month', name='uq_monthly_customer_balances_month')
    )
    op.create_table('recalculation_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('from_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.Enum('pricing_change', 'deferred', name='recalculation_reason', native_enum=False, length=20), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_recalculation_requests_customer_id_customers')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_recalculation_requests_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recalculation_requests'))
    )
    with op.batch_alter_table('recalculation_requests', schema=None) as batch_op:
        batch_op.create_index('ix_recalculation_requests_customer_done', ['customer_id', 'done_at'], unique=False)

    with op.batch_alter_table('reconciliation_discrepancies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period', sa.String(length=7), nullable=True))



def downgrade():
    with op.batch_alter_table('reconciliation_discrepancies', schema=None) as batch_op:
        batch_op.drop_column('period')

    with op.batch_alter_table('recalculation_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_recalculation_requests_customer_done')

    op.drop_table('recalculation_requests')
    op.drop_table('monthly_customer_balances')
