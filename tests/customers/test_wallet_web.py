"""The customers screens and the wallet's commands."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import BalanceTransaction, Customer, CustomerStatus
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests.factories import AccountManagerFactory, CustomerFactory
from tests.rows import balance_by_code, movements

D = Decimal


@pytest.fixture
def hotel_deposited_today(app):
    """Hotel Cempaka (HOTEL) with an opening deposit of Rp100.000 dated today."""
    customer = CustomerFactory(code="HOTEL", name="Hotel Cempaka")
    wallet.recharge(customer, D("100000"), description="opening deposit")
    return customer


def test_the_list_searches_filters_and_sorts_by_balance(client, finance):
    for code, amount in (("A1", "300"), ("B2", "100"), ("C3", "200")):
        wallet.recharge(CustomerFactory(code=code, name=f"Name {code}"), D(amount))
    CustomerFactory(code="S9", status=CustomerStatus.SUSPENDED)

    def codes(**params):
        body = client.get("/customers", query_string=params).get_data(as_text=True)
        return re.findall(r'href="/customers/([A-Z0-9]+)"', body)

    assert codes() == ["A1", "B2", "C3", "S9"]
    assert codes(sort="-balance") == ["A1", "C3", "B2", "S9"]
    assert codes(sort="balance") == ["S9", "B2", "C3", "A1"]
    assert codes(q="name b") == ["B2"]
    assert codes(status="suspended") == ["S9"]
    assert "Not a valid choice" in client.get("/customers?sort=sideways").get_data(as_text=True)
    assert "Rp600,00" in client.get("/customers").get_data(as_text=True)


def test_the_ledger_tab_shows_movements_newest_first_with_before_and_after(client, finance, hotel_deposited_today):
    wallet.charge(hotel_deposited_today, D("30000"), description="gas November")
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    assert page.index("gas November") < page.index("opening deposit")
    assert "-Rp30.000,00" in page and "Rp70.000,00" in page
    assert client.get("/customers/HOTEL?tab=nope").status_code == 404


def test_a_recharge_from_the_page_posts_once_even_if_submitted_twice(client, finance, hotel_deposited_today):
    form = {"recharge-amount": "50.000", "recharge-description": "transfer", "recharge-idempotency_key": "form-1"}
    assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
    assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
    assert movements() == 2 and balance_by_code("HOTEL") == D("150000.00")
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    assert page.count('name="recharge-idempotency_key"') == 1 and 'value="form-1"' not in page


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("150.000", "Insufficient balance: HOTEL has Rp100.000,00 available"),
        ("", "Enter an amount"),
        ("abc", "Not an amount"),
        ("0", "greater than zero"),
        ("1,234.5", "separators"),
        ("-5", "must not be negative"),
    ],
)
def test_a_charge_that_cannot_be_made_says_why_and_writes_nothing(
    client, finance, hotel_deposited_today, amount, message
):
    form = {"charge-amount": amount, "charge-description": "", "charge-idempotency_key": "form-2"}
    response = client.post("/customers/HOTEL/charge", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert movements() == 1 and balance_by_code("HOTEL") == D("100000.00")


def test_a_charge_from_the_page(client, finance, hotel_deposited_today):
    form = {"charge-amount": "25.000,50", "charge-description": "gas", "charge-idempotency_key": "form-3"}
    assert client.post("/customers/HOTEL/charge", data=form).status_code == 302
    assert balance_by_code("HOTEL") == D("74999.50")
    moved = db.session.scalar(sa.select(BalanceTransaction).order_by(BalanceTransaction.id.desc()))
    assert moved.created_by_id == finance.id


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("40.000", "Balance after the charge: Rp60.000,00"),
        ("100.000,01", "More than the Rp100.000,00 available"),
        ("4x", "Not an amount"),
    ],
)
def test_the_charge_amount_is_checked_against_the_balance_as_it_is_typed(
    client, finance, hotel_deposited_today, amount, shown
):
    response = client.post("/customers/HOTEL/charge/preview", data={"charge-amount": amount})
    assert shown in response.get_data(as_text=True)
    assert movements() == 1


def test_a_suspended_customer_shows_a_banner(client, finance):
    customer = CustomerFactory(code="LOW", suspend_below=D("1000"))
    wallet.recharge(customer, D("500"))
    page = client.get("/customers/LOW").get_data(as_text=True)
    assert 'id="suspended-banner"' in page and "below" in page


def test_customers_add_and_the_ledger_commands(runner):
    manager = AccountManagerFactory(email="dewi@example.com")
    added = runner.invoke(args=["customers", "add", "c100", "Hotel Melati", "--manager", "dewi@example.com"])
    assert added.exit_code == 0, added.output
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "C100"))
    assert customer.account_manager_id == manager.id
    recharged = runner.invoke(args=["ledger", "recharge", "C100", "100.000", "--idempotency-key", "t-1"])
    assert recharged.exit_code == 0 and "balance Rp100.000,00" in recharged.output
    again = runner.invoke(args=["ledger", "recharge", "C100", "100.000", "--idempotency-key", "t-1"])
    assert again.exit_code == 0 and "balance Rp100.000,00" in again.output
    charged = runner.invoke(args=["ledger", "charge", "C100", "40.000", "--description", "gas"])
    assert charged.exit_code == 0 and "balance Rp60.000,00" in charged.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ledger", "charge", "C100", "70.000"], "Insufficient balance: C100 has Rp60.000,00 available"),
        (["ledger", "charge", "NOPE", "1"], "Unknown customer code: NOPE"),
        (["ledger", "recharge", "C100", "1", "--idempotency-key", "used"], "already used for a different operation"),
        (["customers", "add", "C100", "Again"], "already used"),
        (["customers", "add", "C 1", "Bad code"], "is not a customer code"),
        (["customers", "add", "C200", "Hotel", "--manager", "ghost@example.com"], "No account manager"),
    ],
)
def test_wallet_commands_refuse_what_they_cannot_do_with_one_line_and_exit_1(runner, args, message):
    customer = CustomerFactory(code="C100")
    wallet.recharge(customer, D("60000"))
    wallet.recharge(customer, D("2"), idempotency_key="used")
    wallet.charge(customer, D("2"))
    before = movements()
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert movements() == before


def test_an_amount_pasted_as_shown_is_read_and_an_empty_field_shows_how_to_write_one(
    client, finance, hotel_deposited_today
):
    form = {"recharge-amount": "Rp50.000,00", "recharge-description": "transfer", "recharge-idempotency_key": "p-1"}
    assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
    assert balance_by_code("HOTEL") == D("150000.00")
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    assert 'placeholder="1.234.567,89"' in page and 'inputmode="decimal"' in page
