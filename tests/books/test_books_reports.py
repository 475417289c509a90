"""The books for an accountant: the chart as a trial balance, an account's lines with their running balance and
what each records, and the journal exported as CSV and as an hledger journal that hledger's balances agree with."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Account, AccountType, JournalEntry, JournalLine
from backoffice.platform.extensions import db
from backoffice.posting.movement import Movement
from backoffice.posting.post import post
from backoffice.posting.rules import Kind
from backoffice.services import (
    books,
    installation,
    journal_export,
    meter_invoices,
    meter_lifecycle,
    meter_payments,
    metering,
    wallet,
)
from backoffice.web.books import journal as books_web
from tests.conftest import require_service
from tests.factories import CustomerFactory, MeterFactory, unit_of_work

D = Decimal
AUG = date(2026, 8, 1)


@pytest.fixture
def ledger(app):
    """Every kind of entry: wallet movements (value-dated, a reading corrected and deleted, a reversal, an
    adjustment), an invoice and a payment (withdrawn), manual entries (one reversed), and a draft."""
    customer = CustomerFactory(code="C0042", name="Hotel Cempaka")
    meter = MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, customer, AUG)
    metering.set_pricing(customer.id, AUG, D("1000.00"), D("1"))
    wallet.recharge(customer, D("2000000"), value_date=date(2026, 8, 2), description="=cmd|' /C calc'!A0")
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("100"))
    metering.correct_reading(reading, date(2026, 8, 10), D("120"))
    doomed = metering.record_reading(meter.id, date(2026, 9, 3), D("10"))
    metering.delete_reading(doomed)
    charge = wallet.charge(customer, D("30000"), value_date=date(2026, 9, 15), description="Connection fee; urgent")
    wallet.reverse(charge, description="Entered by mistake", value_date=date(2026, 9, 16))
    wallet.adjust(customer, D("-2500"), reason="data_entry_error", value_date=date(2026, 10, 1))
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 9, 30), date(2026, 10, 30))
    payment = meter_payments.add_payment(meter, D("200000"), date(2026, 10, 5), "TRF 1")
    meter_payments.add_payment(meter, D("50000"), date(2026, 10, 6), "TRF 2")
    meter_payments.withdraw_payment(payment, "Bounced", value_date=date(2026, 10, 7))
    with unit_of_work() as connection:
        capital = [books.Line("1000", debit=D("10000000")), books.Line("3000", credit=D("10000000"))]
        post(
            installation(),
            connection,
            Movement(kind=Kind.MANUAL, value_date=date(2026, 7, 1), description="Capital", lines=capital),
        )
        rent = [books.Line("5000", debit=D("750000"), description="Rent: July"), books.Line("1000", credit=D("750000"))]
        rent_paid = Movement(kind=Kind.MANUAL, value_date=date(2026, 7, 2), description="Rent", lines=rent)
        wrong = post(installation(), connection, rent_paid)
    with unit_of_work() as connection:
        post(installation(), connection, Movement(kind=Kind.MANUAL, reverses_id=wrong.entry_id))
    with unit_of_work() as connection:
        books.save_draft(
            installation(), connection, date(2026, 11, 1), "Not posted", [books.Line("1000", debit=D("999"))]
        )
    return {"customer": customer, "reading": reading, "invoice": invoice, "payment": payment}


def balances() -> dict[str, tuple[AccountType, Decimal]]:
    db.session.rollback()
    return {a.code: (a.type, a.balance) for a in db.session.scalars(sa.select(Account))}


def test_hledger_balances_of_the_exported_journal_are_the_accounts_balances(client, auth, ledger, tmp_path):
    hledger = shutil.which("hledger")
    if hledger is None:
        require_service("hledger", "Debian's hledger package is not installed (make test installs it)")
    auth.login("finance")
    response = client.get("/books/journal.journal")
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="journal-')
    path = tmp_path / "books.journal"
    path.write_text(response.get_data(as_text=True))

    # --strict: every account a posting names is declared, and the commodity too; each entry must balance.
    report = subprocess.run(
        [hledger, "-f", str(path), "--strict", "balance", "--flat", "--no-total", "--output-format", "csv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for row in csv.DictReader(io.StringIO(report)):
        code = row["account"].split(" ", 1)[0]
        amount, commodity = row["balance"].split(" ")
        assert commodity == "IDR"
        found[code] = D(amount)
    expected = balances()
    assert set(found) <= set(expected)
    for code, (kind, balance) in expected.items():
        debit_side = found.get(code, D("0.00"))
        assert (debit_side if kind.debit_normal else -debit_side) == balance, code
    assert expected["5000"][1] == 0 and expected["3000"][1] == D("10000000.00")
    posted = db.session.scalar(sa.select(sa.func.count(JournalEntry.id)).where(JournalEntry.status == "posted"))
    printed = subprocess.run([hledger, "-f", str(path), "print"], capture_output=True, text=True, check=True).stdout
    assert printed.count(" * (JE-") == posted


def test_the_hledger_journal_reads_as_its_entries(client, auth, ledger):
    auth.login("finance")
    text = client.get("/books/journal.journal?source=manual").get_data(as_text=True)
    assert "account 1000 Cash  ; type: A\n" in text and "account 2000 Customer deposits  ; type: L\n" in text
    assert "commodity IDR\n    format 1000.00 IDR\n" in text
    assert "\n2026-07-01 * (JE-" in text and ") Capital\n    ; source: manual entry\n" in text
    assert "    1000 Cash  10000000.00 IDR\n    3000 Owner's equity  -10000000.00 IDR\n" in text
    assert "    5000 Operating expenses  750000.00 IDR  ; Rent: July\n" in text
    assert ", reverses JE-" in text and "Not posted" not in text and "Recharge" not in text
    wallet_text = client.get("/books/journal.journal?source=balance_transaction").get_data(as_text=True)
    assert "Connection fee, urgent" not in wallet_text  # the entry's description is its heading
    assert "; source: balance_transaction #" in wallet_text


def test_the_journal_csv_has_every_line_with_its_entrys_status_and_plain_amounts(client, auth, ledger):
    auth.login("finance")
    response = client.get("/books/journal.csv")
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert list(rows[0]) == journal_export.CSV_COLUMNS
    assert len(rows) == db.session.scalar(sa.select(sa.func.count(JournalLine.id)))
    assert [row["date"] for row in rows] == sorted(row["date"] for row in rows)
    draft = [row for row in rows if row["status"] == "draft"]
    assert len(draft) == 1 and draft[0]["debit"] == "999.00" and draft[0]["source_type"] == "manual"
    capital = [row for row in rows if row["description"] == "Capital"]
    assert [(r["account_code"], r["debit"], r["credit"]) for r in capital] == [
        ("1000", "10000000.00", ""),
        ("3000", "", "10000000.00"),
    ]
    invoice = [row for row in rows if row["source_type"] == "invoice"]
    assert invoice[0]["source_id"] == str(ledger["invoice"].id) and invoice[0]["debit"] == "500000.00"
    filtered = client.get("/books/journal.csv?account=1100&since=2026-10-01").get_data(as_text=True)
    assert "INV-1" not in filtered and "Payment" in filtered


def test_a_bad_journal_filter_refuses_the_export(client, auth, ledger):
    auth.login("finance")
    for what in ("csv", "journal"):
        response = client.get(f"/books/journal.{what}?since=2026-02-30")
        assert response.status_code == 422 and response.mimetype == "text/html"


def test_the_journal_page_links_its_exports_with_its_filters(client, auth, ledger):
    auth.login("finance")
    page = client.get("/books/journal?account=1000&page=1").get_data(as_text=True)
    assert 'href="/books/journal.csv?account=1000"' in page and 'href="/books/journal.journal?account=1000"' in page


def test_the_chart_is_a_trial_balance_whose_sides_are_equal(client, auth, ledger):
    auth.login("finance")
    page = client.get("/books/accounts").get_data(as_text=True)
    debits = page.split('id="total-debit">', 1)[1].split("<", 1)[0]
    credits = page.split('id="total-credit">', 1)[1].split("<", 1)[0]
    assert debits == credits == "Rp12.500.000,00"
    assert 'href="/books/accounts/2000"' in page


def account_rows(page: str) -> list[list[str]]:
    """The account page's lines: the cells of each row of the lines table, without tags."""
    import re

    body = page.split('id="account-lines"', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    ]


