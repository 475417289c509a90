"""The lists a finance team works with: orders, customers, ledger movements, invoices, payments and the journal, each
searched, filtered, sorted by a click on a column, a page at a time, and exported as CSV (what the filters select,
every page, in the order chosen)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Customer, CustomerStatus, JournalEntry
from backoffice.platform import extensions
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.movement import Movement
from backoffice.posting.post import post
from backoffice.posting.rules import Kind
from backoffice.services import books, installation, meter_invoices, meter_lifecycle, meter_payments, wallet
from backoffice.services import customers as customers_service
from backoffice.services.workbooks import XLSX_MIMETYPE
from backoffice.web.billing import receivables as receivables_web
from backoffice.web.books import journal as books_web
from backoffice.web.books import movements as movements_web
from tests.factories import AccountManagerFactory, CustomerFactory, MeterFactory, OrderFactory, unit_of_work
from tests.python_exports import TYPED, python_writes
from tests.workbooks import sheets

D = Decimal


def downloaded(client, url: str, **params) -> list[dict]:
    """The CSV's rows, after checking it is a streamed CSV download named after the list and today."""
    response = client.get(url, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.is_streamed and response.mimetype == "text/csv"
    name = url.strip("/").split("/")[0].replace(".csv", "")
    expected = {"ledger": "ledger-movements", "books": "journal"}.get(name, name)
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{expected}-{local_today().isoformat()}.csv"', disposition
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def body(client, url: str, **params) -> str:
    response = client.get(url, query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def column(page: str, table: str, index: int) -> list[str]:
    """The text of one column of a table's body rows."""
    tbody = page.split(f'id="{table}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", tbody, re.S):
        found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if len(found) > index:
            cells.append(re.sub(r"<[^>]+>", "", found[index]).strip())
    return cells


def heading(page: str, label: str) -> str:
    """The ``<th>`` whose link reads ``label``."""
    return re.search(rf'<th[^>]*aria-sort="[a-z]+"><a class="sort" href="[^"]*">{re.escape(label)}<', page).group(0)


# Orders

USUAL = ["SO-7", "SO-5", "SO-3", "SO-1", "SO-6", "SO-4", "SO-2", "SO-0"]
"""The orders below in the list's usual order: the latest closing date first."""


@pytest.fixture
def orders(app):
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    hotel = CustomerFactory(code="H001", name="Hotel Cempaka", account_manager=dewi)
    bakery = CustomerFactory(code="B001", name="=CV Roti Enak", account_manager=budi)
    for n in range(8):
        OrderFactory(
            number=f"SO-{n}",
            customer=hotel if n % 2 else bakery,
            closing_date=date(2026, 10 + n % 2, n + 1),
            total_price=D(1_000_000 * (n + 1)) + D("0.50"),
            additions=D(0),
            promo=D(0),
            reductions=D(0),
        )
    return {"dewi": dewi, "budi": budi}


def test_orders_sort_by_any_column_both_ways_and_the_heading_says_how(client, finance, orders):
    by_total = body(client, "/orders", sort="grand_total")
    assert column(by_total, "orders", 0) == ["SO-0", "SO-1", "SO-2", "SO-3", "SO-4"]  # five a page
    assert 'aria-sort="ascending"><a class="sort" href="/orders?sort=-grand_total">Grand total' in by_total
    assert 'aria-sort="none"><a class="sort" href="/orders?sort=number">Number' in by_total
    assert column(body(client, "/orders", sort="-grand_total"), "orders", 0) == ["SO-7", "SO-6", "SO-5", "SO-4", "SO-3"]
    by_customer = column(body(client, "/orders", sort="customer"), "orders", 1)
    assert by_customer[:4] == ["B001 — =CV Roti Enak"] * 4
    assert column(body(client, "/orders", sort="-manager"), "orders", 2)[:4] == ["Dewi"] * 4
    usual = body(client, "/orders")
    assert column(usual, "orders", 0) == USUAL[:5]
    assert 'aria-sort="descending"' in heading(usual, "Closing date")


@pytest.mark.parametrize("sort", ["sideways", "-", "--grand_total", "grand_total desc", "id"])
def test_an_unknown_sort_lists_in_the_usual_order_and_says_so(client, finance, orders, sort):
    page = body(client, "/orders", sort=sort)
    assert column(page, "orders", 0) == USUAL[:5]
    assert "Not a valid choice of column to sort by: the list is sorted by Closing date." in page
    rows = downloaded(client, "/orders/export.csv", sort=sort)
    assert [row["number"] for row in rows] == USUAL


def test_pages_keep_the_filters_and_the_sort(client, finance, orders):
    first = body(client, "/orders", sort="-grand_total", q="SO")
    assert 'href="/orders?sort=-grand_total&amp;q=SO&amp;page=2"' in first
    second = body(client, "/orders", sort="-grand_total", q="SO", page=2)
    assert column(second, "orders", 0) == ["SO-2", "SO-1", "SO-0"]
    assert 'href="/orders?sort=grand_total&amp;q=SO"' in second  # a sort starts again on the first page
    assert 'href="/orders/export.csv?sort=-grand_total&amp;q=SO"' in second
    assert 'name="sort" value="-grand_total"' in second  # the filter form keeps the sort


@pytest.mark.parametrize("page", ["abc", "-3", "0", ""])
def test_an_unreadable_page_number_shows_the_first_page(client, finance, orders, page):
    assert column(body(client, "/orders", page=page), "orders", 0) == USUAL[:5]


def test_a_page_past_the_last_is_empty_and_one_past_any_offset_is_not_found(client, finance, orders):
    assert "No orders match." in body(client, "/orders", page=99)
    assert client.get("/orders", query_string={"page": 2**62}).status_code == 404


def test_the_orders_csv_has_every_filtered_row_across_pages_in_the_chosen_order(client, finance, orders):
    rows = downloaded(client, "/orders/export.csv", month="2026-11", sort="-grand_total")
    assert list(rows[0]) == [
        "number",
        "customer_code",
        "customer_name",
        "account_manager",
        "closing_date",
        "total_price",
        "additions",
        "promo",
        "reductions",
        "grand_total",
    ]
    assert [row["number"] for row in rows] == ["SO-7", "SO-5", "SO-3", "SO-1"]
    assert rows[0] | {} == {
        "number": "SO-7",
        "customer_code": "H001",
        "customer_name": "Hotel Cempaka",
        "account_manager": "Dewi",
        "closing_date": "2026-11-08",
        "total_price": "8000000.50",
        "additions": "0.00",
        "promo": "0.00",
        "reductions": "0.00",
        "grand_total": "8000000.50",
    }
    everything = downloaded(client, "/orders/export.csv", q="SO", sort="number")
    assert [row["number"] for row in everything] == [f"SO-{n}" for n in range(8)]  # the list shows 5 a page
    listed = [*column(body(client, "/orders", q="SO", sort="number"), "orders", 0)]
    listed += column(body(client, "/orders", q="SO", sort="number", page=2), "orders", 0)
    assert listed == [row["number"] for row in everything]
    bakery = downloaded(client, "/orders/export.csv", manager=orders["budi"].email)
    assert {row["customer_name"] for row in bakery} == {"'=CV Roti Enak"}  # a spreadsheet never runs it
    assert downloaded(client, "/orders/export.csv", month="2027-01") == []


def test_postgresql_writes_orders_journal_and_customers_csv_as_python_byte_for_byte(
    client, finance, names_from_before, monkeypatch
):
    for n, text in enumerate(TYPED):
        customer = CustomerFactory(
            name=text,
            account_manager=AccountManagerFactory(name=f"{text} {n}"),
            contact_person=text,
            email=None if n % 3 else f"c{n}@example.com",
            phone=text[:20] if n % 2 else None,
        )

        amounts = {"total_price": D(n * 1000) + D("0.5"), "additions": D(0), "promo": D("0.05"), "reductions": D(n)}
        OrderFactory(number=f"{text[:20]}{n}", customer=customer, closing_date=date(2026, 10, n + 1), **amounts)
        with unit_of_work() as connection:
            books.save_draft(
                installation(),
                connection,
                date(2026, 10, n + 1),
                text,
                [books.Line("1000", debit=D(n + 1), description=text)],
            )
        if n % 4 == 0:
            customers_service.close_customer(customer)
    urls = [
        "/orders/export.csv",
        "/orders/export.csv?sort=customer&q=a",
        "/orders/export.csv?q=%25'%3B--",
        "/books/journal.csv",
        "/books/journal.csv?sort=-number&since=2026-10-03",
        "/customers/export.csv",
        "/customers/export.csv?sort=-name&q=a",
        "/customers/export.csv?status=closed",
    ]
    written = {url: client.get(url).get_data() for url in urls}
    python_writes(monkeypatch)
    assert {url: client.get(url).get_data() for url in urls} == written
    assert written["/orders/export.csv"].count(b"\n") > len(TYPED) and b"'=SUM(A1:A9)" in written["/books/journal.csv"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"month": "11/2026"}, "YYYY-MM"),
        ({"manager": "x"}, "No account manager with email x."),
        ({"month": "2026-13"}, "month"),
    ],
)
def test_a_bad_orders_filter_says_so_on_the_page_and_refuses_the_export(client, finance, orders, params, message):
    page = client.get("/orders", query_string=params)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    assert "No orders match." in page.get_data(as_text=True)
    export = client.get("/orders/export.csv", query_string=params)
    assert export.status_code == 422 and export.mimetype == "text/html" and message in export.get_data(as_text=True)


