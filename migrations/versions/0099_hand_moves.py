"""money moved by hand, kept by maker, customer and day

Revision ID: 0099
Revises: 0098
Create Date: 2026-11-29 22:30:00.000000

Three recharges of 600.000 on one customer in one day each passed a limit of 1.000.000; a payment of any size
posted at once. ``hand_moves`` keeps what each maker moved by hand for each customer on each day (a recharge typed,
an adjustment, a reversal, an opening, a payment recorded by hand or by import): the approval limit is compared with
the maker's sum of the day, whichever door and however sliced. Rows are only added: the database refuses to change,
delete or truncate them, and the runtime role may only add them.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0099"
down_revision = "0098"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hand_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("maker_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("moved_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(15, 2), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_hand_moves_amount_positive")),
        sa.ForeignKeyConstraint(["maker_id"], ["users.id"], name=op.f("fk_hand_moves_maker_id_users")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_hand_moves_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hand_moves")),
    )
    op.create_index("ix_hand_moves_customer_id_moved_on", "hand_moves", ["customer_id", "moved_on"])
    op.execute(
        "CREATE TRIGGER hand_moves_append_only BEFORE UPDATE OR DELETE ON hand_moves "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER hand_moves_no_truncate BEFORE TRUNCATE ON hand_moves "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.drop_table("hand_moves")
