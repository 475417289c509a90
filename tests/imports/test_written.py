"""A file's amounts and dates read as the file writes them: ERPNext's ``1282050.00`` on an Indonesian installation,
a spreadsheet's ``10/31/2026``; as its cells say where they say it one way, else as its user chose (the page, or
``--decimal`` and ``--dates``), kept with the import so that its write reads as its check did."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Import, ImportStatus, Invoice, Payment
from backoffice.platform.extensions import db
from tests.factories import metered_customer
from tests.imports.test_moving_in import imported
from tests.workers import run_worker

ERPNEXT_INVOICES = (
    "ID,Customer,Posting Date,Payment Due Date,Grand Total,Outstanding Amount\n"
    "ACC-SINV-2026-00001,CUST-1,2026-10-01,2026-10-31,1282050.00,1282050.00\n"
    "ACC-SINV-2026-00002,CUST-1,2026-10-02,2026-11-01,98500.50,0.00\n"
)
ERPNEXT_PAYMENTS = (
    "ID,Party,Posting Date,Paid Amount,Reference No,Name (Payment References)\n"
    "ACC-PAY-2026-00001,CUST-1,2026-10-05,98500.50,TRF-1,ACC-SINV-2026-00002\n"
)


def test_an_erpnext_export_writing_a_decimal_point_reads_on_an_indonesian_installation(app, runner, tmp_path):
    metered_customer("CUST-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")
    result = imported(runner, tmp_path, "invoices", "Sales Invoice.csv", ERPNEXT_INVOICES.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Payment Due Date → Due on (due_on)" in result.output
    assert "Amounts read as 1,234,567.89" in result.output
    amounts = dict(db.session.execute(sa.select(Invoice.number, Invoice.amount)).all())
    assert amounts == {"ACC-SINV-2026-00001": Decimal("1282050.00"), "ACC-SINV-2026-00002": Decimal("98500.50")}
    assert db.session.scalar(sa.select(Import)).written == {"decimal": "."}
    paid = imported(runner, tmp_path, "payments", "Payment Entry.csv", ERPNEXT_PAYMENTS.encode())
    assert paid.exit_code == 0, paid.output + paid.stderr
    assert "  Name (Payment References) → Invoices paid (invoices)" in paid.output
    payment = db.session.scalar(sa.select(Payment))
    assert (payment.amount, payment.reference) == (Decimal("98500.50"), "ACC-PAY-2026-00001")
    paid_invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "ACC-SINV-2026-00002"))
    assert paid_invoice.outstanding == 0


def test_an_amount_either_mark_reads_is_read_as_the_installation_writes_unless_told(app, runner, tmp_path):
    metered_customer("CUST-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")
    data = b"Invoice number;Meter serial;Amount;Issued on;Due on\nF-1;M-1;1.250;2026-10-01;2026-10-31\n"
    checked = imported(runner, tmp_path, "invoices", "f.csv", data, "--dry-run")
    assert checked.exit_code == 0 and "Amounts read as" not in checked.output
    told = imported(runner, tmp_path, "invoices", "f.csv", data, "--decimal", ".")
    assert told.exit_code == 1 and "Amounts read as 1,234,567.89" in told.output
    assert "or 1.25 for IDR1.25" in told.stderr  # three decimal places where the file writes a point
    assert imported(runner, tmp_path, "invoices", "f.csv", data, "--decimal", ",").exit_code == 0
    assert db.session.scalar(sa.select(Invoice.amount)) == Decimal("1250.00")


def test_dates_whose_month_comes_first_are_read_so_or_as_told(app, runner, tmp_path):
    metered_customer("CUST-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")
    data = b"Invoice number;Meter serial;Amount;Issued on;Due on\nF-1;M-1;1000;10/01/2026;10/31/2026\n"
    result = imported(runner, tmp_path, "invoices", "us.csv", data)
    assert result.exit_code == 0, result.output + result.stderr
    assert "dates as 12/31/2026" in result.output
    invoice = db.session.scalar(sa.select(Invoice))
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 10, 1), date(2026, 10, 31))
    ambiguous = b"Invoice number;Meter serial;Amount;Issued on;Due on\nF-2;M-1;1000;02/03/2026;03/04/2026\n"
    told = imported(runner, tmp_path, "invoices", "us2.csv", ambiguous, "--dates", "mdy")
    assert told.exit_code == 0, told.output + told.stderr
    second = db.session.scalar(sa.select(Invoice).where(Invoice.number == "F-2"))
    assert (second.issued_on, second.due_on) == (date(2026, 2, 3), date(2026, 3, 4))


def test_a_wrong_mark_or_order_on_the_command_is_refused_and_nothing_written(app, runner, tmp_path):
    data = b"Meter serial\nM-1\n"
    result = imported(runner, tmp_path, "meters", "m.csv", data, "--decimal", ";")
    assert result.exit_code == 2 and "--decimal" in result.output + result.stderr
    result = imported(runner, tmp_path, "meters", "m.csv", data, "--dates", "31/12")
    assert result.exit_code == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


@pytest.mark.production_path("real workers")
def test_the_page_reads_the_file_as_the_clerk_chooses_and_a_worker_writes_it_so(app, client, finance, redis_url):
    metered_customer("CUST-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")
    data = b"Reference;Meter serial;Amount;Paid on\nTRF-1;M-1;1.250;02/03/2026\n"
    sent = client.post(
        "/imports", data={"kind": "payments", "file": (io.BytesIO(data), "p.csv")}, content_type="multipart/form-data"
    )
    page = sent.headers["Location"]
    run_worker(app, redis_url)  # the check
    shown = client.get(page).get_data(as_text=True)
    assert '<option value="," selected>1.234.567,89</option>' in shown
    assert '<option value="dmy" selected>31/12/2026</option>' in shown
    record = db.session.scalar(sa.select(Import))
    assert client.post(page + "/columns", data={"version": str(record.version), "decimal": "x"}).status_code == 400
    choice = {"version": str(record.version), "decimal": ",", "dates": "mdy"}
    assert client.post(page + "/columns", data=choice).status_code == 302
    run_worker(app, redis_url)  # the check again
    db.session.expire_all()
    assert db.session.get(Import, record.id).written == {"decimal": ",", "dates": "mdy"}
    assert client.post(page + "/run").status_code == 302
    run_worker(app, redis_url)
    db.session.expire_all()
    assert db.session.get(Import, record.id).status == ImportStatus.DONE
    payment = db.session.scalar(sa.select(Payment))
    assert (payment.amount, payment.paid_on) == (Decimal("1250.00"), date(2026, 2, 3))