# Customers


@pytest.fixture
def customers(app):
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    for n in range(55):
        CustomerFactory(code=f"K{n:03d}", name=f"Kedai {n}", account_manager=dewi if n < 52 else budi)
    CustomerFactory(code="X900", name="No manager", account_manager=None, status=CustomerStatus.SUSPENDED)
    wallet.recharge(_customer("K010"), D("1500.25"))
    wallet.recharge(_customer("K020"), D("300"))
    return {"dewi": dewi, "budi": budi}


def _customer(code: str) -> Customer:
    return db.session.scalar(sa.select(Customer).where(Customer.code == code))


def test_customers_are_paginated_sorted_and_filtered_by_manager(client, finance, customers):
    first = body(client, "/customers")
    assert len(column(first, "customers", 0)) == 50
    second = body(client, "/customers", page=2)
    assert column(second, "customers", 0) == ["K050", "K051", "K052", "K053", "K054", "X900"]
    assert column(body(client, "/customers", sort="-balance"), "customers", 0)[:2] == ["K010", "K020"]
    by_manager = body(client, "/customers", sort="-manager")
    assert column(by_manager, "customers", 2)[:3] == ["Dewi"] * 3
    assert column(body(client, "/customers", sort="manager", page=2), "customers", 0)[-1] == "X900"  # none: last
    assert column(body(client, "/customers", manager=customers["budi"].email), "customers", 0) == [
        "K052",
        "K053",
        "K054",
    ]
    assert column(body(client, "/customers", status="suspended"), "customers", 0) == ["X900"]
    assert column(body(client, "/customers", q="kedai 1", sort="-code"), "customers", 0)[0] == "K019"


