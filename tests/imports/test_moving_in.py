"""Moving in from the system an installation leaves: its exports read as they are (ERPNext's, Odoo's, a legacy
cp1252 CSV with its own headers), every column not kept named, a mapping chosen on the command or the page and
remembered, the import named on the history of what it wrote."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from backoffice.imports import running
from backoffice.models import Customer, Import, ImportColumn, Invoice, Meter, MeterAssignment, MeterReading, Payment
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle
from tests.factories import CustomerFactory, MeterFactory, UserFactory, metered_customer
from tests.pages import INDONESIAN
from tests.roles import runtime_app
from tests.workers import run_worker

ERPNEXT_CUSTOMERS = (
    "ID,Customer Name,Customer Type,Customer Group,Territory,Tax ID,Mobile No,Email Id\n"
    "CUST-2026-00001,Rina Kusuma,Individual,Commercial,Indonesia,01.234.567.8-901.000,0812 3456 789,rina@example.com\n"
    "CUST-2026-00002,PT Sinar Gas,Company,Commercial,Indonesia,,,\n"
)
ODOO_CUSTOMERS = (
    "id,name,ref,street,city,vat,email,phone\n"
    "__export__.res_partner_7,Café Señor Rasa,C-07,Jl. Melati 3,Bandung,,senor@example.com,+62 22 1234\n"
)


def imported(runner, tmp_path, kind: str, name: str, data: bytes, *options: str):
    path = tmp_path / name
    path.write_bytes(data)
    return runner.invoke(args=["import", kind, str(path), *options])


def run_on_the_page(app, client, redis_url: str, kind: str, name: str, data: bytes) -> tuple[str, Import]:
    """The file uploaded on the Imports page, checked and run by real workers: the import's address and its record."""
    sent = client.post(
        "/imports", data={"kind": kind, "file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    run_worker(app, redis_url)  # the check
    assert client.post(sent.headers["Location"] + "/run").status_code == 302
    run_worker(app, redis_url)
    record = db.session.scalar(sa.select(Import))
    db.session.refresh(record)
    return sent.headers["Location"], record


def test_an_erpnext_customer_export_imports_as_it_is_its_extra_columns_named(app, runner, tmp_path):
    result = imported(runner, tmp_path, "customers", "Customer.csv", ERPNEXT_CUSTOMERS.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "  ID → Customer code (code)" in result.output
    assert "  Customer Name → Name (name)" in result.output
    assert "  Mobile No → Phone (phone)" in result.output
    assert "  Tax ID → Tax number (tax_number)" in result.output
    for dropped in ("Customer Type", "Customer Group", "Territory"):
        assert f"  {dropped} → not kept" in result.output
    rina = db.session.scalar(sa.select(Customer).where(Customer.code == "CUST-2026-00001"))
    assert (rina.name, rina.email, rina.tax_number) == ("Rina Kusuma", "rina@example.com", "01.234.567.8-901.000")


def test_an_odoo_partner_export_imports_by_its_reference(app, runner, tmp_path):
    result = imported(runner, tmp_path, "customers", "res.partner.csv", ODOO_CUSTOMERS.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "  ref → Customer code (code)" in result.output and "  city → City (city)" in result.output
    assert "  vat → Tax number (tax_number)" in result.output
    assert "  id → not kept" in result.output  # a weaker word for the code than ref
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "C-07"))
    assert (customer.name, customer.address, customer.city) == ("Café Señor Rasa", "Jl. Melati 3", "Bandung")


def test_a_legacy_cp1252_file_with_its_own_headers_imports_with_no_renaming(app, runner, tmp_path):
    meters = "No.;No. Seri Meter;Merk;Ukuran\n1;GM-0001;Itron;G4\n2;GM-0002;Elster;G6\n"
    assert imported(runner, tmp_path, "meters", "meter.csv", meters.encode("cp1252")).exit_code == 0
    customers = "Kode Pelanggan;Nama Pelanggan;Kota;NPWP;Batas Saldo Minimum\nP-01;Toko Crème;Bogor;;50.000\n"
    result = imported(runner, tmp_path, "customers", "pelanggan.csv", customers.encode("cp1252"))
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Kota → City (city)" in result.output and "  NPWP → Tax number (tax_number)" in result.output
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "P-01"))
    assert (customer.suspend_below, customer.city, customer.name) == (Decimal("50000.00"), "Bogor", "Toko Crème")
    installed = "No. Seri Meter;Kode Pelanggan;Tgl Pasang\nGM-0001;P-01;01/03/2026\n"
    result = imported(runner, tmp_path, "assignments", "pasang.csv", installed.encode("cp1252"))
    assert result.exit_code == 0, result.output + result.stderr
    assignment = db.session.scalar(sa.select(MeterAssignment))
    assert assignment.started_on == date(2026, 3, 1)
    assert db.session.get(Meter, assignment.meter_id).serial == "GM-0001"


