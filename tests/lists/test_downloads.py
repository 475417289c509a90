"""Every download in the reader's language: the header and the coded cells in its words (an English download keeps
the codes scripts read), numbers as numbers and dates as dates in the workbook, as many rows as the CSV, the CSV in
its machine form in every language, and each file named with today in the installation's time zone."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerStatus,
    JournalLine,
    Meter,
    ReconciliationRun,
    RunMode,
)
from backoffice.platform import clock
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.money import decimal_places
from backoffice.reconcile.engine import run
from backoffice.reconcile.report import csv_filename
from backoffice.services import (
    books,
    installation,
    journal_export,
    meter_invoices,
    meter_lifecycle,
    meter_payments,
    wallet,
    workbooks,
)
from backoffice.services.exports import headings
from backoffice.web.plumbing import lists
from tests.factories import (
    AccountManagerFactory,
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    corrupt,
    past_the_guards,
    unit_of_work,
)
from tests.python_exports import TYPED, python_writes
from tests.workbooks import opened, sheets, strictly_read


@pytest.fixture
def books_and_wallets(app):
    """A bit of everything a download lists: orders, two customers (one suspended), their wallet movements (an
    adjustment with its reason), invoices and payments (one withdrawn), an open invoice past due, a manual entry
    and a reconciliation run that found a wrong grand total."""
    today = local_today()
    hotel = CustomerFactory(code="HOTEL", name="Hotel Cempaka")
    bakery = CustomerFactory(code="BAKERY", name="Roti Enak", status=CustomerStatus.SUSPENDED)
    order = OrderFactory(number="SO-1", customer=hotel, closing_date=today - timedelta(days=3))
    wallet.recharge(hotel, D("100000"), value_date=today - timedelta(days=20))
    wallet.charge(hotel, D("30000.50"), value_date=today - timedelta(days=5))
    wallet.adjust(hotel, D("-500"), reason="goodwill", value_date=today - timedelta(days=4))
    meter = MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, bakery, today - timedelta(days=90))
    meter_invoices.add_invoice(meter, "INV-1", D("100000"), today - timedelta(days=60), today - timedelta(days=30))
    meter_payments.add_payment(meter, D("40000"), today - timedelta(days=20), "TRF-1")
    bounced = meter_payments.add_payment(meter, D("5000"), today - timedelta(days=2), "TRF-2")
    meter_payments.withdraw_payment(bounced, "Bounced")
    with unit_of_work() as connection:
        books.save_draft(
            installation(), connection, today - timedelta(days=1), "Being prepared", [books.Line("1000", debit=D("9"))]
        )
    corrupt("orders", "grand_total", order.id, "1")
    record = run(RunMode.VERIFY, checks=["order_grand_total"])
    return {"run": record.id}


def downloads(fixture) -> dict[str, tuple[str, str, str | None, dict[str, str]]]:
    """Each download's address (without its extension), an amount column, a date column, and per coded column the
    code one of its rows holds."""
    since = (local_today() - timedelta(days=30)).isoformat()
    return {
        "orders": ("/orders/export", "grand_total", "closing_date", {}),
        "customers": ("/customers/export", "balance", None, {"status": "suspended"}),
        "movements": ("/ledger/export", "amount", "value_date", {"kind": "charge", "reason": "goodwill"}),
        "invoices": ("/invoices/export", "amount", "issued_on", {"status": "overdue"}),
        "payments": ("/payments/export", "amount", "paid_on", {"status": "withdrawn"}),
        "aging": ("/receivables/aging", "outstanding", "due_on", {}),
        "journal": ("/books/journal", "debit", "date", {"status": "draft", "source_type": "manual"}),
        "account lines": ("/books/accounts/1000/lines", "balance", "date", {"source_type": "balance_transaction"}),
        "statement": (f"/customers/HOTEL/statement?since={since}", "balance", "date", {"kind": "opening"}),
        "reconciliation run": (f"/reconciliation/runs/{fixture['run']}", "stored", None, {"fixed": "no"}),
    }


def fetched(client, address: str, extension: str):
    path, _, query = address.partition("?")
    response = client.get(f"{path}.{extension}", query_string=query)
    assert response.status_code == 200, (address, response.get_data(as_text=True)[:300])
    return response


def csv_rows(client, address: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(fetched(client, address, "csv").get_data().decode("utf-8-sig"))))


def sheet_rows(client, address: str) -> list[tuple]:
    """The rows of the download's one sheet, read by a strict reader and by openpyxl alike (see
    :func:`tests.workbooks.sheets`)."""
    (rows,) = sheets(fetched(client, address, "xlsx").get_data())
    return rows


def test_an_indonesian_download_says_header_and_codes_in_words_numbers_dates_typed(client, auth, books_and_wallets):
    auth.login("admin").language = "id"
    db.session.commit()
    words = lists._cell_words("id")
    assert (words["suspended"], words["no"]) == ("ditangguhkan", "tidak")
    for name, (address, amount, day, coded) in downloads(books_and_wallets).items():
        as_csv, sheet = csv_rows(client, address), sheet_rows(client, address)
        header = as_csv[0]
        assert len(sheet) == len(as_csv) > 1 and list(sheet[0]) == header, name
        assert _heading("id", amount) in header and _heading("id", amount) != amount, name
        for column, code in coded.items():
            index = header.index(_heading("id", column))
            assert words[code] != code
            assert words[code] in [row[index] for row in as_csv[1:]], (name, column)
            assert code not in [row[index] for row in as_csv[1:]], (name, column)
            assert words[code] in [row[index] for row in sheet[1:]], (name, column)
        _typed(name, header.index(_heading("id", amount)), as_csv, sheet)
        if day:
            _dated(name, header.index(_heading("id", day)), as_csv, sheet)


def test_an_english_download_keeps_the_codes(client, auth, books_and_wallets):
    auth.login("admin").language = "en"
    db.session.commit()
    for name, (address, amount, day, coded) in downloads(books_and_wallets).items():
        as_csv, sheet = csv_rows(client, address), sheet_rows(client, address)
        header = as_csv[0]
        assert list(sheet[0]) == header and len(sheet) == len(as_csv), name
        for column, code in coded.items():
            assert code in [row[header.index(column)] for row in as_csv[1:]], (name, column)
            assert code in [row[header.index(column)] for row in sheet[1:]], (name, column)
        _typed(name, header.index(amount), as_csv, sheet)
        if day:
            _dated(name, header.index(day), as_csv, sheet)


UNFIT = "\uffff\ufffe\x01\x07\x1f"
"""Characters XML 1.0 cannot hold that a database's text can (a lone surrogate it cannot: see test_exports)."""


