"""Correcting a reading's volume or date from its page: what it posts, where it counts, and what it refuses."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import (
    BalanceTransaction,
    Customer,
    Kind,
    MeterReading,
    MonthlyCustomerBalance,
    RunMode,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory, metered_customer, past_the_guards, stored
from tests.pages import opened, text

D = Decimal


@pytest.fixture
def reading(app, auth):
    """A reading of 10 m³ on 2026-10-20 at 1.000 per Sm³ (cost 10.000), charged to the hotel's wallet."""
    auth.login("finance")
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, customer, date(2026, 9, 1))
    wallet.recharge(customer, D("1000000"), value_date=date(2026, 9, 1))
    metering.set_pricing(customer.id, date(2026, 9, 1), D("1000.00"), D("1.000000"))
    return metering.record_reading(meter.id, date(2026, 10, 20), D("10"), note="monthly round")


def posted(reading_id: int) -> list[tuple]:
    db.session.rollback()
    return db.session.execute(
        sa.select(BalanceTransaction.kind, BalanceTransaction.signed_amount, BalanceTransaction.value_date)
        .where(BalanceTransaction.reference_type == "meter_reading", BalanceTransaction.reference_id == reading_id)
        .order_by(BalanceTransaction.id)
    ).all()


def purchases(month: str) -> Decimal:
    return db.session.scalar(
        sa.select(MonthlyCustomerBalance.total_purchases).where(MonthlyCustomerBalance.year_month == month)
    )


def test_the_readings_list_links_each_reading_to_its_page(client, reading):
    page = client.get("/customers/HOTEL?tab=metering").get_data(as_text=True)
    assert f'href="/customers/HOTEL/readings/{reading}">Correct</a>' in page
    shown = text(client.get(f"/customers/HOTEL/readings/{reading}"))
    assert "10,0000 Sm³ at Rp1.000,00/Sm³ = <strong>Rp10.000,00</strong>" in shown
    assert 'value="2026-10-20"' in shown and 'value="monthly round"' in shown
    assert 'Charged for this reading</th><th class="num">Rp10.000,00' in shown


