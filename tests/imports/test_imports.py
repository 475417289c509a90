"""An installation brought in from the files a legacy system exports: every kind, checked whole, written once,
reported against what backoffice holds and verified; each bad input refused with its message on the command and on
the page, nothing written."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from backoffice.imports import kept, running
from backoffice.imports.kinds import KINDS
from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    HistoryTransaction,
    Import,
    ImportStatus,
    Invoice,
    JournalEntry,
    Meter,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.services import billing, meter_lifecycle, periods
from tests.checkout import ROOT
from tests.factories import CustomerFactory, metered_customer
from tests.pages import INDONESIAN
from tests.workers import kill_work_horse, listening_worker, run_worker, serving_url

TABLES = (
    AccountManager,
    Customer,
    Meter,
    MeterAssignment,
    CustomerPricing,
    Order,
    BalanceTransaction,
    Invoice,
    Payment,
)


def counts() -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in TABLES}


def workbook(rows: list[list], title: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
        sheet.append([])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def legacy_files(today: date) -> dict[str, tuple[str, bytes]]:
    """An installation as a legacy system exports it: each kind's file as such systems write them."""
    cut_over = today.replace(day=1)
    started = cut_over - timedelta(days=90)
    return {
        "managers": (
            "managers.csv",
            "\ufeffName,Email,Active\nSiti Rahma,siti@example.co.id,yes\nOld Hand,old@example.co.id,no\n".encode(),
        ),
        "customers": (
            "pelanggan.csv",
            (
                "Daftar pelanggan — ekspor sistem lama\n"
                ";;;\n"
                "Customer code;Name;Account manager email;Suspend below;Address\n"
                "C001;Café Señor;siti@example.co.id;0;Jl. Merdeka 1\n"
                "C002;PT Kertas Nusantara;siti@example.co.id;50.000;\n"
                "\n"
                "C003;Warung Bu Tini;;;\n"
            ).encode("cp1252"),
        ),
        "meters": ("meters.xlsx", workbook([["Meter serial"], ["m-100"], ["M-200"], ["M-300"]], title="Meter list")),
        "assignments": (
            "assignments.txt",
            (
                "Meter serial\tCustomer code\tStarted on\tEnded on\n"
                f"M-100\tC001\t{started.isoformat()}\t\n"
                f"M-200\tC002\t{started.isoformat()}\t\n"
                f"M-300\tC003\t{started.isoformat()}\t\n"
            ).encode("utf-16"),
        ),
        "prices": (
            "prices.csv",
            f"Customer code;Effective from;Price per Sm³;Meter correction\nC001;{started:%d/%m/%Y};4.500;1\n".encode(),
        ),
        "orders": (
            "orders.csv",
            (
                "Order number;Customer code;Account manager email;Closing date;Total price;Additions;Promo;Reductions\n"
                f"OLD-1;C001;siti@example.co.id;{started.isoformat()};1.000.000;50.000;0;25.000\n"
                f"OLD-2;C002;siti@example.co.id;{started.isoformat()};2.500.000;0;100.000;0\n"
            ).encode("cp1252"),
        ),
        "readings": (
            "readings.xlsx",
            workbook(
                [["Meter serial", "Reading date", "Volume (m³)"], ["M-100", today, 100], [None, None, None]],
                title="Pembacaan meter",
            ),
        ),
        "balances": (
            "saldo.csv",
            (
                "Customer code;Opening balance;Cut-over date;Closing balance\n"
                f"C001;1.500.000;{cut_over.isoformat()};1.050.000\n"
                f"C002;-20.000;{cut_over.isoformat()};-20.000\n"
                f"C003;0;{cut_over.isoformat()};0\n"
            ).encode("cp1252"),
        ),
        "invoices": (
            "invoices.xlsx",
            workbook(
                [
                    ["Invoice number", "Meter serial", "Amount", "Issued on", "Due on", "Meter's amount due"],
                    [
                        "INV-1",
                        "M-200",
                        Decimal("300000"),
                        started + timedelta(days=30),
                        started + timedelta(days=60),
                        None,
                    ],
                    ["INV-2", "M-200", 450000, started + timedelta(days=60), started + timedelta(days=90), None],
                ],
                title="Outstanding invoices",
            ),
        ),
        "payments": (
            "payments.csv",
            (
                "Meter serial;Payment reference;Amount;Paid on;Invoices paid;Meter's amount due\n"
                f"M-200;TRF-0001;300.000;{(started + timedelta(days=40)).isoformat()};INV-1;450.000\n"
            ).encode("cp1252"),
        ),
    }


