"""The prepaid ledger tab: value dates, what corrected each movement, adjusting a balance and reversing a movement."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import BalanceTransaction, Customer, JournalEntry, Kind, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import meter_lifecycle, metering, wallet
from backoffice.services.descriptions import movement_words
from tests.concurrency import race
from tests.factories import CustomerFactory, MeterFactory, UserFactory
from tests.pages import csrf_token, text, tomorrow
from tests.rows import balance_of, newest, written

D = Decimal


WRITTEN = (BalanceTransaction, JournalEntry, balance_of("HOTEL"))
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


WHY = {"description": "Entered by mistake"}
"""A reversal's reason: every reversal states one."""


# Recharge and charge with a value date


def test_a_recharge_dated_last_month_counts_there_and_the_form_offers_today(client, finance, hotel):
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    today = local_today().isoformat()
    assert f'name="recharge-value_date" placeholder="YYYY-MM-DD" type="text" value="{today}"' in page
    form = {"recharge-amount": "50.000", "recharge-value_date": "2026-10-20", "recharge-idempotency_key": "r-1"}
    assert client.post("/customers/HOTEL/recharge", data=form).status_code == 302
    row = newest()
    assert (row.value_date, row.signed_amount, row.created_by_id) == (date(2026, 10, 20), D("50000.00"), finance.id)
    assert db.session.get(JournalEntry, row.entry_id).entry_date == date(2026, 10, 20)
    charge = {"charge-amount": "1.000", "charge-value_date": "", "charge-idempotency_key": "c-1"}
    assert client.post("/customers/HOTEL/charge", data=charge).status_code == 302
    assert newest().value_date == local_today()
    assert run(RunMode.VERIFY).mismatched == 0


@pytest.mark.parametrize("name", ["recharge", "charge"])
@pytest.mark.parametrize(
    ("value_date", "message"), [("{tomorrow}", "cannot be dated after today"), ("2026-02-30", "Not a valid date")]
)
def test_a_value_date_that_cannot_be_is_refused_under_the_field_and_writes_nothing(
    client, finance, hotel, name, value_date, message
):
    before = written(*WRITTEN)
    form = {f"{name}-amount": "1.000", f"{name}-value_date": value_date.format(tomorrow=tomorrow())}
    response = client.post(f"/customers/HOTEL/{name}", data=form | {f"{name}-idempotency_key": "k"})
    assert response.status_code == 422
    error = re.search(rf'id="error-{name}-value_date">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert message in error
    assert written(*WRITTEN) == before


# The movement list


def test_each_movement_shows_its_value_date_posting_time_and_what_corrected_it(client, finance, hotel):
    first = db.session.scalar(sa.select(BalanceTransaction))
    reversal = wallet.reverse(
        wallet.charge(hotel, D("2000"), value_date=date(2026, 10, 5)), description="Entered by mistake"
    )
    adjustment = wallet.adjust(hotel, D("300"), reason="write_off")
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    row = re.search(rf'<tr id="movement-{reversal.reverses_id}".*?</tr>', page, re.S).group(0)
    assert (
        "5 Oct 2026" in row
        and f'reversed by <a href="/customers/HOTEL/movements/{reversal.id}">#{reversal.id}</a>' in row
    )
    row = re.search(rf'<tr id="movement-{reversal.id}".*?</tr>', page, re.S).group(0)
    assert f'reverses <a href="/customers/HOTEL/movements/{reversal.reverses_id}">#{reversal.reverses_id}</a>' in row
    assert "Write off" in re.search(rf'<tr id="movement-{adjustment.id}".*?</tr>', page, re.S).group(0)
    assert "1 Oct 2026" in re.search(rf'<tr id="movement-{first.id}".*?</tr>', page, re.S).group(0)
    assert "Reverse</a>" not in page and 'id="adjust"' not in page  # a clerk reverses and adjusts nothing here


def test_an_admin_is_offered_to_reverse_what_can_be_reversed_only(client, admin, hotel):
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, hotel, date(2026, 10, 1))
    metering.set_pricing(hotel.id, date(2026, 10, 1), D("1000"), D("1"))
    metering.record_reading(meter.id, date(2026, 11, 2), D("1"))
    reversed_ = wallet.charge(hotel, D("10"))
    wallet.reverse(reversed_, description="Entered by mistake")
    page = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    offered = re.findall(r'href="/customers/HOTEL/movements/(\d+)#reverse"', page)
    assert offered == [str(db.session.scalar(sa.select(sa.func.min(BalanceTransaction.id))))]
    assert 'id="adjust"' in page


