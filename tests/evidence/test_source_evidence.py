"""A source row changed outside the application (a reading, a price, an invoice, a payment) is evidence to review:
its customer is quarantined and no fix turns it into money, until an admin vouches for the row. A fix that would
move more than the approval limit on a wallet leaves the reading for a correction, which asks for approval."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.evidence.quarantine import customers_held
from backoffice.models import (
    Discrepancy,
    HistoryOperation,
    MeterReading,
    RunMode,
    TamperedEvidence,
)
from backoffice.models.history import record
from backoffice.platform.extensions import db
from backoffice.reconcile import evidence_review
from backoffice.reconcile.engine import run
from backoffice.services import meter_invoices, meter_lifecycle, meter_payments, metering
from tests.factories import (
    UserFactory,
    corrupt,
    metered_customer,
    past_the_guards,
    stored,
)
from tests.rows import movements

D = Decimal
NOV = date(2026, 11, 1)
READING_DAY = date(2026, 11, 20)
FIXES = ["reading_calculation", "customer_wallet", "meter_balance", "customer_meter_totals"]


@pytest.fixture
def site(app):
    """A customer with Rp1.000.000 prepaid, a meter and a price from November, and a reading of 10 m³
    (Rp75.926,25). Returns the customer's, the meter's and the reading's ids."""
    customer, meter = metered_customer("HOTEL", NOV, D("7500.00"), D("1.012345"), prepaid=D("1000000"), serial="M-1")
    reading = metering.record_reading(meter.id, READING_DAY, D("10"))
    return customer.id, meter.id, reading


def open_findings(customer_id: int) -> set[tuple[str, int]]:
    db.session.rollback()
    return {(finding.kind, finding.row_id) for finding in evidence_review.open_findings(customer_id)}


def quarantined(customer_id: int) -> bool:
    return customer_id in customers_held(db.session.connection(), [customer_id])


def reason(run_id: int, check: str) -> str:
    return db.session.scalar(
        sa.select(Discrepancy.reason).where(
            Discrepancy.run_id == run_id, Discrepancy.check == check, Discrepancy.fixed.is_(False)
        )
    )


def test_a_reading_lowered_by_sql_is_quarantined_and_verify_fix_posts_no_refund(site, runner):
    customer_id, _meter_id, reading = site
    before, charged = movements(), stored("customers", "balance", customer_id)
    corrupt("meter_readings", "volume_flow_meter", reading, "1")

    result = runner.invoke(args=["reconcile", "verify", "--fix"])

    assert result.exit_code == 1, result.output
    assert (movements(), stored("customers", "balance", customer_id)) == (before, charged)
    assert open_findings(customer_id) == {("meter_readings", reading)}
    assert quarantined(customer_id)
    finding = db.session.scalar(sa.select(TamperedEvidence).where(TamperedEvidence.kind == "meter_readings"))
    assert "reading of meter M-1 on 2026-11-20: volume_flow_meter changed outside the application" in finding.what
    left = db.session.scalar(
        sa.select(Discrepancy).where(Discrepancy.check == "reading_calculation", Discrepancy.field == "charged")
    )
    assert not left.fixed and "tampered evidence" in left.reason


def test_a_reading_raised_by_sql_charges_nothing(site):
    customer_id, _meter_id, reading = site
    before, charged = movements(), stored("customers", "balance", customer_id)
    corrupt("meter_readings", "volume_flow_meter", reading, "1000")

    fix = run(RunMode.FIX, checks=FIXES)

    assert (movements(), stored("customers", "balance", customer_id)) == (before, charged)
    assert "reading of meter M-1" in reason(fix.id, "reading_calculation")
    assert open_findings(customer_id) == {("meter_readings", reading)}


def test_a_reading_inserted_by_sql_with_no_version_is_not_charged(site):
    customer_id, meter_id, _reading = site
    before = movements()
    db.session.execute(
        sa.insert(MeterReading.__table__)
        .values(meter_id=meter_id, customer_id=customer_id, reading_date=date(2026, 11, 21), volume_flow_meter=D("500"))
        .values(note="", created_at=sa.func.current_timestamp())
    )
    db.session.commit()
    forged = db.session.scalar(sa.select(sa.func.max(MeterReading.id)))

    run(RunMode.FIX, checks=FIXES)

    assert movements() == before
    assert open_findings(customer_id) == {("meter_readings", forged)}
    what = db.session.scalar(sa.select(TamperedEvidence.what).where(TamperedEvidence.row_id == forged))
    assert "has no history version" in what