def test_a_header_that_goes_on_past_a_fields_words_is_read_into_it(app, runner, tmp_path):
    imported(runner, tmp_path, "customers", "c.csv", b"Kode pelanggan;Nama\nP-01;Toko\n")
    balances = "Kode Pelanggan;Saldo Awal;Tanggal Peralihan;Saldo Akhir 31/10/2026\nP-01;10.000;31/10/2026;10.000\n"
    result = imported(runner, tmp_path, "balances", "saldo.csv", balances.encode(), "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Saldo Akhir 31/10/2026 → Closing balance (closing_balance)" in result.output


def test_a_file_whose_columns_are_unknown_names_them_and_asks_for_a_mapping(app, runner, tmp_path):
    result = imported(runner, tmp_path, "meters", "m.csv", b"Alat;Merk\nA-1;Itron\n")
    assert result.exit_code == 2
    assert "its first row: Alat, Merk" in result.stderr and "map them" in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


def test_a_mapping_on_the_command_is_used_printed_and_remembered(app, runner, tmp_path):
    data = b"Alat;Merk\nA-1;Itron\n"
    result = imported(runner, tmp_path, "meters", "m.csv", data, "--map", "Alat=Meter serial", "--map", "Merk=")
    assert result.exit_code == 0, result.output + result.stderr
    assert "  Alat → Meter serial (serial)" in result.output and "  Merk → not kept" in result.output
    assert db.session.scalars(sa.select(Meter.serial)).all() == ["A-1"]
    again = imported(runner, tmp_path, "meters", "m2.csv", b"Alat;Merk\nA-2;Itron\n")
    assert again.exit_code == 0, again.output + again.stderr
    assert "  Alat → Meter serial (serial)" in again.output
    assert sorted(db.session.scalars(sa.select(Meter.serial)).all()) == ["A-1", "A-2"]


def test_a_mapping_to_no_field_is_refused_before_anything_is_read(app, runner, tmp_path):
    result = imported(runner, tmp_path, "meters", "m.csv", b"Alat\nA-1\n", "--map", "Alat=merk")
    assert result.exit_code == 2
    assert "Meters has no field merk" in result.stderr and "serial (Meter serial)" in result.stderr
    bare = imported(runner, tmp_path, "meters", "m.csv", b"Alat\nA-1\n", "--map", "Alat")
    assert bare.exit_code == 2 and '"File column=field"' in bare.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportColumn)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meter)) == 0


