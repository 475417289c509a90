"""What postpaid customers owe, as the clerks print and download it: the aging report of the open invoices, a
customer's postpaid statement of account, and an invoice printed for its customer."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from backoffice.models import Customer, Invoice
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import meter_invoices, meter_lifecycle, meter_payments, receivables
from backoffice.web.billing.statements import three_months_before
from tests.checkout import ROOT
from tests.factories import CustomerFactory, MeterFactory
from tests.pages import shown_day, shown_money, text

D = Decimal
BOUNDARIES = {0: "current", 1: "1-30", 30: "1-30", 31: "31-60", 60: "31-60", 61: "61-90", 90: "61-90", 91: "over_90"}
"""Days past due, and the bucket an invoice that many days past due falls in."""
HEADER = (
    "customer_code,customer_name,meter,invoice,issued_on,due_on,days_overdue,outstanding,"
    "current,1-30,31-60,61-90,over_90"
)
PRINT_CSS = ROOT / "static" / "print.css"


def ago(days: int) -> date:
    return local_today() - timedelta(days=days)


def holding(code: str, name: str, serial: str, **fields):
    """A customer holding a meter of their own for the last 400 days."""
    customer = CustomerFactory(code=code, name=name, **fields)
    meter = MeterFactory(serial=serial)
    meter_lifecycle.assign_meter(meter, customer, ago(400))
    return customer, meter


@pytest.fixture
def book(kept) -> dict:
    """ACME: an invoice as many days past due as each boundary, one not yet due and one withdrawn; BETA: an older
    invoice left open by a payment applied to a newer one; CRED: a payment beyond its only invoice (credit)."""
    return kept("receivables book", _book)


def _book():
    _acme, meter = holding("ACME", "Acme Hotel", "M-A", address="Jl. Mawar 1, Bandung")
    for days in BOUNDARIES:
        meter_invoices.add_invoice(meter, f"A-{days}", D(1000 * (days + 1)), ago(days + 10), ago(days))
    meter_invoices.add_invoice(meter, "A-NEXT", D("500"), ago(5), ago(-10))
    withdrawn = meter_invoices.add_invoice(meter, "A-GONE", D("777"), ago(50), ago(40))
    meter_invoices.withdraw_invoice(withdrawn, "Issued twice")
    _beta, meter = holding("BETA", "Beta Bakery", "M-B")
    old = meter_invoices.add_invoice(meter, "B-OLD", D("300000"), ago(60), ago(45))
    new = meter_invoices.add_invoice(meter, "B-NEW", D("200000"), ago(30), ago(15))
    paid = meter_payments.add_payment(meter, D("200000"), ago(5), "TRF-B", invoice_ids=[new.id])
    _cred, meter = holding("CRED", "Credit Cafe", "M-C")
    meter_invoices.add_invoice(meter, "C-1", D("100000"), ago(20), ago(10))
    meter_payments.add_payment(meter, D("170000"), ago(3), "TRF-C")
    return {"old": old.id, "new": new.id, "paid": paid.id}


def acme_rows() -> dict[str, tuple]:
    rows = db.session.execute(
        receivables.open_invoices(local_today(), receivables.Scope(where=(Customer.code == "ACME",)))
    )
    return {row.number: (row.days_overdue, row.bucket, row.outstanding) for row in rows}


def downloaded(client, url: str) -> tuple[str, list[dict]]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="aging-{local_today().isoformat()}.csv"'
    content = response.get_data().decode("utf-8-sig")
    return content.split("\n", 1)[0], list(csv.DictReader(io.StringIO(content)))


# The aging report


def test_each_invoice_falls_in_its_bucket_at_each_boundary(book):
    rows = acme_rows()
    for days, bucket in BOUNDARIES.items():
        assert rows[f"A-{days}"] == (days, bucket, D(1000 * (days + 1))), days
    assert rows["A-NEXT"] == (0, "current", D("500"))
    assert "A-GONE" not in rows


def test_as_of_an_earlier_day_days_are_counted_to_it_and_later_invoices_left_out(book):
    as_of = ago(31)
    rows = {
        row.number: (row.days_overdue, row.bucket)
        for row in db.session.execute(
            receivables.open_invoices(as_of, receivables.Scope(where=(Customer.code == "ACME",)))
        )
    }
    assert rows == {
        "A-30": (0, "current"),
        "A-31": (0, "current"),
        "A-60": (29, "1-30"),
        "A-61": (30, "1-30"),
        "A-90": (59, "31-60"),
        "A-91": (60, "31-60"),
    }


def test_the_page_totals_each_customer_and_every_customer_per_bucket(book, client, finance):
    response = client.get("/receivables/aging")
    assert response.status_code == 200
    page = text(response)
    acme = db.session.scalar(sa.select(Customer.id).where(Customer.code == "ACME"))
    expected = {"current": D(1000 + 500), "1-30": D(2000 + 31000), "31-60": D(32000 + 61000)}
    expected |= {"61-90": D(62000 + 91000), "over_90": D(92000)}
    row = re.search(rf'<tr class="group subtotal" id="customer-{acme}">(.*?)</tr>', page).group(1)
    cells = re.findall(r'<td class="num">(?:<strong>)?([^<]*)<', row)
    assert cells == [shown_money(expected[name]) for name in receivables.BUCKETS] + [
        shown_money(sum(expected.values()))
    ]
    # Every customer: ACME's, BETA's older invoice (31-60 days past due), nothing of CRED's (paid).
    everyone = dict(expected, **{"31-60": expected["31-60"] + D(300000)})
    for name in receivables.BUCKETS:
        assert f'id="all-{name}">{shown_money(everyone[name])}<' in page
    assert f'id="all-total"><strong>{shown_money(sum(everyone.values()))}<' in page
    assert 'id="invoice-' in page and "B-OLD" in page and "B-NEW" not in page and "C-1" not in page


def test_the_csv_has_the_header_then_a_row_per_open_invoice_owing_in_its_bucket(book, client, finance):
    header, rows = downloaded(client, "/receivables/aging.csv")
    assert header == HEADER
    assert [row["invoice"] for row in rows] == [
        "A-91", "A-90", "A-61", "A-60", "A-31", "A-30", "A-1", "A-0", "A-NEXT", "B-OLD",
    ]  # fmt: skip
    for row in rows:
        bucket = next(name for name in receivables.BUCKETS if row[name] != "0.00")
        assert [row[name] for name in receivables.BUCKETS if name != bucket] == ["0.00"] * 4
        assert row[bucket] == row["outstanding"]
    a91 = next(row for row in rows if row["invoice"] == "A-91")
    assert a91 == {
        "customer_code": "ACME",
        "customer_name": "Acme Hotel",
        "meter": "M-A",
        "invoice": "A-91",
        "issued_on": ago(101).isoformat(),
        "due_on": ago(91).isoformat(),
        "days_overdue": "91",
        "outstanding": "92000.00",
        "current": "0.00",
        "1-30": "0.00",
        "31-60": "0.00",
        "61-90": "0.00",
        "over_90": "92000.00",
    }
    _header, beta = downloaded(client, "/receivables/aging.csv?customer=BETA")
    assert [(row["invoice"], row["outstanding"], row["31-60"]) for row in beta] == [("B-OLD", "300000.00", "300000.00")]


def test_credit_no_invoice_takes_is_shown_apart(book, client, finance):
    page = text(client.get("/receivables/aging"))
    credits = page.split('id="credits"', 1)[1].split("</table>", 1)[0]
    assert "CRED" in credits and "M-C" in credits and shown_money(D("70000")) in credits
    assert "ACME" not in credits and "BETA" not in credits
    assert [(row.code, row.serial, row.unapplied) for row in receivables.credits(local_today())] == [
        ("CRED", "M-C", D("70000.00"))
    ]


def test_a_payment_applied_to_a_newer_invoice_leaves_the_older_one_open(book):
    rows = db.session.execute(
        receivables.open_invoices(local_today(), receivables.Scope(where=(Customer.code == "BETA",)))
    )
    assert [(row.number, row.outstanding, row.bucket) for row in rows] == [("B-OLD", D("300000.00"), "31-60")]
    assert db.session.get(Invoice, book["new"]).status == "paid"


def test_what_the_report_finds_open_is_what_the_customers_owe(book, client, finance):
    due = db.session.scalar(sa.select(sa.func.sum(Customer.amount_due)))
    assert receivables.totals(local_today()).total == due
    _header, rows = downloaded(client, "/receivables/aging.csv")
    assert sum(D(row["outstanding"]) for row in rows) == due


def test_a_customers_code_selects_that_customer_alone_and_other_text_as_the_lists_do(book, client, finance):
    _other, meter = holding("ACME2", "Acme Two", "M-A2")
    meter_invoices.add_invoice(meter, "X-1", D("1000"), ago(20), ago(5))
    assert 'id="customer-aging" href="/receivables/aging?customer=ACME"' in text(
        client.get("/customers/ACME?tab=billing")
    )
    assert receivables.totals(local_today(), receivables.Scope(where=(Customer.code == "ACME",))).invoices == 9
    page = text(client.get("/receivables/aging?customer=ACME"))
    assert (
        "A-91" in page and "B-OLD" not in page and 'id="aging-csv" href="/receivables/aging.csv?customer=ACME"' in page
    )
    assert "X-1" not in page
    assert "X-1" in text(client.get("/receivables/aging?customer=acme"))
    assert "B-OLD" in text(client.get("/receivables/aging?customer=bakery"))


def test_the_report_is_linked_from_the_invoices_list_with_its_customer(book, client, finance):
    page = text(client.get("/invoices?customer=BETA"))
    assert 'href="/receivables/aging?customer=BETA" id="aging-link"' in page


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("24.11.2026", "Write the date as YYYY-MM-DD"),
        ("2026-02-30", "Write the date as YYYY-MM-DD"),
        ("{tomorrow}", "Nothing is dated after today"),
    ],
)
@pytest.mark.parametrize("url", ["/receivables/aging", "/receivables/aging.csv"])
def test_a_day_that_cannot_be_read_or_has_not_come_is_refused_under_its_field(
    book, client, finance, url, as_of, message
):
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = client.get(url, query_string={"as_of": as_of.format(tomorrow=tomorrow)})
    assert response.status_code == 422 and response.mimetype == "text/html"
    error = re.search(r'id="error-as_of">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert message in error
    assert 'id="aging-summary"' not in response.get_data(as_text=True)


def test_the_page_explains_what_as_of_means(book, client, finance):
    page = text(client.get(f"/receivables/aging?as_of={ago(31).isoformat()}"))
    assert "with what they still ask today" in page
    assert "A-30" in page and "A-1<" not in page and "A-NEXT" not in page


def test_the_earliest_days_are_read_like_any_other(book, client, finance):
    page = client.get("/receivables/aging?as_of=0001-01-01")
    assert page.status_code == 200 and "No open invoice." in page.get_data(as_text=True)
    statement = client.get("/customers/ACME/billing-statement?since=0001-01-01&until=0001-03-31")
    assert statement.status_code == 200 and "No invoice or payment dated in this period." in text(statement)


def test_the_report_reads_the_same_few_statements_however_many_invoices(book, client, finance):
    def statements() -> int:
        db.session.expire_all()  # each request loads the logged-in user, whatever the test wrote before
        counted = []
        listener = lambda *args: counted.append(1)  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/receivables/aging").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(counted)

    before = statements()
    _more, meter = holding("MORE", "More Invoices", "M-M")
    for n in range(12):
        meter_invoices.add_invoice(meter, f"M-{n}", D("1000"), ago(100 - n), ago(90 - n))
    assert statements() == before


# The postpaid statement of account


def test_the_statement_opens_runs_and_closes_on_the_customers_invoices_and_payments(book, client, finance):
    response = client.get(f"/customers/BETA/billing-statement?since={ago(40).isoformat()}")
    assert response.status_code == 200
    page = text(response)
    found = receivables.billing_statement(
        db.session.scalar(sa.select(Customer.id).where(Customer.code == "BETA")), ago(40), local_today(), local_today()
    )
    assert (found.opening, found.invoiced, found.paid) == (D("300000.00"), D("200000.00"), D("200000.00"))
    assert found.closing == found.opening + found.invoiced - found.paid == D("300000.00")
    assert [(line.kind, line.number, line.balance) for line in found.lines] == [
        ("invoice", "B-NEW", D("500000.00")),
        ("payment", "TRF-B", D("300000.00")),
    ]
    assert (
        f'id="opening">{shown_money(D("300000"))}<' in page
        and f'id="closing"><strong>{shown_money(D("300000"))}<' in page
    )
    payment = re.search(rf'<tr id="line-payment-{book["paid"]}">.*?</tr>', page).group(0)
    assert f"Pays: B-NEW ({shown_money(D('200000'))})" in payment
    # What is open: the older invoice, which the payment applied to the newer one left.
    aging = page.split('id="statement-aging"', 1)[1].split("</table>", 1)[0]
    assert f'id="open-{book["old"]}"' in aging and "B-NEW" not in aging
    assert f'id="aging-31-60">{shown_money(D("300000"))}<' in aging


def test_the_statements_closing_today_is_what_the_customer_owes(book):
    for code in ("ACME", "BETA", "CRED"):
        customer = db.session.scalar(sa.select(Customer).where(Customer.code == code))
        found = receivables.billing_statement(customer.id, ago(400), local_today(), local_today())
        assert found.opening == 0
        assert found.closing == found.invoiced - found.paid == customer.amount_due - customer.overpayment, code
        running = found.opening
        for line in found.lines:
            running += line.amount
            assert line.balance == running
        assert [line.on for line in found.lines] == sorted(line.on for line in found.lines)
    cred = db.session.scalar(sa.select(Customer.id).where(Customer.code == "CRED"))
    assert receivables.billing_statement(cred, ago(30), local_today(), local_today()).credit == D("70000.00")


def test_the_statement_prints_on_a4_with_the_company_and_the_customers_address(app, book, client, finance):
    app.config.update(COMPANY_NAME="PT Gas Nusantara", COMPANY_ADDRESS="Jl. Sudirman 1, Jakarta")
    assert 'id="billing-statement-link" href="/customers/ACME/billing-statement"' in text(client.get("/customers/ACME"))
    page = text(client.get("/customers/ACME/billing-statement"))
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in page
    assert re.search(r"@page\s*\{\s*size:\s*A4", PRINT_CSS.read_text())
    assert "PT Gas Nusantara" in page and "Jl. Sudirman 1, Jakarta" in page
    assert "Acme Hotel" in page and "Jl. Mawar 1, Bandung" in page and "data-print" in page
    since, today = three_months_before(local_today()), local_today()
    assert f"{shown_day(since)} – {shown_day(today)}" in page


def test_three_months_up_to_a_day_start_the_day_after_that_day_three_months_before():
    assert three_months_before(date(2026, 11, 24)) == date(2026, 8, 25)
    assert three_months_before(date(2026, 5, 31)) == date(2026, 3, 1)
    assert three_months_before(date(2026, 2, 15)) == date(2025, 11, 16)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"since": "1.11.2026"}, "since", "Write the date as YYYY-MM-DD"),
        ({"until": "2026-10-01"}, "since", "Enter the first day of the statement."),
        ({"since": "2026-10-01", "until": "2026-09-30"}, "until", "ends before it starts"),
        ({"since": "{tomorrow}"}, "since", "Nothing is dated after today"),
    ],
)
def test_a_period_that_cannot_be_shown_is_refused_under_its_field(book, client, finance, query, field, message):
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = client.get(
        "/customers/ACME/billing-statement", query_string={k: v.format(tomorrow=tomorrow) for k, v in query.items()}
    )
    assert response.status_code == 422
    error = re.search(rf'id="error-{field}">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert message in error


def test_another_customers_statement_is_not_found(book, client, finance):
    assert client.get("/customers/NOBODY/billing-statement").status_code == 404


# The printable invoice


def test_the_printed_invoice_shows_what_pays_it_and_what_it_still_asks(book, client, finance):
    _customer, meter = holding("PART", "Part Payer", "M-P", address="Jl. Melati 7")
    invoice = meter_invoices.add_invoice(meter, "P-1", D("500000"), ago(40), ago(10))
    meter_payments.add_payment(meter, D("120000"), ago(8), "TRF-P1")
    meter_payments.add_payment(meter, D("30000"), ago(2), "TRF-P2")
    edit = text(client.get(f"/customers/PART/invoices/{invoice.id}/edit"))
    assert f'id="print-invoice" href="/customers/PART/invoices/{invoice.id}/print"' in edit
    response = client.get(f"/customers/PART/invoices/{invoice.id}/print")
    assert response.status_code == 200
    page = text(response)
    assert "Invoice P-1" in page and "M-P" in page and "Part Payer" in page and "Jl. Melati 7" in page
    assert f'id="amount">{shown_money(D("500000"))}<' in page
    paid = page.split('id="invoice-payments"', 1)[1].split("</table>", 1)[0]
    assert (
        "TRF-P1" in paid and shown_money(D("120000")) in paid and "TRF-P2" in paid and shown_money(D("30000")) in paid
    )
    assert f'id="outstanding"><strong>{shown_money(D("350000"))}<' in page
    assert 'id="status">overdue (partly paid)<' in page
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in page


def test_a_paid_invoice_prints_paid(book, client, finance):
    page = text(client.get(f"/customers/BETA/invoices/{book['new']}/print"))
    assert 'id="status">paid<' in page and f'id="outstanding"><strong>{shown_money(D("0"))}<' in page
    assert "TRF-B" in page


def test_another_customers_invoice_is_not_found(book, client, finance):
    assert client.get(f"/customers/ACME/invoices/{book['old']}/print").status_code == 404
    assert client.get("/customers/ACME/invoices/999999/print").status_code == 404


def test_the_aging_workbook_has_a_row_per_open_invoice_its_amounts_as_numbers(book, client, finance):
    response = client.get("/receivables/aging.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="aging-{local_today().isoformat()}.xlsx"'
    rows = list(
        openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True).active.iter_rows(values_only=True)
    )
    header, as_csv = downloaded(client, "/receivables/aging.csv")
    assert ",".join(rows[0]) == header and len(rows) - 1 == len(as_csv)
    assert all(isinstance(row[7], int | float) and row[7] > 0 for row in rows[1:])


def test_the_aging_report_prints_under_its_own_title_and_day(book, client, finance):
    page = text(client.get(f"/receivables/aging?as_of={ago(3).isoformat()}"))
    assert f'<h1 class="print-only" id="aging-print-title">Aging report as of {shown_day(ago(3))}</h1>' in page
    assert '<h1 class="no-print">Billing</h1>' in page
    assert re.search(r"\.print-only \{ display: block !important; \}", PRINT_CSS.read_text())