def test_an_account_page_shows_debit_credit_and_the_balance_after_each_line(client, auth, ledger):
    auth.login("finance")
    page = client.get("/books/accounts/2000").get_data(as_text=True)
    rows = account_rows(page)
    assert rows[0][2] == "Opening balance" and rows[0][-1] == "Rp0,00"
    recharge = rows[1]
    assert recharge[0] == "2 Aug 2026"
    assert (recharge[4], recharge[5], recharge[6]) == ("", "Rp2.000.000,00", "Rp2.000.000,00")
    gas = rows[2]
    assert (gas[4], gas[5], gas[6]) == ("Rp100.000,00", "", "Rp1.900.000,00")
    assert rows[-1][-1] == _shown(balances()["2000"][1])
    assert "C0042 — Hotel Cempaka" in gas[3] and "movement #" in gas[3] and f"reading #{ledger['reading']}" in gas[3]
    assert f'href="/customers/C0042/readings/{ledger["reading"]}"' in page
    receivables = client.get("/books/accounts/1100").get_data(as_text=True)
    assert f'href="/customers/C0042/invoices/{ledger["invoice"].id}/edit">invoice INV-1</a>' in receivables
    assert f'href="/customers/C0042/payments/{ledger["payment"].id}/edit">payment #{ledger["payment"].id}</a>' in (
        receivables
    )
    assert "manual entry" in client.get("/books/accounts/3000").get_data(as_text=True)