def test_the_preview_shows_each_column_and_the_admin_maps_one_remembered(app, client, admin):
    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (io.BytesIO(b"Kode;Nama;Kota;Pemilik\nP-01;Toko;Bogor;Ani\n"), "c.csv")},
        content_type="multipart/form-data",
        headers=INDONESIAN,
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    page = client.get(sent.headers["Location"], headers=INDONESIAN).get_data(as_text=True)
    assert "Tidak disimpan: <code>Pemilik</code>." in page
    record = db.session.scalar(sa.select(Import))
    assert record.report["preview"]["columns"] == [
        ["Kode", "code"],
        ["Nama", "name"],
        ["Kota", "city"],
        ["Pemilik", None],
    ]
    form = {
        "version": str(record.version),
        "column-0": "code",
        "column-1": "name",
        "column-2": "city",
        "column-3": "contact_person",
    }
    assert client.post(sent.headers["Location"] + "/columns", data=form).status_code == 302
    db.session.expire_all()
    record = db.session.get(Import, record.id)
    assert record.report["preview"]["columns"][3] == ["Pemilik", "contact_person"]
    assert record.mapping["Pemilik"] == "contact_person"
    stale = client.post(sent.headers["Location"] + "/columns", data=form | {"column-3": ""})
    assert stale.status_code == 302
    db.session.expire_all()
    assert db.session.get(Import, record.id).mapping["Pemilik"] == "contact_person"
    assert client.post(sent.headers["Location"] + "/run", data={"submission": "m" * 32}).status_code == 302
    assert db.session.scalar(sa.select(Customer.contact_person).where(Customer.code == "P-01")) == "Ani"
    remembered = db.session.execute(sa.select(ImportColumn.header, ImportColumn.field)).all()
    assert remembered == [("Pemilik", "contact_person")]


def test_the_history_of_an_imported_record_names_the_import(app, client, admin, runner, tmp_path):
    result = imported(runner, tmp_path, "customers", "pelanggan.csv", b"Customer code;Name\nC001;Rina Kusuma\n")
    assert result.exit_code == 0, result.output + result.stderr
    record = db.session.scalar(sa.select(Import))
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "C001"))
    page = client.get(f"/history/customer/{customer.id}").get_data(as_text=True)
    assert f"import #{record.id} of pelanggan.csv (SHA-256 {record.sha256[:12]}…)" in page


def by_customer(app):
    """Rina (CUST-1) holding one meter since January; PT Dua (CUST-2) two; two customers named Toko Sama."""
    metered_customer("CUST-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-RINA", name="Rina Kusuma")
    dua, _meter = metered_customer("CUST-2", date(2026, 1, 1), Decimal("1000.00"), serial="M-DUA-1", name="PT Dua")
    meter_lifecycle.assign_meter(MeterFactory(serial="M-DUA-2"), dua, date(2026, 1, 1))
    CustomerFactory(code="SAMA-1", name="Toko Sama")
    CustomerFactory(code="SAMA-2", name="Toko Sama")


ERPNEXT_INVOICES = (
    "ID,Customer,Customer Name,Posting Date,Due Date,Grand Total,Outstanding Amount,Status\n"
    "ACC-SINV-2026-00001,CUST-1,Rina Kusuma,2026-10-01,2026-10-31,150000,150000,Unpaid\n"
    "ACC-SINV-2026-00002,CUST-2,PT Dua,2026-10-01,2026-10-31,90000,90000,Unpaid\n"
)
ODOO_INVOICES = (
    "name,partner_id,invoice_date,invoice_date_due,amount_total,amount_residual\n"
    "INV/2026/00007,Rina Kusuma,2026-10-02,2026-11-01,200000,150000\n"
    "INV/2026/00008,Toko Sama,2026-10-02,2026-11-01,1000,1000\n"
    "INV/2026/00009,Nobody Here,2026-10-02,2026-11-01,1000,1000\n"
)


def test_an_erpnext_invoice_export_imports_by_customer_a_customer_of_two_meters_named(app, runner, tmp_path):
    by_customer(app)
    result = imported(runner, tmp_path, "invoices", "Sales Invoice.csv", ERPNEXT_INVOICES.encode())
    assert result.exit_code == 1
    assert "  Customer → Customer (customer)" in result.output and "  Customer Name → not kept" in result.output
    assert (
        "Customer CUST-2 held meters M-DUA-1, M-DUA-2 on" in result.stderr
        and "name the meter's serial" in result.stderr
    )
    valid = imported(
        runner,
        tmp_path,
        "invoices",
        "one.csv",
        ERPNEXT_INVOICES.encode().splitlines(keepends=True)[0] + ERPNEXT_INVOICES.encode().splitlines(keepends=True)[1],
    )
    assert valid.exit_code == 0, valid.output + valid.stderr
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "ACC-SINV-2026-00001"))
    assert db.session.get(Meter, invoice.meter_id).serial == "M-RINA" and invoice.amount == Decimal("150000.00")
    record = db.session.scalar(sa.select(Import).where(Import.filename == "one.csv"))
    assert record.report["stated"]["compared"] == 1 and record.report["stated"]["differences"] == []