def test_a_price_edited_by_sql_is_quarantined_until_accepted_then_the_fix_reprices(site):
    customer_id, _meter_id, reading = site
    before, charged = movements(), stored("customers", "balance", customer_id)
    db.session.execute(sa.text("UPDATE customer_pricing SET price_per_sm3 = 9000, meter_correction = 1"))
    db.session.commit()

    run(RunMode.FIX, checks=FIXES)

    assert (movements(), stored("customers", "balance", customer_id)) == (before, charged)
    pricing_id = db.session.scalar(sa.text("SELECT id FROM customer_pricing"))
    assert open_findings(customer_id) == {("customer_pricing", pricing_id)}
    what = db.session.scalar(sa.select(TamperedEvidence.what).where(TamperedEvidence.kind == "customer_pricing"))
    assert "pricing of customer HOTEL from 2026-11-01: price_per_sm3, meter_correction changed" in what

    admin = UserFactory(email="admin@example.com", role="admin")
    ids = [finding.id for finding in evidence_review.open_findings(customer_id)]
    evidence_review.accept(ids, "the signed contract of 1 Nov says Rp9.000 with no correction", admin)

    assert not quarantined(customer_id)
    run(RunMode.FIX, checks=FIXES)
    assert stored("customers", "balance", customer_id) == D("1000000") - D("90000.00")
    assert stored("transaction_calculations", "total_price", _calculation(reading)) == D("90000.00")
    # The admin's decision is the row's latest version: the history agrees with it, and nothing is left.
    assert run(RunMode.VERIFY, checks=[*FIXES, "history_drift", "evidence_seals"]).mismatched == 0
    assert open_findings(customer_id) == set()


def test_an_invoice_amount_edited_by_sql_quarantines_the_meter_and_customer_unfixed(site):
    customer_id, meter_id, _reading = site
    meter = meter_lifecycle.meter_by_serial("M-1")
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("500000"), READING_DAY, date(2026, 12, 20)).id
    meter_payments.add_payment(meter, D("200000"), READING_DAY, "BANK-1")
    due = stored("customers", "amount_due", customer_id)
    assert due == D("300000.00")
    corrupt("invoices", "amount", invoice, "100000")

    fix = run(RunMode.FIX, checks=FIXES)

    assert stored("meters", "balance", meter_id) == D("300000.00")
    assert stored("customers", "amount_due", customer_id) == due
    assert open_findings(customer_id) == {("invoices", invoice)}
    assert "invoice INV-1: amount changed" in reason(fix.id, "meter_balance")


def test_a_payment_amount_edited_by_sql_leaves_the_figures_unfixed(site):
    customer_id, meter_id, _reading = site
    meter = meter_lifecycle.meter_by_serial("M-1")
    meter_invoices.add_invoice(meter, "INV-1", D("500000"), READING_DAY, date(2026, 12, 20))
    payment = meter_payments.add_payment(meter, D("200000"), READING_DAY, "BANK-1").id
    corrupt("payments", "amount", payment, "500000")

    run(RunMode.FIX, checks=FIXES)

    assert stored("meters", "balance", meter_id) == D("300000.00")
    assert stored("customers", "amount_due", customer_id) == D("300000.00")
    assert open_findings(customer_id) == {("payments", payment)}


def _changed_without_repricing(reading: int, volume: str) -> None:
    """The reading changed, with its version, but not re-priced: its charge is wrong from sealed sources."""
    connection = db.session.connection()
    connection.execute(
        sa.text("UPDATE meter_readings SET volume_flow_meter = :v WHERE id = :id"), {"v": volume, "id": reading}
    )
    record(connection, MeterReading, MeterReading.__table__.c.id == reading, HistoryOperation.EDIT)
    db.session.commit()