# The movement's page and its reversal


def test_the_reversal_says_what_it_posts_then_posts_it_back_to_cash(client, admin, hotel):
    recharge = wallet.recharge(hotel, D("500000"), value_date=date(2026, 11, 2))
    url = f"/customers/HOTEL/movements/{recharge.id}"
    page = text(client.get(url))
    assert "Posts a reversal of Rp500.000,00: Dr Customer deposits / Cr Cash." in page
    assert "The balance moves by -Rp500.000,00." in page
    response = client.post(
        f"{url}/reverse", data={"value_date": "2026-11-03", "description": "Sent to the wrong customer"}
    )
    assert response.status_code == 302 and response.headers["Location"] == url
    row = newest()
    assert (row.kind, row.signed_amount, row.reverses_id, row.value_date, row.created_by_id) == (
        Kind.REVERSAL,
        D("-500000.00"),
        recharge.id,
        date(2026, 11, 3),
        admin.id,
    )
    page = text(client.get(url))
    assert f"Reversal #{row.id} posted: movement #{recharge.id} is reversed." in page
    assert f'Reversed by</th><td id="reversed-by"><a href="/customers/HOTEL/movements/{row.id}">#{row.id}</a>' in page
    assert 'id="reverse"' not in page and "Already reversed by" in page
    assert "Reverses</th>" in text(client.get(f"/customers/HOTEL/movements/{row.id}"))
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_reversed_adjustment_is_the_opposite_adjustment(client, admin, hotel):
    adjustment = wallet.adjust(hotel, D("-2500"), reason="data_entry_error")
    page = text(client.get(f"/customers/HOTEL/movements/{adjustment.id}"))
    assert "Posts an adjustment of Rp2.500,00: Dr Gas revenue / Cr Customer deposits." in page
    assert client.post(f"/customers/HOTEL/movements/{adjustment.id}/reverse", data=WHY).status_code == 302
    row = newest()
    assert (row.kind, row.signed_amount, row.reason) == (Kind.ADJUSTMENT, D("2500.00"), "data_entry_error")


def test_reversing_twice_says_it_was_already_reversed_and_posts_once(client, admin, hotel):
    charge = wallet.charge(hotel, D("700"))
    url = f"/customers/HOTEL/movements/{charge.id}/reverse"
    assert client.post(url, data=WHY).status_code == 302
    before = written(*WRITTEN)
    again = client.post(url, data=WHY)  # a second tab, or the back button
    assert again.status_code == 409
    assert f"Movement #{charge.id} was already reversed by #{newest().id}." in text(again)
    assert written(*WRITTEN) == before