def test_an_odoo_invoice_export_names_customers_by_name_refusing_an_unclear_one(app, runner, tmp_path):
    by_customer(app)
    result = imported(runner, tmp_path, "invoices", "account.move.csv", ODOO_INVOICES.encode())
    assert result.exit_code == 1
    assert "  amount_residual → Outstanding amount (outstanding)" in result.output
    assert "2 customers are named Toko Sama (SAMA-1, SAMA-2): name the customer by its code." in result.stderr
    assert "No customer with code or name Nobody Here." in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_an_outstanding_amount_the_old_system_states_is_compared(app, runner, tmp_path):
    by_customer(app)
    data = "name,partner_id,invoice_date,invoice_date_due,amount_total,amount_residual\n"
    data += "INV/2026/00007,rina kusuma,2026-10-02,2026-11-01,200000,150000\n"
    result = imported(runner, tmp_path, "invoices", "account.move.csv", data.encode())
    assert result.exit_code == 0, result.output + result.stderr
    report = db.session.scalar(sa.select(Import)).report
    assert report["stated"]["compared"] == 1
    assert report["stated"]["differences"] == []  # what was paid before is settled there: it asks what Odoo says
    assert db.session.scalar(sa.select(Invoice.outstanding)) == Decimal("150000.00")


def test_a_payment_names_its_customer_and_the_meter_it_held_then(app, runner, tmp_path):
    by_customer(app)
    data = "Customer;Reference No;Paid Amount;Posting Date\nCUST-1;TRF-1;50000;2026-10-05\n"
    result = imported(runner, tmp_path, "payments", "Payment Entry.csv", data.encode())
    assert result.exit_code == 0, result.output + result.stderr
    payment = db.session.scalar(sa.select(Payment))
    assert (db.session.get(Meter, payment.meter_id).serial, payment.reference) == ("M-RINA", "TRF-1")
    wrong = "Customer;Meter serial;Reference No;Paid Amount;Posting Date\nCUST-1;M-DUA-1;TRF-2;50000;2026-10-05\n"
    refused = imported(runner, tmp_path, "payments", "p2.csv", wrong.encode())
    assert refused.exit_code == 1
    assert "Meter M-DUA-1 was not customer CUST-1's on" in refused.stderr
    neither = imported(runner, tmp_path, "payments", "p3.csv", b"Reference;Amount;Paid on\nTRF-3;1000;2026-10-05\n")
    assert neither.exit_code == 1 and "Name the meter's serial, or the customer who held it." in neither.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1


