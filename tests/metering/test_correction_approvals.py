"""Corrections of metering's source data that give money back above the approval limit wait for a second admin:
a reading deleted or corrected down, a price or a tariff lowered. Below the limit they apply at once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.command import cli
from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    MeterReading,
    MonthlyCustomerBalance,
    TransactionCalculation,
)
from backoffice.platform.extensions import db
from backoffice.services import approvals, meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory
from tests.logins import log_in
from tests.pages import opened
from tests.rows import balance
from tests.verifying import clean

D = Decimal
SEP, OCT = date(2026, 9, 1), date(2026, 10, 20)


@pytest.fixture
def readings(app, limit):
    """The hotel at Rp1.000 per Sm³ from September, with a reading of 100 m³ (Rp100.000, above the limit) on
    2026-10-20 and one of 10 m³ (Rp10.000) on 2026-10-21."""
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="M-1")
    meter_lifecycle.assign_meter(meter, customer, SEP)
    wallet.recharge(customer, D("1000000"), value_date=SEP)
    metering.set_pricing(customer.id, SEP, D("1000.00"), D("1.000000"))
    large = metering.record_reading(meter.id, OCT, D("100"))
    small = metering.record_reading(meter.id, date(2026, 10, 21), D("10"))
    return {"customer": customer.id, "meter": meter.id, "large": large, "small": small}


def state(customer_id: int) -> tuple:
    """The customer's balance and totals, its ledger, readings, calculations, months and pricing, as a new
    transaction sees them."""
    db.session.rollback()
    customer = db.session.get(Customer, customer_id)

    def rows(model, *columns):
        return db.session.execute(sa.select(*columns).where(model.customer_id == customer_id).order_by(*columns)).all()

    return (
        (customer.balance, customer.total_spent),
        rows(BalanceTransaction, BalanceTransaction.id, BalanceTransaction.signed_amount),
        rows(MeterReading, MeterReading.id, MeterReading.reading_date, MeterReading.volume_flow_meter),
        rows(TransactionCalculation, TransactionCalculation.reading_id, TransactionCalculation.total_price),
        rows(MonthlyCustomerBalance, MonthlyCustomerBalance.year_month, MonthlyCustomerBalance.total_purchases),
        rows(CustomerPricing, CustomerPricing.effective_from, CustomerPricing.price_per_sm3),
    )


def reading_exists(reading_id: int) -> bool:
    db.session.rollback()
    return db.session.get(MeterReading, reading_id) is not None


def pending() -> list[ApprovalRequest]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(ApprovalRequest)
            .where(ApprovalRequest.status == ApprovalStatus.PENDING)
            .order_by(ApprovalRequest.id)
        )
    )


def test_deleting_a_reading_above_the_limit_waits_and_a_second_admin_applies_it(readings, maker, checker):
    before = state(readings["customer"])
    asked = metering.delete_reading(readings["large"], user=maker)
    assert asked is not None and asked.status is ApprovalStatus.PENDING
    assert asked.kind is ApprovalKind.READING_CORRECTION and asked.amount == D("100000.00")
    assert asked.correction["reading_id"] == readings["large"] and asked.correction["delete"] is True
    assert state(readings["customer"]) == before  # the wallet, the reading and the derived figures are unchanged
    assert reading_exists(readings["large"])

    with pytest.raises(approvals.OwnRequest):
        approvals.approve(asked.id, maker)
    with pytest.raises(approvals.OwnRequest):
        approvals.reject(asked.id, maker, "changed my mind")
    assert state(readings["customer"]) == before and [r.id for r in pending()] == [asked.id]

    approved = approvals.approve(asked.id, checker)
    assert approved.status is ApprovalStatus.APPROVED and approved.decided_by_id == checker.id
    assert not reading_exists(readings["large"])
    assert balance(readings["customer"]) == before[0][0] + D("100000.00")
    assert clean()


def test_asking_twice_for_the_same_deletion_finds_the_first_request(readings, maker):
    first = metering.delete_reading(readings["large"], user=maker)
    second = metering.delete_reading(readings["large"], user=maker)
    assert second.id == first.id and len(pending()) == 1
    with pytest.raises(metering.MeteringError, match=f"waiting for approval \\(request #{first.id}\\)"):
        metering.correct_reading(readings["large"], OCT, D("1"), user=maker)


def test_below_the_limit_a_deletion_applies_at_once(readings, maker):
    before = balance(readings["customer"])
    assert metering.delete_reading(readings["small"], user=maker) is None
    assert not reading_exists(readings["small"])
    assert balance(readings["customer"]) == before + D("10000.00")
    assert pending() == []


def test_a_direct_call_with_no_one_to_ask_for_is_refused_and_writes_nothing(readings):
    before = state(readings["customer"])
    with pytest.raises(metering.NeedsApproval, match="above the approval limit"):
        metering.delete_reading(readings["large"])
    with pytest.raises(metering.NeedsApproval):
        metering.correct_reading(readings["large"], OCT, D("0"))
    assert state(readings["customer"]) == before and pending() == []


def test_correcting_a_reading_down_above_the_limit_waits_and_up_applies_at_once(readings, maker, checker):
    before = state(readings["customer"])
    asked = metering.correct_reading(readings["large"], OCT, D("20"), note="misread", user=maker)
    assert asked is not None and asked.amount == D("80000.00") and asked.signed_amount == D("80000.00")
    assert state(readings["customer"]) == before

    approvals.approve(asked.id, checker)
    db.session.rollback()
    assert db.session.get(MeterReading, readings["large"]).volume_flow_meter == D("20")
    assert db.session.get(MeterReading, readings["large"]).note == "misread"
    assert balance(readings["customer"]) == before[0][0] + D("80000.00")

    # money taken is never held, however much
    assert metering.correct_reading(readings["large"], OCT, D("500"), user=maker) is None
    assert balance(readings["customer"]) == before[0][0] + D("80000.00") - D("480000.00")
    assert clean()


def test_corrections_of_the_day_count_together_against_the_limit(readings, maker):
    customer = db.session.get(Customer, readings["customer"])
    wallet.adjust(customer, D("45000"), reason="goodwill", user=maker)
    # Rp10.000 given back after Rp45.000 adjusted today without approval: above Rp50.000
    assert metering.delete_reading(readings["small"], user=maker) is not None
    assert reading_exists(readings["small"])


def test_a_source_changed_since_asked_is_refused_on_approval_and_stays_pending(readings, maker, checker):
    asked = metering.delete_reading(readings["large"], user=maker)
    assert metering.correct_reading(readings["large"], OCT, D("101"), user=maker) is None  # costs more: not held
    before = state(readings["customer"])
    with pytest.raises(approvals.ChangedSinceAsked, match=f"reading #{readings['large']} changed after it was asked"):
        approvals.approve(asked.id, checker)
    assert state(readings["customer"]) == before and [r.id for r in pending()] == [asked.id]
    assert reading_exists(readings["large"])


def test_a_price_set_to_zero_giving_back_more_than_the_limit_waits(readings, maker, checker):
    before = state(readings["customer"])
    impact = metering.set_pricing(readings["customer"], SEP, D("0"), D("1"), user=maker)
    assert impact.held is not None and impact.held.kind is ApprovalKind.PRICING_CHANGE
    assert impact.held.amount == D("110000.00")
    assert state(readings["customer"]) == before

    with pytest.raises(approvals.OwnRequest):
        approvals.approve(impact.held.id, maker)
    approvals.approve(impact.held.id, checker)
    after = state(readings["customer"])
    assert after[5] == [(SEP, D("0.00"))]
    assert after[0][0] == before[0][0] + D("110000.00")
    assert after[3] == [(readings["large"], D("0.00")), (readings["small"], D("0.00"))]
    assert clean()


def test_a_price_change_giving_back_less_than_the_limit_applies_at_once(readings, maker):
    impact = metering.set_pricing(readings["customer"], date(2026, 10, 21), D("0"), D("1"), user=maker)
    assert impact.held is None
    assert balance(readings["customer"]) == D("1000000") - D("100000.00")


def test_a_tariff_giving_back_more_than_the_limit_to_one_customer_waits_whole(readings, maker, checker):
    mill = CustomerFactory(code="MILL")
    meter = MeterFactory(serial="M-2")
    meter_lifecycle.assign_meter(meter, mill, SEP)
    wallet.recharge(mill, D("1000000"), value_date=SEP)
    metering.set_pricing(mill.id, SEP, D("1000.00"), D("1.000000"))
    metering.record_reading(meter.id, OCT, D("5"))
    before = (state(readings["customer"]), state(mill.id))

    tariff = metering.checked_tariff(SEP, D("0"), None)
    impact = metering.change_tariff(tariff, user=maker)
    request = impact.held
    assert request is not None and request.kind is ApprovalKind.TARIFF_CHANGE and request.customer_id is None
    assert request.correction["credits"] == {str(readings["customer"]): "110000.00", str(mill.id): "5000.00"}
    assert "HOTEL Rp110.000,00, MILL Rp5.000,00" in request.description
    assert (state(readings["customer"]), state(mill.id)) == before

    approvals.approve(request.id, checker)
    metering.reprice_tariff(SEP, checker)
    assert balance(readings["customer"]) == before[0][0][0] + D("110000.00")
    assert balance(mill.id) == before[1][0][0] + D("5000.00")
    assert clean()


def test_the_tariff_command_refuses_a_change_that_needs_approval_and_writes_nothing(readings, runner):
    before = state(readings["customer"])
    result = runner.invoke(cli, ["pricing", "tariff", "--from", "2026-09-01", "--price", "0"])
    assert result.exit_code == 1, result.output
    assert "above the approval limit" in result.output and "Ask for it on the tariff page" in result.output
    assert state(readings["customer"]) == before and pending() == []


def test_the_screens_say_a_correction_waits_and_a_second_admin_approves_it(client, readings, maker, checker):
    log_in(client, maker)
    before = state(readings["customer"])
    response = client.post(f"/customers/HOTEL/readings/{readings['large']}/delete", follow_redirects=True)
    page = " ".join(response.get_data(as_text=True).split())
    (asked,) = pending()
    assert f"Reading #{readings['large']} is not deleted yet" in page
    assert f"waits for approval by a second admin as request #{asked.id}" in page
    assert state(readings["customer"]) == before

    url = f"/customers/HOTEL/readings/{readings['small']}"
    response = client.post(url, data=opened(client, url, url) | {"volume_flow_meter": "0"}, follow_redirects=True)
    assert "Reading #" in response.get_data(as_text=True) and len(pending()) == 1  # Rp10.000: applied at once

    pricing = {"pricing-effective_from": "2026-09-01", "pricing-price_per_sm3": "0", "pricing-meter_correction": "1"}
    response = client.post("/customers/HOTEL/pricing", data=pricing, follow_redirects=True)
    assert "Pricing not saved yet" in response.get_data(as_text=True)
    assert "waits for approval by a second admin" in response.get_data(as_text=True)
    assert len(pending()) == 2

    assert client.post(f"/approvals/{asked.id}/approve").status_code == 403  # the maker's own request
    assert reading_exists(readings["large"])
    log_in(client, checker)
    response = client.post(f"/approvals/{asked.id}/approve", follow_redirects=True)
    assert f"Request #{asked.id} approved: reading correction applied." in response.get_data(as_text=True)
    assert not reading_exists(readings["large"])


def test_a_tariff_held_on_the_screen_is_repriced_once_a_second_admin_approves_it(client, readings, maker, checker):
    log_in(client, maker)
    before = balance(readings["customer"])
    typed = {"effective_from": "2026-09-01", "price_per_sm3": "0", "meter_correction": "", "customer_codes": ""}
    response = client.post("/pricing/tariff", data=typed | {"manager_email": ""}, follow_redirects=True)
    (asked,) = pending()
    page = " ".join(response.get_data(as_text=True).split())
    assert "not saved yet" in page and f"waits for approval by a second admin as request #{asked.id}" in page
    assert balance(readings["customer"]) == before

    log_in(client, checker)
    response = client.post(f"/approvals/{asked.id}/approve", follow_redirects=True)
    assert f"Request #{asked.id} approved: Tariff from 1 Sept 2026" in response.get_data(as_text=True)
    assert balance(readings["customer"]) == before + D("110000.00")
    assert clean()


@pytest.mark.parametrize(
    ("language", "correction", "pricing", "deletion", "tariff"),
    [
        (
            "id",
            "Koreksi pencatatan #{id}: 20 Okt 2026, 2,5000 m³",
            "Harga mulai 1 Sep 2026: harga Rp0,00, koreksi 1,000000; menghitung ulang 2 pencatatan",
            "Hapus pencatatan #{id} tanggal 20 Okt 2026",
            "Tarif mulai 1 Sep 2026, harga Rp0,00 per Sm³ untuk 1 pelanggan; mengembalikan: HOTEL Rp110.000,00",
        ),
        (
            "vi",
            "Sửa chỉ số #{id}: 20 thg 10, 2026, 2,5000 m³",
            "hệ số hiệu chỉnh 1,000000; tính lại giá 2 chỉ số",
            "Xóa chỉ số #{id} ngày 20 thg 10, 2026",
            "mỗi Sm³ cho 1 khách hàng; hoàn lại: HOTEL",
        ),
    ],
)
def test_a_held_correction_is_said_in_the_reader_s_language_and_date_format(
    client, readings, maker, checker, language, correction, pricing, deletion, tariff
):
    metering.correct_reading(readings["large"], OCT, D("2.5"), user=maker)
    metering.set_pricing(readings["customer"], SEP, D("0"), D("1"), user=maker)
    log_in(client, checker)
    reader = {"Accept-Language": language}

    def approvals_page() -> str:
        page = " ".join(client.get("/approvals", headers=reader).get_data(as_text=True).split())
        assert "2026-10-20" not in page and "2026-09-01" not in page
        return page

    page = approvals_page()
    assert correction.format(id=readings["large"]) in page and pricing in page
    for request in pending():
        approvals.reject(request.id, checker, "not now")

    metering.delete_reading(readings["large"], user=maker)
    metering.change_tariff(metering.checked_tariff(SEP, D("0"), None), user=maker)
    page = approvals_page()
    assert deletion.format(id=readings["large"]) in page and tariff in page
    download = client.get("/approvals/export.csv", headers=reader).get_data(as_text=True)
    assert deletion.format(id=readings["large"]) in download and tariff in download
