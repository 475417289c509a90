"""metering

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 11:35:19.814881

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customer_pricing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('price_per_sm3', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('meter_correction', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.CheckConstraint('meter_correction > 0', name=op.f('ck_customer_pricing_correction_positive')),
    sa.CheckConstraint('price_per_sm3 >= 0', name=op.f('ck_customer_pricing_price_not_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_pricing_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_pricing')),
    sa.UniqueConstraint('customer_id', 'effective_from', name='uq_customer_pricing_customer_from')
    )
    op.create_table('meter_readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('reading_date', sa.Date(), nullable=False),
    sa.Column('volume_flow_meter', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('volume_flow_meter >= 0', name=op.f('ck_meter_readings_volume_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_meter_readings_created_by_id_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_meter_readings_customer_id_customers')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_meter_readings_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_readings'))
    )
    with op.batch_alter_table('meter_readings', schema=None) as batch_op:
        batch_op.create_index('ix_meter_readings_customer_date', ['customer_id', 'reading_date'], unique=False)
        batch_op.create_index('ix_meter_readings_meter_id', ['meter_id'], unique=False)

    op.create_table('transaction_calculations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('reading_id', sa.Integer(), nullable=False),
    sa.Column('year_month', sa.String(length=7), nullable=False),
    sa.Column('transaction_date', sa.Date(), nullable=False),
    sa.Column('volume_flow_meter', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('meter_correction', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('volume_sm3', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('price_per_sm3', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('total_price', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('pricing', sa.JSON(), nullable=False),
    sa.Column('calculated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_transaction_calculations_customer_id_customers')),
    sa.ForeignKeyConstraint(['reading_id'], ['meter_readings.id'], name=op.f('fk_transaction_calculations_reading_id_meter_readings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transaction_calculations')),
    sa.UniqueConstraint('reading_id', name=op.f('uq_transaction_calculations_reading_id'))
    )
    with op.batch_alter_table('transaction_calculations', schema=None) as batch_op:
        batch_op.create_index('ix_transaction_calculations_customer_month', ['customer_id', 'year_month'], unique=False)

    with op.batch_alter_table('balance_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_balance_transactions_reference', ['reference_type', 'reference_id'], unique=False)



def downgrade():
    with op.batch_alter_table('balance_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_balance_transactions_reference')

    with op.batch_alter_table('transaction_calculations', schema=None) as batch_op:
        batch_op.drop_index('ix_transaction_calculations_customer_month')

    op.drop_table('transaction_calculations')
    with op.batch_alter_table('meter_readings', schema=None) as batch_op:
        batch_op.drop_index('ix_meter_readings_meter_id')
        batch_op.drop_index('ix_meter_readings_customer_date')

    op.drop_table('meter_readings')
    op.drop_table('customer_pricing')