@pytest.mark.parametrize(
    ("which", "form", "status", "message"),
    [
        ("reversal", {}, 422, "A reversal cannot itself be reversed"),
        ("gas", {}, 422, "is what reading #"),
        ("recharge", {}, 422, "Insufficient balance"),
        ("charge", {"value_date": "{tomorrow}"}, 422, "cannot be dated after today"),
        ("charge", {"value_date": "2026-10-31"}, 422, "cannot be dated before the movement it reverses (1 Nov 2026)"),
        ("charge", {"value_date": "31/10/2026"}, 422, "Not a valid date"),
        ("charge", {"description": "x" * 301}, 422, "Field cannot be longer than 300 characters"),
    ],
)
def test_a_senseless_reversal_is_refused_with_its_reason_and_writes_nothing(
    client, admin, hotel, which, form, status, message
):
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, hotel, date(2026, 10, 1))
    metering.set_pricing(hotel.id, date(2026, 10, 1), D("1000"), D("1"))
    metering.record_reading(meter.id, date(2026, 11, 2), D("1"))
    ids = {"gas": newest().id, "charge": wallet.charge(hotel, D("10"), value_date=date(2026, 11, 1)).id}
    ids["reversal"] = wallet.reverse(wallet.recharge(hotel, D("1")), description="Entered by mistake").id
    ids["recharge"] = wallet.recharge(hotel, D("1000")).id
    wallet.charge(hotel, wallet_balance(hotel))
    before = written(*WRITTEN)
    data = {name: value.format(tomorrow=tomorrow()) for name, value in (WHY | form).items()}
    response = client.post(f"/customers/HOTEL/movements/{ids[which]}/reverse", data=data)
    assert response.status_code == status
    assert message in text(response)
    assert written(*WRITTEN) == before


