"""what the system before said was paid of an invoice, settled there

Revision ID: 0090
Revises: 0089
Create Date: 2026-11-29 11:30:00.000000

An old system's invoice export says what each invoice still asks (Odoo's Amount Due, ERPNext's Outstanding Amount):
a paid invoice arrived open. What was paid of it before the move-in, and that no payment imported pays, is now
recorded as settled in the system before: a ``payments`` row with ``settled_before`` TRUE (its reference the
invoice's number, recorded once on its meter as any reference), applied to the invoice, and posted as a
``settlement`` (debit opening balance equity, credit receivables), never cash. NULL for every payment received, which
keeps its sealed versions as they were.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0090"
down_revision = "0089"
branch_labels = None
depends_on = None


def upgrade():
    for table in ("payments", "payments_history"):
        op.add_column(table, sa.Column("settled_before", sa.Boolean(), nullable=True))
    op.create_check_constraint(
        op.f("ck_payments_settled_before_true_or_null"), "payments", "settled_before IS NULL OR settled_before"
    )


def downgrade():
    op.drop_constraint(op.f("ck_payments_settled_before_true_or_null"), "payments")
    for table in ("payments_history", "payments"):
        op.drop_column(table, "settled_before")
