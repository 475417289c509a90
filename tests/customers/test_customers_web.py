"""Maintaining customers on screen: adding, editing, closing and reopening; a closed customer takes no movement."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest

from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    CustomerStatus,
    Invoice,
    MeterAssignment,
    RunMode,
)
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import meter_invoices, meter_lifecycle, metering, wallet
from tests.factories import AccountManagerFactory, CustomerFactory, MeterFactory
from tests.rows import count, customer

D = Decimal


def snapshot(code: str) -> tuple:
    row = customer(code)
    return (
        row.name,
        row.account_manager_id,
        row.suspend_below,
        row.contact_person,
        row.email,
        row.phone,
        row.address,
        row.version,
    )


NEW = {
    "code": "c-100",
    "name": "Hotel Melati",
    "suspend_below": "50.000",
    "contact_person": "Ibu Sari",
    "email": "Sari@Melati.example",
    "phone": "+62 21 555-0123",
    "address": "Jl. Melati 1, Jakarta",
}


def test_a_clerk_adds_a_customer_with_its_contact(client, finance):
    manager = AccountManagerFactory(name="Dewi")
    response = client.post("/customers/new", data=NEW | {"account_manager_id": manager.email})
    assert response.status_code == 302
    assert response.headers["Location"] == "/customers/C-100"
    added = customer("C-100")
    assert (added.name, added.account_manager_id, added.suspend_below) == ("Hotel Melati", manager.id, D("50000.00"))
    assert (added.contact_person, added.email, added.phone, added.address) == (
        "Ibu Sari",
        "sari@melati.example",
        "+62 21 555-0123",
        "Jl. Melati 1, Jakarta",
    )
    page = client.get("/customers/C-100").get_data(as_text=True)
    assert "Customer C-100 — Hotel Melati added." in page
    assert "Ibu Sari" in page and "sari@melati.example" in page and "+62 21 555-0123" in page


def test_a_new_customer_whose_threshold_is_above_its_balance_is_added_suspended(client, finance):
    response = client.post("/customers/new", data=NEW | {"suspend_below": "1.000.000"})
    assert response.status_code == 302
    added = customer("C-100")
    assert (added.balance, added.suspend_below, added.status) == (D("0"), D("1000000.00"), CustomerStatus.SUSPENDED)
    assert run(RunMode.VERIFY, checks=["customer_status"]).mismatched == 0


def test_the_new_customer_form_offers_active_managers_only(client, finance):
    AccountManagerFactory(name="Dewi")
    AccountManagerFactory(name="Gone", active=False)
    page = client.get("/customers/new").get_data(as_text=True)
    picker = re.search(r'<input [^>]*id="account_manager_id"[^>]*>', page).group(0)
    offered = html.unescape(re.search(r'hx-get="([^"]+)"', picker).group(1))
    suggested = client.get(f"{offered}&q=").get_data(as_text=True)
    assert "Dewi" in suggested and "Gone" not in suggested
    assert 'placeholder="0,00"' in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"code": ""}, "code", "Enter the customer&#39;s code."),
        ({"code": "C 1"}, "code", "is not a customer code"),
        ({"code": "TAKEN"}, "code", "Customer code TAKEN is already used."),
        ({"name": " "}, "name", "A customer needs a name"),
        ({"name": "x" * 201}, "name", "Use at most 200 characters."),
        ({"suspend_below": "-5"}, "suspend_below", "The amount must not be negative."),
        ({"suspend_below": "1,234.5"}, "suspend_below", "The separators are not read that way here."),
        ({"email": "not-an-email"}, "email", "is not an email address"),
        ({"phone": "call me"}, "phone", "Not a phone number"),
        ({"phone": "12345"}, "phone", "Not a phone number"),
        ({"contact_person": "x" * 121}, "contact_person", "Use at most 120 characters."),
        ({"address": "x" * 501}, "address", "Use at most 500 characters."),
        ({"account_manager_id": "999"}, "account_manager_id", "No account manager with email 999."),
    ],
)
def test_a_customer_that_cannot_be_added_says_why_under_its_field_and_adds_nothing(
    client, finance, overrides, field, message
):
    CustomerFactory(code="TAKEN")
    before = count(Customer)
    response = client.post("/customers/new", data=NEW | overrides)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert message in error
    assert count(Customer) == before


def test_an_inactive_manager_is_refused_for_a_new_customer(client, finance):
    gone = AccountManagerFactory(name="Gone", active=False)
    response = client.post("/customers/new", data=NEW | {"account_manager_id": gone.email})
    assert response.status_code == 422
    assert "Gone is inactive: choose an active account manager." in response.get_data(as_text=True)
    assert customer("C-100") is None


def test_a_clerk_edits_a_customer_and_a_higher_threshold_suspends_it_at_once(client, finance):
    hotel = CustomerFactory(code="HOTEL", name="Hotel")
    wallet.recharge(hotel.id, D("10000"))
    other = AccountManagerFactory(name="Budi")
    data = {
        "name": "Hotel Indah",
        "account_manager_id": other.email,
        "suspend_below": "20.000",
        "contact_person": "Pak Budi",
        "email": "",
        "phone": "021 555 0199",
        "address": "",
    }
    response = client.post("/customers/HOTEL/edit", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    edited = customer("HOTEL")
    assert (edited.name, edited.account_manager_id, edited.suspend_below) == ("Hotel Indah", other.id, D("20000.00"))
    contact = (edited.contact_person, edited.email, edited.phone, edited.address)
    assert contact == ("Pak Budi", None, "021 555 0199", None)
    assert edited.status is CustomerStatus.SUSPENDED and edited.balance == D("10000.00")
    assert client.post("/customers/HOTEL/edit", data=data | {"suspend_below": ""}).status_code == 302
    assert customer("HOTEL").status is CustomerStatus.ACTIVE


def test_a_customer_keeps_its_inactive_manager_when_edited(client, finance):
    hotel = CustomerFactory(code="HOTEL")
    manager = hotel.account_manager
    manager.active = False
    db.session.commit()
    page = client.get("/customers/HOTEL/edit").get_data(as_text=True)
    assert f"{manager.name} (inactive)" in page
    data = {"name": "Hotel Baru", "account_manager_id": manager.email, "suspend_below": "0"}
    assert client.post("/customers/HOTEL/edit", data=data).status_code == 302
    assert customer("HOTEL").name == "Hotel Baru"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "Enter the customer&#39;s name."),
        ({"suspend_below": "abc"}, "Not an amount"),
        ({"email": "a@"}, "is not an email address"),
        ({"phone": "+62 abc"}, "Not a phone number"),
        ({"account_manager_id": "999"}, "No account manager with email 999."),
    ],
)
def test_an_edit_that_cannot_be_saved_says_why_and_changes_nothing(client, finance, overrides, message):
    CustomerFactory(code="HOTEL", name="Hotel")
    before = snapshot("HOTEL")
    data = {"name": "Hotel Indah", "suspend_below": "0", "email": "ok@example.com"} | overrides
    response = client.post("/customers/HOTEL/edit", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert snapshot("HOTEL") == before


def test_the_customer_list_shows_open_customers_and_the_closed_under_their_filter(client, admin):
    CustomerFactory(code="OPEN", name="Still here")
    CustomerFactory(code="SHUT", name="Gone away")
    assert client.post("/customers/SHUT/close", follow_redirects=True).status_code == 200
    listed = client.get("/customers").get_data(as_text=True)
    assert "Still here" in listed and "Gone away" not in listed and "New customer" in listed
    closed = client.get("/customers?status=closed").get_data(as_text=True)
    assert "Gone away" in closed and "Still here" not in closed and ">closed</td>" in closed


def test_closing_asks_first_saying_what_happens_then_closes_and_keeps_the_history(client, admin):
    hotel = CustomerFactory(code="HOTEL")
    wallet.recharge(hotel.id, D("10000"))
    wallet.charge(hotel.id, D("10000"))
    question = client.get("/customers/HOTEL/close")
    assert question.status_code == 200
    page = question.get_data(as_text=True)
    assert "Close HOTEL — " in page and "no new recharge, charge, adjustment" in page and "its history stays" in page
    assert "Close HOTEL</button>" in page
    assert customer("HOTEL").closed_at is None
    response = client.post("/customers/HOTEL/close")
    assert response.status_code == 302
    closed = customer("HOTEL")
    assert closed.closed_at is not None and closed.closed_by_id == admin.id
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    assert 'id="closed-banner"' in page and "Reopen" in page
    assert "Customer HOTEL — " in page and "closed: it takes no new movement; its history stays." in page
    assert count(BalanceTransaction) == 2


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        ("meter", "It holds meter M-1: end the assignment"),
        ("balance", "Its prepaid balance is Rp10.000,00: bring it to zero first"),
        ("due", "Rp5.000,00 is due on its meters"),
        ("request", "2 recalculation request(s) wait"),
    ],
)
def test_a_customer_with_something_open_is_not_closed_and_the_page_says_what(client, admin, arrange, message):
    hotel = CustomerFactory(code="HOTEL")
    if arrange == "balance":
        wallet.recharge(hotel.id, D("10000"))
    elif arrange == "request":
        hotel.use_realtime_calculation = False
        db.session.commit()
        wallet.recharge(hotel.id, D("10000"))
        wallet.charge(hotel.id, D("10000"))
    else:
        meter = MeterFactory(serial="M-1")
        assignment = meter_lifecycle.assign_meter(meter, hotel, date(2026, 10, 1))
        if arrange == "due":
            meter_invoices.add_invoice(meter, "INV-1", D("5000"), date(2026, 10, 5), date(2026, 10, 30))
            meter_lifecycle.deactivate(db.session.get(MeterAssignment, assignment.id), date(2026, 10, 10))
    page = client.get("/customers/HOTEL/close").get_data(as_text=True)
    assert message in page and "Close HOTEL</button>" not in page
    response = client.post("/customers/HOTEL/close")
    assert response.status_code == 409
    assert message in response.get_data(as_text=True)
    assert customer("HOTEL").closed_at is None


@pytest.fixture
def closed_hotel(client, admin):
    hotel = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="M-1")
    assignment = meter_lifecycle.assign_meter(meter, hotel, date(2026, 10, 1))
    metering.set_pricing(hotel.id, date(2026, 10, 1), D("1000"), D("1"))
    meter_lifecycle.deactivate(db.session.get(MeterAssignment, assignment.id), date(2026, 11, 1))
    assert client.post("/customers/HOTEL/close").status_code == 302
    return hotel.id, meter.id


CLOSED = "Customer HOTEL is closed"


@pytest.mark.parametrize(
    ("url", "data", "field"),
    [
        ("/customers/HOTEL/recharge", {"recharge-amount": "1.000"}, "recharge-amount"),
        ("/customers/HOTEL/charge", {"charge-amount": "1.000"}, "charge-amount"),
        ("/customers/HOTEL/meters", {"assign-serial": "M-2", "assign-started_on": "2026-11-05"}, "assign-serial"),
        (
            "/customers/HOTEL/readings",
            {"reading-meter_id": "{meter}", "reading-reading_date": "2026-10-05", "reading-volume_flow_meter": "1"},
            "reading-volume_flow_meter",
        ),
        (
            "/customers/HOTEL/invoices",
            {
                "invoice-meter_id": "{meter}",
                "invoice-number": "INV-9",
                "invoice-amount": "1.000",
                "invoice-issued_on": "2026-10-05",
                "invoice-due_on": "2026-10-30",
            },
            "invoice-amount",
        ),
        (
            "/customers/HOTEL/payments",
            {"payment-meter_id": "{meter}", "payment-amount": "1.000", "payment-paid_on": "2026-10-05"},
            "payment-amount",
        ),
        (
            "/customers/HOTEL/pricing",
            {"pricing-effective_from": "2026-10-01", "pricing-price_per_sm3": "2.000", "pricing-meter_correction": "1"},
            "pricing-price_per_sm3",
        ),
    ],
    ids=["recharge", "charge", "assign", "reading", "invoice", "payment", "pricing"],
)
def test_a_closed_customer_takes_no_movement_and_says_so_under_the_field(client, closed_hotel, url, data, field):
    _hotel_id, _meter_id = closed_hotel
    MeterFactory(serial="M-2")
    before = [count(model) for model in (BalanceTransaction, Invoice, MeterAssignment, CustomerPricing)]
    response = client.post(url, data={name: value.format(meter="M-1") for name, value in data.items()})
    assert response.status_code == 422, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert CLOSED in page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert [count(model) for model in (BalanceTransaction, Invoice, MeterAssignment, CustomerPricing)] == before


def test_an_admin_reopens_a_closed_customer_and_it_takes_movements_again(client, closed_hotel):
    hotel_id, _meter_id = closed_hotel
    assert client.post("/customers/HOTEL/reopen").status_code == 302
    assert customer("HOTEL").closed_at is None
    wallet.recharge(hotel_id, D("1000"))
    assert customer("HOTEL").balance == D("1000.00")


def test_reopening_an_open_customer_says_so_and_closing_a_closed_one_too(client, admin):
    CustomerFactory(code="HOTEL")
    response = client.post("/customers/HOTEL/reopen", follow_redirects=True)
    assert "Customer HOTEL is not closed." in response.get_data(as_text=True)
    assert client.post("/customers/HOTEL/close").status_code == 302
    again = client.get("/customers/HOTEL/close", follow_redirects=True).get_data(as_text=True)
    assert "Customer HOTEL is closed already." in again


def test_a_clerk_may_edit_but_not_close_or_reopen(client, finance):
    CustomerFactory(code="HOTEL")
    page = client.get("/customers/HOTEL").get_data(as_text=True)
    assert "Edit details" in page and "Close customer" not in page
    assert client.post("/customers/HOTEL/close").status_code == 403
    assert client.post("/customers/HOTEL/reopen").status_code == 403
    assert customer("HOTEL").closed_at is None
