"""An old system's invoice total holds its VAT: read as the invoice's total, its net and VAT derived at the rate in
force on its date, never charged VAT again; a file giving net, VAT and total is checked row by row; the VAT the file
implies is compared with the VAT derived, and the nightly's ``invoice_tax`` check proves what was written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Import, ImportStatus, Invoice
from backoffice.platform.extensions import db
from backoffice.services import meter_invoices
from tests.billing.test_vat import CHECKS, clean, rate
from tests.factories import metered_customer
from tests.imports.test_moving_in import imported, run_on_the_page

D = Decimal

ODOO = (
    "Number,Partner,Invoice/Bill Date,Due Date,Untaxed Amount,Tax,Total,Amount Due,Status\n"
    "INV/2026/00001,Rina Kusuma,2026-10-02,2026-11-01,7914500,870595,8785095,8785095,Posted\n"
    "INV/2026/00002,Rina Kusuma,2026-10-03,2026-11-02,100000,11001,111001,111001,Posted\n"
)
TOTALS_ONLY = (
    "Invoice number;Meter serial;Jumlah termasuk PPN;Tgl faktur;Jatuh tempo\nF-9;M-1;1.110.000;01/10/2026;31/10/2026\n"
)


def moved_in(app):
    rate("11")
    metered_customer("CUST-1", date(2026, 1, 1), D("1000.00"), serial="M-1", name="Rina Kusuma")


def test_odoos_total_is_what_is_owed_its_net_the_invoices_where_it_makes_the_total(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Total → Total with VAT (total)" in result.output and "  Tax → VAT (vat)" in result.output
    assert "  Untaxed Amount → Amount (amount)" in result.output
    stored = {
        i.number: (i.amount, i.vat, i.vat_included) for i in db.session.scalars(sa.select(Invoice).order_by(Invoice.id))
    }
    assert stored == {
        "INV/2026/00001": (D("8785095.00"), D("870595.00"), None),  # 7.914.500 + 11 %: the file's own net
        "INV/2026/00002": (D("111001.00"), D("11000.10"), True),  # 100.000 + 11 % is 111.000: the total holds it
    }
    report = db.session.scalar(sa.select(Import)).report
    assert report["totals"]["total"] == {"file": "8896096.00", "stored": "8896096.00"}
    assert report["stated"]["differences"] == [
        {"name": "INV/2026/00002", "column": "vat", "file": "11001.00", "derived": "11000.10"}
    ]
    assert clean(*CHECKS)
    again = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode())
    assert again.exit_code == 0, again.output + again.stderr
    assert "0 to write, 2 unchanged, 0 rejected" in again.output


def test_a_total_alone_is_never_charged_vat_again(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "faktur.csv", TOTALS_ONLY.encode())
    assert result.exit_code == 0, result.output + result.stderr
    invoice = db.session.scalar(sa.select(Invoice))
    assert (invoice.amount, invoice.vat, invoice.net, invoice.vat_rate) == (D("1110000"), D("110000"), D("1000000"), 11)
    assert clean(*CHECKS)


def test_a_row_whose_net_and_vat_do_not_make_its_total_is_refused_and_nothing_written(app, runner, tmp_path):
    moved_in(app)
    data = "Invoice number;Meter serial;Net total;VAT;Grand total;Issued on;Due on\n"
    data += "F-1;M-1;100;11;112;2026-10-01;2026-10-31\n"
    result = imported(runner, tmp_path, "invoices", "f.csv", data.encode())
    assert result.exit_code == 1
    assert "The net Rp100,00 and the VAT Rp11,00 make Rp111,00, not the total Rp112,00." in result.stderr
    neither = imported(
        runner,
        tmp_path,
        "invoices",
        "g.csv",
        b"Invoice number;Meter serial;Issued on;Due on\nF-2;M-1;2026-10-01;2026-10-31\n",
    )
    assert neither.exit_code == 1 and "Give the invoice's net amount, or its total with VAT." in neither.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_corrected_due_date_keeps_the_vat_in_a_total_and_a_new_net_is_charged_vat(app, runner, tmp_path):
    moved_in(app)
    assert imported(runner, tmp_path, "invoices", "account.move.csv", ODOO.encode()).exit_code == 0
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV/2026/00002"))
    kept = meter_invoices.change_invoice(invoice, invoice.number, invoice.net, date(2026, 11, 30))
    assert (kept.amount, kept.vat, kept.vat_included) == (D("111001.00"), D("11000.10"), True)
    changed = meter_invoices.change_invoice(kept, kept.number, D("100000"), date(2026, 11, 30))
    assert (changed.amount, changed.vat, changed.vat_included) == (D("111000.00"), D("11000.00"), None)
    assert clean(*CHECKS)


@pytest.mark.production_path("real workers")
def test_totals_with_vat_import_through_the_page_and_a_real_worker_as_the_runtime_role(app, client, admin, redis_url):
    moved_in(app)
    address, record = run_on_the_page(app, client, redis_url, "invoices", "account.move.csv", ODOO.encode())
    assert record.status == ImportStatus.DONE, record.error
    assert db.session.scalar(sa.select(sa.func.sum(Invoice.amount))) == D("8896096.00")


ODOO_LINES = (
    "Number,Partner,Invoice/Bill Date,Due Date,Total,Amount Due,Invoice lines/Product,Invoice lines/Quantity,"
    "Invoice lines/Unit Price,Invoice lines/Taxes\n"
    "INV/2026/00001,Rina Kusuma,2026-10-02,2026-11-01,8785095,8785095,Gas alam,1438.5,5500,PPN 11%\n"
    ",,,,,,Sewa meter,1,50000,PPN 11%\n"
    ",,,,,,Biaya koneksi,1,10000,PPN 11%\n"
    "INV/2026/00002,Rina Kusuma,2026-10-03,2026-11-02,111000,111000,Gas alam,18,5000,PPN 11%\n"
    ",,,,,,,,,\n"
)


def test_odoos_further_lines_are_read_with_their_invoice_not_rejected(app, runner, tmp_path):
    moved_in(app)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO_LINES.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 rows are further lines of the invoices above them" in result.output
    assert "2 rows: 2 to write, 0 unchanged, 0 rejected." in result.output
    amounts = dict(db.session.execute(sa.select(Invoice.number, Invoice.amount)).all())
    assert amounts == {"INV/2026/00001": D("8785095"), "INV/2026/00002": D("111000")}
    missing = "Number,Partner,Invoice/Bill Date,Due Date,Total\n,Rina Kusuma,2026-10-02,2026-11-01,1000\n"
    refused = imported(runner, tmp_path, "invoices", "m.csv", missing.encode())
    assert refused.exit_code == 1 and "Invoice number is required." in refused.stderr  # not a line: it has values