def test_a_clerk_imports_the_meter_readers_sheet_and_no_other_kind(app, client, finance):
    metered_customer("CAFE", date(2026, 1, 1), Decimal("1000.00"), serial="M-CAFE", prepaid=Decimal("100000.00"))
    page = client.get("/imports").get_data(as_text=True)
    assert '<option value="readings">' in page and '<option value="payments">' in page
    assert '<option value="customers">' not in page
    assert client.get("/imports/template/customers.csv").status_code == 403
    sheet = b"No. Seri Meter;Tgl Catat;Pemakaian m3;Keterangan\nM-CAFE;2026-10-01;12;pagar terkunci\n"
    sent = client.post(
        "/imports",
        data={"kind": "readings", "file": (io.BytesIO(sheet), "rute.csv")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    assert client.post(sent.headers["Location"] + "/run", data={"submission": "r" * 32}).status_code == 302
    reading = db.session.scalar(sa.select(MeterReading))
    assert (reading.reading_date, reading.volume_flow_meter, reading.note) == (
        date(2026, 10, 1),
        Decimal("12"),
        "pagar terkunci",
    )
    refused = client.post(
        "/imports",
        data={"kind": "customers", "file": (io.BytesIO(b"Customer code;Name\nC1;One\n"), "c.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1


def test_a_clerk_cannot_open_an_admins_import(app, client, runner, tmp_path, auth):
    assert imported(runner, tmp_path, "meters", "m.csv", b"Meter serial\nM-1\n").exit_code == 0
    record = db.session.scalar(sa.select(Import))
    auth.login("finance")
    assert client.get(f"/imports/{record.id}").status_code == 403
    assert client.get(f"/imports/{record.id}/report.csv").status_code == 403
    assert f"/imports/{record.id}" not in client.get("/imports").get_data(as_text=True)


def test_the_report_is_a_table_of_figures_a_spreadsheet_sums(app, client, admin, runner, tmp_path):
    metered_customer("CUST-1", date(2026, 1, 1), Decimal("1000.00"), serial="M-1", name="Rina Kusuma")
    metered_customer("CUST-2", date(2026, 1, 1), Decimal("1000.00"), serial="M-2", name="PT Dua")
    data = (
        "Invoice number;Customer;Amount;Issued on;Due on;Outstanding amount\n"
        "F-1;CUST-1;100000;2026-10-01;2026-10-31;100000\n"
        "F-2;CUST-1;50000;2026-10-02;2026-10-31;40000\n"
        "F-3;CUST-2;70000;2026-10-01;2026-10-31;70000\n"
        "F-4;CUST-9;70000;2026-10-01;2026-10-31;70000\n"
    )
    sent = client.post(
        "/imports",
        data={"kind": "invoices", "file": (io.BytesIO(data.encode()), "faktur.csv")},
        content_type="multipart/form-data",
    )
    assert client.post(sent.headers["Location"] + "/run", data={"valid_only": "1", "submission": "v" * 32})
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "3 rows written" in page and "to write" not in page
    workbook = client.get(sent.headers["Location"] + "/report.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Figure", "Customer, meter or record", "In the file", "In backoffice", "Difference"]
    by = {(row[0], row[1]): row[2:] for row in rows[1:]}
    assert by[("Amount", None)] == [220000, 220000, 0]
    assert by[("Amount", "CUST-1")] == [150000, 150000, 0]
    assert by[("Against the old system: Outstanding amount by Invoice number", None)] == [210000, 210000, 0]
    assert ("Outstanding amount", "F-2") not in by  # what was paid of it before is settled there
    assert by[("Rows rejected", "CUST-9")] == [1, None, None]
    assert all(isinstance(value, int | float) for row in rows[1:] for value in row[2:] if value is not None)
    text = client.get(sent.headers["Location"] + "/report.csv").get_data(as_text=True)
    assert "Amount,CUST-1,150000.00,150000.00,0.00\n" in text


def test_a_reading_given_as_the_meters_index_is_compared_as_an_index(app, runner, tmp_path):
    metered_customer("CAFE", date(2026, 1, 1), Decimal("1000.00"), serial="M-CAFE", prepaid=Decimal("1000000.00"))
    data = "Meter serial;Reading date;The meter's index;The start index\n"
    data += "M-CAFE;2026-10-01;100;90\nM-CAFE;2026-10-02;112;\n"
    result = imported(runner, tmp_path, "readings", "rute.csv", data.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "Volume (m³): 0.00 in the file" not in result.output
    report = db.session.scalar(sa.select(Import)).report
    assert "volume" not in report["totals"]  # no row gave one
    assert report["rows"]["found"] == 2


def test_a_conflict_says_its_figures_as_the_reader_writes_them(app, runner, tmp_path):
    imported(runner, tmp_path, "customers", "c.csv", b"Customer code;Name;Suspend below\nC1;One;12500\n")
    result = imported(runner, tmp_path, "customers", "c2.csv", b"Customer code;Name;Suspend below\nC1;One;9999999\n")
    assert result.exit_code == 1
    assert "Suspend below is 12.500,00, the file says 9.999.999,00." in result.stderr


def test_a_bad_email_is_refused_in_the_readers_language_alone(app, client, admin):
    sent = client.post(
        "/imports",
        data={
            "kind": "customers",
            "file": (io.BytesIO(b"Customer code;Name;Email\nC1;One;rina.example.com\n"), "c.csv"),
        },
        content_type="multipart/form-data",
        headers=INDONESIAN,
    )
    page = client.get(sent.headers["Location"], headers=INDONESIAN).get_data(as_text=True)
    assert "bukan alamat email" in page and "@-sign" not in page


def test_a_guessed_encoding_is_shown_with_its_alternatives_and_chosen(app, client, admin, runner, tmp_path):
    data = "Customer code;Name\nC1;Crème brûlée €\n".encode("cp1252")
    result = imported(runner, tmp_path, "customers", "c.csv", data, "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Encoding guessed from the file's letters: cp1252" in result.output
    assert "  cp1250: C1;Crčme brűlée €" in result.output
    chosen = imported(runner, tmp_path, "customers", "c.csv", data, "--encoding", "cp1250")
    assert chosen.exit_code == 0, chosen.output + chosen.stderr
    assert db.session.scalar(sa.select(Customer.name)) == "Crčme brűlée €"
    assert db.session.scalar(sa.select(Import.encoding)) == "cp1250"
    wrong = imported(runner, tmp_path, "customers", "c.csv", data, "--encoding", "utf-8")
    assert wrong.exit_code == 2 and "is not text in utf-8" in wrong.stderr
    unknown = imported(runner, tmp_path, "customers", "c.csv", data, "--encoding", "klingon")
    assert unknown.exit_code == 2 and "klingon is not an encoding." in unknown.stderr

    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (io.BytesIO(data.replace(b"C1", b"C2")), "c2.csv")},
        content_type="multipart/form-data",
    )
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'value="cp1252" checked' in page and "<code>C2;Crème brûlée €</code>" in page
    record = db.session.scalar(sa.select(Import).where(Import.filename == "c2.csv"))
    form = {"version": str(record.version), "encoding": "cp1250"}
    assert client.post(sent.headers["Location"] + "/columns", data=form).status_code == 302
    db.session.expire_all()
    fresh = {"version": str(db.session.get(Import, record.id).version), "encoding": "klingon"}
    assert client.post(sent.headers["Location"] + "/columns", data=fresh).status_code == 400
    assert client.post(sent.headers["Location"] + "/run", data={"submission": "e" * 32}).status_code == 302
    assert db.session.scalar(sa.select(Customer.name).where(Customer.code == "C2")) == "Crčme brűlée €"


def test_without_the_queues_the_page_writes_a_small_file_alone(app, client, admin, monkeypatch):
    monkeypatch.setattr(running, "IN_REQUEST_ROWS", 2)
    data = b"Meter serial\nM-1\nM-2\nM-3\n"
    sent = client.post(
        "/imports", data={"kind": "meters", "file": (io.BytesIO(data), "m.csv")}, content_type="multipart/form-data"
    )
    ran = client.post(sent.headers["Location"] + "/run", data={"submission": "q" * 32}, follow_redirects=True)
    assert "An import of more than 2 rows runs as a job" in ran.get_data(as_text=True)
    assert "make worker" in ran.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meter)) == 0
    assert db.session.scalar(sa.select(Import.status)) == "checked"


@pytest.mark.production_path("real workers")
def test_with_the_queues_columns_chosen_are_checked_by_a_job(app, client, admin, redis_url):
    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (io.BytesIO(b"Kode;Nama;Pemilik\nP-01;Toko;Ani\n"), "c.csv")},
        content_type="multipart/form-data",
    )
    run_worker(app, redis_url)
    record = db.session.scalar(sa.select(Import))
    assert record.status == "checked" and record.report["preview"]["columns"][2] == ["Pemilik", None]
    form = {"version": str(record.version), "column-0": "code", "column-1": "name", "column-2": "contact_person"}
    client.post(sent.headers["Location"] + "/columns", data=form)
    assert "The file is being checked" in client.get(sent.headers["Location"]).get_data(as_text=True)
    run_worker(app, redis_url)
    db.session.expire_all()
    record = db.session.get(Import, record.id)
    assert record.status == "checked" and record.report["preview"]["columns"][2] == ["Pemilik", "contact_person"]
    assert client.post(sent.headers["Location"] + "/run", data={"submission": "w" * 32}).status_code == 302
    run_worker(app, redis_url)
    assert db.session.scalar(sa.select(Customer.contact_person)) == "Ani"


def test_a_clerk_keeps_a_customers_city_and_tax_number_on_its_form(app, client, finance):
    customer = CustomerFactory(code="KOTA", name="Toko Kota")
    form = client.get(f"/customers/{customer.code}/edit").get_data(as_text=True)
    assert 'name="city"' in form and 'name="tax_number"' in form
    sent = client.post(
        f"/customers/{customer.code}/edit",
        data={"name": "Toko Kota", "city": "Bogor", "tax_number": "01.234.567.8-901.000", "version": "1"},
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    db.session.expire_all()
    assert (customer.city, customer.tax_number) == ("Bogor", "01.234.567.8-901.000")
    page = client.get(f"/customers/{customer.code}").get_data(as_text=True)
    assert "Bogor" in page and "tax number 01.234.567.8-901.000" in page
    refused = client.post(
        f"/customers/{customer.code}/edit", data={"name": "Toko Kota", "city": "Bo\tgor", "version": "2"}
    )
    assert refused.status_code == 422
    db.session.expire_all()
    assert customer.city == "Bogor"


def test_the_command_sets_and_clears_a_customers_city_and_tax_number(app, runner):
    added = runner.invoke(args=["customers", "add", "KOTA", "Toko Kota", "--city", "Bogor", "--tax-number", "01.2"])
    assert added.exit_code == 0, added.output
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "KOTA"))
    assert (customer.city, customer.tax_number) == ("Bogor", "01.2")
    edited = runner.invoke(args=["customers", "edit", "KOTA", "--city", "", "--phone", "0812 3456"])
    assert edited.exit_code == 0, edited.output
    db.session.expire_all()
    assert (customer.city, customer.tax_number, customer.phone) == (None, "01.2", "0812 3456")