def import_all(runner, tmp_path, files) -> dict[str, str]:
    said = {}
    for kind, (name, content) in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = runner.invoke(args=["import", kind, str(path)])
        assert result.exit_code == 0, (kind, result.output, result.exception)
        said[kind] = result.output
    return said


def test_a_legacy_installation_imports_reconciled_and_again_writes_nothing(app, runner, tmp_path):
    files = legacy_files(local_today())
    said = import_all(runner, tmp_path, files)

    c001 = db.session.scalar(sa.select(Customer).where(Customer.code == "C001"))
    assert c001.name == "Café Señor" and c001.balance == Decimal("1050000.00")  # 100 m³ at Rp4.500 charged
    c002 = db.session.scalar(sa.select(Customer).where(Customer.code == "C002"))
    assert c002.balance == Decimal("-20000.00") and c002.suspend_below == Decimal("50000.00")
    assert db.session.scalar(sa.select(Meter.balance).where(Meter.serial == "M-200")) == Decimal("450000.00")
    assert (
        db.session.scalar(sa.select(AccountManager.active).where(AccountManager.email == "old@example.co.id")) is False
    )
    openings = db.session.scalars(sa.select(BalanceTransaction).where(BalanceTransaction.kind == "opening")).all()
    assert sorted(o.signed_amount for o in openings) == [Decimal("-20000.00"), Decimal("1500000.00")]
    assert db.session.scalar(sa.select(MeterReading.volume_flow_meter)) == Decimal("100.0000")
    assert all(o.value_date == local_today().replace(day=1) for o in openings)

    for record in db.session.scalars(sa.select(Import)).all():
        report = record.report
        assert record.status == ImportStatus.DONE, record.error
        assert report["rows"]["found"] == report["rows"]["expected"] == report["rows"]["in_file"], report
        for column, sums in report["totals"].items():
            assert sums["file"] == sums["stored"], (record.kind, column, sums)
        assert report["stated"]["differences"] == [], report["stated"]
        if report["verify"] is not None:
            assert report["verify"]["mismatched"] == 0, report["verify"]
    balances = db.session.scalar(sa.select(Import).where(Import.kind == "balances"))
    assert balances.report["stated"]["compared"] == 3
    assert balances.report["totals"]["amount"] == {"file": "1480000.00", "stored": "1480000.00"}
    assert "Verify of 3 customers" in said["balances"]

    # Every row written carries its import in its history: the file's name and SHA-256, when, by what.
    version = version_class(Customer)
    actor = db.session.scalar(
        sa.select(HistoryTransaction.actor)
        .join(version, version.transaction_id == HistoryTransaction.id)
        .where(version.code == "C001")
    )
    customers_import = db.session.scalar(sa.select(Import).where(Import.kind == "customers"))
    assert actor == f"import #{customers_import.id} {customers_import.sha256[:12]} pelanggan.csv"

    before, entries = counts(), db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry))
    again = import_all(runner, tmp_path, files)
    assert counts() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == entries
    assert all(" 0 to write" in output for output in again.values()), again


