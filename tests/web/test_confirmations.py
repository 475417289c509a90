"""Consequential actions ask first, on a page that says what will happen, so they are asked without JavaScript too:
closing a month, stopping real-time calculation, deactivating a meter's assignment."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import ApprovalKind, ApprovalRequest, Customer, MeterAssignment, PeriodAction, User
from backoffice.models.types import Month, month_start
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, named_month
from backoffice.services import books, installation, meter_invoices, meter_lifecycle, wallet
from tests.factories import CustomerFactory, MeterFactory, unit_of_work
from tests.pages import text

D = Decimal


# --- Closing a month ----------------------------------------------------------------------------------------------


def months_back(n: int) -> tuple[str, date]:
    """The month ``n`` months before this one, as ``YYYY-MM``, and its last day."""
    first = month_start(local_today())
    for _ in range(n):
        first = month_start(first - timedelta(days=1))
    last = (month_start(first + timedelta(days=32)) - timedelta(days=1)) if n else None
    return first.strftime("%Y-%m"), last


def said(month: str) -> str:
    """A month typed ``YYYY-MM`` as the pages name it ("October 2026")."""
    return named_month(Month.parse(month))


def test_closing_a_month_asks_first_saying_what_it_closes_and_what_waits(client, admin):
    last, last_day = months_back(1)
    earlier, earlier_day = months_back(2)
    with unit_of_work() as connection:
        draft = books.save_draft(installation(), connection, earlier_day, "Accrual", [books.Line("1000", debit=D("5"))])
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    db.session.add(
        ApprovalRequest(
            kind=ApprovalKind.ADJUSTMENT,
            amount=D("10"),
            signed_amount=D("10"),
            customer_id=customer.id,
            adjustment_reason="goodwill",
            value_date=last_day,
            reason="Goodwill",
            requested_by_id=admin.id,
        )
    )
    db.session.commit()

    periods_page = text(client.get("/books/periods"))
    assert f'href="/books/periods/{last}/close"' in periods_page
    assert f'action="/books/periods/{last}/close"' not in periods_page  # the page asks; the list does not close
    page = text(client.get(f"/books/periods/{last}/close"))
    assert f"Close the books through {said(last)}?" in page
    assert f"entries dated on or before <strong>{named_date(last_day)}</strong> will be refused until reopened" in page
    assert f"{said(earlier)}, {said(last)}" in page and "every earlier month still open closes with it" in page
    assert "1 request waiting for approval</strong> dated then will be refused when approved" in page
    assert "It cannot be closed yet:</strong> 1 draft journal entry is dated on or before" in page
    assert "Close through" not in page

    with unit_of_work() as connection:
        books.void_draft(connection, draft)
    page = text(client.get(f"/books/periods/{last}/close"))
    assert "cannot be closed yet" not in page
    assert f'action="/books/periods/{last}/close"' in page and f"Close through {said(last)}</button>" in page
    assert db.session.scalar(sa.select(sa.func.count(PeriodAction.id))) == 0

    assert client.post(f"/books/periods/{last}/close", data={"note": "Audited"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(PeriodAction.id))) == 1


def test_a_month_that_cannot_be_closed_gets_no_confirmation(client, admin):
    this_month, _ = months_back(0)
    page = text(client.get(f"/books/periods/{this_month}/close"))
    assert f"{said(this_month)} has not ended yet" in page and "Close through" not in page
    assert "Write the month as YYYY-MM" in text(client.get("/books/periods/2026-13/close"))
    assert "not one of the months" in text(client.get("/books/periods/1990-01/close"))


def test_a_clerk_gets_no_confirmation_to_close_a_month(client, auth):
    auth.login("finance")
    last, _ = months_back(1)
    assert client.get(f"/books/periods/{last}/close").status_code == 403


# --- Stopping real-time calculation -------------------------------------------------------------------------------


def test_stopping_real_time_calculation_asks_saying_what_stops_and_how_to_catch_up(client, admin):
    CustomerFactory(code="BAKERY")
    tab = text(client.get("/customers/BAKERY?tab=monthly"))
    assert 'href="/customers/BAKERY/realtime/off"' in tab and 'action="/customers/BAKERY/realtime/off"' not in tab
    page = text(client.get("/customers/BAKERY/realtime/off"))
    assert "Stop real-time calculation for BAKERY" in page
    assert "its month is recorded as a pending recalculation instead of being recalculated" in page
    assert "a reading or a pricing change is priced and charged only when that recalculation is done" in page
    assert "the nightly run (at 02:00) does every pending recalculation" in page
    assert '"Recalculate customer" on its page does them now' in page
    assert db.session.scalar(sa.select(Customer.use_realtime_calculation)) is True

    assert client.post("/customers/BAKERY/realtime/off").status_code == 302
    db.session.rollback()
    assert db.session.scalar(sa.select(Customer.use_realtime_calculation)) is False
    again = client.get("/customers/BAKERY/realtime/off", follow_redirects=True)
    assert "not calculated in real time already" in text(again)


def test_a_clerk_gets_no_confirmation_to_stop_real_time_calculation(client, auth):
    CustomerFactory(code="BAKERY")
    auth.login("finance")
    assert client.get("/customers/BAKERY/realtime/off").status_code == 403


# --- Deactivating a meter's assignment ----------------------------------------------------------------------------


def test_deactivating_a_meter_asks_first_saying_what_changes_and_what_stays(client, admin):
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="M-7")
    started = local_today() - timedelta(days=20)
    meter_lifecycle.assign_meter(meter, customer, started)
    meter_invoices.add_invoice(meter, "INV-1", D("40000"), started, started + timedelta(days=30))
    assignment = db.session.scalar(sa.select(MeterAssignment))

    tab = text(client.get("/customers/HOTEL?tab=billing"))
    assert f'href="/customers/HOTEL/assignments/{assignment.id}/confirm-deactivate"' in tab
    page = text(client.get(f"/customers/HOTEL/assignments/{assignment.id}/confirm-deactivate"))
    assert "Deactivate meter M-7 at HOTEL" in page
    assert "a reading, an invoice or a payment dated today or later is refused" in page
    assert "due here <strong>Rp40.000,00</strong>" in page and "still in its amount due (Rp40.000,00)" in page
    assert db.session.get(MeterAssignment, assignment.id).is_active

    assert client.post(f"/customers/HOTEL/assignments/{assignment.id}/deactivate").status_code == 302
    db.session.rollback()
    assert not db.session.get(MeterAssignment, assignment.id).is_active
    again = client.get(f"/customers/HOTEL/assignments/{assignment.id}/confirm-deactivate", follow_redirects=True)
    assert "already inactive" in text(again)


def test_another_customers_assignment_gets_no_confirmation(client, admin):
    CustomerFactory(code="HOTEL")
    bakery = CustomerFactory(code="BAKERY")
    meter_lifecycle.assign_meter(MeterFactory(), bakery, local_today() - timedelta(days=3))
    assignment = db.session.scalar(sa.select(MeterAssignment))
    assert client.get(f"/customers/HOTEL/assignments/{assignment.id}/confirm-deactivate").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1