def test_a_customers_tax_status_is_kept_from_its_form_its_command_and_its_import(
    app, client, finance, runner, tmp_path
):
    customer = CustomerFactory(code="PAJAK", name="Toko Pajak")
    assert customer.tax_status is None  # taxed, as every customer is unless told
    form = client.get(f"/customers/{customer.code}/edit").get_data(as_text=True)
    assert 'name="tax_status"' in form and "Exempt from VAT" in form
    refused = client.post(
        f"/customers/{customer.code}/edit", data={"name": "Toko Pajak", "tax_status": "sometimes", "version": "1"}
    )
    assert refused.status_code == 422 and "Choose taxed, exempt or zero-rated." in refused.get_data(as_text=True)
    sent = client.post(
        f"/customers/{customer.code}/edit", data={"name": "Toko Pajak", "tax_status": "exempt", "version": "1"}
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    db.session.expire_all()
    assert customer.tax_status == "exempt"
    assert "exempt from VAT" in client.get(f"/customers/{customer.code}").get_data(as_text=True)
    history = client.get(f"/history/customer/{customer.id}").get_data(as_text=True)
    assert "exempt from VAT" in history and ">exempt<" not in history  # in words, never the code

    wrong = runner.invoke(args=["customers", "edit", "PAJAK", "--tax-status", "sometimes"])
    assert wrong.exit_code != 0 and "Choose taxed, exempt or zero-rated." in wrong.output
    edited = runner.invoke(args=["customers", "edit", "PAJAK", "--tax-status", "zero_rated"])
    assert edited.exit_code == 0, edited.output
    db.session.expire_all()
    assert customer.tax_status == "zero_rated"
    assert "zero-rated: VAT at 0 %" in client.get(f"/customers/{customer.code}").get_data(as_text=True)

    sheet = "Kode;Nama;Status PPN\nBEBAS1;Klinik Sehat;Bebas PPN\nNOL1;Eksportir Jaya;0%\nKENA1;Toko Biasa;\n"
    result = imported(runner, tmp_path, "customers", "pelanggan.csv", f"{sheet}APA1;Toko Apa;kadang\n".encode())
    assert result.exit_code != 0 and "Write taxed, exempt or zero-rated." in result.output, result.output
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 1  # nothing written
    written = imported(runner, tmp_path, "customers", "pelanggan.csv", sheet.encode())
    assert written.exit_code == 0 and "  Status PPN → Tax status (tax_status)" in written.output, written.output
    kept = dict(db.session.execute(sa.select(Customer.code, Customer.tax_status)).all())
    assert (kept["BEBAS1"], kept["NOL1"], kept["KENA1"]) == ("exempt", "zero_rated", None)
    (row,) = [row for row in client.get("/customers/export.csv?q=BEBAS1").get_data(as_text=True).splitlines()[1:]]
    assert row.endswith(",exempt")


@pytest.mark.production_path("real workers")
def test_as_the_runtime_role_a_clerk_maps_a_column_and_real_workers_check_and_write(app, runtime_url, redis_url):
    """A meter reader's sheet whose meter column no field knows: the page keeps it for its columns to be mapped,
    and the web and the workers run as the role production serves with."""
    metered_customer("CAFE", date(2026, 1, 1), Decimal("1000.00"), serial="M-CAFE", prepaid=Decimal("100000.00"))
    UserFactory(email="clerk@example.com", role="finance", password="correct horse battery")
    db.session.commit()
    sheet = b"Alat;Tgl Catat;Pemakaian m3\nM-CAFE;2026-10-01;12\n"
    with runtime_app(runtime_url, REDIS_URL=redis_url) as runtime:
        client = runtime.test_client()
        assert client.post("/login", data={"email": "clerk@example.com", "password": "correct horse battery"})
        sent = client.post(
            "/imports",
            data={"kind": "readings", "file": (io.BytesIO(sheet), "rute.csv")},
            content_type="multipart/form-data",
        )
        assert sent.status_code == 302, sent.get_data(as_text=True)
        page = client.get(sent.headers["Location"]).get_data(as_text=True)
        assert "No column of the file is read into Meter serial" in page and 'id="import-run"' not in page
        refused = client.post(sent.headers["Location"] + "/run", data={"submission": "x" * 32}, follow_redirects=True)
        assert "No column of the file is read into Meter serial" in refused.get_data(as_text=True)
        record_id = int(sent.headers["Location"].rsplit("/", 1)[1])
        version = runtime.extensions["sqlalchemy"].session.get(Import, record_id).version
        form = {"version": str(version), "column-0": "meter", "column-1": "reading_date", "column-2": "volume"}
        assert client.post(sent.headers["Location"] + "/columns", data=form).status_code == 302
    run_worker(app, redis_url)  # the check
    record = db.session.get(Import, record_id)
    assert (record.status, record.rows_good) == ("checked", 1), record.report
    with runtime_app(runtime_url, REDIS_URL=redis_url) as runtime:
        client = runtime.test_client()
        assert client.post("/login", data={"email": "clerk@example.com", "password": "correct horse battery"})
        assert client.post(f"/imports/{record_id}/run", data={"submission": "y" * 32}).status_code == 302
    run_worker(app, redis_url)  # the write
    db.session.expire_all()
    assert db.session.get(Import, record_id).status == "done"
    assert db.session.scalar(sa.select(MeterReading.volume_flow_meter)) == Decimal("12")
    assert db.session.execute(sa.select(ImportColumn.header, ImportColumn.field)).all() == [("Alat", "meter")]
