"""The payment form's invoices (ticked, or named by the reference), and a payment applied again on its page."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Invoice, Payment, PaymentAllocation
from backoffice.platform.extensions import db
from backoffice.services import meter_invoices, meter_payments
from tests.pages import error_of, text

D = Decimal


@pytest.fixture
def invoices(meter) -> dict[str, int]:
    """INV-1 (Rp500.000, Rp200.000 of it paid by TRF-9) and INV-2 (Rp100.000, open), both on M-1 at HOTEL."""
    meter_invoices.add_invoice(meter, "INV-2", D("100000"), date(2026, 11, 5), date(2026, 12, 5))
    return {
        number: db.session.scalar(sa.select(Invoice.id).where(Invoice.number == number))
        for number in ("INV-1", "INV-2")
    }


def pay(client, meter, invoices: list[int], *, amount="100000", reference="TRF-10"):
    form = {
        "payment-meter_id": meter.serial,
        "payment-amount": amount,
        "payment-paid_on": "2026-11-12",
        "payment-reference": reference,
        "payment-invoice_ids": [str(i) for i in invoices],
    }
    return client.post("/customers/HOTEL/payments", data=form)


def outstanding(invoice_id: int) -> tuple[Decimal, str]:
    db.session.rollback()
    found = db.session.get(Invoice, invoice_id)
    return found.outstanding, found.status


def test_the_billing_tab_lists_the_open_invoices_with_what_each_still_asks(client, auth, invoices):
    auth.login("finance")
    page = text(client.get("/customers/HOTEL?tab=billing"))
    assert "INV-1 · M-1 · due" in page and "Rp300.000,00 to pay" in page
    assert "INV-2 · M-1 · due" in page and "Rp100.000,00 to pay" in page


def test_a_payment_applied_to_a_chosen_invoice_leaves_the_older_one_open_on_the_page(client, auth, meter, invoices):
    auth.login("finance")
    assert pay(client, meter, [invoices["INV-2"]]).status_code == 302
    assert outstanding(invoices["INV-2"]) == (D("0.00"), "paid")
    assert outstanding(invoices["INV-1"]) == (D("300000.00"), "partly_paid")
    page = text(client.get("/customers/HOTEL?tab=billing"))
    row = page[page.index(f'id="invoice-{invoices["INV-2"]}"') :].split("</tr>")[0]
    assert '<td class="num">Rp0,00</td><td><span class="status status-paid">paid' in row
    assert 'class="status status-partly_paid">partly paid' in page
    payment = db.session.scalar(sa.select(Payment.id).where(Payment.reference == "TRF-10"))
    assert "INV-2" in text(client.get(f"/customers/HOTEL/payments/{payment}/edit"))


def test_a_reference_naming_an_invoice_ticks_it(client, auth, meter, invoices):
    auth.login("finance")
    asked = {"payment-meter_id": meter.serial, "payment-reference": "transfer for inv-2, thanks"}
    fragment = client.get("/customers/HOTEL/payments/invoices", query_string=asked).get_data(as_text=True)
    assert ticked(fragment) == [invoices["INV-2"]]


@pytest.mark.parametrize("chosen", ["paid", "unknown"])
def test_a_payment_applied_to_an_invoice_it_cannot_pay_is_refused_and_writes_nothing(
    client, auth, meter, invoices, chosen
):
    auth.login("finance")
    if chosen == "paid":
        meter_payments.add_payment(meter, D("100000"), date(2026, 11, 11), invoice_ids=[invoices["INV-2"]])
    target = invoices["INV-2"] if chosen == "paid" else 999_999
    payments = db.session.scalar(sa.select(sa.func.count(Payment.id)))
    response = pay(client, meter, [target])
    assert response.status_code == 422
    assert "Choose open invoices" in error_of(response, "payment-invoice_ids")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == payments


def ticked(html: str) -> list[int]:
    return [
        int(value)
        for value in re.findall(r'<input checked id="[^"]*" name="[^"]*" type="checkbox" value="(\d+)"', html)
    ]


def reallocation(client, payment: int) -> dict:
    page = client.get(f"/customers/HOTEL/payments/{payment}/edit").get_data(as_text=True)
    return {"reallocate-version": re.search(r'name="reallocate-version"[^>]*value="([^"]*)"', page).group(1)}


def test_a_clerk_applies_a_payment_to_another_invoice_with_a_reason(client, auth, meter, invoices):
    clerk = auth.login("finance")
    payment = db.session.scalar(sa.select(Payment.id).where(Payment.reference == "TRF-9"))
    form = reallocation(client, payment) | {
        "reallocate-invoice_ids": [str(invoices["INV-2"])],
        "reallocate-reason": "the customer paid INV-2",
    }
    url = f"/customers/HOTEL/payments/{payment}/reallocate"
    assert client.post(url, data=form).status_code == 302
    assert outstanding(invoices["INV-2"]) == (D("0.00"), "paid")
    assert outstanding(invoices["INV-1"]) == (D("400000.00"), "partly_paid")
    reversal = db.session.scalars(sa.select(PaymentAllocation).where(PaymentAllocation.reverses_id.is_not(None))).one()
    assert (reversal.reason, reversal.created_by_id) == ("the customer paid INV-2", clerk.id)
    stale = client.post(url, data=form | {"reallocate-reason": "again"})
    assert stale.status_code == 409 and 'id="changed-meanwhile"' in stale.get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reallocate-reason": "  "}, "reallocate-reason", "Say why"),
        ({"reallocate-invoice_ids": []}, "reallocate-invoice_ids", "Choose the invoices"),
    ],
)
def test_a_reallocation_without_a_reason_or_an_invoice_says_why_and_writes_nothing(
    client, auth, meter, invoices, changes, field, message
):
    auth.login("finance")
    payment = db.session.scalar(sa.select(Payment.id).where(Payment.reference == "TRF-9"))
    form = reallocation(client, payment) | {
        "reallocate-invoice_ids": [str(invoices["INV-2"])],
        "reallocate-reason": "the customer paid INV-2",
    }
    rows = db.session.scalar(sa.select(sa.func.count(PaymentAllocation.id)))
    response = client.post(f"/customers/HOTEL/payments/{payment}/reallocate", data=form | changes)
    assert response.status_code == 422
    assert message in error_of(response, field)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(PaymentAllocation.id))) == rows