def test_the_customers_csv_has_every_customer_the_filters_select(client, finance, customers):
    rows = downloaded(client, "/customers/export.csv", sort="-balance")
    assert len(rows) == 56 and [row["code"] for row in rows[:2]] == ["K010", "K020"]
    assert rows[0]["balance"] == "1500.25" and rows[0]["total_recharged"] == "1500.25" and rows[0]["status"] == "active"
    assert [row["code"] for row in downloaded(client, "/customers/export.csv", manager=customers["budi"].email)] == [
        "K052",
        "K053",
        "K054",
    ]
    bad = client.get("/customers/export.csv", query_string={"manager": "nobody"})
    assert bad.status_code == 422 and "No account manager with email nobody." in bad.get_data(as_text=True)


def test_the_customers_csv_and_workbook_carry_each_customer_s_city_and_tax_number(client, finance):
    CustomerFactory(code="NPWP1", name="Toko Maju", city="Bandung", tax_number="01.234.567.8-901.000")
    (row,) = downloaded(client, "/customers/export.csv", q="NPWP1")
    assert (row["city"], row["tax_number"]) == ("Bandung", "01.234.567.8-901.000")
    header, values = workbook(client, "/customers/export.xlsx", q="NPWP1")
    kept = dict(zip(header, values, strict=True))
    assert (kept["city"], kept["tax_number"]) == ("Bandung", "01.234.567.8-901.000")


# Ledger movements


