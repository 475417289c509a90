"""A customer's statement: its figures are the monthly balances'; the page, the CSV and what they refuse."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from backoffice.models import BalanceTransaction, Customer, JournalEntry, MonthlyCustomerBalance
from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle, metering, statements, wallet
from backoffice.services.statements import Period
from tests.factories import CustomerFactory, MeterFactory
from tests.pages import shown_money
from tests.rows import written

D = Decimal
JUNE, AUG = date(2026, 6, 1), date(2026, 8, 1)


@pytest.fixture
def history(kept):
    """A customer whose movements are value-dated out of posting order, with readings corrected and deleted, a
    charge reversed and adjustments, from June to this month; July has no movement (and no month row)."""
    return kept("statement history", _history)


def _history():
    customer = CustomerFactory(code="BAKERY", name="Roti Enak")
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, AUG)
    metering.set_pricing(customer.id, AUG, D("1000.00"), D("1"))
    wallet.recharge(customer, D("2000000"), description="Opening deposit")  # today
    wallet.recharge(customer, D("300000"), value_date=JUNE + timedelta(days=9), description="Received in June")
    august = metering.record_reading(meter.id, date(2026, 8, 10), D("100"))
    metering.record_reading(meter.id, date(2026, 9, 5), D("50"))
    doomed = metering.record_reading(meter.id, date(2026, 9, 20), D("10"))
    metering.correct_reading(august, date(2026, 8, 10), D("200"))
    metering.delete_reading(doomed)
    charge = wallet.charge(customer, D("30000"), value_date=date(2026, 10, 15), description="Connection fee")
    wallet.reverse(charge, description="Entered by mistake", value_date=date(2026, 10, 20))
    wallet.adjust(customer, D("-2500"), reason="data_entry_error", value_date=date(2026, 9, 30))
    wallet.adjust(customer, D("1000"), reason="goodwill", value_date=date(2026, 10, 1))
    return customer.id


def stored_months(customer_id: int) -> dict[str, MonthlyCustomerBalance]:
    db.session.rollback()
    rows = db.session.scalars(
        sa.select(MonthlyCustomerBalance).where(MonthlyCustomerBalance.customer_id == customer_id)
    ).all()
    return {row.year_month: row for row in rows}


def test_each_months_statement_equals_its_monthly_balance(history):
    months = stored_months(history)
    assert "2026-07" not in months and {"2026-06", "2026-08", "2026-09", "2026-10"} <= set(months)
    month, last = Month(2026, 6), Month.of(local_today())
    closing_before = D("0.00")
    while month <= last:
        found = statements.summary(history, Period.of_month(month))
        row = months.get(str(month))
        if row is None:  # a month without movement: the balance carries through it
            assert (found.opening, found.closing, found.movements) == (closing_before, closing_before, 0), month
        else:
            expected = (row.opening_balance, row.total_deposits, row.total_purchases, row.closing_balance)
            assert (found.opening, found.deposits, found.purchases, found.closing) == expected, month
        closing_before = found.closing
        month = month.next()
    assert closing_before == db.session.get(Customer, history).balance


def test_a_range_of_months_opens_as_its_first_month_and_closes_as_its_last(history):
    months = stored_months(history)
    found = statements.summary(history, Period(date(2026, 8, 1), date(2026, 10, 31)))
    assert found.opening == months["2026-08"].opening_balance
    assert found.closing == months["2026-10"].closing_balance
    assert found.deposits == sum(months[m].total_deposits for m in ("2026-08", "2026-09", "2026-10"))
    assert found.purchases == sum(months[m].total_purchases for m in ("2026-08", "2026-09", "2026-10"))


def test_the_lines_run_in_value_date_order_from_the_opening_to_the_closing(history):
    period = Period(JUNE, local_today())
    found = statements.summary(history, period)
    lines = list(statements.lines(history, period, found.opening))
    assert [line.value_date for line in lines] == sorted(line.value_date for line in lines)
    assert lines[0].description == "Received in June" and lines[0].balance == D("300000.00")
    assert lines[-1].balance == found.closing == db.session.get(Customer, history).balance
    running = found.opening
    for line in lines:
        running += line.amount
        assert line.balance == running
    reversal = next(line for line in lines if line.kind == "reversal" and line.value_date == date(2026, 10, 20))
    assert reversal.reference.startswith("reverses movement #") and reversal.amount == D("30000.00")


def test_the_statement_page_shows_the_opening_each_movement_and_the_closing(client, auth, history):
    auth.login("finance")
    customer_page = client.get("/customers/BAKERY").get_data(as_text=True)
    assert 'href="/customers/BAKERY/statement"' in customer_page
    assert 'href="/customers/BAKERY/statement?month=2026-09"' in client.get("/customers/BAKERY?tab=monthly").get_data(
        as_text=True
    )
    response = client.get("/customers/BAKERY/statement?month=2026-09")
    page = response.get_data(as_text=True)
    september = stored_months(history)["2026-09"]
    assert response.status_code == 200
    assert "BAKERY — Roti Enak" in page and "1 Sept 2026 – 30 Sept 2026" in page
    assert f'id="opening">{shown_money(september.opening_balance)}<' in page
    assert f"<strong>{shown_money(september.closing_balance)}</strong>" in page
    assert "Gas, reading #" in page and "Data entry error" in page and "20 Sept 2026" in page
    assert 'href="/customers/BAKERY/statement.csv?month=2026-09"' in page


def test_a_range_of_dates_is_shown_with_its_days(client, auth, history):
    auth.login("finance")
    page = client.get("/customers/BAKERY/statement?since=2026-06-01&until=2026-06-30").get_data(as_text=True)
    assert "1 Jun 2026 – 30 Jun 2026" in page and "Received in June" in page
    assert 'id="closing"><strong>Rp300.000,00</strong>' in page
    assert "statement.csv?since=2026-06-01&amp;until=2026-06-30" in page


def test_the_csv_is_streamed_with_plain_decimals_and_iso_dates(client, auth, history):
    wallet.recharge(history, D("5000"), description='=HYPERLINK("http://example.com")')
    auth.login("finance")
    response = client.get("/customers/BAKERY/statement.csv?since=2026-06-01&until=" + local_today().isoformat())
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="statement-BAKERY-2026-06-01_{local_today().isoformat()}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert list(rows[0]) == statements.CSV_COLUMNS
    assert rows[0] == {
        "date": "2026-06-01",
        "movement": "",
        "kind": "opening",
        "description": "Opening balance",
        "reference": "",
        "amount": "",
        "balance": "0.00",
    }
    assert rows[1]["description"] == "Received in June" and rows[1]["amount"] == "300000.00"
    assert rows[-1]["kind"] == "closing" and D(rows[-1]["balance"]) == db.session.get(Customer, history).balance
    assert D(rows[-2]["balance"]) == D(rows[-1]["balance"])
    assert any(row["description"] == '\'=HYPERLINK("http://example.com")' for row in rows)
    movements = db.session.scalar(sa.select(sa.func.count(BalanceTransaction.id)))
    assert len(rows) == movements + 2


WRITTEN = (BalanceTransaction, JournalEntry, MonthlyCustomerBalance)
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


def next_month() -> str:
    return str(Month.of(local_today()).next())


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("month=2026-13", "month", "Write the month as YYYY-MM"),
        ("month=next", "month", "has not begun"),
        ("since=2026-02-30&until=2026-03-01", "since", "Write the date as YYYY-MM-DD"),
        ("since=2026-09-01&until=1.10.2026", "until", "Write the date as YYYY-MM-DD"),
        ("until=2026-09-30", "since", "Enter the first day of the statement"),
        ("since=2026-09-10&until=2026-09-01", "until", "ends before it starts: choose 10 Sept 2026 or later"),
        ("since=tomorrow", "since", "Nothing is dated after today"),
        ("month=2026-09&since=2026-09-01", "month", "Choose a month or a range of dates, not both"),
        ("since=2020-01-01&until=2026-09-30", "until", "at most 366 days (2465 asked)"),
    ],
)
@pytest.mark.parametrize("what", ["statement", "statement.csv"])
def test_a_bad_period_is_refused_with_a_message_under_its_field(client, auth, history, query, field, message, what):
    auth.login("finance")
    before = written(*WRITTEN)
    query = query.replace("next", next_month()).replace("tomorrow", (local_today() + timedelta(days=1)).isoformat())
    response = client.get(f"/customers/BAKERY/{what}?{query}")
    if what == "statement.csv" and "366 days" in message:  # the CSV takes any length
        assert response.status_code == 200 and response.is_streamed
        return
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert message in page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert 'id="statement-lines"' not in page
    assert written(*WRITTEN) == before


def test_an_unknown_customers_statement_is_404(client, auth):
    auth.login("finance")
    assert client.get("/customers/NOBODY/statement").status_code == 404
    assert client.get("/customers/NOBODY/statement.csv").status_code == 404


def test_without_a_period_the_statement_is_this_months(client, auth, history):
    auth.login("admin")
    page = client.get("/customers/BAKERY/statement").get_data(as_text=True)
    month = Month.of(local_today())
    assert f'statement.csv?month={month}"' in page
    assert f'id="closing"><strong>{shown_money(db.session.get(Customer, history).balance)}</strong>' in page


def test_the_statement_downloads_as_a_workbook_of_the_same_rows(client, auth, history):
    auth.login("finance")
    query = "?since=2026-06-01&until=" + local_today().isoformat()
    response = client.get("/customers/BAKERY/statement.xlsx" + query)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(f'2026-06-01_{local_today().isoformat()}.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    as_csv = list(
        csv.reader(io.StringIO(client.get("/customers/BAKERY/statement.csv" + query).get_data().decode("utf-8-sig")))
    )
    assert list(rows[0]) == as_csv[0] and len(rows) == len(as_csv)
    assert rows[1][2] == "opening" and isinstance(rows[1][0], datetime) and isinstance(rows[-1][6], int | float)
