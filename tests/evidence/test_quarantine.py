"""A quarantined customer's movements are refused with a message, never a failure: 422 on a screen, exit 2 from a
command, nothing written. Work done for many customers (a tariff's re-pricing, the pending recalculations a fix
does first) leaves the quarantined waiting, names them, and is done for the others."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.command import cli
from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    JobRecord,
    JobStatus,
    MeterReading,
    RecalculationRequest,
    ReconciliationRun,
    RunStatus,
    TransactionCalculation,
)
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory, quarantine
from tests.rows import cost

D = Decimal
REFUSAL = "is quarantined: rows of its evidence carry no valid seal"
NOV = date(2026, 11, 1)


def rows(model) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def held() -> tuple[int, ...]:
    return tuple(rows(model) for model in (BalanceTransaction, MeterReading, CustomerPricing, TransactionCalculation))


@pytest.fixture
def quarantined_hotel(finance, metered_hotel):
    """The hotel (``metered_hotel``) with a reading of 10 m³ on 5 November, then quarantined; a clerk logged in."""
    customer, meter = metered_hotel
    metering.record_reading(meter.id, date(2026, 11, 5), D("10"))
    reading = db.session.scalar(sa.select(MeterReading.id).where(MeterReading.customer_id == customer.id))
    quarantine(customer.id)
    return customer.id, meter.id, reading


def refused(response) -> None:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert f"Customer HOTEL {REFUSAL}" in response.get_data(as_text=True)


def test_a_quarantined_customers_charge_on_the_screen_is_refused_with_the_reason(client, quarantined_hotel):
    before = held()
    refused(client.post("/customers/HOTEL/charge", data={"charge-amount": "1.000"}))
    assert held() == before


def test_a_quarantined_customers_reading_on_the_screen_is_refused_with_the_reason(client, quarantined_hotel):
    _customer_id, meter_id, _reading = quarantined_hotel
    before = held()
    form = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-06", "reading-volume_flow_meter": "5"}
    refused(client.post("/customers/HOTEL/readings", data=form))
    assert held() == before


def test_a_reading_correction_of_a_quarantined_customer_is_refused_with_the_reason(client, quarantined_hotel):
    _customer_id, _meter_id, reading = quarantined_hotel
    before = held()
    version = db.session.get(MeterReading, reading).version
    form = {"reading_date": "2026-11-05", "volume_flow_meter": "12", "note": "", "version": version}
    refused(client.post(f"/customers/HOTEL/readings/{reading}", data=form))
    assert held() == before
    assert db.session.get(MeterReading, reading).volume_flow_meter == D("10")


def test_a_quarantined_customers_pricing_on_the_screen_is_refused_with_the_reason(client, quarantined_hotel):
    customer_id, _meter_id, _reading = quarantined_hotel
    before = held()
    form = {"pricing-effective_from": "2026-11-01", "pricing-price_per_sm3": "1.100", "pricing-meter_correction": "1"}
    refused(client.post("/customers/HOTEL/pricing", data=form))
    assert held() == before
    assert db.session.scalar(
        sa.select(CustomerPricing.price_per_sm3).where(CustomerPricing.customer_id == customer_id)
    ) == D("1000.00")


def test_a_quarantined_customers_charge_from_the_command_exits_2_with_the_reason(runner, quarantined_hotel):
    before = held()
    result = runner.invoke(cli, ["ledger", "charge", "HOTEL", "1.000"])
    assert result.exit_code == 2, result.output
    assert REFUSAL in result.output and "Traceback" not in result.output
    assert held() == before


@pytest.fixture
def street(app):
    """Three customers priced from October at Rp1.000 per Sm³, each with a reading of 10 m³ on 5 November; the
    hotel then quarantined."""
    ids = {}
    for code in ("BAKERY", "HOTEL", "MILL"):
        customer = CustomerFactory(code=code)
        meter = MeterFactory()
        meter_lifecycle.assign_meter(meter, customer, date(2026, 10, 1))
        wallet.recharge(customer.id, D("1000000"))
        metering.set_pricing(customer.id, date(2026, 10, 1), D("1000.00"), D("1"))
        metering.record_reading(meter.id, date(2026, 11, 5), D("10"))
        ids[code] = customer.id
    quarantine(ids["HOTEL"])
    return ids


def waiting(customer_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count()).where(
            RecalculationRequest.customer_id == customer_id, RecalculationRequest.done_at.is_(None)
        )
    )


def test_a_tariffs_repricing_skips_the_quarantined_names_them_and_prices_the_others(street):
    tariff = metering.checked_tariff(NOV, D("2000.00"), None)
    metering.change_tariff(tariff)
    assert metering.reprice_tariff(NOV) == 2
    assert (cost(street["BAKERY"]), cost(street["MILL"]), cost(street["HOTEL"])) == (D("20000"), D("20000"), D("10000"))
    assert waiting(street["HOTEL"]) == 1
    assert metering.left_quarantined(from_date=NOV) == ["HOTEL"]


def test_a_tariff_from_the_command_names_the_quarantined_and_prices_the_others(street, runner):
    result = runner.invoke(cli, ["pricing", "tariff", "--from", "2026-11-01", "--price", "2.000"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Not re-priced: HOTEL, quarantined" in result.output
    assert (cost(street["BAKERY"]), cost(street["MILL"]), cost(street["HOTEL"])) == (D("20000"), D("20000"), D("10000"))


def test_a_tariff_on_the_screen_names_the_quarantined_and_prices_the_others(client, auth, street):
    auth.login("admin")
    response = client.post("/pricing/tariff", data={"effective_from": "2026-11-01", "price_per_sm3": "2.000"})
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "Not re-priced: HOTEL, quarantined" in page
    assert (cost(street["BAKERY"]), cost(street["MILL"]), cost(street["HOTEL"])) == (D("20000"), D("20000"), D("10000"))


def test_a_tariffs_job_names_the_quarantined_and_prices_the_others(street):
    from backoffice import jobs

    impact = metering.change_tariff(metering.checked_tariff(NOV, D("2000.00"), None))
    record, _created = jobs.enqueue("tariff_change", {"effective_from": NOV.isoformat(), "readings": impact.readings})
    db.session.rollback()
    record = db.session.get(JobRecord, record.id)
    assert record.status is JobStatus.FINISHED
    assert record.result == {"recalculations_done": 2, "left_quarantined": ["HOTEL"]}
    assert (cost(street["BAKERY"]), cost(street["MILL"])) == (D("20000"), D("20000"))


def test_a_fix_after_a_tariff_does_the_others_recalculations_and_completes(street, runner):
    metering.change_tariff(metering.checked_tariff(NOV, D("2000.00"), None))
    result = runner.invoke(cli, ["reconcile", "verify", "--fix"])
    assert "Traceback" not in result.output
    assert "2 pending recalculation request(s) done first." in result.output
    assert "Recalculations left waiting for quarantined customer(s): HOTEL." in result.output
    db.session.rollback()
    run = db.session.scalar(sa.select(ReconciliationRun).order_by(ReconciliationRun.id.desc()))
    assert run.status is RunStatus.SUCCEEDED
    assert (cost(street["BAKERY"]), cost(street["MILL"]), cost(street["HOTEL"])) == (D("20000"), D("20000"), D("10000"))
    assert waiting(street["HOTEL"]) == 1 and waiting(street["BAKERY"]) == waiting(street["MILL"]) == 0
    assert db.session.get(Customer, street["BAKERY"]).balance == D("980000.00")