@pytest.mark.parametrize("language", ["en", "id"])
def test_a_workbook_keeps_every_row_whose_text_xml_cannot_hold(
    client, auth, names_from_before, books_and_wallets, language
):
    """A spreadsheet loads a sheet that holds U+FFFF cut short, or not at all: each workbook leaves such characters
    out of its text, and keeps every row the CSV has."""
    hotel = db.session.scalar(sa.select(Customer).where(Customer.code == "HOTEL"))
    bakery = db.session.scalar(sa.select(Customer).where(Customer.code == "BAKERY"))
    hotel.name, bakery.name = f"Hotel{UNFIT} Cempaka", f"Roti{UNFIT} Enak\x01"
    db.session.commit()
    wallet.recharge(hotel, D("7"), value_date=local_today(), description=f"Top-up{UNFIT} by phone")
    admin = auth.login("admin")
    lines = [books.Line("5000", debit=D("9")), books.Line("1000", credit=D("9"))]
    books.write_entry(local_today(), f"Office rent{UNFIT}", lines, user=admin)
    admin.language = language
    db.session.commit()
    unfit = re.compile(f"[{UNFIT}]")
    for name, (address, *_) in downloads(books_and_wallets).items():
        as_csv, sheet = csv_rows(client, address), sheet_rows(client, address)
        assert len(sheet) == len(as_csv) > 1, name
        held = [
            (text, cell)
            for row, line in zip(as_csv, sheet, strict=True)
            for text, cell in zip(row, line, strict=True)
            if unfit.search(text)
        ]
        assert held or name == "reconciliation run", name
        assert [cell for _text, cell in held] == [unfit.sub("", text) for text, _cell in held], name
    names = [row[1] for row in sheet_rows(client, "/customers/export")]
    assert "Hotel Cempaka" in names and "Roti Enak" in names