@pytest.fixture
def movements(app):
    hotel = CustomerFactory(code="HOTEL", name="Hotel Cempaka")
    bakery = CustomerFactory(code="BAKERY", name="Roti Enak")
    today = local_today()
    wallet.recharge(hotel, D("100000"), value_date=today - timedelta(days=20), description="opening")
    wallet.recharge(bakery, D("5000.50"), value_date=today - timedelta(days=10))
    charge = wallet.charge(hotel, D("30000"), value_date=today - timedelta(days=5), description="gas")
    wallet.reverse(charge, description="Entered by mistake", value_date=today - timedelta(days=4))
    wallet.charge(bakery, D("1000"), value_date=today)
    return today


def test_ledger_movements_are_filtered_by_customer_kind_date_and_amount(client, finance, movements):
    today = movements
    everything = body(client, "/ledger")
    assert column(everything, "movements", 3) == ["charge", "reversal", "charge", "recharge", "recharge"]
    assert column(body(client, "/ledger", customer="hotel"), "movements", 3) == ["reversal", "charge", "recharge"]
    assert column(body(client, "/ledger", kind="recharge"), "movements", 4) == ["Rp5.000,50", "Rp100.000,00"]
    since = (today - timedelta(days=10)).isoformat()
    until = (today - timedelta(days=4)).isoformat()
    assert column(body(client, "/ledger", since=since, until=until), "movements", 3) == [
        "reversal",
        "charge",
        "recharge",
    ]
    assert column(body(client, "/ledger", least="5.000", most="30.000"), "movements", 4) == [
        "Rp30.000,00",
        "-Rp30.000,00",
        "Rp5.000,50",
    ]
    assert column(body(client, "/ledger", sort="amount"), "movements", 4)[0] == "-Rp30.000,00"
    assert "Ledger" in everything and 'href="/ledger"' in everything


def test_the_ledger_csv_has_every_movement_the_filters_select(client, finance, movements):
    rows = downloaded(client, "/ledger/export.csv", customer="HOTEL", sort="value_date")
    assert [(row["kind"], row["amount"], row["balance_after"]) for row in rows] == [
        ("recharge", "100000.00", "100000.00"),
        ("charge", "-30000.00", "70000.00"),
        ("reversal", "30000.00", "100000.00"),
    ]
    assert rows[2]["reverses"] == rows[1]["id"] and rows[0]["customer_name"] == "Hotel Cempaka"
    assert len(downloaded(client, "/ledger/export.csv")) == 5


@pytest.mark.parametrize(
    "sort", [f"{way}{name}" for name in ("number", "date", "description", "source", "status", "amount") for way in "-+"]
)
def test_the_journal_csv_sorts_by_every_column_the_list_offers_as_the_list_does(client, finance, journal, sort):
    sort = sort.lstrip("+")
    listed = column(body(client, "/books/journal", sort=sort), "journal", 0)
    rows = downloaded(client, "/books/journal.csv", sort=sort)
    assert len(rows) == 7
    assert list(dict.fromkeys(row["entry"] for row in rows)) == listed


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-02-30"}, "Write the date as YYYY-MM-DD"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "The range ends before it starts"),
        ({"least": "abc"}, "Not an amount"),
        ({"least": "500", "most": "100"}, "The largest amount is below the smallest"),
        ({"kind": "gift"}, "Not a valid choice"),
    ],
)
def test_a_bad_ledger_filter_says_so_and_refuses_the_export(client, finance, movements, params, message):
    page = client.get("/ledger", query_string=params)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    assert "No movements match." in page.get_data(as_text=True)
    assert client.get("/ledger/export.csv", query_string=params).status_code == 422


# Invoices and payments


@pytest.fixture
def receivables(app):
    today = local_today()
    hotel = CustomerFactory(code="HOTEL", name="Hotel Cempaka")
    bakery = CustomerFactory(code="BAKERY", name="Roti Enak")
    first, second = MeterFactory(serial="M-1"), MeterFactory(serial="M-2")
    meter_lifecycle.assign_meter(first, hotel, today - timedelta(days=90))
    meter_lifecycle.assign_meter(second, bakery, today - timedelta(days=90))
    meter_invoices.add_invoice(first, "INV-1", D("100000"), today - timedelta(days=60), today - timedelta(days=30))
    meter_invoices.add_invoice(first, "INV-2", D("50000"), today - timedelta(days=40), today - timedelta(days=10))
    meter_invoices.add_invoice(first, "INV-3", D("70000"), today - timedelta(days=5), today + timedelta(days=25))
    withdrawn = meter_invoices.add_invoice(
        second, "INV-4", D("20000"), today - timedelta(days=3), today + timedelta(days=27)
    )
    meter_invoices.withdraw_invoice(withdrawn, "Wrong meter")
    meter_payments.add_payment(first, D("100000"), today - timedelta(days=20), "TRF-1")
    bounced = meter_payments.add_payment(second, D("5000"), today - timedelta(days=2), "TRF-2")
    meter_payments.withdraw_payment(bounced, "Bounced")
    return today