def test_an_entrys_page_links_what_it_records(client, auth, ledger):
    auth.login("finance")
    entry_id = db.session.scalar(
        sa.select(JournalEntry.id).where(JournalEntry.source_type == "invoice").order_by(JournalEntry.id)
    )
    page = client.get(f"/books/journal/{entry_id}").get_data(as_text=True)
    assert "source: invoice #" in page
    assert f'<a href="/customers/C0042/invoices/{ledger["invoice"].id}/edit">invoice INV-1</a>' in page


def test_an_accounts_lines_page_from_the_latest_and_run_on_from_the_opening(client, auth, ledger, monkeypatch):
    monkeypatch.setattr(books_web, "LINES_PER_PAGE", 2)
    auth.login("finance")
    first = account_rows(client.get("/books/accounts/1000?page=1").get_data(as_text=True))
    assert first[0][2] == "Opening balance" and len(first) == 3
    assert (first[1][4], first[1][6]) == ("Rp10.000.000,00", "Rp10.000.000,00")
    assert (first[2][5], first[2][6]) == ("Rp750.000,00", "Rp9.250.000,00")
    second = account_rows(client.get("/books/accounts/1000?page=2").get_data(as_text=True))
    assert (second[0][4], second[0][6]) == ("Rp2.000.000,00", "Rp11.250.000,00")
    latest = client.get("/books/accounts/1000").get_data(as_text=True)
    assert account_rows(latest)[-1][-1] == "Rp12.050.000,00" == _shown(balances()["1000"][1])
    assert 'aria-current="page">' in latest.split('class="pagination"', 1)[1]
    since = account_rows(client.get("/books/accounts/1000?since=2026-08-01&page=1").get_data(as_text=True))
    assert since[0][2] == "Opening balance" and since[0][-1] == "Rp9.250.000,00"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=2026-13-01", "since", "Write the date as YYYY-MM-DD"),
        ("since=2026-10-01&until=2026-09-01", "until", "ends before it starts: choose 1 Oct 2026 or later"),
    ],
)
def test_a_bad_period_on_an_account_page_is_a_message_under_its_field(client, auth, ledger, query, field, message):
    auth.login("finance")
    response = client.get(f"/books/accounts/1000?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert 'id="account-lines"' not in page


def test_an_unknown_account_or_a_page_past_any_offset_is_404(client, auth):
    auth.login("finance")
    assert client.get("/books/accounts/9999").status_code == 404
    assert client.get(f"/books/accounts/1000?page={2**63}").status_code == 404
    assert client.get("/books/accounts/1000?page=2").status_code == 200


def _shown(value: Decimal) -> str:
    from backoffice.web.plumbing.filters import money

    return money(value)
