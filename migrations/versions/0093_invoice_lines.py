"""an invoice's lines as the system before wrote them

Revision ID: 0093
Revises: 0092
Create Date: 2026-11-29 13:30:00.000000

Odoo's and ERPNext's invoices export a row per invoice line; the import read them with their invoice and dropped
them, and the printed invoice said only "invoiced beyond the readings". ``invoice_lines`` keeps each line (what, how
many, at what unit price, the tax it names, its amount before VAT), written with its invoice and never changed: the
database refuses to change, delete or truncate a line, and the runtime role may only add them.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0093"
down_revision = "0092"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), server_default=sa.text("''"), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 6), nullable=True),
        sa.Column("unit_price", sa.Numeric(18, 6), nullable=True),
        sa.Column("tax", sa.String(length=60), server_default=sa.text("''"), nullable=False),
        sa.Column("amount", sa.Numeric(15, 2), nullable=False),
        sa.CheckConstraint("position > 0", name=op.f("ck_invoice_lines_position_positive")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("invoice_id", "position", name=op.f("uq_invoice_lines_invoice_id")),
    )
    op.execute(
        "CREATE TRIGGER invoice_lines_append_only BEFORE UPDATE OR DELETE ON invoice_lines "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER invoice_lines_no_truncate BEFORE TRUNCATE ON invoice_lines "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )


def downgrade():
    op.drop_table("invoice_lines")
