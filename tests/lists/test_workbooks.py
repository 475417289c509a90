"""Workbooks sized for reading, and lists that download: every workbook's columns are as wide as their header and
their values (an amount or a date never shows as ``###``: LibreOffice prints one to prove it), its sheet is named
after its list in the reader's language, and the meters, the targets, the account managers, a customer's monthly
balances, the approvals and the postpaid statement download as CSV and as a workbook, through their page's
filters."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import zipfile
from datetime import date, datetime
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from flask_babel import force_locale

from backoffice.platform.clock import local_today
from backoffice.platform.money import MAX_AMOUNT
from backoffice.services import approvals, meter_invoices, meter_lifecycle, meter_payments, wallet, workbooks
from backoffice.services.workbooks import SHEET_NAME, XLSX_MIMETYPE, sheet_name, xlsx_chunks
from backoffice.web.plumbing.lists import LIST_TITLES
from tests.approving import adjust_form, ask
from tests.conftest import require_service
from tests.factories import AccountManagerFactory, CustomerFactory, MeterFactory, TargetFactory
from tests.logins import log_in
from tests.pages import INDONESIAN, VIETNAMESE
from tests.python_exports import python_writes
from tests.workbooks import MAIN, sheets, strictly_read

D = Decimal
STATEMENT = "/customers/HOTEL/billing-statement"

NEW_DOWNLOADS = {
    "meters": ("/meters/export", "Meter", "Đồng hồ"),
    "targets": ("/targets/export", "Target", "Chỉ tiêu"),
    "account managers": ("/managers/export", "Manajer akun", "Người phụ trách khách hàng"),
    "monthly balances": ("/customers/HOTEL/monthly", "Saldo bulanan", "Số dư hằng tháng"),
    "approvals": ("/approvals/export", "Persetujuan", "Phê duyệt"),
    "postpaid statement": (STATEMENT, "Laporan rekening pascabayar", "Sao kê trả sau"),
}
"""Each new download's address (without its extension), and its sheet's name in Indonesian and in Vietnamese."""


@pytest.fixture
def every_list(client, limit, maker, checker):
    """A row or more in each list: the hotel (HOTEL, Dewi's) holding meter M-1 since 2026-10-01 with invoice INV-1
    of Rp500.000 and a payment of Rp200.000, a retired meter M-2, Dewi's and Budi's (inactive) targets, the hotel's
    months, and two approval requests asked by ``maker``, the first rejected by ``checker``, who is logged in."""
    dewi = AccountManagerFactory(name="Dewi", email="dewi@example.com")
    budi = AccountManagerFactory(name="Budi", email="budi@example.com", active=False)
    hotel = CustomerFactory(code="HOTEL", name="Hotel Cempaka", account_manager=dewi)
    wallet.recharge(hotel, D("100000"), description="opening deposit", value_date=date(2026, 10, 1))
    meter = MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, hotel, date(2026, 10, 1))
    meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 11, 2), date(2026, 11, 30))
    meter_payments.add_payment(meter, D("200000"), date(2026, 11, 10), "TRF-9")
    meter_lifecycle.retire_meter(MeterFactory(serial="M-2"), date(2026, 11, 1), user=checker)
    TargetFactory(account_manager=dewi, period_start=date(2026, 11, 1), target_amount=D("111"))
    TargetFactory(account_manager=budi, period_start=date(2026, 10, 1), target_amount=D("222"))
    approvals.reject(ask(client, maker).id, checker, "Not this month")
    assert client.post("/customers/HOTEL/adjust", data=adjust_form("70.000", key="k-2")).status_code < 400
    log_in(client, checker)


def fetched(client, address: str, extension: str, headers: dict | None = None, **query):
    response = client.get(f"{address}.{extension}", headers=headers or {}, query_string=query)
    assert response.status_code == 200, (address, response.get_data(as_text=True)[:300])
    assert response.is_streamed
    return response


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def widths(data: bytes) -> list[list[float]]:
    """Each sheet's columns' widths, in the columns' order, once each column was found given its own width."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        for name in sorted(name for name in book.namelist() if name.startswith("xl/worksheets/")):
            columns = list(ElementTree.fromstring(book.read(name)).iter(f"{MAIN}col"))
            assert all(column.get("customWidth") == "1" for column in columns)
            assert [(column.get("min"), column.get("max")) for column in columns] == [
                (str(n), str(n)) for n in range(1, len(columns) + 1)
            ]
            found.append([float(column.get("width")) for column in columns])
    return found


# The new downloads


@pytest.mark.parametrize("name", NEW_DOWNLOADS)
def test_every_list_downloads_as_csv_and_workbook_named_in_the_readers_language(client, every_list, name):
    address, indonesian, vietnamese = NEW_DOWNLOADS[name]
    for headers, title in ((INDONESIAN, indonesian), (VIETNAMESE, vietnamese)):
        as_csv = fetched(client, address, "csv", headers)
        assert as_csv.mimetype == "text/csv" and as_csv.get_data().startswith(b"\xef\xbb\xbf")
        assert as_csv.headers["Content-Disposition"].endswith('.csv"'), name
        rows = csv_rows(as_csv)
        assert len(rows) > 1, name
        book = fetched(client, address, "xlsx", headers)
        assert book.mimetype == XLSX_MIMETYPE and book.headers["Content-Disposition"].endswith('.xlsx"'), name
        data = book.get_data()
        assert strictly_read(data) == [(title, len(rows))], name
        (sheet,) = sheets(data)
        assert list(sheet[0]) == rows[0], name
        (columns,) = widths(data)
        assert len(columns) == len(rows[0]), name
        assert all(width > len(heading) for width, heading in zip(columns, rows[0], strict=True)), name


def test_an_english_download_keeps_the_codes_scripts_read(client, every_list):
    assert csv_rows(fetched(client, "/meters/export", "csv")) == [
        ["serial", "status", "retired_on", "customer_code", "customer_name", "assigned_on", "balance", "overpayment"],
        ["M-1", "active", "", "HOTEL", "Hotel Cempaka", "2026-10-01", "300000.00", "0.00"],
        ["M-2", "retired", "2026-11-01", "", "", "", "0.00", "0.00"],
    ]
    assert csv_rows(fetched(client, "/targets/export", "csv")) == [
        ["period", "account_manager", "target_amount", "achieved_amount"],
        ["2026-11", "Dewi", "111.00", "0.00"],
        ["2026-10", "Budi", "222.00", "0.00"],
    ]
    assert csv_rows(fetched(client, "/managers/export", "csv")) == [
        ["name", "email", "active", "customers"],
        ["Dewi", "dewi@example.com", "yes", "1"],
        ["Budi", "budi@example.com", "no", "0"],
    ]
    assert csv_rows(fetched(client, "/customers/HOTEL/billing-statement", "csv", since="2026-11-01")) == [
        ["date", "kind", "reference", "due_on", "meter", "amount", "balance"],
        ["2026-11-01", "opening", "", "", "", "", "0.00"],
        ["2026-11-02", "invoice", "INV-1", "2026-11-30", "M-1", "500000.00", "500000.00"],
        ["2026-11-10", "payment", "TRF-9", "", "M-1", "-200000.00", "300000.00"],
        [local_today().isoformat(), "closing", "", "", "", "", "300000.00"],
    ]
    monthly = csv_rows(fetched(client, "/customers/HOTEL/monthly", "csv"))
    assert monthly[0] == ["period", "opening_balance", "deposits", "purchases", "closing_balance", "volume_sm3"]
    assert monthly[-1] == ["2026-10", "0.00", "100000.00", "0.00", "100000.00", "0.0000"]
    requests = csv_rows(fetched(client, "/approvals/export", "csv"))
    assert [(row[3], row[8]) for row in requests] == [
        ("kind", "status"),
        ("adjustment", "pending"),
        ("adjustment", "rejected"),
    ]
    assert requests[2][2] == "maker@example.com" and requests[2][-2:] == ["checker@example.com", "Not this month"]
    assert requests[1][5] == "70000.00" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", requests[1][1])


def test_each_page_links_its_downloads_with_its_filters(client, every_list):
    pages = {
        "/meters?status=retired": "/meters/export.csv?status=retired",
        "/targets?month=2026-10": "/targets/export.csv?month=2026-10",
        "/managers": "/managers/export.csv",
        "/customers/HOTEL?tab=monthly": "/customers/HOTEL/monthly.csv",
        "/approvals": "/approvals/export.csv",
        f"{STATEMENT}?since=2026-11-01": f"{STATEMENT}.csv?since=2026-11-01",
    }
    for page, link in pages.items():
        body = client.get(page, headers=INDONESIAN).get_data(as_text=True)
        assert f'href="{link}"' in body and f'href="{link.replace(".csv", ".xlsx")}"' in body, page
        assert "Unduh CSV" in body and "Unduh Excel" in body, page


def test_a_download_follows_its_page_s_filters_and_refuses_one_it_cannot_read(client, every_list):
    assert [row[0] for row in csv_rows(fetched(client, "/meters/export", "csv", status="retired"))] == ["serial", "M-2"]
    assert [row[0] for row in csv_rows(fetched(client, "/meters/export", "csv", q="m-1"))] == ["serial", "M-1"]
    (rows,) = sheets(fetched(client, "/targets/export", "xlsx", month="2026-10").get_data())
    assert rows == [("period", "account_manager", "target_amount", "achieved_amount"), ("2026-10", "Budi", 222, 0)]
    refusals = {
        "/meters/export": {"status": "lost"},
        "/targets/export": {"month": "nope"},
        "/customers/HOTEL/billing-statement": {"since": "2026-11-10", "until": "2026-11-01"},
    }
    for address, query in refusals.items():
        for extension in ("csv", "xlsx"):
            refused = client.get(f"{address}.{extension}", query_string=query)
            assert refused.status_code == 422 and refused.mimetype == "text/html", (address, extension)
    assert client.get("/customers/NOBODY/monthly.csv").status_code == 404


# Sheet names


def test_a_sheet_name_fits_31_characters_with_its_number_and_drops_what_is_refused():
    assert sheet_name("Laporan rekening pascabayar") == "Laporan rekening pascabayar"
    assert sheet_name("Orders: [2026/11] *?\\ A") == "Orders 202611 A"
    assert sheet_name("'Quoted'") == "Quoted"
    assert sheet_name("two\nlines\x01") == "two lines"
    long = "Người-phụ-trách-khách-hàng-của-công-ty"
    assert len(sheet_name(long)) == 31 and sheet_name(long) == long[:31]
    assert sheet_name(long, 12) == long[:26] + " (12)" and len(sheet_name(long, 12)) == 31
    assert [sheet_name(title) for title in ("", " ? ", "History", "history")] == [SHEET_NAME] * 4
    assert sheet_name("Pelanggan", 2) == "Pelanggan (2)"


def test_every_list_s_title_names_its_sheet_in_the_reader_s_language(app):
    for language, customers in (("id", "Pelanggan"), ("vi", "Khách hàng")):
        with force_locale(language):
            named = [sheet_name(title) for title in LIST_TITLES.values()]
            assert sheet_name(LIST_TITLES["customers"]) == customers
        assert SHEET_NAME not in named and all(len(name) <= 31 for name in named), named


def test_a_workbook_named_with_what_xml_must_escape_is_read_as_named(app, monkeypatch):
    monkeypatch.setattr(workbooks, "SHEET_ROWS", 2)
    data = b"".join(xlsx_chunks(["number"], [["SO-1"], ["SO-2"]]).named('R&D <"sales">'))
    assert strictly_read(data) == [('R&D <"sales">', 2), ('R&D <"sales"> (2)', 2)]


# Widths


def test_columns_are_as_wide_as_their_header_and_values_amounts_and_dates_whole(app):
    usual = ["Hotel Cempaka"] * 9 + ["A name far longer than the others, written out in full for once" * 2]
    rows = [[date(2026, 11, 23), D("1.50"), 7, text, datetime(2026, 11, 23, 8, 30), None] for text in usual]
    data = b"".join(xlsx_chunks(["date", "amount", "id", "description", "fixed_at", "reason"], rows))
    (found,) = widths(data)
    largest = len(f"{-MAX_AMOUNT:,.2f}")
    padding = workbooks.PADDING
    assert found == [
        len("2026-11-23") + padding,
        largest + padding,
        workbooks.GENERAL + padding,
        len("Hotel Cempaka") + padding,
        len("2026-11-23 08:30:00") + padding,
        largest + padding,
    ]
    assert len(usual[-1]) > workbooks.TEXT_WIDTH
    (capped,) = widths(b"".join(xlsx_chunks(["description"], [[usual[-1]]])))
    assert capped == [workbooks.TEXT_WIDTH + padding]
    (header,) = widths(b"".join(xlsx_chunks(["a heading longer than its values"], [["x"]])))
    assert header == [len("a heading longer than its values") + padding]


def test_an_amount_beyond_the_largest_widens_its_column_and_dong_has_no_decimals(app):
    wide = D("123456789012345678.99")
    (found,) = widths(b"".join(xlsx_chunks(["balance"], [[wide]])))
    assert found == [len(f"{wide:,.2f}") + workbooks.PADDING]
    app.config.update(CURRENCY="VND", CURRENCY_PLACES=0)
    (dong,) = widths(b"".join(xlsx_chunks(["amount"], [[D("5")]])))
    assert dong == [len(f"{-MAX_AMOUNT:,.0f}") + workbooks.PADDING]


def test_widths_are_measured_on_the_first_rows_and_the_rest_streams_as_it_comes(app, monkeypatch):
    monkeypatch.setattr(workbooks, "SAMPLED_ROWS", 3)
    taken = []

    def rows():
        for n in range(50_000):
            taken.append(n)
            yield [f"SO-{n}" if n < 3 else "a text longer than the first three rows' " * 3]

    book = iter(xlsx_chunks(["number"], rows()))
    first = next(book)
    assert len(taken) < 5_000
    data = first + b"".join(book)
    assert len(taken) == 50_000 and len(strictly_read(data)) == 1
    assert widths(data) == [[len("number") + workbooks.PADDING]]


def test_the_database_writes_a_list_s_workbook_as_wide_as_python_does(client, every_list, monkeypatch):
    database = widths(fetched(client, "/meters/export", "xlsx").get_data())
    python_writes(monkeypatch)
    assert widths(fetched(client, "/meters/export", "xlsx").get_data()) == database


# What a spreadsheet shows


def test_libreoffice_prints_every_amount_and_date_of_a_workbook_whole(client, every_list, tmp_path):
    """The postpaid statement with the largest amounts a meter's invoice and payment hold, opened by LibreOffice
    (in the suite's fonts, wider than the workbook's Calibri) and printed: no cell shows ``###``."""
    soffice, pdftotext = shutil.which("soffice"), shutil.which("pdftotext")
    if soffice is None or pdftotext is None:
        require_service("LibreOffice", "Debian's libreoffice-calc-nogui and poppler-utils packages are not installed")
    meter = MeterFactory(serial="M-LARGE")
    large = CustomerFactory(code="LARGE", name="PT Besar")
    meter_lifecycle.assign_meter(meter, large, date(2026, 10, 1))
    meter_invoices.add_invoice(meter, "INV-MAX", MAX_AMOUNT, date(2026, 10, 2), date(2026, 10, 31))
    meter_invoices.add_invoice(meter, "INV-2", D("8888888888888.88"), date(2026, 10, 3), date(2026, 11, 2))
    meter_payments.add_payment(meter, MAX_AMOUNT, date(2026, 10, 20), "TRF-MAX")
    for language in (INDONESIAN, VIETNAMESE):
        book = tmp_path / "statement.xlsx"
        statement = fetched(client, "/customers/LARGE/billing-statement", "xlsx", language, since="2026-10-01")
        book.write_bytes(statement.get_data())
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", "pdf"]
            + ["--outdir", str(tmp_path), str(book)],
            check=True,
            capture_output=True,
            timeout=180,
        )
        printed = subprocess.run(
            [pdftotext, "-layout", str(tmp_path / "statement.pdf"), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert "#" not in printed
        digits = re.sub(r"(?<=\d)[.,](?=\d)", "", printed)
        assert "888888888888888" in digits and "INV-MAX" in printed and "TRF-MAX" in printed
        # LibreOffice writes the largest amount rounded to 15 figures: 10,000,000,000,000.00.
        assert re.search(r"-(999999999999999|1000000000000000)\b", digits)
        assert "2026-10-02" in printed and "2026-10-31" in printed