def test_invoices_show_their_status_and_are_filtered_by_it_customer_and_date(client, finance, receivables):
    today = receivables
    page = body(client, "/invoices", sort="number")
    assert column(page, "invoices", 0) == ["INV-1", "INV-2", "INV-3", "INV-4"]
    assert column(page, "invoices", 6) == ["paid", "overdue", "open", "withdrawn"]
    assert column(page, "invoices", 3)[3] == "BAKERY — Roti Enak"
    assert column(body(client, "/invoices", status="overdue"), "invoices", 0) == ["INV-2"]
    assert column(body(client, "/invoices", status="paid"), "invoices", 0) == ["INV-1"]
    assert column(body(client, "/invoices", customer="roti"), "invoices", 0) == ["INV-4"]
    since = (today - timedelta(days=40)).isoformat()
    assert column(body(client, "/invoices", since=since, sort="-amount"), "invoices", 0) == ["INV-3", "INV-2", "INV-4"]
    assert column(body(client, "/invoices", sort="status"), "invoices", 6) == ["open", "overdue", "paid", "withdrawn"]


def test_the_invoices_csv_has_every_invoice_the_filters_select(client, finance, receivables):
    rows = downloaded(client, "/invoices/export.csv", customer="HOTEL", sort="-issued")
    assert [(row["number"], row["amount"], row["status"]) for row in rows] == [
        ("INV-3", "70000.00", "open"),
        ("INV-2", "50000.00", "overdue"),
        ("INV-1", "100000.00", "paid"),
    ]
    assert rows[0]["customer_code"] == "HOTEL" and rows[0]["meter"] == "M-1"
    assert [row["number"] for row in downloaded(client, "/invoices/export.csv", status="withdrawn")] == ["INV-4"]


def test_payments_are_listed_filtered_and_exported(client, finance, receivables):
    page = body(client, "/payments")
    assert column(page, "payments", 3) == ["TRF-2", "TRF-1"] and column(page, "payments", 5) == [
        "withdrawn",
        "received",
    ]
    assert column(body(client, "/payments", status="received"), "payments", 3) == ["TRF-1"]
    rows = downloaded(client, "/payments/export.csv", customer="bakery")
    assert [(row["reference"], row["amount"], row["status"], row["customer_code"]) for row in rows] == [
        ("TRF-2", "5000.00", "withdrawn", "BAKERY")
    ]


@pytest.mark.parametrize("url", ["/invoices", "/payments"])
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"until": "tomorrow"}, "Write the date as YYYY-MM-DD"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "The range ends before it starts"),
        ({"status": "lost"}, "Not a valid choice"),
        ({"sort": "amount; drop table"}, "Not a valid choice of column to sort by"),
    ],
)
def test_a_bad_billing_filter_says_so(client, finance, receivables, url, params, message):
    page = client.get(url, query_string=params)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    export = client.get(f"{url}/export.csv", query_string=params)
    assert export.status_code == (200 if "sort" in params else 422)


# The journal


