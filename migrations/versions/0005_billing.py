"""meters and postpaid billing

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 11:22:03.646357

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('meters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('active', 'retired', name='meter_status', native_enum=False, length=20), nullable=False),
    sa.Column('balance', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('overpayment', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meters')),
    sa.UniqueConstraint('serial', name=op.f('uq_meters_serial'))
    )
    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_invoices_amount_positive')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_invoices_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('number', name=op.f('uq_invoices_number'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_meter_id', ['meter_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payments_amount_positive')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_payments_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_meter_id', ['meter_id'], unique=False)

    op.create_table('meter_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_meter_assignments_customer_id_customers')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_meter_assignments_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_assignments'))
    )
    with op.batch_alter_table('meter_assignments', schema=None) as batch_op:
        batch_op.create_index('ix_meter_assignments_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('uq_meter_assignments_active_meter', ['meter_id'], unique=True, postgresql_where=sa.text('is_active'))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount_due', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('overpayment', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False))



def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('overpayment')
        batch_op.drop_column('amount_due')

    with op.batch_alter_table('meter_assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_meter_assignments_active_meter', postgresql_where=sa.text('is_active'))
        batch_op.drop_index('ix_meter_assignments_customer_id')

    op.drop_table('meter_assignments')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_meter_id')

    op.drop_table('payments')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_meter_id')

    op.drop_table('invoices')
    op.drop_table('meters')
