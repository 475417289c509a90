"""prepaid wallet

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:49:27.229872

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('balance_transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('recharge', 'charge', 'adjustment', 'reversal', name='transaction_kind', native_enum=False, length=20), nullable=False),
    sa.Column('amount', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('signed_amount', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('balance_before', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('balance_after', sa.Numeric(precision=15, scale=2), nullable=False),
    sa.Column('reference_type', sa.String(length=40), nullable=True),
    sa.Column('reference_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_balance_transactions_amount_positive')),
    sa.CheckConstraint('balance_after = round(balance_before + signed_amount, 2)', name=op.f('ck_balance_transactions_after_is_before_plus_signed')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_balance_transactions_created_by_id_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_balance_transactions_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_balance_transactions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_balance_transactions_idempotency_key'))
    )
    with op.batch_alter_table('balance_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_balance_transactions_customer_id_id', ['customer_id', 'id'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('balance', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('total_recharged', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('total_spent', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('balance_last_updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspend_below', sa.Numeric(precision=15, scale=2), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('use_realtime_calculation', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index('ix_customers_balance', ['balance'], unique=False)

    # The ledger is append-only: the database itself refuses to change or remove a row.
    op.execute(
        """
            CREATE FUNCTION balance_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'balance_transactions is append-only: % is refused', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$
            """
    )
    op.execute(
        "CREATE TRIGGER balance_transactions_append_only BEFORE UPDATE OR DELETE ON balance_transactions "
        "FOR EACH ROW EXECUTE FUNCTION balance_transactions_append_only()"
    )


def downgrade():
    op.execute("DROP TRIGGER balance_transactions_append_only ON balance_transactions")
    op.execute("DROP FUNCTION balance_transactions_append_only()")
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_balance')
        batch_op.drop_column('use_realtime_calculation')
        batch_op.drop_column('suspend_below')
        batch_op.drop_column('balance_last_updated_at')
        batch_op.drop_column('total_spent')
        batch_op.drop_column('total_recharged')
        batch_op.drop_column('balance')

    with op.batch_alter_table('balance_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_balance_transactions_customer_id_id')

    op.drop_table('balance_transactions')