@pytest.fixture
def journal(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"), value_date=date(2026, 10, 5))
    with unit_of_work() as connection:
        lines = [books.Line("1000", debit=D("750")), books.Line("3000", credit=D("750"))]
        wrong = post(
            installation(),
            connection,
            Movement(kind=Kind.MANUAL, value_date=date(2026, 10, 2), description="Wrong", lines=lines),
        )
    with unit_of_work() as connection:
        post(installation(), connection, Movement(kind=Kind.MANUAL, reverses_id=wrong.entry_id))
    with unit_of_work() as connection:
        books.save_draft(
            installation(), connection, date(2026, 10, 3), "Being prepared", [books.Line("1000", debit=D("9"))]
        )
    return db.session.scalars(sa.select(JournalEntry.number).order_by(JournalEntry.id)).all()


def test_the_journal_shows_each_entrys_status_and_filters_and_sorts_by_it(client, finance, journal):
    recharge, wrong, reversal, draft = journal
    page = body(client, "/books/journal")
    assert column(page, "journal", 0) == [draft, reversal, wrong, recharge]
    assert column(page, "journal", 5) == ["draft", "reversing", "reversed", "posted"]
    assert column(body(client, "/books/journal", status="reversed"), "journal", 0) == [wrong]
    assert column(body(client, "/books/journal", status="posted"), "journal", 0) == [recharge]
    assert column(body(client, "/books/journal", sort="date"), "journal", 0)[:3] == [wrong, draft, recharge]
    assert column(body(client, "/books/journal", sort="-amount"), "journal", 0)[:3] == [recharge, reversal, wrong]
    assert column(body(client, "/books/journal", sort="status"), "journal", 5) == [
        "draft",
        "posted",
        "reversed",
        "reversing",
    ]


def test_the_journal_csv_follows_the_status_filter_and_the_sort(client, finance, journal):
    recharge, wrong, reversal, draft = journal
    every = downloaded(client, "/books/journal.csv")
    assert len(every) == 7  # two lines an entry, the draft's one
    reversed_only = downloaded(client, "/books/journal.csv", status="reversed")
    assert [(row["entry"], row["account_code"]) for row in reversed_only] == [(wrong, "1000"), (wrong, "3000")]
    by_number = downloaded(client, "/books/journal.csv", sort="-number")
    assert [row["entry"] for row in by_number] == [draft, reversal, reversal, wrong, wrong, recharge, recharge]
    text = client.get("/books/journal.journal", query_string={"status": "reversing"}).get_data(as_text=True)
    assert f"({reversal})" in text and f"({wrong})" not in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2026-02-30"}, "Write the date as YYYY-MM-DD"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "The range ends before it starts"),
        ({"status": "lost"}, "Not a valid choice"),
        ({"account": "9999"}, "Not a valid choice"),
    ],
)
def test_a_bad_journal_filter_says_so_on_the_page(client, finance, journal, params, message):
    page = client.get("/books/journal", query_string=params)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    assert "No entries match." in page.get_data(as_text=True)
    assert client.get("/books/journal.csv", query_string=params).status_code == 422


def test_a_csv_starts_with_its_byte_order_mark_so_a_spreadsheet_reads_its_letters(client, finance):
    CustomerFactory(code="VN1", name="Công ty Ánh Dương")
    response = client.get("/customers/export.csv")
    assert response.get_data()[:3] == b"\xef\xbb\xbf"
    assert "Công ty Ánh Dương" in response.get_data().decode("utf-8-sig")


# The same lists as workbooks


def workbook(client, url: str, **params) -> list[tuple]:
    """The rows of the downloaded workbook's one sheet, its header first, as a strict reader and openpyxl read them
    alike (see :func:`tests.workbooks.sheets`)."""
    response = client.get(url, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == XLSX_MIMETYPE
    assert response.headers["Content-Disposition"].endswith(f'-{local_today().isoformat()}.xlsx"')
    (rows,) = sheets(response.get_data())
    return rows


def test_the_orders_workbook_has_the_csv_s_rows_numbers_as_numbers_dates_as_dates(client, finance, orders):
    rows = workbook(client, "/orders/export.xlsx", month="2026-11", sort="-grand_total")
    as_csv = downloaded(client, "/orders/export.csv", month="2026-11", sort="-grand_total")
    assert list(rows[0]) == list(as_csv[0])
    assert len(rows) - 1 == len(as_csv)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["number"] == "SO-7" and first["closing_date"] == datetime(2026, 11, 8)
    assert isinstance(first["grand_total"], float) and D(str(first["grand_total"])) == D("8000000.5")


def test_every_list_that_downloads_as_csv_downloads_as_a_workbook_of_as_many_rows(client, finance, orders, receivables):
    CustomerFactory(code="=CMD", name="+SUM(A1)")
    for path in ("/customers/export", "/ledger/export", "/invoices/export", "/payments/export"):
        rows = workbook(client, f"{path}.xlsx")
        as_csv = list(csv.reader(io.StringIO(client.get(f"{path}.csv").get_data().decode("utf-8-sig"))))
        assert list(rows[0]) == as_csv[0] and len(rows) == len(as_csv), path
    customers = workbook(client, "/customers/export.xlsx")
    assert ("=CMD", "+SUM(A1)") in [row[:2] for row in customers]  # text stays text, never a formula
    balances = [row[4] for row in customers[1:]]
    assert all(isinstance(balance, int | float) for balance in balances)


def test_a_workbook_s_header_is_in_the_reader_s_language(client, auth, orders):
    auth.login("finance").language = "id"
    db.session.commit()
    header = workbook(client, "/orders/export.xlsx")[0]
    assert header[0] != "number" and len(header) == 10


def test_the_journal_workbook_follows_the_filter_and_sort_with_amounts_as_numbers(client, finance, journal):
    recharge, wrong, reversal, draft = journal
    rows = workbook(client, "/books/journal.xlsx", sort="-number")
    assert [row[0] for row in rows[1:]] == [draft, reversal, reversal, wrong, wrong, recharge, recharge]
    assert len(workbook(client, "/books/journal.xlsx", status="reversed")) == 3
    debits = [row[9] for row in rows[1:] if row[9] is not None]
    assert debits and all(isinstance(debit, int | float) for debit in debits)
    assert isinstance(rows[1][1], datetime)


# Counted up to a bound


@pytest.fixture
def counted_up_to(monkeypatch):
    """Lists count what they select up to 10 rows (or the end of the page after the one asked)."""
    monkeypatch.setattr(extensions, "COUNTED_UP_TO", 10)


def summary(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.split('<p class="summary">', 1)[1].split("</p>", 1)[0]))


