"""VAT on invoices: the rates in force from their dates, each invoice's VAT and rate, and the VAT payable account

Revision ID: 0082
Revises: 0081
Create Date: 2026-11-28 22:00:00.000000

- ``vat_rates``: the VAT rate the installation charges from a date on, append-only (the database refuses UPDATE,
  DELETE and TRUNCATE): the rate in force on a day is the latest row of the latest date on or before it, so a rate is
  corrected by a row of its own and every rate ever saved stays as it was.
- ``invoices.vat`` and ``invoices.vat_rate``: the VAT an invoice charges on its net, at the rate in force on its
  issue date; its ``amount`` stays what the customer owes, net and VAT. NULL for an invoice charged none (no rate in
  force, a customer not taxed) and for every invoice made before, which keeps its amount (VAT 0) and its sealed
  versions as they were (a NULL column is left out of a seal).

The chart gets account 2300 "VAT payable" with the first rate saved (``services.tax``), not here: an installation
that charges no VAT keeps its chart as it was.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0082"
down_revision = "0081"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "vat_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applies_from", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(5, 2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("rate >= 0 AND rate < 100", name=op.f("ck_vat_rates_rate_in_range")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_vat_rates_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vat_rates")),
    )
    op.create_index("ix_vat_rates_applies_from_id", "vat_rates", ["applies_from", "id"])
    op.execute(
        "CREATE TRIGGER vat_rates_append_only BEFORE UPDATE OR DELETE ON vat_rates "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.execute(
        "CREATE TRIGGER vat_rates_no_truncate BEFORE TRUNCATE ON vat_rates "
        "FOR EACH STATEMENT EXECUTE FUNCTION evidence_no_truncate()"
    )
    for table in ("invoices", "invoices_history"):
        op.add_column(table, sa.Column("vat", sa.Numeric(15, 2), nullable=True))
        op.add_column(table, sa.Column("vat_rate", sa.Numeric(5, 2), nullable=True))
    op.create_check_constraint("ck_invoices_vat_with_its_rate", "invoices", "(vat IS NULL) = (vat_rate IS NULL)")
    op.create_check_constraint("ck_invoices_vat_within_amount", "invoices", "vat >= 0 AND vat < amount")
    op.create_check_constraint("ck_invoices_vat_in_unit", "invoices", "vat = round(vat, currency_places_v1())")


def downgrade():
    for table in ("invoices_history", "invoices"):
        op.drop_column(table, "vat_rate")
        op.drop_column(table, "vat")
    op.drop_table("vat_rates")