def test_past_a_sheet_s_rows_a_workbook_goes_on_to_another_under_the_same_header(client, finance, monkeypatch):
    """A spreadsheet loads 1,048,576 rows of a sheet and leaves out the rest: the rows past them go on to the next
    sheet (here three rows a sheet, the header's included)."""
    monkeypatch.setattr(workbooks, "SHEET_ROWS", 3)
    for n in range(5):
        OrderFactory(number=f"SO-{n}", closing_date=date(2026, 11, n + 1))
    as_csv = csv_rows(client, "/orders/export")
    data = fetched(client, "/orders/export", "xlsx").get_data()
    book = sheets(data)
    assert [name for name, _rows in strictly_read(data)] == ["Orders", "Orders (2)", "Orders (3)"]
    assert [len(sheet) for sheet in book] == [3, 3, 2]
    assert all(list(sheet[0]) == as_csv[0] for sheet in book)
    assert (
        [row[0] for sheet in book for row in sheet[1:]]
        == [row[0] for row in as_csv[1:]]
        == [f"SO-{n}" for n in (4, 3, 2, 1, 0)]
    )


def _typed(name: str, index: int, as_csv: list, sheet: list) -> None:
    """The CSV's amounts are plain decimals (a dot, no grouping) in every language, the workbook's numbers."""
    amounts = [(row[index], line[index]) for row, line in zip(as_csv[1:], sheet[1:], strict=True) if row[index]]
    assert amounts, name
    for text, cell in amounts:
        assert re.fullmatch(r"-?\d+\.\d\d", text), (name, text)
        assert isinstance(cell, int | float) and D(text) == D(str(cell)).quantize(D("0.01")), (name, cell)


def _dated(name: str, index: int, as_csv: list, sheet: list) -> None:
    days = [(row[index], line[index]) for row, line in zip(as_csv[1:], sheet[1:], strict=True) if row[index]]
    assert days, name
    for text, cell in days:
        assert isinstance(cell, datetime) and cell.date() == date.fromisoformat(text), (name, cell)


def test_every_download_is_named_with_today_in_the_installation_s_time_zone(
    client, auth, books_and_wallets, monkeypatch
):
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    tomorrow = local_today() + timedelta(days=1)
    moment = datetime.combine(tomorrow, time(0, 30), zone).astimezone(UTC)
    assert moment.date() < tomorrow  # still yesterday in UTC: 17:30 in London is 00:30 in Jakarta
    monkeypatch.setattr(clock, "now", lambda: moment)
    auth.login("admin")
    for name, (address, *_) in downloads(books_and_wallets).items():
        for extension in ("csv", "xlsx"):
            disposition = fetched(client, address, extension).headers["Content-Disposition"]
            if name == "reconciliation run":  # named with the day it started (see below)
                continue
            assert disposition.endswith(f'{tomorrow.isoformat()}.{extension}"'), (name, disposition)
    disposition = client.get("/books/journal.journal").headers["Content-Disposition"]
    assert disposition.endswith(f'journal-{tomorrow.isoformat()}.journal"')
    started = ReconciliationRun(id=7, started_at=moment)
    assert csv_filename(started, current_app.config["TIMEZONE"], "xlsx") == f"reconciliation-run-7-{tomorrow}.xlsx"


def test_postgresql_writes_a_list_s_workbook_as_python_does(client, finance, names_from_before, monkeypatch):
    today = local_today()
    meter = MeterFactory(serial="M-1")
    for n, text in enumerate(TYPED + ["a & b < c > d", "bell\x07here", f"Hotel{UNFIT} Cempaka"]):
        customer = CustomerFactory(name=text, account_manager=AccountManagerFactory(name=f"{text} {n}"))
        OrderFactory(number=f"{text[:20]}{n}", customer=customer, closing_date=date(2026, 10, n % 28 + 1))
        wallet.recharge(customer, D(n + 1) + D("0.25"), value_date=today, description=text)
        if n == 0:
            meter_lifecycle.assign_meter(meter, customer, today - timedelta(days=10))
    meter_invoices.add_invoice(meter, "INV-<1>", D("100.10"), today - timedelta(days=5), today + timedelta(days=25))
    meter_payments.add_payment(meter, D("40"), today - timedelta(days=2), "TRF & co")
    urls = ["/orders/export", "/orders/export?sort=customer", "/ledger/export", "/invoices/export", "/payments/export"]
    written = {url: sheet_rows(client, url) for url in urls}
    python_writes(monkeypatch)
    assert {url: sheet_rows(client, url) for url in urls} == written
    names = [row[2] for row in written["/orders/export"][1:]]
    assert "a & b < c > d" in names and " spaced " in names and "two\nlines" in names and "bellhere" in names
    assert "Hotel Cempaka" in names


def _heading(language: str, column: str) -> str:
    with force_locale(language):
        return headings([column])[0]