def test_a_row_whose_key_exists_with_other_values_is_a_conflict_never_overwritten(app, runner, tmp_path):
    first = tmp_path / "customers.csv"
    first.write_text("Customer code;Name\nC001;Hotel Melati\n")
    assert runner.invoke(args=["import", "customers", str(first)]).exit_code == 0
    first.write_text("Customer code;Name\nC001;Hotel Mawar\n")
    result = runner.invoke(args=["import", "customers", str(first)])
    assert result.exit_code == 1
    assert "C001 exists with other values: Name is Hotel Melati, the file says Hotel Mawar." in result.stderr
    assert db.session.scalar(sa.select(Customer.name).where(Customer.code == "C001")) == "Hotel Melati"


def test_a_key_of_two_columns_is_found_by_both_never_by_another_rows_parts(app, runner, tmp_path):
    metered_customer("ONE", date(2026, 1, 1), Decimal("1000.00"), serial="M-ONE")
    metered_customer("TWO", date(2026, 1, 1), Decimal("1000.00"), serial="M-TWO")
    paid = tmp_path / "payments.csv"
    paid.write_text(
        "Meter serial;Payment reference;Amount;Paid on\nM-ONE;P-1;100;2026-10-05\nM-TWO;P-2;200;2026-10-05\n"
    )
    assert runner.invoke(args=["import", "payments", str(paid)]).exit_code == 0
    # Each meter's reference is the other's: both rows are new payments, neither found stored nor a conflict.
    paid.write_text(
        "Meter serial;Payment reference;Amount;Paid on\nM-ONE;P-2;300;2026-10-05\nM-TWO;P-1;400;2026-10-05\n"
    )
    result = runner.invoke(args=["import", "payments", str(paid)])
    assert result.exit_code == 0, result.output + result.stderr
    stored = db.session.execute(
        sa.select(Meter.serial, Payment.reference, Payment.amount).join(Meter, Meter.id == Payment.meter_id)
    ).all()
    assert sorted(stored) == [
        ("M-ONE", "P-1", Decimal("100.00")),
        ("M-ONE", "P-2", Decimal("300.00")),
        ("M-TWO", "P-1", Decimal("400.00")),
        ("M-TWO", "P-2", Decimal("200.00")),
    ]
    assert runner.invoke(args=["import", "payments", str(paid)]).exit_code == 0  # again: found stored, unchanged
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 4


BAD_ROWS = {
    "a duplicated key": (
        "customers",
        "Customer code;Name\nC001;One\nC001;Two\n",
        "Line 3: The same Customer code as line 2.",
    ),
    "an unknown meter": (
        "invoices",
        "Invoice number;Meter serial;Amount;Issued on;Due on\nINV-9;M-404;100.000;{today};{today}\n",
        "Line 2, Meter serial: No meter with serial M-404.",
    ),
    "a date after today": (
        "balances",
        "Customer code;Opening balance;Cut-over date\nKNOWN;100.000;{tomorrow}\n",
        "Line 2, Cut-over date: The date {said_tomorrow} is after today.",
    ),
    "a negative amount": (
        "invoices",
        "Invoice number;Meter serial;Amount;Issued on;Due on\nINV-9;M-1;-100;{today};{today}\n",
        "Line 2, Amount: The amount must not be negative.",
    ),
    "a 40-digit amount": (
        "invoices",
        "Invoice number;Meter serial;Amount;Issued on;Due on\nINV-9;M-1;" + "9" * 40 + ";{today};{today}\n",
        "Line 2, Amount: The amount is too large",
    ),
    "a cell starting with =": (
        "customers",
        'Customer code;Name\nC001;=HYPERLINK("http://evil")\n',
        "Line 2, Name: A cell may not start with '='",
    ),
}


@pytest.fixture
def known(app):
    """A customer KNOWN holding meter M-1."""
    return metered_customer("KNOWN", date(2026, 1, 1), Decimal("1000.00"), serial="M-1")


