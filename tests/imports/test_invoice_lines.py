"""An invoice exported a row per line (Odoo's continuation rows, ERPNext's item rows) keeps its lines: what, how many,
at what unit price, the tax each names and its amount before VAT, checked against the invoice's net, never changed
once written, and printed on the invoice in its readings' place."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import ImportStatus, Invoice, InvoiceLine, LineKind, Meter, Payment
from backoffice.platform.extensions import db
from backoffice.platform.money import shown
from backoffice.services import billing, meter_invoices, settlements, tax
from tests.imports.test_moving_in import imported, run_on_the_page
from tests.imports.test_vat_included import moved_in

D = Decimal

ODOO = (
    "Number,Partner,Invoice/Bill Date,Due Date,Untaxed Amount,Tax,Total,Amount Due,Invoice lines/Product,"
    "Invoice lines/Quantity,Invoice lines/Unit Price,Invoice lines/Taxes\n"
    "INV/2026/00001,Rina Kusuma,2026-10-02,2026-11-01,7914500,870595,8785095,8785095,Gas alam,1430,5500,PPN 11%\n"
    ",,,,,,,,Sewa meter,1,49500,PPN 11%\n"
    ",,,,,,,,Biaya koneksi,1,-000,PPN 11%\n"
    "INV/2026/00002,Rina Kusuma,2026-10-03,2026-11-02,100000,11000,111000,111000,Gas alam,18.5,5405.405,PPN 11%\n"
)
"""Odoo 17's Customer Invoices exported with their lines: the invoice's columns on its first row, each further line on
a row of its own. 1,430 × 5,500 + 49,500 + 1 × 0 make the first net; 18.5 × 5,405.405 = 99,999.99 the second's, a
sen short of it (the same at 5,405.4054 rounds to it)."""

ERPNEXT = (
    "ID,Customer,Posting Date,Payment Due Date,Net Total,Total Taxes and Charges,Grand Total,Outstanding Amount,"
    "Item Code (Items),Quantity (Items),Rate (Items),Amount (Items)\n"
    "ACC-SINV-2026-00001,Rina Kusuma,2026-10-02,2026-11-01,1155000.00,127050.00,1282050.00,1282050.00,GAS,200,5500.00,"
    "1100000.00\n"
    ",,,,,,,,RENT,1,55000.00,55000.00\n"
)


def kept() -> list[tuple]:
    query = sa.select(
        Invoice.number, InvoiceLine.position, InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.unit_price
    )
    query = query.add_columns(InvoiceLine.tax, InvoiceLine.amount).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
    return [tuple(row) for row in db.session.execute(query.order_by(Invoice.number, InvoiceLine.position))]


def test_odoos_lines_are_kept_with_their_invoice_and_printed(app, client, admin, runner, tmp_path):
    moved_in(app)
    fixed = ODOO.replace("-000", "0").replace("5405.405", "5405.4054")  # 18.5 × 5,405.4054 = 99,999.9999: rounded once
    result = imported(runner, tmp_path, "invoices", "account.move.csv", fixed.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Invoice lines/Product → Item (description)" in result.output
    assert "  Invoice lines/Taxes → Line tax (line_tax)" in result.output
    assert "2 rows are further lines of the invoices above them" in result.output
    assert kept() == [
        ("INV/2026/00001", 1, "Gas alam", D("1430"), D("5500"), "PPN 11%", D("7865000.00")),
        ("INV/2026/00001", 2, "Sewa meter", D("1"), D("49500"), "PPN 11%", D("49500.00")),
        ("INV/2026/00001", 3, "Biaya koneksi", D("1"), D("0"), "PPN 11%", D("0.00")),
        ("INV/2026/00002", 1, "Gas alam", D("18.5"), D("5405.4054"), "PPN 11%", D("100000.00")),
    ]
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV/2026/00001"))
    page = " ".join(client.get(f"/customers/CUST-1/invoices/{invoice.id}/print").get_data(as_text=True).split())
    assert page.count('class="kept-line"') == 3
    assert '<td>Sewa meter</td><td class="num">1</td> <td class="num">49.500</td><td>PPN 11%</td>' in page
    assert 'id="billed-rest"' not in page and "billed-reading" not in page  # the lines make its net
    assert 'id="invoice-net">Rp7.914.500,00' in page


def test_the_lines_must_make_the_invoices_net_else_it_is_refused_naming_the_difference(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.replace("-000", "0").encode())
    assert result.exit_code == 1
    made, net, short = shown(D("99999.99")), shown(D("100000")), shown(D("-0.01"))
    assert f"Its lines make {made}, not its net {net}: a difference of {short}." in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InvoiceLine)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_further_line_that_cannot_be_read_refuses_its_invoice_naming_the_line(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.replace("-000", "abc").encode())
    assert result.exit_code == 1
    assert "Line 4 of this invoice:" in result.stderr
    nameless = ODOO.replace(",,,,,,,,Sewa meter,1,49500,PPN 11%", ",,,,,,,,Sewa meter,,,PPN 11%").replace("-000", "0")
    result = imported(runner, tmp_path, "invoices", "account.move.csv", nameless.encode())
    assert "Line 3 of this invoice gives no amount, nor its quantity and unit price." in result.stderr
    huge = ODOO.replace("-000", "1" * 40)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", huge.encode())
    assert result.exit_code == 1 and "Line 4 of this invoice:" in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_erpnexts_item_rows_are_kept_by_their_amounts(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "Sales Invoice.csv", ERPNEXT.replace("Rina Kusuma", "").encode())
    assert result.exit_code == 1  # no customer, no meter: refused
    with_meter = ERPNEXT.replace("ID,Customer,", "ID,Meter,").replace("Rina Kusuma", "M-1")
    result = imported(runner, tmp_path, "invoices", "Sales Invoice.csv", with_meter.encode(), "--decimal", ".")
    assert result.exit_code == 0, result.output + result.stderr
    assert [(row[2], row[-1]) for row in kept()] == [("GAS", D("1100000.00")), ("RENT", D("55000.00"))]
    assert db.session.scalar(sa.select(Invoice.amount)) == D("1282050.00")


def test_a_kept_line_is_never_changed_nor_deleted(app, runner, tmp_path):
    moved_in(app)
    fixed = ODOO.replace("-000", "0").replace("5405.405", "5405.4054")
    assert imported(runner, tmp_path, "invoices", "account.move.csv", fixed.encode()).exit_code == 0
    for statement in ("UPDATE invoice_lines SET amount = 1", "DELETE FROM invoice_lines", "TRUNCATE invoice_lines"):
        with pytest.raises(sa.exc.DBAPIError):
            with db.engine.begin() as connection:
                connection.exec_driver_sql(statement)
    assert len(kept()) == 4


@pytest.mark.production_path("real workers")
def test_lines_import_through_the_page_and_a_real_worker_as_the_runtime_role(app, client, admin, redis_url):
    moved_in(app)
    fixed = ODOO.replace("-000", "0").replace("5405.405", "5405.4054")
    address, record = run_on_the_page(app, client, redis_url, "invoices", "account.move.csv", fixed.encode())
    assert record.status == ImportStatus.DONE, record.error
    assert [row[2] for row in kept()] == ["Gas alam", "Sewa meter", "Biaya koneksi", "Gas alam"]


def test_the_write_refuses_lines_that_do_not_make_the_net_whichever_door_gives_them(app):
    """The rule is the write's (``meter_invoices.refuse_lines_off``): the import's check runs it, and so does a write
    given lines by any other door; nothing is written."""
    moved_in(app)
    meter = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-1"))
    lines = [meter_invoices.NewLine(D("600.00"), "Gas"), meter_invoices.NewLine(D("300.00"), "Sewa meter")]
    with pytest.raises(billing.BillingError, match="Its lines make"):
        meter_invoices.add_invoices(
            [
                meter_invoices.NewInvoice(
                    meter.id, "F-1", D("1000.00"), date(2026, 10, 1), date(2026, 10, 31), lines=lines
                )
            ]
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    (made,) = meter_invoices.add_invoices(
        [meter_invoices.NewInvoice(meter.id, "F-1", D("900.00"), date(2026, 10, 1), date(2026, 10, 31), lines=lines)]
    )
    assert [row[-1] for row in kept()] == [D("600.00"), D("300.00")] and made


def test_a_settlement_beyond_what_its_invoice_asks_is_refused(app):
    moved_in(app)
    meter = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-1"))
    (invoice_id,) = meter_invoices.add_invoices(
        [meter_invoices.NewInvoice(meter.id, "F-2", D("1000.00"), date(2026, 10, 1), date(2026, 10, 31))]
    )
    asks = db.session.scalar(sa.select(Invoice.outstanding).where(Invoice.id == invoice_id))
    with pytest.raises(billing.BillingError, match="F-2 asks less"):
        settlements.settle_before([(invoice_id, asks + D("0.01"))])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0


def test_a_line_s_kind_is_read_and_taxed_at_its_kind_s_rate(app, runner, tmp_path):
    moved_in(app)
    with db.session.begin_nested():
        tax.save_rate(db.session.connection(), D("10"), date(2026, 1, 1), None, LineKind.METER_RENTAL.value)
    db.session.commit()
    typed = ERPNEXT.replace("Rate (Items),", "Rate (Items),Jenis baris,").replace("5500.00,", "5500.00,Gas alam,")
    typed = typed.replace("55000.00,55000.00", "55000.00,Sewa meter,55000.00")
    typed = typed.replace("127050.00,1282050.00,1282050.00", "126500.00,1281500.00,1281500.00")  # 11 % and 10 %
    result = imported(
        runner,
        tmp_path,
        "invoices",
        "Sales Invoice.csv",
        typed.replace("ID,Customer,", "ID,Meter,").replace("Rina Kusuma", "M-1").encode(),
        "--decimal",
        ".",
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Jenis baris → Line kind (line_kind)" in result.output
    query = sa.select(InvoiceLine.kind, InvoiceLine.vat_rate).order_by(InvoiceLine.position)
    assert [tuple(row) for row in db.session.execute(query)] == [
        (LineKind.GAS, D("11.00")),
        (LineKind.METER_RENTAL, D("10.00")),
    ]


def test_a_line_of_a_kind_no_one_knows_is_refused_naming_its_line(app, runner, tmp_path):
    moved_in(app)
    typed = ERPNEXT.replace("Rate (Items),", "Rate (Items),Line kind,").replace("5500.00,", "5500.00,gas,")
    typed = typed.replace("55000.00,55000.00", "55000.00,parking,55000.00")
    result = imported(
        runner,
        tmp_path,
        "invoices",
        "Sales Invoice.csv",
        typed.replace("ID,Customer,", "ID,Meter,").replace("Rina Kusuma", "M-1").encode(),
        "--decimal",
        ".",
    )
    assert result.exit_code == 1
    assert "Write gas, meter rental or connection fee." in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_total_given_with_its_vat_over_lines_of_two_rates_is_refused(app, runner, tmp_path):
    moved_in(app)
    with db.session.begin_nested():
        tax.save_rate(db.session.connection(), D("10"), date(2026, 1, 1), None, LineKind.METER_RENTAL.value)
    db.session.commit()
    typed = ERPNEXT.replace("Rate (Items),", "Rate (Items),Jenis baris,").replace("5500.00,", "5500.00,Gas alam,")
    typed = typed.replace("55000.00,55000.00", "55000.00,Sewa meter,55000.00")  # the file's VAT: 11 % on both
    typed = typed.replace("ID,Customer,", "ID,Meter,").replace("Rina Kusuma", "M-1")
    result = imported(runner, tmp_path, "invoices", "Sales Invoice.csv", typed.encode(), "--decimal", ".")
    assert result.exit_code == 1
    assert "its lines are taxed at 10 % and 11 %" in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