def test_a_fix_charging_more_than_the_approval_limit_posts_nothing_and_says_why(site, limit):
    customer_id, _meter_id, reading = site
    before, charged = movements(), stored("customers", "balance", customer_id)
    _changed_without_repricing(reading, "100")  # Rp759.258,75 instead of Rp75.926,25

    fix = run(RunMode.FIX, checks=FIXES)

    assert (movements(), stored("customers", "balance", customer_id)) == (before, charged)
    assert "above the approval limit (Rp50.000,00)" in reason(fix.id, "reading_calculation")
    assert open_findings(customer_id) == set()


def test_a_fix_that_would_give_back_more_than_the_approval_limit_posts_nothing(site, limit):
    customer_id, meter_id, _reading = site
    big = metering.record_reading(meter_id, date(2026, 11, 21), D("100"))
    before, charged = movements(), stored("customers", "balance", customer_id)
    _changed_without_repricing(big, "1")

    fix = run(RunMode.FIX, checks=FIXES)

    assert (movements(), stored("customers", "balance", customer_id)) == (before, charged)
    assert "above the approval limit" in reason(fix.id, "reading_calculation")


def test_a_fix_below_the_approval_limit_posts(site, limit):
    customer_id, _meter_id, reading = site
    charged = stored("customers", "balance", customer_id)
    _changed_without_repricing(reading, "11")  # Rp7.592,25 more

    run(RunMode.FIX, checks=FIXES)

    assert stored("customers", "balance", customer_id) == charged - D("7592.25")
    assert run(RunMode.VERIFY, checks=[*FIXES, "history_drift", "evidence_seals"]).mismatched == 0


def _calculation(reading: int) -> int:
    return db.session.scalar(sa.text("SELECT id FROM transaction_calculations WHERE reading_id = :r"), {"r": reading})


def test_an_admin_accepts_a_changed_reading_on_the_customers_page_and_the_fix_posts(site, client, auth):
    customer_id, _meter_id, reading = site
    corrupt("meter_readings", "volume_flow_meter", reading, "11")
    run(RunMode.FIX, checks=FIXES)
    auth.login(role="admin")
    page = client.get("/customers/HOTEL").get_data(as_text=True)
    assert 'id="quarantined-banner"' in page and "reading of meter M-1 on 20 Nov 2026" in page
    ids = [str(finding.id) for finding in evidence_review.open_findings(customer_id)]

    done = client.post(
        "/evidence/review",
        data={
            "findings": ids,
            "decision": "accept",
            "reason": "the meter's photo shows 11 m³",
            "next": "/customers/HOTEL",
        },
    )

    assert done.status_code == 302
    assert open_findings(customer_id) == set()
    run(RunMode.FIX, checks=FIXES)
    assert stored("customers", "balance", customer_id) == D("1000000") - D("83518.50")
    versions = db.session.execute(
        sa.text("SELECT volume_flow_meter FROM meter_readings_history WHERE id = :id ORDER BY transaction_id"),
        {"id": reading},
    ).scalars()
    assert [D(str(volume)) for volume in versions][-1] == D("11")


def test_a_rebuild_posts_nothing_from_a_price_edited_by_sql(site, runner):
    customer_id, _meter_id, _reading = site
    before, charged = movements(), stored("customers", "balance", customer_id)
    db.session.execute(sa.text("UPDATE customer_pricing SET price_per_sm3 = 1"))
    db.session.commit()

    result = runner.invoke(args=["reconcile", "rebuild", "--customer", "HOTEL"])

    assert (movements(), stored("customers", "balance", customer_id)) == (before, charged), result.output
    assert {kind for kind, _row in open_findings(customer_id)} == {"customer_pricing"}


def test_a_reading_rewritten_with_its_version_is_quarantined_by_the_versions_seal(site):
    customer_id, _meter_id, reading = site
    before = movements()
    with past_the_guards() as connection:
        for table in ("meter_readings", "meter_readings_history"):
            connection.execute(sa.text(f"UPDATE {table} SET volume_flow_meter = 1 WHERE id = :id"), {"id": reading})

    run(RunMode.FIX, checks=FIXES)

    assert movements() == before
    assert open_findings(customer_id) == {("meter_readings_history", reading)}