def _written(text: str) -> str:
    today = local_today()
    tomorrow = today + timedelta(days=1)
    return text.format(today=today.isoformat(), tomorrow=tomorrow.isoformat(), said_tomorrow=named_date(tomorrow))


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_is_refused_with_its_line_and_column_and_nothing_is_written(app, runner, tmp_path, known, case):
    kind, text, message = BAD_ROWS[case]
    path = tmp_path / "bad.csv"
    path.write_text(_written(text))
    before = counts()
    result = runner.invoke(args=["import", kind, str(path)])
    assert result.exit_code == 1, result.output
    assert _written(message) in result.stderr
    assert counts() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


def test_a_row_in_a_closed_month_is_refused(app, runner, tmp_path, known, admin):
    from backoffice.models import User

    closed = date(2026, 1, 1)
    periods.close("2026-01", db.session.scalar(sa.select(User).where(User.role == "admin")))
    path = tmp_path / "invoices.csv"
    path.write_text(f"Invoice number;Meter serial;Amount;Issued on;Due on\nINV-1;M-1;100.000;{closed};{closed}\n")
    result = runner.invoke(args=["import", "invoices", str(path)])
    assert result.exit_code == 1
    assert "Line 2, Issued on: January 2026 is closed" in result.stderr


def big_file(path: Path) -> Path:
    with path.open("wb") as out:
        out.write(b"Customer code;Name\n")
        out.write(b"X" * (50 * 1024 * 1024 + 1))
    return path


def zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (200 * 1024 * 1024))
    return path


UNREADABLE = {
    "a file over 50 MB": (lambda tmp: big_file(tmp / "big.csv"), "is larger than 50 MB"),
    "a workbook that unzips to far more": (lambda tmp: zip_bomb(tmp / "bomb.xlsx"), "unzips to"),
    "a file that is not what its name says": (
        lambda tmp: (tmp / "customers.xlsx").write_text("Customer code;Name\nC1;One\n") and tmp / "customers.xlsx",
        "is named as an Excel workbook but holds text",
    ),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_a_file_that_cannot_be_read_says_why_exit_2_and_writes_nothing(app, runner, tmp_path, case):
    make, message = UNREADABLE[case]
    path = make(tmp_path)
    result = runner.invoke(args=["import", "customers", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_the_page_refuses_a_file_that_cannot_be_read_in_the_readers_language(app, client, admin, tmp_path, case):
    make, message = UNREADABLE[case]
    path = make(tmp_path)
    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (path.open("rb"), path.name)},
        content_type="multipart/form-data",
        headers=INDONESIAN,
    )
    assert sent.status_code == 422
    page = sent.get_data(as_text=True)
    assert 'id="error-file"' in page and message not in page  # said in Indonesian
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_the_page_shows_each_rejected_row_and_writes_nothing(app, client, admin, known, case):
    kind, text, message = BAD_ROWS[case]
    before = counts()
    sent = client.post(
        "/imports",
        data={"kind": kind, "file": (io.BytesIO(_written(text).encode()), "bad.csv")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    expected = (
        _written(message).split(": ", 1)[1] if ", " in message.split(":")[0] else _written(message).split(": ", 1)[1]
    )
    assert expected.replace("'", "&#39;") in page
    assert "A file with rejected rows writes nothing." in page
    assert counts() == before
    rejected = client.get(sent.headers["Location"] + "/rejected.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(rejected.data)).active
    header = [cell.value for cell in sheet[1]]
    assert header[-2:] == ["Line", "Why it was rejected"]
    assert sheet.max_row == 2


def test_the_valid_rows_alone_when_the_admin_chooses_them_once_however_often_sent(app, client, admin):
    sent = client.post(
        "/imports",
        data={
            "kind": "customers",
            "file": (io.BytesIO(b"Customer code;Name\nC001;One\nC 2;Two\nC003;Three\n"), "c.csv"),
        },
        content_type="multipart/form-data",
    )
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Import the 2 valid rows alone" in page
    form = {"valid_only": "1", "submission": "k" * 32}
    assert client.post(sent.headers["Location"] + "/run", data=form).status_code == 302
    assert client.post(sent.headers["Location"] + "/run", data=form).status_code == 302
    assert sorted(db.session.scalars(sa.select(Customer.code)).all()) == ["C001", "C003"]
    record = db.session.scalar(sa.select(Import))
    assert record.status == ImportStatus.DONE and record.rows_written == 2
    report = client.get(sent.headers["Location"] + "/report.csv").get_data(as_text=True)
    assert "Rows in backoffice with the file's values,,2,2,0\n" in report


@pytest.mark.production_path("a killed worker")
def test_an_interrupted_import_resumes_where_it_stopped(app, runner, tmp_path, monkeypatch):
    path = tmp_path / "meters.csv"
    path.write_text("Meter serial\n" + "".join(f"M-{n}\n" for n in range(1, 8)))
    monkeypatch.setattr(running, "CHUNK", 3)
    written = KINDS["meters"].write
    calls = []

    def dies_on_the_second_chunk(rows, user):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("the worker was killed")
        written(rows, user)

    monkeypatch.setitem(KINDS, "meters", replace(KINDS["meters"], write=dies_on_the_second_chunk))
    result = runner.invoke(args=["import", "meters", str(path)])
    assert result.exit_code != 0
    record = db.session.scalar(sa.select(Import))
    assert record.status == ImportStatus.FAILED and record.rows_written == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meter)) == 3

    running.run_import(record.id)
    db.session.refresh(record)
    assert record.status == ImportStatus.DONE
    assert record.rows_written == 7 and record.rows_unchanged == 0  # the 3 it wrote before are its own
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meter)) == 7


