"""Every amount the system computes is rounded once, where it is stored, to the currency's unit: none for the đồng.
Readings priced before keep their cents, verified as they were rounded, and pages write them with their cents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import current_app

from backoffice import register_migrations
from backoffice.models import BalanceTransaction, RunMode, TransactionCalculation
from backoffice.platform import money
from backoffice.platform.config import ConfigError, read
from backoffice.platform.extensions import db
from backoffice.platform.money import decimal_places, format_money
from backoffice.posting.refusals import already_recorded
from backoffice.reconcile.engine import run
from backoffice.services import meter_payments, metering, wallet
from tests.factories import hotel_with_meter
from tests.workers import serving_url

D = Decimal


@pytest.fixture
def corrected(app):
    """HOTEL holding M-1 from October, priced from November at 1.000 per Sm³ with a correction of 1,234567: a
    reading of 1,9 m³ is 2,3457 Sm³, which costs 2.345,70."""
    customer, meter = hotel_with_meter(date(2026, 10, 1))
    metering.set_pricing(customer.id, date(2026, 11, 1), D("1000"), D("1.234567"))
    return customer, meter


def calculation() -> TransactionCalculation:
    db.session.rollback()
    return db.session.scalars(sa.select(TransactionCalculation)).one()


def charged(customer_id: int) -> list[Decimal]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(BalanceTransaction.signed_amount)
            .where(BalanceTransaction.customer_id == customer_id, BalanceTransaction.reference_type == "meter_reading")
            .order_by(BalanceTransaction.id)
        )
    )


@pytest.mark.parametrize(("currency", "cost", "places"), [("VND", D("2346"), 0), ("IDR", D("2345.70"), 2)])
def test_a_readings_cost_is_rounded_once_to_the_currencys_unit(corrected, currency, cost, places):
    current_app.config.update(CURRENCY=currency, CURRENCY_PLACES=decimal_places(currency))
    customer, meter = corrected
    metering.record_reading(meter.id, date(2026, 11, 10), D("1.9"), customer_id=customer.id)
    priced = calculation()
    assert (priced.volume_sm3, priced.total_price, priced.places) == (D("2.3457"), cost, places)
    assert charged(customer.id) == [-cost]
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_correction_and_a_repricing_are_rounded_to_the_dong(corrected):
    current_app.config.update(CURRENCY="VND", CURRENCY_PLACES=0)
    customer, meter = corrected
    reading_id = metering.record_reading(meter.id, date(2026, 11, 10), D("1.9"), customer_id=customer.id)
    metering.correct_reading(reading_id, date(2026, 11, 10), D("2.1"), note="")
    assert calculation().total_price == D("2593")  # 2,5926 Sm³ × 1.000 = 2.592,60
    metering.set_pricing(customer.id, date(2026, 11, 1), D("1000.5"), D("1.234567"))
    assert calculation().total_price == D("2594")  # 2,5926 × 1.000,50 = 2.593,90
    assert sum(charged(customer.id)) == D("-2594")
    assert all(amount == amount.to_integral_value() for amount in charged(customer.id))
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_reading_priced_to_cents_before_keeps_its_cost_and_is_verified_as_rounded(corrected):
    customer, meter = corrected
    current_app.config.update(
        CURRENCY="IDR", CURRENCY_PLACES=2
    )  # as every reading was priced before migration 0051: to cents
    metering.record_reading(meter.id, date(2026, 11, 10), D("1.9"), customer_id=customer.id)
    current_app.config.update(CURRENCY="VND", CURRENCY_PLACES=0)

    outcome = run(RunMode.FIX)

    assert outcome.mismatched == 0
    assert (calculation().total_price, calculation().places) == (D("2345.70"), 2)
    assert charged(customer.id) == [D("-2345.70")]


@pytest.mark.parametrize(
    ("amount", "written"),
    [(D("1723811.56"), "1.723.811,56\xa0₫"), (D("-1723812.00"), "-1.723.812\xa0₫"), (D("44279615"), "44.279.615\xa0₫")],
)
def test_an_amount_of_dong_is_written_with_the_cents_it_holds_so_that_a_page_adds_up(amount, written):
    assert format_money(amount, "vi_VN", "VND") == written


def test_the_units_of_the_projects_currencies_are_its_own_whatever_babels_data(monkeypatch):
    """Babel 2.19's CLDR data gives the rupiah no decimal places: the installation's unit does not move with it."""
    monkeypatch.setattr(money, "get_currency_precision", lambda currency: 0 if currency == "IDR" else 2)
    assert [decimal_places(currency) for currency in ("IDR", "KES", "VND")] == [2, 2, 0]
    assert read({"BACKOFFICE_CURRENCY": "IDR"}).currency_places == 2
    assert read({"BACKOFFICE_CURRENCY": "IDR", "BACKOFFICE_CURRENCY_PLACES": "0"}).currency_places == 0
    with pytest.raises(ConfigError, match="BACKOFFICE_CURRENCY_PLACES='3' is not 0, 1 or 2"):
        read({"BACKOFFICE_CURRENCY_PLACES": "3"})


@pytest.fixture
def held_in_dong(app):
    """The database holds amounts in whole đồng (as ``backoffice db grant-runtime`` has it hold them for
    ``BACKOFFICE_CURRENCY_PLACES=0``), while the app's setting still says two places: a door that forgot the unit."""
    with db.engine.begin() as connection:
        money.keep_unit(connection, 0)
    yield
    with db.engine.begin() as connection:
        money.keep_unit(connection, app.config["CURRENCY_PLACES"])


def test_the_database_refuses_an_amount_finer_than_the_unit_whatever_door_forgot_it(app, held_in_dong):
    customer, meter = hotel_with_meter(date(2026, 11, 1))
    db.session.commit()
    wallet.recharge(customer.id, Decimal("1000"))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction))
    with pytest.raises(sa.exc.IntegrityError) as refused:
        wallet.recharge(customer.id, Decimal("1000.50"))
    assert str(already_recorded(refused.value)) == "The amount is finer than the currency's unit. Nothing was written."
    with pytest.raises(sa.exc.IntegrityError) as refused:
        meter_payments.add_payment(meter, Decimal("1000.50"), date(2026, 11, 2), "TRF-1")
    assert "ck_payments_amount_in_unit" in str(refused.value.orig)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction)) == before


def test_grant_runtime_has_the_database_hold_the_settings_unit(app, held_in_dong):
    role = sa.make_url(serving_url(app.config["SQLALCHEMY_DATABASE_URI"])).username
    register_migrations(app)
    result = app.test_cli_runner().invoke(args=["db", "grant-runtime", role])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.text("SELECT currency_places_v1()")) == app.config["CURRENCY_PLACES"]
