"""an invoice's lines each with their kind, rate and VAT; rates per kind of line; what the tax office gives back

Revision ID: 0103
Revises: 0102
Create Date: 2026-11-30 08:30:00.000000

- ``invoice_lines`` holds every invoice's lines, not only an old system's: each line its kind (gas, meter rental,
  connection fee), the rate it is charged at and its VAT, so that one invoice taxes a rental at 10 % beside gas at
  8 %. Every invoice made before gets one line of gas, its net, at its rate and with its VAT; an old system's lines
  are charged their invoice's rate and share its VAT, each line its own base's VAT, rounded once, the last line of
  the rate taking what rounding leaves (``formulas.line_vat_sql``). A line's words and rate stay as written; its
  base and VAT move only to make its invoice's net and VAT as they are (the correction of a one-line invoice).
- ``vat_rates.kind``: a rate is saved for a kind of line; the rates saved before apply to every kind.
- ``invoices.vat_rate`` is the one rate of its lines, none where they have several (the check that paired it with
  the VAT goes); ``invoices.authority_number`` and ``authority_signature``: what the tax office gave the invoice
  back (Coretax's tax invoice number, the authority's code of a Vietnamese e-invoice, an eTIMS receipt's number and
  signature), with when it was recorded.
- ``customers.nitku`` (an Indonesian buyer's place of business, 22 digits) and the issuer's ``nitku``, e-invoice
  template symbol and series (Vietnam) and eTIMS branch and device (Kenya).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0103"
down_revision = "0102"
branch_labels = None
depends_on = None

KINDS = ("gas", "meter_rental", "connection_fee")


def upgrade():
    kinds = ", ".join(f"'{kind}'" for kind in KINDS)
    op.add_column("vat_rates", sa.Column("kind", sa.String(20), server_default="gas", nullable=False))
    op.create_check_constraint("ck_vat_rates_kind", "vat_rates", f"kind IN ({kinds})")
    op.execute(
        "INSERT INTO vat_rates (applies_from, rate, created_at, created_by_id, kind) "
        "SELECT applies_from, rate, created_at, created_by_id, kind.name FROM vat_rates "
        "CROSS JOIN (VALUES ('meter_rental'), ('connection_fee')) AS kind (name) ORDER BY vat_rates.id, kind.name"
    )
    op.drop_index("ix_vat_rates_applies_from_id", "vat_rates")
    op.create_index("ix_vat_rates_kind_applies_from_id", "vat_rates", ["kind", "applies_from", "id"])

    op.add_column("invoice_lines", sa.Column("kind", sa.String(20), server_default="gas", nullable=False))
    op.add_column("invoice_lines", sa.Column("vat_rate", sa.Numeric(5, 2), nullable=True))
    op.add_column("invoice_lines", sa.Column("vat", sa.Numeric(15, 2), nullable=True))
    op.create_check_constraint("ck_invoice_lines_kind", "invoice_lines", f"kind IN ({kinds})")
    op.create_check_constraint("ck_invoice_lines_vat_with_its_rate", "invoice_lines", "(vat IS NULL) = (vat_rate IS NULL)")
    op.create_check_constraint("ck_invoice_lines_vat_in_unit", "invoice_lines", "vat = round(vat, currency_places_v1())")
    op.create_index("ix_invoice_lines_invoice_id", "invoice_lines", ["invoice_id"])
    op.execute("DROP TRIGGER invoice_lines_append_only ON invoice_lines")  # its guard of words follows below
    # An old system's lines share their invoice's VAT: each its base's, the last what rounding leaves.
    op.execute(
        """
        WITH shared AS (
            SELECT l.id, i.vat_rate, i.vat,
                   round(l.amount * i.vat_rate / 100, currency_places_v1()) AS own,
                   row_number() OVER (PARTITION BY l.invoice_id ORDER BY l.position DESC) AS from_last,
                   sum(round(l.amount * i.vat_rate / 100, currency_places_v1()))
                       OVER (PARTITION BY l.invoice_id) AS owns
            FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
            WHERE i.vat IS NOT NULL
        )
        UPDATE invoice_lines SET vat_rate = shared.vat_rate,
               vat = CASE WHEN from_last = 1 THEN shared.vat - (owns - own) ELSE own END
        FROM shared WHERE shared.id = invoice_lines.id
        """
    )
    op.execute(
        "INSERT INTO invoice_lines (invoice_id, position, kind, amount, vat_rate, vat) "
        "SELECT id, 1, 'gas', amount - coalesce(vat, 0), vat_rate, vat FROM invoices i "
        "WHERE NOT EXISTS (SELECT FROM invoice_lines l WHERE l.invoice_id = i.id) ORDER BY id"
    )
    # A line's words and rate stay; its base and VAT move only to make its invoice's net and VAT as they now are.
    op.execute(
        """
        CREATE FUNCTION invoice_line_words_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR (NEW.id, NEW.invoice_id, NEW.position, NEW.kind, NEW.description, NEW.quantity,
                NEW.unit_price, NEW.tax, NEW.vat_rate) IS DISTINCT FROM (OLD.id, OLD.invoice_id, OLD.position,
                OLD.kind, OLD.description, OLD.quantity, OLD.unit_price, OLD.tax, OLD.vat_rate) THEN
                RAISE EXCEPTION 'an invoice''s line keeps its words and rate: % of % is refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF (SELECT (i.amount - coalesce(i.vat, 0), coalesce(i.vat, 0)) FROM invoices i WHERE i.id = NEW.invoice_id)
                IS DISTINCT FROM (
                    SELECT (coalesce(sum(l.amount), 0) + NEW.amount, coalesce(sum(l.vat), 0) + coalesce(NEW.vat, 0))
                    FROM invoice_lines l WHERE l.invoice_id = NEW.invoice_id AND l.id <> NEW.id
                ) THEN
                RAISE EXCEPTION 'an invoice''s lines make its net and its VAT: the line''s change is refused'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER invoice_lines_words_kept BEFORE UPDATE OR DELETE ON invoice_lines "
        "FOR EACH ROW EXECUTE FUNCTION invoice_line_words_kept()"
    )

    op.drop_constraint("ck_invoices_vat_with_its_rate", "invoices", type_="check")
    for table in ("invoices", "invoices_history"):
        op.add_column(table, sa.Column("authority_number", sa.String(64), nullable=True))
        op.add_column(table, sa.Column("authority_signature", sa.String(200), nullable=True))
        op.add_column(table, sa.Column("authority_recorded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "uq_invoices_authority_number",
        "invoices",
        ["authority_number"],
        unique=True,
        postgresql_where=sa.text("authority_number IS NOT NULL"),
    )
    for table in ("customers", "customers_history"):
        op.add_column(table, sa.Column("nitku", sa.String(22), nullable=True))
    for column, length in (
        ("nitku", 22),
        ("einvoice_template", 11),
        ("einvoice_series", 8),
        ("etims_branch", 2),
        ("etims_device", 40),
    ):
        op.add_column("issuer", sa.Column(column, sa.String(length), server_default="", nullable=False))
        op.add_column("issuer_history", sa.Column(column, sa.String(length), server_default="", nullable=True))


def downgrade():
    for table in ("issuer_history", "issuer"):
        for column in ("etims_device", "etims_branch", "einvoice_series", "einvoice_template", "nitku"):
            op.drop_column(table, column)
    for table in ("customers_history", "customers"):
        op.drop_column(table, "nitku")
    op.drop_index("uq_invoices_authority_number", "invoices")
    for table in ("invoices_history", "invoices"):
        for column in ("authority_recorded_at", "authority_signature", "authority_number"):
            op.drop_column(table, column)
    op.create_check_constraint("ck_invoices_vat_with_its_rate", "invoices", "(vat IS NULL) = (vat_rate IS NULL)")
    op.execute("DROP TRIGGER invoice_lines_words_kept ON invoice_lines")
    op.execute("DROP FUNCTION invoice_line_words_kept()")
    op.execute("DELETE FROM invoice_lines WHERE kind = 'gas' AND description = '' AND quantity IS NULL")
    op.execute(
        "CREATE TRIGGER invoice_lines_append_only BEFORE UPDATE OR DELETE ON invoice_lines "
        "FOR EACH ROW EXECUTE FUNCTION history_append_only()"
    )
    op.drop_index("ix_invoice_lines_invoice_id", "invoice_lines")
    for column in ("vat", "vat_rate", "kind"):
        op.drop_column("invoice_lines", column)
    op.drop_index("ix_vat_rates_kind_applies_from_id", "vat_rates")
    op.execute("ALTER TABLE vat_rates DISABLE TRIGGER vat_rates_append_only")
    op.execute("DELETE FROM vat_rates WHERE kind <> 'gas'")
    op.execute("ALTER TABLE vat_rates ENABLE TRIGGER vat_rates_append_only")
    op.drop_column("vat_rates", "kind")
    op.create_index("ix_vat_rates_applies_from_id", "vat_rates", ["applies_from", "id"])
