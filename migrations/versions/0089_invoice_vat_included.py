"""an invoice whose amount was given with its VAT in it

Revision ID: 0089
Revises: 0088
Create Date: 2026-11-29 11:00:00.000000

An old system's invoice total (Odoo's Total, ERPNext's Grand Total) holds its VAT: taken as a net, it was charged VAT
again. ``invoices.vat_included`` is TRUE for an invoice whose amount was given so: its VAT is the amount less its
net, the amount ÷ (1 + rate), rounded once (``formulas.charged_vat_sql``, which the write and the nightly's
``invoice_tax`` check read). NULL for every other invoice, which keeps its sealed versions as they were (a NULL column
is left out of a seal).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0089"
down_revision = "0088"
branch_labels = None
depends_on = None


def upgrade():
    for table in ("invoices", "invoices_history"):
        op.add_column(table, sa.Column("vat_included", sa.Boolean(), nullable=True))
    op.create_check_constraint(
        op.f("ck_invoices_vat_included_is_vat"),
        "invoices", "vat_included IS NULL OR (vat_included AND vat IS NOT NULL)"
    )


def downgrade():
    op.drop_constraint(op.f("ck_invoices_vat_included_is_vat"), "invoices")
    for table in ("invoices_history", "invoices"):
        op.drop_column(table, "vat_included")