def test_past_the_bound_a_list_says_more_than_it_and_offers_the_next_page(client, finance, customers, counted_up_to):
    first = body(client, "/customers")
    assert summary(first).startswith("More than 50 customers, prepaid balances Rp1.800,25")  # the ledger's figure
    assert 'href="/customers?page=2"' in first
    second = body(client, "/customers", page=2)
    assert summary(second).startswith("56 customers, prepaid balances Rp1.800,25")  # counted to its page's end
    assert column(second, "customers", 0) == ["K050", "K051", "K052", "K053", "K054", "X900"]
    dewi = body(client, "/customers", manager=customers["dewi"].email)
    assert summary(dewi).startswith("More than 50 customers: narrow the filters to see their prepaid balances' total.")
    budi = body(client, "/customers", manager=customers["budi"].email)
    assert summary(budi).startswith("3 customers, prepaid balances Rp0,00")


def test_orders_past_the_bound_say_more_than_it_if_searched_else_their_months_sums(
    client, finance, orders, monkeypatch
):
    monkeypatch.setattr(extensions, "COUNTED_UP_TO", 3)
    searched = body(client, "/orders", q="SO")
    assert summary(searched) == "More than 5 orders: narrow the search to see their grand total."
    assert 'href="/orders?q=SO&amp;page=2"' in searched
    assert summary(body(client, "/orders", q="SO", page=2)) == "8 orders, grand total Rp36.000.004,00"
    assert summary(body(client, "/orders")) == "8 orders, grand total Rp36.000.004,00"  # the months' sums: exact


def test_movements_and_the_journal_past_the_bound_say_more_than_it(client, finance, movements, monkeypatch):
    monkeypatch.setattr(extensions, "COUNTED_UP_TO", 1)
    monkeypatch.setattr(movements_web, "PER_PAGE", 2)
    monkeypatch.setattr(books_web, "ENTRIES_PER_PAGE", 2)
    everything = body(client, "/ledger")
    assert summary(everything) == "More than 2 movements: narrow the filters to see their net."
    assert len(column(everything, "movements", 3)) == 2 and 'href="/ledger?page=2"' in everything
    assert summary(body(client, "/ledger", customer="bakery")) == "2 movements, net Rp4.000,50"
    assert summary(body(client, "/books/journal")) == "More than 2 entries"
    assert summary(body(client, "/books/journal", page=3)) == "5 entries"


def test_payments_and_invoices_past_the_bound_say_more_than_it(client, finance, receivables, monkeypatch):
    monkeypatch.setattr(extensions, "COUNTED_UP_TO", 1)
    monkeypatch.setattr(receivables_web, "PER_PAGE", 1)
    assert summary(body(client, "/payments")) == "More than 1 payments: narrow the filters to see their total."
    assert summary(body(client, "/payments", page=2)) == "2 payments, amounting to Rp105.000,00"
    invoices = summary(body(client, "/invoices"))
    assert invoices == "More than 1 invoices issued in the range: narrow the filters to see their total."
