"""An amount typed with more decimal places than the currency has is ambiguous: refused on every surface, never
rounded; and every money form that posts says the amount it read, and whose it is."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import AccountManager, BalanceTransaction, Target
from backoffice.platform.extensions import db
from tests.factories import hotel_with_meter
from tests.rows import money, written

D = Decimal
AMBIGUOUS = "Ambiguous: write 1.000 for one thousand or 1 for one"


@pytest.fixture
def melati_from_november(admin):
    """Hotel Melati (HOTEL) holding meter M-1 from November 2026, once an admin is logged in."""
    return hotel_with_meter(date(2026, 11, 1), name="Hotel Melati")


def _forms(customer, meter) -> list[tuple[str, dict]]:
    return [
        ("/customers/HOTEL/recharge", {"recharge-amount": "1,000"}),
        ("/customers/HOTEL/charge", {"charge-amount": "1,000"}),
        (
            "/customers/HOTEL/invoices",
            {
                "invoice-meter_id": meter.serial,
                "invoice-number": "INV-1",
                "invoice-amount": "1,000",
                "invoice-issued_on": "2026-11-02",
                "invoice-due_on": "2026-11-30",
            },
        ),
        (
            "/customers/HOTEL/payments",
            {"payment-meter_id": meter.serial, "payment-amount": "1,000", "payment-paid_on": "2026-11-02"},
        ),
        (
            "/customers/HOTEL/adjust",
            {"adjust-direction": "up", "adjust-amount": "1,000", "adjust-reason": "data_entry_error"},
        ),
        (
            "/customers/HOTEL/pricing",
            {
                "pricing-effective_from": "2026-11-01",
                "pricing-price_per_sm3": "1,000",
                "pricing-meter_correction": "1",
            },
        ),
        (
            "/orders/new",
            {
                "customer_id": customer.code,
                "account_manager_id": customer.account_manager.email,
                "closing_date": "2026-11-10",
                "total_price": "1,000",
                "additions": "0",
                "promo": "0",
                "reductions": "0",
            },
        ),
    ]


def test_an_amount_with_more_places_than_the_currency_is_a_field_error_on_every_form(client, melati_from_november):
    customer, meter = melati_from_november
    before = written(*money())
    for url, data in _forms(customer, meter):
        response = client.post(url, data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, url
        assert AMBIGUOUS in page, url
        assert written(*money()) == before, url


def test_the_ambiguous_amount_is_never_posted_as_one_rupiah(client, melati_from_november):
    customer, _meter = melati_from_november
    client.post("/customers/HOTEL/recharge", data={"recharge-amount": "1,000"})
    db.session.rollback()
    amounts = db.session.scalars(
        sa.select(BalanceTransaction.amount).where(BalanceTransaction.customer_id == customer.id)
    ).all()
    assert amounts == [D("1000000.00")]


def test_a_json_body_with_an_ambiguous_amount_is_refused_in_json_and_writes_nothing(client, melati_from_november):
    """No endpoint reads amounts from JSON: a JSON body posted where a form posts is refused whole."""
    before = written(*money())
    response = client.post("/customers/HOTEL/recharge", json={"recharge-amount": "1,000"})
    assert response.status_code == 415
    assert written(*money()) == before


@pytest.mark.parametrize(
    "args",
    [
        ["ledger", "recharge", "HOTEL", "1,000"],
        ["ledger", "charge", "HOTEL", "1,000"],
        ["ledger", "adjust", "HOTEL", "1,000", "--reason", "data_entry_error"],
        ["pricing", "tariff", "--from", "2026-11-01", "--price", "1,000", "--customer", "HOTEL"],
    ],
)
def test_a_command_refuses_an_ambiguous_amount_with_exit_2_and_writes_nothing(runner, melati_from_november, args):
    before = written(*money())
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert AMBIGUOUS in result.output
    assert written(*money()) == before


def test_target_generation_refuses_an_ambiguous_amount(runner, app):
    db.session.add(AccountManager(name="Dewi", email="dewi@example.com"))
    db.session.commit()
    result = runner.invoke(args=["targets", "generate", "2026-12", "--amount", "1,000"])
    assert result.exit_code == 2 and AMBIGUOUS in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Target.id))) == 0


@pytest.mark.parametrize(("kind", "sign"), [("recharge", 1), ("charge", -1)])
def test_a_posted_movement_says_the_amount_read_and_the_customer(client, melati_from_november, kind, sign):
    response = client.post(f"/customers/HOTEL/{kind}", data={f"{kind}-amount": "1.000"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert re.search(rf"{kind.capitalize()} of Rp1\.000,00 posted to HOTEL — Hotel Melati: movement #\d+\.", page)
    db.session.rollback()
    last = db.session.scalar(sa.select(BalanceTransaction).order_by(BalanceTransaction.id.desc()).limit(1))
    assert last.signed_amount == sign * D("1000.00")


def test_an_invoice_and_a_payment_say_the_amount_read_and_the_customer(client, melati_from_november):
    _customer, meter = melati_from_november
    invoice = {
        "invoice-meter_id": meter.serial,
        "invoice-number": "INV-7",
        "invoice-amount": "250.000",
        "invoice-issued_on": "2026-11-02",
        "invoice-due_on": "2026-11-30",
    }
    page = client.post("/customers/HOTEL/invoices", data=invoice, follow_redirects=True).get_data(as_text=True)
    assert "Invoice INV-7 of Rp250.000,00 added for HOTEL — Hotel Melati on meter M-1." in page
    payment = {"payment-meter_id": meter.serial, "payment-amount": "100.000", "payment-paid_on": "2026-11-03"}
    page = client.post("/customers/HOTEL/payments", data=payment, follow_redirects=True).get_data(as_text=True)
    assert "Payment of Rp100.000,00 added for HOTEL — Hotel Melati on meter M-1." in page


def test_an_adjustment_and_a_pricing_say_the_amount_read_and_the_customer(client, melati_from_november):
    adjust = {"adjust-direction": "down", "adjust-amount": "5.000", "adjust-reason": "data_entry_error"}
    page = client.post("/customers/HOTEL/adjust", data=adjust, follow_redirects=True).get_data(as_text=True)
    assert re.search(r"Adjustment of -Rp5\.000,00 posted to HOTEL — Hotel Melati: movement #\d+\.", page)
    pricing = {
        "pricing-effective_from": "2026-11-01",
        "pricing-price_per_sm3": "1.250",
        "pricing-meter_correction": "1",
        "pricing-version": "1",
    }
    page = client.post("/customers/HOTEL/pricing", data=pricing, follow_redirects=True).get_data(as_text=True)
    assert "Pricing of Rp1.250,00 per Sm³ from 1 Nov 2026 for HOTEL — Hotel Melati" in page
