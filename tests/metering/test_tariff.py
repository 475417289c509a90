"""A tariff change: a price and/or correction factor from a date for every customer or some, previewed, saved,
and re-priced in the request, by a job, or by the command."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app

from backoffice.command import cli
from backoffice.models import (
    BalanceTransaction,
    Customer,
    CustomerPricing,
    JobRecord,
    JobStatus,
    MeterReading,
    RecalculationRequest,
)
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import AccountManagerFactory, CustomerFactory, MeterFactory
from tests.rows import balance, cost, written
from tests.verifying import clean

D = Decimal
OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


@pytest.fixture
def town(kept):
    """Three customers priced from October (Rp1.000 per Sm³, their own factors), two of one manager's, each with
    a reading on the 5th and the 20th of October and November; a fourth with no pricing and no reading."""
    return kept("town", _town)


def _town():
    anna = AccountManagerFactory(email="anna@example.com")
    codes = {}
    for code, manager, correction in (("BAKERY", anna, "1.000000"), ("HOTEL", anna, "1.500000"), ("MILL", None, "2")):
        customer = CustomerFactory(code=code, account_manager=manager)
        meter = MeterFactory()
        meter_lifecycle.assign_meter(meter, customer, OCT)
        wallet.recharge(customer.id, D("1000000"))
        metering.set_pricing(customer.id, OCT, D("1000.00"), D(correction))
        for day in (date(2026, 10, 5), date(2026, 10, 20), date(2026, 11, 5), date(2026, 11, 20)):
            metering.record_reading(meter.id, day, D("10"))
        codes[code] = customer.id
    codes["NEW"] = CustomerFactory(code="NEW").id
    return codes


def prices(customer_id: int) -> list[tuple]:
    db.session.rollback()
    return db.session.execute(
        sa.select(CustomerPricing.effective_from, CustomerPricing.price_per_sm3, CustomerPricing.meter_correction)
        .where(CustomerPricing.customer_id == customer_id)
        .order_by(CustomerPricing.effective_from)
    ).all()


WRITTEN = (CustomerPricing, BalanceTransaction, RecalculationRequest)
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


def test_a_tariff_prices_every_customer_from_its_date_and_reprices_their_readings(town):
    tariff = metering.checked_tariff(NOV, D("2000.00"), None)
    preview = metering.tariff_impact(tariff)
    # NEW has no pricing on the date to keep its factor from; the others' November readings are re-priced.
    assert (preview.customers, preview.left_out, preview.repriced_customers, preview.readings) == (3, 1, 3, 6)
    assert preview.from_month == "2026-11"
    assert (preview.purchases_before, preview.purchases_after) == (D("90000.00"), D("180000.00"))
    assert not preview.deferred
    assert metering.change_tariff(tariff) == preview
    assert metering.reprice_tariff(NOV) == 3
    assert prices(town["HOTEL"]) == [(OCT, D("1000.00"), D("1.500000")), (NOV, D("2000.00"), D("1.500000"))]
    assert prices(town["NEW"]) == []
    # The hotel: October 2 × 15 Sm³ at 1.000, November 2 × 15 Sm³ at 2.000.
    assert (cost(town["HOTEL"]), balance(town["HOTEL"])) == (D("90000.00"), D("910000.00"))
    readings_movements = db.session.scalars(
        sa.select(BalanceTransaction)
        .where(BalanceTransaction.customer_id == town["HOTEL"], BalanceTransaction.reference_type == "meter_reading")
        .order_by(BalanceTransaction.id)
    ).all()
    first = {}
    for movement in readings_movements:  # a reading's first movement charged it; the later ones re-price it
        first.setdefault(movement.reference_id, movement.id)
    corrections = [movement for movement in readings_movements if movement.id != first[movement.reference_id]]
    assert [(c.kind.value, c.amount, c.value_date) for c in corrections] == [
        ("charge", D("15000.00"), date(2026, 11, 5)),
        ("charge", D("15000.00"), date(2026, 11, 20)),
    ]
    assert clean()


def test_a_correction_factor_tariff_for_one_managers_customers_keeps_their_prices(town):
    tariff = metering.checked_tariff(NOV, None, D("3"), "  Anna@Example.com ")
    metering.change_tariff(tariff)
    metering.reprice_tariff(NOV)
    assert prices(town["BAKERY"])[-1] == (NOV, D("1000.00"), D("3.000000"))
    assert prices(town["HOTEL"])[-1] == (NOV, D("1000.00"), D("3.000000"))
    assert prices(town["MILL"]) == [(OCT, D("1000.00"), D("2.000000"))]
    assert cost(town["BAKERY"]) == D("20000.00") + D("60000.00")
    assert clean()


def test_a_tariff_reprices_to_each_customers_next_row_and_replaces_a_row_of_its_date(town):
    metering.set_pricing(town["BAKERY"], date(2026, 11, 15), D("5000.00"), D("1"))
    metering.set_pricing(town["MILL"], NOV, D("3000.00"), D("2"))
    version = db.session.scalar(
        sa.select(CustomerPricing.version).where(
            CustomerPricing.customer_id == town["MILL"], CustomerPricing.effective_from == NOV
        )
    )
    tariff = metering.checked_tariff(NOV, D("2000.00"), None, customer_codes=["bakery", "MILL", "bakery"])
    impact = metering.change_tariff(tariff)
    assert (impact.customers, impact.readings) == (2, 3)  # the bakery's reading of the 20th keeps its own row
    metering.reprice_tariff(NOV)
    assert cost(town["BAKERY"]) == D("20000.00") + D("20000.00") + D("50000.00")
    mill = db.session.scalar(
        sa.select(CustomerPricing).where(
            CustomerPricing.customer_id == town["MILL"], CustomerPricing.effective_from == NOV
        )
    )
    assert (mill.price_per_sm3, mill.meter_correction, mill.version) == (D("2000.00"), D("2.000000"), version + 1)
    assert cost(town["MILL"]) == D("40000.00") + D("80000.00")
    assert clean()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((NOV, None, None), "Give a price per Sm³, a meter correction factor, or both"),
        ((None, D("1"), None), "Enter the date"),
        ((NOV, D("-1"), None), "must not be negative"),
        ((NOV, D("1.001"), None), "2 decimal places"),
        ((NOV, None, D("0")), "greater than zero"),
        ((NOV, D("1"), None, "nobody@example.com"), "No account manager with email nobody@example.com"),
        ((NOV, D("1"), None, None, ["HOTEL", "NOPE", "nope2"]), "Unknown customer code\\(s\\): NOPE, NOPE2"),
    ],
)
def test_a_tariff_that_cannot_be_is_refused_and_writes_nothing(town, arguments, message):
    before = written(*WRITTEN)
    with pytest.raises(metering.MeteringError, match=message):
        metering.change_tariff(metering.checked_tariff(*arguments))
    assert written(*WRITTEN) == before


def test_a_tariff_too_dear_or_for_nobody_is_refused_and_writes_nothing(town):
    before = written(*WRITTEN)
    with pytest.raises(metering.MeteringError, match="a reading's total would exceed"):
        metering.change_tariff(metering.checked_tariff(NOV, D("9999999999999.99"), D("999999")))
    with pytest.raises(metering.MeteringError, match="No customer gets this tariff"):
        metering.change_tariff(metering.checked_tariff(NOV, None, D("2"), customer_codes=["NEW"]))
    assert written(*WRITTEN) == before


def test_a_large_tariff_is_repriced_by_a_job_with_progress(town):
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 5
    tariff = metering.checked_tariff(NOV, D("2000.00"), None)
    impact = metering.change_tariff(tariff)
    assert impact.deferred
    assert cost(town["HOTEL"]) == D("60000.00")  # not re-priced yet: three requests wait
    assert db.session.scalar(sa.select(sa.func.count()).where(RecalculationRequest.done_at.is_(None))) == 3
    from backoffice import jobs

    record, created = jobs.enqueue("tariff_change", {"effective_from": NOV.isoformat(), "readings": impact.readings})
    assert created and record.in_process
    db.session.rollback()
    record = db.session.get(JobRecord, record.id)
    assert (record.status, record.progress, record.result) == (JobStatus.FINISHED, 100, {"recalculations_done": 3})
    assert cost(town["HOTEL"]) == D("90000.00")
    assert clean()


def test_admins_preview_and_save_a_tariff_on_the_screen(client, auth, town):
    auth.login("admin")
    assert client.get("/pricing/tariff").status_code == 200
    typed = {
        "effective_from": "2026-11-01",
        "price_per_sm3": "2.000,00",
        "meter_correction": "",
        "manager_email": "anna@example.com",
        "customer_codes": "",
    }
    preview = client.post("/pricing/tariff/preview", data=typed).get_data(as_text=True)
    assert "<strong>2</strong> customer(s)" in preview and "<strong>4</strong> reading(s)" in preview
    assert written(*WRITTEN)[0] == 3  # the preview wrote nothing
    response = client.post("/pricing/tariff", data=typed)
    assert response.status_code == 302
    assert prices(town["HOTEL"])[-1] == (NOV, D("2000.00"), D("1.500000"))
    assert cost(town["HOTEL"]) == D("90000.00")
    assert prices(town["MILL"])[-1] == (OCT, D("1000.00"), D("2.000000"))
    assert clean()


def test_a_large_tariff_saved_on_the_screen_shows_its_job(client, auth, town):
    current_app.config["REPRICE_IN_REQUEST_LIMIT"] = 0
    auth.login("admin")
    response = client.post("/pricing/tariff", data={"effective_from": "2026-11-01", "meter_correction": "3"})
    assert response.status_code == 302 and "/jobs/" in response.location
    page = client.get(response.location).get_data(as_text=True)
    assert "Tariff change" in page and "3 recalculation request(s) done" in page
    assert cost(town["MILL"]) == D("40000.00") + D("60000.00")


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({"effective_from": "", "price_per_sm3": "1"}, "Enter the date the tariff applies from."),
        ({"effective_from": "2026-11-01"}, "Give a price per Sm³, a meter correction factor, or both."),
        ({"effective_from": "2026-11-01", "price_per_sm3": "1,2,3"}, "Write amounts like"),
        ({"effective_from": "2026-11-01", "meter_correction": "-1"}, "greater than zero"),
        (
            {"effective_from": "2026-11-01", "price_per_sm3": "1", "manager_email": "x@example.com"},
            "No account manager",
        ),
        ({"effective_from": "2026-11-01", "price_per_sm3": "1", "customer_codes": "HOTEL, GHOST"}, "GHOST"),
        ({"effective_from": "2026-11-01", "meter_correction": "2", "customer_codes": "NEW"}, "No customer gets"),
    ],
)
def test_a_tariff_typed_wrong_on_the_screen_is_a_message_and_writes_nothing(client, auth, town, typed, message):
    auth.login("admin")
    before = written(*WRITTEN)
    response = client.post("/pricing/tariff", data=typed)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    preview = client.post("/pricing/tariff/preview", data=typed)
    assert preview.status_code == 200
    assert written(*WRITTEN) == before


@pytest.mark.parametrize("path", ["/pricing/tariff", "/pricing/tariff/preview"])
def test_finance_cannot_change_a_tariff(client, auth, town, path):
    auth.login("finance")
    before = written(*WRITTEN)
    assert client.post(path, data={"effective_from": "2026-11-01", "price_per_sm3": "1"}).status_code == 403
    assert client.get("/pricing/tariff").status_code == 403
    assert written(*WRITTEN) == before


def test_the_command_changes_a_tariff_and_its_dry_run_writes_nothing(town, runner):
    dry = runner.invoke(cli, ["pricing", "tariff", "--from", "2026-11-01", "--price", "2.000", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "readings re-priced" in dry.output and "6 from November 2026" in dry.output and "Dry run" in dry.output
    assert written(*WRITTEN) == (3, 15, 0)
    result = runner.invoke(
        cli,
        ["pricing", "tariff", "--from", "2026-11-01", "--correction", "3", "--customer", "hotel", "--customer", "MILL"],
    )
    assert result.exit_code == 0, result.output
    assert "Saved the pricing of 2 customer(s) from 1 Nov 2026" in result.output
    assert (cost(town["HOTEL"]), cost(town["MILL"])) == (D("30000.00") + D("60000.00"), D("40000.00") + D("60000.00"))
    assert clean()


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["--from", "2026-13-01", "--price", "1"], 2, "'2026-13-01' does not match the format"),
        (["--price", "1"], 2, "Missing option '--from'"),
        (["--from", "2026-11-01"], 2, "Give a price per Sm³"),
        (["--from", "2026-11-01", "--price", "abc"], 2, "Not an amount"),
        (["--from", "2026-11-01", "--price", "-5"], 2, "must not be negative"),
        (["--from", "2026-11-01", "--correction", "0"], 2, "greater than zero"),
        (["--from", "2026-11-01", "--price", "1", "--manager", "x@example.com"], 2, "No account manager"),
        (["--from", "2026-11-01", "--price", "1", "--customer", "GHOST"], 2, "Unknown customer code(s): GHOST"),
        (["--from", "2026-11-01", "--correction", "2", "--customer", "NEW"], 1, "No customer gets this tariff"),
        (["--from", "2026-11-01", "--price", "9.999.999.999.999,99", "--correction", "999999"], 1, "would exceed"),
    ],
)
def test_the_command_refuses_bad_input_and_writes_nothing(town, runner, arguments, status, message):
    before = written(*WRITTEN)
    result = runner.invoke(cli, ["pricing", "tariff", *arguments])
    assert result.exit_code == status, result.output
    assert message in result.output
    assert written(*WRITTEN) == before


def hotel_unpriceable_from_october(town) -> None:
    """The hotel's October readings wait for a recalculation that no pricing can do (its row was deleted): a tariff
    gives it a row from November only when it gives both the price and the factor."""
    db.session.execute(sa.update(Customer).where(Customer.id == town["HOTEL"]).values(use_realtime_calculation=False))
    db.session.commit()
    october = db.session.scalar(
        sa.select(MeterReading.id).where(MeterReading.customer_id == town["HOTEL"]).order_by(MeterReading.id)
    )
    metering.correct_reading(october, date(2026, 10, 5), D("11"))
    db.session.execute(
        sa.delete(CustomerPricing).where(
            CustomerPricing.customer_id == town["HOTEL"], CustomerPricing.effective_from == OCT
        )
    )
    db.session.commit()


def test_a_tariff_whose_repricing_stops_says_so_on_screen_and_keeps_the_rest_waiting(client, auth, town):
    hotel_unpriceable_from_october(town)
    auth.login("admin")
    response = client.post(
        "/pricing/tariff", data={"effective_from": "2026-11-01", "price_per_sm3": "2.000", "meter_correction": "1,5"}
    )
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "but re-pricing stopped: No pricing applies on 5 Oct 2026" in page
    assert prices(town["HOTEL"]) == [(NOV, D("2000.00"), D("1.500000"))]
    assert db.session.scalar(
        sa.select(sa.func.count()).where(
            RecalculationRequest.customer_id == town["HOTEL"], RecalculationRequest.done_at.is_(None)
        )
    )


def test_a_tariff_whose_repricing_stops_exits_1_from_the_command(town, runner):
    hotel_unpriceable_from_october(town)
    result = runner.invoke(
        cli, ["pricing", "tariff", "--from", "2026-11-01", "--customer", "HOTEL", "--price", "2", "--correction", "1,5"]
    )
    assert result.exit_code == 1
    assert "Re-pricing stopped: No pricing applies on 5 Oct 2026" in result.output