@pytest.mark.production_path("real workers")
def test_a_row_refused_when_its_chunk_is_checked_again_stops_the_import_at_that_chunk(app, client, admin, redis_url):
    """The run checks each chunk again as it writes it (a real worker, as the runtime role): a row good when the file
    was checked, refused now (another customer took its code meanwhile), stops the import at its chunk, saying why;
    the chunks before it stay written, as a stopped import's do, and the rest is not."""
    rows = "".join(f"C{n};Customer {n}\n" for n in range(1, running.CHUNK + 101))
    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (io.BytesIO(f"Customer code;Name\n{rows}".encode()), "customers.csv")},
        content_type="multipart/form-data",
    )
    run_worker(app, redis_url)  # the check
    record = db.session.scalar(sa.select(Import))
    assert (record.status, record.rows_rejected) == (ImportStatus.CHECKED, 0)
    taken = running.CHUNK + 50
    CustomerFactory(code=f"C{taken}", name="Someone else")
    assert client.post(sent.headers["Location"] + "/run").status_code == 302
    run_worker(app, redis_url)
    db.session.refresh(record)
    assert record.status == ImportStatus.FAILED and record.rows_written == running.CHUNK
    assert record.error.startswith(f"Line {taken + 1}: C{taken} exists with other values"), record.error
    assert "check it again" in record.error
    written = sa.select(sa.func.count(Customer.id)).where(Customer.code.like("C%"), Customer.name.like("Customer %"))
    assert db.session.scalar(written) == running.CHUNK


def test_the_template_names_each_column_in_the_readers_language(app, runner, client, admin):
    result = runner.invoke(args=["import", "customers", "--template"])
    assert result.exit_code == 0
    assert result.output.startswith("Customer code *;Name *;")
    template = client.get("/imports/template/balances.xlsx", headers=INDONESIAN)
    header = [cell.value for cell in openpyxl.load_workbook(io.BytesIO(template.data)).active[1]]
    assert "Opening balance *" not in header and len(header) == 4