@pytest.mark.parametrize("why", ["", "   "])
def test_a_reversal_without_a_reason_is_refused_under_why_even_within_the_limit(client, admin, hotel, why):
    charge = wallet.charge(hotel, D("700"))
    before = written(*WRITTEN)
    response = client.post(f"/customers/HOTEL/movements/{charge.id}/reverse", data={"description": why})
    assert response.status_code == 422
    error = re.search(r'id="error-description">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert error == "Say why the movement is reversed: every reversal states its reason."
    assert written(*WRITTEN) == before


def wallet_balance(customer) -> Decimal:
    db.session.rollback()
    return db.session.get(Customer, customer.id).balance


def test_a_movement_that_cannot_be_reversed_says_why_on_its_page(client, admin, hotel):
    reversal = wallet.reverse(wallet.charge(hotel, D("1")), description="Entered by mistake")
    page = text(client.get(f"/customers/HOTEL/movements/{reversal.id}"))
    assert 'id="cannot-reverse">A reversal cannot itself be reversed' in page and 'id="reverse"' not in page


def test_a_movement_of_another_customer_is_not_found(client, admin, hotel):
    other = wallet.recharge(CustomerFactory(code="OTHER"), D("1"))
    assert client.get(f"/customers/HOTEL/movements/{other.id}").status_code == 404
    assert client.post(f"/customers/HOTEL/movements/{other.id}/reverse", data={}).status_code == 404
    assert client.get("/customers/HOTEL/movements/999").status_code == 404
    assert written(*WRITTEN)[0] == 2


def test_a_clerk_sees_a_movement_but_may_not_reverse_it(client, finance, hotel):
    charge = wallet.charge(hotel, D("1"))
    page = client.get(f"/customers/HOTEL/movements/{charge.id}")
    assert page.status_code == 200 and 'id="reverse"' not in text(page)
    before = written(*WRITTEN)
    assert client.post(f"/customers/HOTEL/movements/{charge.id}/reverse", data={}).status_code == 403
    assert written(*WRITTEN) == before


# Adjusting a balance


def test_an_admin_adjusts_a_balance_down_for_a_reason_dated_in_the_past(client, admin, hotel):
    form = {
        "adjust-direction": "down",
        "adjust-amount": "2.500",
        "adjust-reason": "write_off",
        "adjust-value_date": "2026-10-31",
        "adjust-idempotency_key": "a-1",
    }
    assert client.post("/customers/HOTEL/adjust", data=form).status_code == 302
    assert client.post("/customers/HOTEL/adjust", data=form).status_code == 302  # a double submit
    row = newest()
    assert (row.kind, row.signed_amount, row.reason, row.value_date, movement_words(row)) == (
        Kind.ADJUSTMENT,
        D("-2500.00"),
        "write_off",
        date(2026, 10, 31),
        "Write off",
    )
    assert written(*WRITTEN)[::2] == (2, D("97500.00"))
    up = form | {"adjust-direction": "up", "adjust-reason": "other", "adjust-description": "Meter misread"}
    assert client.post("/customers/HOTEL/adjust", data=up | {"adjust-idempotency_key": "a-2"}).status_code == 302
    assert (newest().signed_amount, newest().description) == (D("2500.00"), "Meter misread")
    assert run(RunMode.VERIFY).mismatched == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"adjust-reason": "other"}, "description", "needs a description"),
        ({"adjust-reason": ""}, "reason", "Choose a reason."),
        ({"adjust-reason": "typo"}, "reason", "Not a valid choice"),
        ({"adjust-direction": "sideways"}, "direction", "Not a valid choice"),
        ({"adjust-amount": ""}, "amount", "Enter an amount"),
        ({"adjust-amount": "0"}, "amount", "non-zero amount"),
        ({"adjust-amount": "-5"}, "amount", "must not be negative"),
        ({"adjust-amount": "200.000"}, "amount", "Insufficient balance"),
        ({"adjust-value_date": "{tomorrow}"}, "value_date", "cannot be dated after today"),
        ({"adjust-value_date": "soon"}, "value_date", "Not a valid date"),
    ],
)
def test_an_impossible_adjustment_says_why_under_its_field_and_writes_nothing(
    client, admin, hotel, changes, field, message
):
    form = {
        "adjust-direction": "down",
        "adjust-amount": "1.000",
        "adjust-reason": "goodwill",
        "adjust-idempotency_key": "k",
    }
    before = written(*WRITTEN)
    data = {name: value.format(tomorrow=tomorrow()) for name, value in (form | changes).items()}
    response = client.post("/customers/HOTEL/adjust", data=data)
    assert response.status_code == 422
    error = re.search(rf'id="error-adjust-{field}">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert message in error
    assert written(*WRITTEN) == before


def test_a_clerk_may_not_adjust_a_balance(client, finance, hotel):
    before = written(*WRITTEN)
    form = {"adjust-direction": "up", "adjust-amount": "1", "adjust-reason": "goodwill"}
    assert client.post("/customers/HOTEL/adjust", data=form).status_code == 403
    assert written(*WRITTEN) == before


def test_two_reversals_of_one_movement_at_once_post_one_and_the_second_is_told(app, hotel):
    charge_id = wallet.charge(hotel, D("40000")).id
    told = []

    def second() -> None:
        with pytest.raises(wallet.AlreadyReversed) as refused:
            wallet.reverse(charge_id, description="Entered by mistake", refuse_again=True)
        told.append(str(refused.value))

    race(
        app,
        lambda: wallet.reverse(charge_id, description="Entered by mistake", refuse_again=True),
        second,
        hold_after="commit",
    )
    reversal = db.session.scalar(sa.select(BalanceTransaction).where(BalanceTransaction.reverses_id == charge_id))
    assert told == [f"Movement #{charge_id} was already reversed by #{reversal.id}."]
    assert written(*WRITTEN) == (3, 3, D("100000.00"))


def test_a_correction_posted_without_its_csrf_token_is_refused_and_writes_nothing(csrf_app, hotel):
    client = csrf_app.test_client()
    admin = UserFactory(role="admin")
    client.post(
        "/login", data={"email": admin.email, "password": "correct horse battery", "csrf_token": csrf_token(client)}
    )
    charge = wallet.charge(hotel, D("1"))
    before = written(*WRITTEN)
    adjust = {"adjust-direction": "up", "adjust-amount": "1", "adjust-reason": "goodwill"}
    assert client.post("/customers/HOTEL/adjust", data=adjust).status_code == 400
    assert client.post(f"/customers/HOTEL/movements/{charge.id}/reverse", data={}).status_code == 400
    assert written(*WRITTEN) == before
    page = client.get(f"/customers/HOTEL/movements/{charge.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert (
        client.post(f"/customers/HOTEL/movements/{charge.id}/reverse", data=WHY | {"csrf_token": token}).status_code
        == 302
    )