def test_an_account_s_lines_download_refuses_an_unreadable_period_or_unknown_account(client, finance):
    refused = client.get("/books/accounts/1000/lines.csv", query_string={"since": "2026-11-30", "until": "2026-11-01"})
    assert refused.status_code == 422 and "The period ends before it starts" in refused.get_data(as_text=True)
    assert client.get("/books/accounts/1000/lines.xlsx", query_string={"since": "30/11/2026"}).status_code == 422
    assert client.get("/books/accounts/9999/lines.csv").status_code == 404


def test_an_account_s_page_links_its_lines_downloads_with_its_dates(client, finance):
    page = client.get("/books/accounts/1000", query_string={"since": "2026-10-01"}).get_data(as_text=True)
    assert "/books/accounts/1000/lines.csv?since=2026-10-01" in page
    assert "/books/accounts/1000/lines.xlsx?since=2026-10-01" in page


@pytest.mark.parametrize(("currency", "money"), [("IDR", "#,##0.00"), ("VND", "#,##0")])
def test_a_workbooks_amounts_have_the_currency_s_decimal_places(client, auth, books_and_wallets, currency, money):
    """The dong has no minor unit: a workbook shows its amounts without decimals, as the pages do."""
    current_app.config.update(CURRENCY=currency, CURRENCY_PLACES=decimal_places(currency))
    auth.login("admin")
    for name, (address, amount, _day, _coded) in downloads(books_and_wallets).items():
        sheet = opened(fetched(client, address, "xlsx").get_data()).active
        header = [cell.value for cell in sheet[1]]
        column = header.index(_heading("en", amount)) + 1
        formats = {row[0].number_format for row in sheet.iter_rows(min_row=2, min_col=column, max_col=column)}
        assert formats - {"General"} == {money}, name


def test_the_journal_streams_more_lines_than_it_reads_at_a_time(client, auth, books_and_wallets, monkeypatch):
    """The lines are read a batch at a time as the download is sent, after the view's own transaction ended."""
    monkeypatch.setattr(journal_export, "STREAMED_ROWS", 1)
    auth.login("admin")
    lines = db.session.scalar(sa.select(sa.func.count()).select_from(JournalLine))
    assert lines > 2
    assert len(csv_rows(client, "/books/journal")) == lines + 1
    assert len(sheet_rows(client, "/books/journal")) == lines + 1
    assert fetched(client, "/books/journal", "journal").get_data(as_text=True).count("\n") > lines


@pytest.mark.parametrize("language", ["en", "id", "vi"])
def test_postgresql_writes_the_journal_s_csv_as_python_does(client, auth, books_and_wallets, monkeypatch, language):
    """Every form of an entry's words, new and kept from before, and the accounts' names, said by the database as
    Python says them: a wallet movement of each kind, an invoice issued, changed and withdrawn, a payment with and
    without a reference, changed and withdrawn, a manual entry and its reversal, old English words, a renamed
    account and a clerk's own description."""
    today = local_today()
    hotel = db.session.scalar(sa.select(Customer).where(Customer.code == "HOTEL"))
    adjusted = sa.select(BalanceTransaction).where(BalanceTransaction.kind == "adjustment")
    wallet.reverse(db.session.scalar(adjusted), description="Typed by mistake")
    meter = db.session.scalar(sa.select(Meter).where(Meter.serial == "M-1"))
    invoice = meter_invoices.add_invoice(
        meter, "INV-2", D("500"), today - timedelta(days=10), today + timedelta(days=20)
    )
    meter_invoices.change_invoice(invoice, "INV-2", D("600"), today + timedelta(days=20))
    meter_invoices.withdraw_invoice(invoice, "Sent twice")
    plain = meter_payments.add_payment(meter, D("70"), today - timedelta(days=1), "")
    meter_payments.change_payment(plain, D("75"), "")
    admin = auth.login("admin")
    lines = [books.Line("5000", debit=D("9")), books.Line("1000", credit=D("9"))]
    books.reverse_entry(books.write_entry(today, "Sewa kantor", lines, user=admin).entry_id, user=admin)
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE accounts SET name = 'Kas besar' WHERE code = '1000'"))
    wallet.recharge(hotel, D("5"), value_date=today, description=f"Recharge #1 of {hotel.code}")
    admin.language = language
    db.session.commit()
    written = client.get("/books/journal.csv").get_data()
    python_writes(monkeypatch)
    assert client.get("/books/journal.csv").get_data() == written
    assert written.count(b"\n") > 15 and b"Kas besar" in written and b"Sent twice" in written