@pytest.mark.production_path("real workers")
def test_an_import_runs_as_a_job_of_a_real_worker_as_the_runtime_role(app, client, admin, redis_url):
    files = legacy_files(local_today())
    for kind in ("managers", "customers", "balances"):
        name, content = files[kind]
        sent = client.post(
            "/imports",
            data={"kind": kind, "file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        run_worker(app, redis_url)  # the check
        assert client.post(sent.headers["Location"] + "/run").status_code == 302
        record = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
        assert record.status == ImportStatus.QUEUED
        run_worker(app, redis_url)
        db.session.refresh(record)
        assert record.status == ImportStatus.DONE, record.error
    assert db.session.scalar(sa.select(Customer.balance).where(Customer.code == "C001")) == Decimal("1500000.00")
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Verify of 3 customers" in page


@pytest.mark.production_path("real workers")
def test_invoices_charged_vat_and_customers_on_routes_import_through_a_real_worker_as_the_runtime_role(
    app, client, admin, redis_url
):
    from backoffice.services import tax

    metered_customer("CAFE", date(2026, 1, 1), Decimal("1000.00"), serial="M-CAFE")
    with db.engine.begin() as connection:
        tax.save_rate(connection, Decimal("11"), date(2026, 1, 1), None)
    today = local_today()
    sheets = {
        "customers": ("rute.csv", b"Kode;Nama;Rute;Urutan\nR1;Warung Satu;Bogor Utara;2\n"),
        "invoices": (
            "faktur.csv",
            f"Invoice number;Meter serial;Amount;Issued on;Due on\nINV-VAT;M-CAFE;1000000;{today};{today}\n".encode(),
        ),
    }
    for kind, (name, content) in sheets.items():
        sent = client.post(
            "/imports", data={"kind": kind, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
        )
        run_worker(app, redis_url)  # the check
        assert client.post(sent.headers["Location"] + "/run").status_code == 302
        record = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
        run_worker(app, redis_url)
        db.session.refresh(record)
        assert record.status == ImportStatus.DONE, (record.error, record.report)
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.number == "INV-VAT"))
    assert (invoice.amount, invoice.vat, invoice.vat_rate) == (Decimal("1110000.00"), Decimal("110000.00"), 11)
    route = db.session.execute(sa.select(Customer.route, Customer.route_stop).where(Customer.code == "R1")).one()
    assert tuple(route) == ("Bogor Utara", 2)


@pytest.mark.production_path("a killed worker")
def test_an_import_whose_worker_is_killed_mid_way_resumes_where_it_stopped(app, client, admin, redis_url):
    """A real worker, as the runtime role, its work-horse killed after a chunk: the import says it stopped, kept the
    chunks it wrote, and run again writes the rest."""
    content = ("Meter serial\n" + "".join(f"M-{n:04}\n" for n in range(1, 1201))).encode()
    sent = client.post(
        "/imports",
        data={"kind": "meters", "file": (io.BytesIO(content), "meters.csv")},
        content_type="multipart/form-data",
    )
    page = sent.headers["Location"]
    import_id = int(page.rsplit("/", 1)[1])

    def now() -> Import:
        db.session.rollback()
        return db.session.get(Import, import_id)

    run_worker(app, redis_url)  # the check
    assert client.post(page + "/run").status_code == 302
    with listening_worker(app, redis_url, job_step_delay_seconds=2) as worker:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and now().rows_written < running.CHUNK:
            time.sleep(0.1)
        kill_work_horse(worker.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and now().status == ImportStatus.RUNNING:
            time.sleep(0.1)
        assert worker.poll() is None
    stopped = now()
    meters = db.session.scalar(sa.select(sa.func.count()).select_from(Meter))
    assert stopped.status == ImportStatus.FAILED and "stopped" in stopped.error
    assert meters == stopped.rows_written and meters % running.CHUNK == 0 and 0 < meters < 1200
    assert "stopped" in client.get(page).get_data(as_text=True)

    assert client.post(page + "/run").status_code == 302
    run_worker(app, redis_url)
    done = now()
    assert done.status == ImportStatus.DONE, done.error
    assert done.rows_written == 1200 and db.session.scalar(sa.select(sa.func.count()).select_from(Meter)) == 1200


def test_the_command_imports_as_the_runtime_role(app, tmp_path):
    path = tmp_path / "meters.csv"
    path.write_text("Meter serial\nM-9\n")
    db.session.commit()
    env = {"DATABASE_URL": serving_url(app.config["SQLALCHEMY_DATABASE_URI"]), "SECRET_KEY": "test"}
    result = subprocess.run(
        [sys.executable, "-c", "from backoffice.command import main; main()", "import", "meters", str(path)],
        cwd=ROOT,
        env={**__import__("os").environ, **env, "BACKOFFICE_ANCHORS_FOLDER": app.config["ANCHORS_FOLDER"]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 rows written" in result.stdout, result.stdout + result.stderr
    db.session.rollback()
    assert db.session.scalar(sa.select(Meter.serial)) == "M-9"


def test_readings_come_in_a_batch_a_chunk_priced_and_charged_and_again_write_nothing(app, runner, tmp_path):
    day = local_today().replace(day=1)
    customer, meter = metered_customer(
        "READ", day - timedelta(days=60), Decimal("1000.00"), serial="M-7", prepaid=Decimal("1000000")
    )
    path = tmp_path / "readings.csv"
    path.write_text(
        "Meter serial;Reading date;Volume (m³);The meter's index;The start index\n"
        f"M-7;{day - timedelta(days=40)};10,5;;\n"
        f"M-7;{day - timedelta(days=20)};;100;80\n"
        f"M-7;{day - timedelta(days=10)};;130;\n"
    )
    result = runner.invoke(args=["import", "readings", str(path)])
    assert result.exit_code == 0, (result.output, result.stderr)
    db.session.refresh(customer)
    volumes = db.session.scalars(sa.select(MeterReading.volume_flow_meter).order_by(MeterReading.reading_date)).all()
    assert volumes == [Decimal("10.5000"), Decimal("20.0000"), Decimal("30.0000")]
    assert customer.balance == Decimal("1000000") - Decimal("60500.00")
    record = db.session.scalar(sa.select(Import))
    assert record.report["verify"]["mismatched"] == 0
    again = runner.invoke(args=["import", "readings", str(path)])
    assert again.exit_code == 0 and " 0 to write, 3 unchanged" in again.output, again.output


def test_a_request_larger_than_any_file_is_refused_before_it_is_read(app, client, admin, tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as out:
        out.truncate(52 * 1024 * 1024)
    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (path.open("rb"), "huge.csv")},
        content_type="multipart/form-data",
        headers=INDONESIAN,
    )
    assert sent.status_code == 413
    assert "50 MB" in sent.get_data(as_text=True) and "too large" not in sent.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0


def test_a_files_name_is_kept_as_a_text_can_show_it(app, client, admin):
    sent = client.post(
        "/imports",
        data={"kind": "meters", "file": (io.BytesIO(b"Meter serial\nM-1\n"), "..\\\\dir/evil\x00\x07name.csv")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    assert db.session.scalar(sa.select(Import.filename)) == "evilname.csv"


def test_a_check_refuses_an_invoice_or_payment_dated_when_nobody_held_the_meter(app, runner, tmp_path, known):
    before = date(2025, 12, 31)  # KNOWN holds M-1 from 2026-01-01
    path = tmp_path / "payments.csv"
    path.write_text(f"Meter serial;Payment reference;Amount;Paid on\nM-1;TRF-9;100.000;{before}\n")
    result = runner.invoke(args=["import", "payments", str(path)])
    assert result.exit_code == 1
    assert "Line 2, Paid on: Meter M-1 was not assigned to any customer on 31 Dec 2025" in result.stderr


def test_a_row_the_service_refuses_when_written_stops_the_import_saying_which_lines(
    app, runner, tmp_path, known, monkeypatch
):
    """What no check can see: the meter moved while the import ran, after its last check, to after the file's
    date."""
    customer, meter = known
    CustomerFactory(code="OTHER")
    third = CustomerFactory(code="THIRD")
    write = running.write

    def moved_meanwhile(*args):
        current = billing.active_assignment(meter.id)
        meter_lifecycle.assign_meter(meter, third, date(2026, 7, 1), confirm_move_from=current.id)
        write(*args)

    monkeypatch.setattr(running, "write", moved_meanwhile)
    path = tmp_path / "assignments.csv"
    path.write_text("Meter serial;Customer code;Started on\nM-1;OTHER;2026-06-01\n")
    result = runner.invoke(args=["import", "assignments", str(path)])
    assert result.exit_code == 1
    assert "A row of lines 2 to 2 was refused when written:" in result.stderr
    record = db.session.scalar(sa.select(Import))
    assert record.status == ImportStatus.FAILED and record.rows_written == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeterAssignment)) == 2


@pytest.mark.production_path("real workers")
def test_with_the_queues_a_file_is_checked_by_a_job_then_imported_by_another(app, client, admin, redis_url):
    sent = client.post(
        "/imports",
        data={"kind": "meters", "file": (io.BytesIO(b"Meter serial\nM-1\nM-2\nM-1\n"), "meters.csv")},
        content_type="multipart/form-data",
    )
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "The file is being checked" in page and "import-run" not in page
    run_worker(app, redis_url)
    record = db.session.scalar(sa.select(Import))
    assert (record.status, record.rows_good, record.rows_rejected) == (ImportStatus.CHECKED, 2, 1)
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "The same Meter serial as line 2." in page
    assert client.post(sent.headers["Location"] + "/run", data={"valid_only": "1"}).status_code == 302
    run_worker(app, redis_url)
    db.session.refresh(record)
    assert record.status == ImportStatus.DONE and record.rows_written == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meter)) == 2


def test_a_file_is_kept_and_read_back_a_piece_at_a_time_byte_for_byte(app, tmp_path):
    path = tmp_path / "big.csv"
    content = bytes(range(256)) * (kept.PIECE * 5 // 2 // 256) + b"\\\t\n\x00end"
    path.write_bytes(content)
    sha256, size = kept.keep_file(path)
    assert kept.keep_file(path) == (sha256, size) == (hashlib.sha256(content).hexdigest(), len(content))
    db.session.commit()
    record = Import(kind="meters", filename="big.csv", sha256=sha256, size_bytes=size)
    with kept.kept_file_at(record) as copy:
        assert copy.read_bytes() == content


def test_an_opening_balance_forged_by_sql_is_never_taken_for_the_files(app, runner, tmp_path, known):
    customer, _meter = known
    entry = db.session.execute(
        sa.text(
            "INSERT INTO journal_entries (number, entry_date, description, status, created_at) "
            "VALUES ('FORGED-OPENING', CURRENT_DATE, 'forged', 'draft', CURRENT_TIMESTAMP) RETURNING id"
        )
    ).scalar_one()
    forged = db.session.execute(
        sa.text(
            "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
            "balance_after, value_date, description, entry_id, created_at) "
            "VALUES (-7, :c, 'opening', 100000, 100000, 0, 100000, CURRENT_DATE, 'forged', :e, CURRENT_TIMESTAMP)"
        ),
        {"c": customer.id, "e": entry},
    )
    db.session.commit()
    assert forged.rowcount == 1
    path = tmp_path / "balances.csv"
    path.write_text(f"Customer code;Opening balance;Cut-over date\nKNOWN;100.000;{local_today()}\n")
    result = runner.invoke(args=["import", "balances", str(path)])
    assert "1 to write, 0 unchanged" in result.output, result.output + result.stderr
    vouched = db.session.scalars(
        sa.select(BalanceTransaction.id).where(BalanceTransaction.kind == "opening", BalanceTransaction.id > 0)
    ).all()
    assert len(vouched) == 1
