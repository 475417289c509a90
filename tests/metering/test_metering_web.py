"""The "Readings & pricing" tab: live price of a reading, live impact of pricing, and bad input."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa
from flask import current_app

from backoffice.models import Customer, MeterReading
from backoffice.platform.extensions import db
from backoffice.services import billing, meter_lifecycle, metering
from tests.factories import CustomerFactory, UserFactory

D = Decimal


@pytest.fixture
def hotel_ids(finance, metered_hotel):
    """The ids of the hotel and its meter (``metered_hotel``), made once a finance clerk is logged in."""
    customer, meter = metered_hotel
    return customer.id, meter.id


def test_a_reading_is_priced_live_then_recorded_and_charged(client, hotel_ids):
    customer_id, meter_id = hotel_ids
    form = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "12,5"}
    preview = client.post("/customers/HOTEL/readings/preview", data=form).get_data(as_text=True)
    assert "12,5000 Sm³" in preview and "Rp12.500,00" in preview
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0
    assert client.post("/customers/HOTEL/readings", data=form).status_code == 302
    db.session.rollback()
    assert db.session.get(Customer, customer_id).balance == D("987500.00")
    page = client.get("/customers/HOTEL?tab=metering").get_data(as_text=True)
    assert "Rp12.500,00" in page and "M-1" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reading-volume_flow_meter": "abc"}, "Not a number"),
        ({"reading-volume_flow_meter": "-1"}, "must not be negative"),
        ({"reading-volume_flow_meter": "1,00001"}, "4 decimal places"),
        ({"reading-volume_flow_meter": ""}, "Enter a number"),
        ({"reading-reading_date": "2026-10-01"}, "No pricing applies on 1 Oct 2026"),
        ({"reading-reading_date": "2026-09-30"}, "Meter M-1 was not assigned to any customer on 30 Sept 2026"),
        ({"reading-reading_date": "9999-12-31"}, "A reading cannot be dated after today"),
    ],
)
def test_a_bad_reading_is_flagged_live_and_refused_on_save(client, hotel_ids, overrides, message):
    _customer_id, meter_id = hotel_ids
    form = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "1"}
    form |= overrides
    assert message in client.post("/customers/HOTEL/readings/preview", data=form).get_data(as_text=True)
    response = client.post("/customers/HOTEL/readings", data=form)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0


def test_a_reading_for_a_customer_who_did_not_hold_the_meter_on_its_date_is_refused(client, hotel_ids):
    _customer_id, meter_id = hotel_ids
    bakery = CustomerFactory(code="BAKERY")
    metering.set_pricing(bakery.id, date(2026, 11, 1), D("1000.00"), D("1.000000"))
    current = billing.active_assignment(meter_id)
    meter_lifecycle.assign_meter(current.meter, bakery, date(2026, 11, 20), confirm_move_from=current.id)
    form = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "1"}
    refused = "On 5 Nov 2026 meter M-1 was at HOTEL, not at BAKERY: enter it for HOTEL."
    assert refused in client.post("/customers/BAKERY/readings/preview", data=form).get_data(as_text=True)
    response = client.post("/customers/BAKERY/readings", data=form)
    assert response.status_code == 422 and refused in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0
    # The meter the hotel held before is still offered on its page, for what is dated while it was there.
    assert client.post("/customers/HOTEL/readings", data=form).status_code == 302
    assert db.session.scalar(sa.select(MeterReading.customer_id)) == hotel_ids[0]
    assert "M-1 (held before)" in client.get("/customers/HOTEL?tab=metering").get_data(as_text=True)


def test_the_pricing_preview_says_what_saving_would_change_and_writes_nothing(client, hotel_ids):
    _customer_id, meter_id = hotel_ids
    metering.record_reading(meter_id, date(2026, 11, 20), D("10"))
    form = {"pricing-effective_from": "2026-11-10", "pricing-price_per_sm3": "1.500", "pricing-meter_correction": "1"}
    preview = client.post("/customers/HOTEL/pricing/preview", data=form).get_data(as_text=True)
    assert "re-prices <strong>1</strong> reading(s) from November 2026" in preview
    assert "Rp10.000,00 → Rp15.000,00" in preview
    assert "every month's closing from November 2026 on move by -Rp5.000,00" in preview
    assert "A job re-prices them" not in preview
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 0
    preview = client.post("/customers/HOTEL/pricing/preview", data=form).get_data(as_text=True)
    assert "A job re-prices them after saving" in preview
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 1
    assert db.session.scalar(sa.text("SELECT count(*) FROM customer_pricing")) == 1
    assert client.post("/customers/HOTEL/pricing", data=form).status_code == 302
    page = client.get("/customers/HOTEL?tab=metering").get_data(as_text=True)
    assert "Rp15.000,00" in page


def test_deleting_a_reading_from_the_tab_gives_its_cost_back(client, hotel_ids):
    customer_id, meter_id = hotel_ids
    reading = metering.record_reading(meter_id, date(2026, 11, 20), D("10"))
    assert client.post(f"/customers/HOTEL/readings/{reading}/delete").status_code == 302
    db.session.rollback()
    assert db.session.get(Customer, customer_id).balance == D("1000000.00")


def test_a_reading_of_a_date_already_read_asks_saying_what_is_there_then_records_it(client, hotel_ids):
    customer_id, meter_id = hotel_ids
    clerk = UserFactory(email="dewi@example.com", name="Dewi Lestari")
    first = metering.record_reading(meter_id, date(2026, 11, 5), D("12.5"), user=clerk)
    form = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "12,5"}
    preview = client.post("/customers/HOTEL/readings/preview", data=form).get_data(as_text=True)
    assert "already has a reading on this date" in preview and "Dewi Lestari" in preview

    asked = client.post("/customers/HOTEL/readings", data=form)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409
    warning = page.split('id="duplicate-reading"', 1)[1].split("</div>", 1)[0]
    assert f"#{first}</a>" in warning and "12,5000 m³" in warning and "Dewi Lestari" in warning
    assert f'name="reading-confirm_duplicate_of" type="hidden" value="{first}"' in page
    assert "Record a second reading of that day" in page
    indonesian = client.post("/customers/HOTEL/readings", data=form, headers={"Accept-Language": "id"})
    warning = indonesian.get_data(as_text=True).split('id="duplicate-reading"', 1)[1].split("</div>", 1)[0]
    assert "sudah memiliki pencatatan pada" in warning and f"#{first}</a>, <strong>12,5000 m³</strong>" in warning
    assert "Rekam pencatatan kedua untuk hari itu" in indonesian.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 1
    db.session.rollback()
    charged = db.session.get(Customer, customer_id).balance

    # A confirmation of another reading than the one there confirms nothing: the page asks again.
    again = client.post("/customers/HOTEL/readings", data=form | {"reading-confirm_duplicate_of": str(first + 7)})
    assert again.status_code == 409 and db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 1

    confirmed = client.post("/customers/HOTEL/readings", data=form | {"reading-confirm_duplicate_of": str(first)})
    assert confirmed.status_code == 302
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 2
    assert db.session.get(Customer, customer_id).balance == charged - D("12500.00")


def test_a_reading_of_a_customer_not_in_real_time_says_it_waits_for_recalculation(client, hotel_ids):
    customer_id, meter_id = hotel_ids
    db.session.get(Customer, customer_id).use_realtime_calculation = False
    db.session.commit()
    form = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "12,5"}

    answer = client.post("/customers/HOTEL/readings", data=form, follow_redirects=True)
    page = " ".join(unescape(answer.get_data(as_text=True)).split())

    assert "charged to the prepaid wallet" not in page
    assert (
        "Reading recorded; it will be charged by the customer's recalculation, which is pending: the balance does not "
        "include it yet." in page
    )
    assert 'id="pending-recalculations"' in page
    assert "not including what the pending recalculation will charge" in page
    db.session.rollback()
    assert db.session.get(Customer, customer_id).balance == D("1000000.00")
