"""An invoice's and a payment's pages: correcting a payment, withdrawing either, and what the billing tab shows."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Invoice, JournalEntry, Payment, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.reconcile.engine import run
from backoffice.services import meter_invoices
from tests.factories import CustomerFactory, stored
from tests.pages import error_of, opened, save_over, text, tomorrow
from tests.rows import written

D = Decimal


@pytest.fixture
def invoice(meter) -> int:
    return db.session.scalar(sa.select(Invoice.id))


@pytest.fixture
def payment(meter) -> int:
    return db.session.scalar(sa.select(Payment.id))


@pytest.fixture
def ids(invoice, payment) -> dict[str, int]:
    return {"invoices": invoice, "payments": payment}


WRITTEN = (
    JournalEntry,
    sa.select(Invoice.amount, Invoice.number, Invoice.withdrawn_at).order_by(Invoice.id),
    sa.select(Payment.amount, Payment.reference, Payment.withdrawn_at).order_by(Payment.id),
)
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


# Withdrawing


def test_an_invoice_an_admin_withdraws_is_struck_through_with_who_when_and_why(client, auth, meter, invoice):
    admin = auth.login("admin")
    url = f"/customers/HOTEL/invoices/{invoice}/edit"
    assert f'href="{url}#withdraw">Withdraw</a>' in text(client.get("/customers/HOTEL?tab=billing"))
    page = text(client.get(url))
    assert "Posts Rp500.000,00: Dr Gas revenue / Cr Receivables, on the value date." in page
    form = {"withdraw-reason": "Issued twice", "withdraw-value_date": "2026-11-20"}
    response = client.post(f"/customers/HOTEL/invoices/{invoice}/withdraw", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/customers/HOTEL?tab=billing"
    db.session.rollback()
    withdrawn = db.session.get(Invoice, invoice)
    entry = db.session.get(JournalEntry, withdrawn.withdrawal_entry_id)
    assert (withdrawn.withdrawal_reason, withdrawn.withdrawn_by_id, entry.entry_date) == (
        "Issued twice",
        admin.id,
        date(2026, 11, 20),
    )
    assert (stored("meters", "balance", meter.id), stored("meters", "overpayment", meter.id)) == (D("0"), D("200000"))
    tab = text(client.get("/customers/HOTEL?tab=billing"))
    assert f"Invoice INV-1 withdrawn; entry {entry.number} posted, dated 20 Nov 2026." in tab
    row = re.search(
        rf'<tr id="invoice-{invoice}" class="withdrawn">.*?</tr> <tr class="withdrawal">.*?</tr>', tab
    ).group(0)
    assert f'by {admin.name}: Issued twice — <a href="/books/journal/{entry.id}">{entry.number}</a>' in row
    assert ">Edit<" not in row and ">Withdraw<" not in row
    page = text(client.get(url))
    assert (
        'id="withdrawn"' in page
        and "Issued twice" in page
        and 'id="withdraw"' not in page
        and "Correct</h2>" not in page
    )
    assert run(RunMode.VERIFY).mismatched == 0


def test_an_admin_withdraws_a_payment_and_its_cash_goes_back(client, auth, meter, payment):
    auth.login("admin")
    page = text(client.get(f"/customers/HOTEL/payments/{payment}/edit"))
    assert "Posts Rp200.000,00: Dr Receivables / Cr Cash, on the value date." in page
    response = client.post(f"/customers/HOTEL/payments/{payment}/withdraw", data={"withdraw-reason": "Bounced"})
    assert response.status_code == 302
    db.session.rollback()
    withdrawn = db.session.get(Payment, payment)
    assert withdrawn.withdrawal_reason == "Bounced"
    assert db.session.get(JournalEntry, withdrawn.withdrawal_entry_id).entry_date == local_today()
    assert stored("meters", "balance", meter.id) == D("500000")
    assert f'id="payment-{payment}" class="withdrawn"' in text(client.get("/customers/HOTEL?tab=billing"))
    assert run(RunMode.VERIFY).mismatched == 0


@pytest.mark.parametrize(
    ("what", "form", "field", "message"),
    [
        ("invoices", {"withdraw-reason": ""}, "withdraw-reason", "Say why it is withdrawn."),
        ("invoices", {"withdraw-reason": "x" * 301}, "withdraw-reason", "Field cannot be longer than 300 characters"),
        ("invoices", {"withdraw-value_date": "{tomorrow}"}, "withdraw-value_date", "cannot be dated after today"),
        ("invoices", {"withdraw-value_date": "2026-11-01"}, "withdraw-value_date", "before the invoice was issued"),
        ("invoices", {"withdraw-value_date": "1.11.2026"}, "withdraw-value_date", "Not a valid date"),
        ("payments", {"withdraw-value_date": "2026-11-09"}, "withdraw-value_date", "before the payment was paid"),
        ("payments", {"withdraw-reason": "  "}, "withdraw-reason", "Say why it is withdrawn."),
    ],
)
def test_an_impossible_withdrawal_says_why_under_its_field_and_writes_nothing(
    client, auth, ids, what, form, field, message
):
    auth.login("admin")
    before = written(*WRITTEN)
    data = {"withdraw-reason": "Issued twice"} | {
        name: value.format(tomorrow=tomorrow()) for name, value in form.items()
    }
    response = client.post(f"/customers/HOTEL/{what}/{ids[what]}/withdraw", data=data)
    assert response.status_code == 422
    assert message in error_of(response, field)
    assert written(*WRITTEN) == before


@pytest.mark.parametrize("what", ["invoices", "payments"])
def test_withdrawing_twice_says_it_was_withdrawn_and_writes_nothing(client, auth, ids, what):
    auth.login("admin")
    url = f"/customers/HOTEL/{what}/{ids[what]}/withdraw"
    assert client.post(url, data={"withdraw-reason": "Issued twice"}).status_code == 302
    before = written(*WRITTEN)
    again = client.post(url, data={"withdraw-reason": "Issued twice"})  # another tab, or the back button
    assert again.status_code == 409
    assert f"This {what[:-1]} was withdrawn on {named_date(local_today())}: it no longer changes." in text(again)
    assert written(*WRITTEN) == before


@pytest.mark.parametrize("what", ["invoices", "payments"])
def test_a_clerk_corrects_but_may_not_withdraw(client, auth, ids, what):
    auth.login("finance")
    row = ids[what]
    assert ">Withdraw<" not in text(client.get("/customers/HOTEL?tab=billing"))
    page = text(client.get(f"/customers/HOTEL/{what}/{row}/edit"))
    assert "Correct</h2>" in page and 'id="withdraw"' not in page
    before = written(*WRITTEN)
    assert client.post(f"/customers/HOTEL/{what}/{row}/withdraw", data={"withdraw-reason": "x"}).status_code == 403
    assert written(*WRITTEN) == before


def test_a_withdrawn_invoice_is_not_corrected_any_more(client, auth, meter, invoice):
    auth.login("finance")
    url = f"/customers/HOTEL/invoices/{invoice}/edit"
    form = opened(client, url, url)
    meter_invoices.withdraw_invoice(db.session.get(Invoice, invoice), "Issued twice")
    before = written(*WRITTEN)
    response = client.post(url, data=form | {"amount": "1"})
    assert response.status_code == 409
    assert "This invoice was withdrawn on" in text(response) and "Correct</h2>" not in text(response)
    assert written(*WRITTEN) == before


# Correcting a payment


def test_a_payment_is_corrected_on_its_page_and_its_meter_and_books_follow(client, auth, meter, payment):
    auth.login("finance")
    url = f"/customers/HOTEL/payments/{payment}/edit"
    assert f'href="{url}">Edit</a>' in text(client.get("/customers/HOTEL?tab=billing"))
    form = opened(client, url, url)
    assert (form["amount"], form["reference"]) == ("200.000,00", "TRF-9")
    response = client.post(url, data=form | {"amount": "250.000", "reference": "TRF-10"})
    assert response.status_code == 302
    db.session.rollback()
    saved = db.session.get(Payment, payment)
    assert (saved.amount, saved.reference) == (D("250000.00"), "TRF-10")
    assert stored("meters", "balance", meter.id) == D("250000")
    assert run(RunMode.VERIFY).mismatched == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": ""}, "amount", "Enter an amount"),
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": "12,345"}, "amount", "2 decimal places"),
        ({"reference": "x" * 101}, "reference", "Field cannot be longer than 100 characters"),
        ({"version": "x"}, "version", "This form came back damaged"),
    ],
)
def test_a_payment_correction_that_cannot_be_made_says_why_and_writes_nothing(
    client, auth, meter, payment, changes, field, message
):
    auth.login("finance")
    url = f"/customers/HOTEL/payments/{payment}/edit"
    before = written(*WRITTEN)
    response = client.post(url, data=opened(client, url, url) | changes)
    assert response.status_code == 422
    page = text(response)
    assert message in (page if field == "version" else error_of(response, field))
    assert written(*WRITTEN) == before


def test_a_stale_payment_correction_is_refused_naming_what_changed(client, auth, meter, payment):
    auth.login("finance")
    url = f"/customers/HOTEL/payments/{payment}/edit"
    save_over(
        client,
        url,
        {"reference": "TRF-10"},
        {"amount": "1"},
        says="This payment was changed by someone else since you opened it: reference is now TRF-10",
    )
    db.session.rollback()
    assert (db.session.get(Payment, payment).amount, db.session.get(Payment, payment).reference) == (
        D("200000.00"),
        "TRF-10",
    )


def test_another_customers_invoice_or_payment_is_not_found_here(client, auth, ids):
    auth.login("admin")
    CustomerFactory(code="OTHER")
    before = written(*WRITTEN)
    for what, row in ids.items():
        assert client.get(f"/customers/OTHER/{what}/{row}/edit").status_code == 404
        assert client.post(f"/customers/OTHER/{what}/{row}/withdraw", data={"withdraw-reason": "x"}).status_code == 404
        assert client.get(f"/customers/HOTEL/{what}/999/edit").status_code == 404
    assert written(*WRITTEN) == before
