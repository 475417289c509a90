"""An amount field groups its digits as they are typed, in the reader's notation, and what it sends is what it shows:
"50000000" reads "50.000.000" before it is saved, and is saved as fifty million."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backoffice.models import Customer
from backoffice.platform.extensions import db
from tests.chromium import log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def ledger(page, hotel):
    UserFactory(email="clerk@example.com")
    log_in(page, "clerk@example.com")
    page.goto("/customers/HOTEL?tab=ledger")
    return page.locator("#recharge-amount")


def test_digits_are_grouped_as_they_are_typed_and_the_caret_stays_after_the_same_digit(ledger):
    ledger.press_sequentially("50000000")
    assert ledger.input_value() == "50.000.000"
    ledger.press("Home")
    ledger.press_sequentially("1")
    assert ledger.input_value() == "150.000.000"
    assert ledger.evaluate("field => field.selectionStart") == 1
    ledger.press("End")
    ledger.press_sequentially(",5")
    assert ledger.input_value() == "150.000.000,5"
    ledger.press("Backspace")
    ledger.press("Backspace")
    ledger.press("Backspace")
    assert ledger.input_value() == "15.000.000"


def test_a_decimal_typed_with_the_other_symbol_is_left_as_typed(ledger):
    ledger.press_sequentially("12.5")
    assert ledger.input_value() == "12.5"


def test_what_is_sent_is_what_the_field_shows(ledger, hotel):
    ledger.press_sequentially("50000")
    assert ledger.input_value() == "50.000"
    ledger.page.fill("#recharge-description", "transfer")
    with ledger.page.expect_navigation():
        ledger.page.click("form:has(#recharge-amount) button[type=submit]")
    db.session.expire_all()
    assert db.session.get(Customer, hotel.id).balance == Decimal("150000.00")