def test_a_volume_correction_posts_the_difference_on_the_readings_date(client, reading):
    url = f"/customers/HOTEL/readings/{reading}"
    response = client.post(url, data=opened(client, url, url) | {"volume_flow_meter": "15"})
    assert response.status_code == 302 and response.headers["Location"] == url
    assert posted(reading) == [
        (Kind.CHARGE, D("-10000.00"), date(2026, 10, 20)),
        (Kind.CHARGE, D("-5000.00"), date(2026, 10, 20)),
    ]
    correction = db.session.scalar(sa.select(sa.func.max(BalanceTransaction.id)))
    page = text(client.get(url))
    assert f"Reading #{reading} corrected; posted charge #{correction} of Rp5.000,00 dated 20 Oct 2026." in page
    assert f'href="/customers/HOTEL/movements/{correction}">{correction}</a>' in page
    assert purchases("2026-10") == D("15000.00")
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_date_moved_across_months_gives_back_on_the_old_date_and_charges_the_new(client, reading):
    url = f"/customers/HOTEL/readings/{reading}"
    response = client.post(url, data=opened(client, url, url) | {"reading_date": "2026-11-05"})
    assert response.status_code == 302
    assert posted(reading) == [
        (Kind.CHARGE, D("-10000.00"), date(2026, 10, 20)),
        (Kind.REVERSAL, D("10000.00"), date(2026, 10, 20)),
        (Kind.CHARGE, D("-10000.00"), date(2026, 11, 5)),
    ]
    assert db.session.get(MeterReading, reading).reading_date == date(2026, 11, 5)
    assert (purchases("2026-10"), purchases("2026-11")) == (None, D("10000.00"))  # October holds nothing now
    assert db.session.scalar(sa.select(Customer.balance)) == D("990000.00")
    page = text(client.get(url))
    assert "posted reversal #" in page and "dated 20 Oct 2026, charge #" in page and "dated 5 Nov 2026." in page
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_correction_that_changes_nothing_posts_nothing(client, reading):
    url = f"/customers/HOTEL/readings/{reading}"
    response = client.post(url, data=opened(client, url, url) | {"note": "checked again"}, follow_redirects=True)
    assert "its cost did not change, so nothing was posted." in text(response)
    assert len(posted(reading)) == 1 and db.session.get(MeterReading, reading).note == "checked again"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"volume_flow_meter": "abc"}, "volume_flow_meter", "Not a number"),
        ({"volume_flow_meter": "-1"}, "volume_flow_meter", "must not be negative"),
        ({"volume_flow_meter": ""}, "volume_flow_meter", "Enter a number"),
        ({"reading_date": ""}, "reading_date", "Enter the reading date."),
        ({"reading_date": "{tomorrow}"}, "volume_flow_meter", "A reading cannot be dated after today"),
        ({"reading_date": "2026-08-31"}, "volume_flow_meter", "was not assigned to any customer on 31 Aug 2026"),
        ({"note": "x" * 301}, "note", "Field cannot be longer than 300 characters"),
    ],
)
def test_an_impossible_correction_says_why_under_its_field_and_writes_nothing(client, reading, changes, field, message):
    url = f"/customers/HOTEL/readings/{reading}"
    form = opened(client, url, url)
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = client.post(url, data=form | {name: value.format(tomorrow=tomorrow) for name, value in changes.items()})
    assert response.status_code == 422
    assert message in re.search(rf'id="error-{field}">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert len(posted(reading)) == 1
    saved = db.session.get(MeterReading, reading)
    assert (saved.reading_date, saved.volume_flow_meter, saved.note) == (
        date(2026, 10, 20),
        D("10.0000"),
        "monthly round",
    )


def test_a_stale_correction_is_refused_naming_what_changed_and_writes_nothing(client, reading):
    url = f"/customers/HOTEL/readings/{reading}"
    a, b = opened(client, url, url), opened(client, url, url)
    assert client.post(url, data=a | {"volume_flow_meter": "12"}).status_code == 302
    response = client.post(url, data=b | {"volume_flow_meter": "20"})
    assert response.status_code == 409
    assert (
        "This reading was changed by someone else since you opened it: flow-meter volume (m³) is now 12. "
        "Reload to see the current values; nothing was saved." in text(response)
    )
    assert [amount for _kind, amount, _on in posted(reading)] == [D("-10000.00"), D("-2000.00")]


def test_a_correction_of_a_reading_deleted_meanwhile_says_so(client, reading):
    url = f"/customers/HOTEL/readings/{reading}"
    form = opened(client, url, url)
    metering.delete_reading(reading)
    response = client.post(url, data=form | {"volume_flow_meter": "20"})
    assert response.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0


def test_another_customers_reading_is_not_found_here(client, reading):
    CustomerFactory(code="OTHER")
    assert client.get(f"/customers/OTHER/readings/{reading}").status_code == 404
    assert client.post(f"/customers/OTHER/readings/{reading}", data={"volume_flow_meter": "1"}).status_code == 404
    assert len(posted(reading)) == 1


def test_a_charge_forged_by_sql_for_a_reading_is_not_given_back_by_its_correction(app):
    customer, meter = metered_customer("BAKERY", date(2026, 10, 1), D("1000.00"), prepaid=D("1000000"))
    reading_id = metering.record_reading(meter.id, date(2026, 10, 20), D("10"))  # Rp10.000 charged
    _forge_a_charge(customer, reading_id)
    before = stored("customers", "balance", customer.id)

    metering.correct_reading(reading_id, date(2026, 10, 20), D("12"))

    # Only what the application charged counts: the correction charges the Rp2.000 more the reading costs, and
    # gives nothing back for the forged row.
    assert stored("customers", "balance", customer.id) == before - D("2000.00")


def test_a_charge_forged_by_sql_for_a_reading_is_not_given_back_by_a_re_pricing(app):
    customer, meter = metered_customer("BAKERY", date(2026, 10, 1), D("1000.00"), prepaid=D("1000000"))
    reading_id = metering.record_reading(meter.id, date(2026, 10, 20), D("10"))  # Rp10.000 charged
    _forge_a_charge(customer, reading_id)
    before = stored("customers", "balance", customer.id)

    metering.set_pricing(customer.id, date(2026, 10, 1), D("1200.00"), D("1.000000"))

    # The set-based re-pricing counts what the application charged alone, as one reading's correction does: it
    # charges the Rp2.000 more the reading costs now, and gives nothing back for the forged row.
    assert stored("customers", "balance", customer.id) == before - D("2000.00")


def test_a_reading_s_month_is_written_once_when_it_is_recorded_corrected_or_deleted(app):
    """The gas a reading delivers and what it is charged count in its month in one write: its charge's."""
    customer, meter = metered_customer("BAKERY", date(2026, 10, 1), D("1000.00"), prepaid=D("1000000"))
    writes = []

    def month_written(_connection, _cursor, statement, *_args) -> None:
        if re.search(
            r"post_wallet_movements_v3\(|shift_customer_month_v1\(|(INSERT INTO|UPDATE|DELETE FROM) monthly_", statement
        ):
            writes.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", month_written)
    try:
        reading_id = metering.record_reading(meter.id, date(2026, 10, 20), D("10"))
        recorded = len(writes)
        metering.correct_reading(reading_id, date(2026, 10, 20), D("12"))
        corrected = len(writes) - recorded
        metering.delete_reading(reading_id)
        deleted = len(writes) - recorded - corrected
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", month_written)
    assert (recorded, corrected, deleted) == (1, 1, 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MonthlyCustomerBalance)) == 1  # the recharge's
    assert run(RunMode.VERIFY, checks=["monthly_balance"]).mismatched == 0


def _forge_a_charge(customer, reading_id):
    """A charge of Rp5.000 for the reading, inserted by SQL with a negative id, and its entry."""
    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at) "
                "VALUES (-7, 'JE--7', '2026-10-20', '', 'draft', now())"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before, "
                "balance_after, value_date, description, reference_type, reference_id, entry_id, created_at) "
                "VALUES (-7, :customer, 'charge', 5000, -5000, 0, -5000, '2026-10-20', '', 'meter_reading', "
                ":reading, -7, now())"
            ),
            {"customer": customer.id, "reading": reading_id},
        )
