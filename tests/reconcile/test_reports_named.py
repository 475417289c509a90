"""Reports an accountant reads: each entity by its business key and name beside its id, each field in a clerk's
words beside its code name, times in the installation's time zone with their offset, and totals only of what
adds up."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import Account, Discrepancy, RunMode
from backoffice.models.types import as_utc
from backoffice.platform.extensions import db
from backoffice.posting.rules import CASH
from backoffice.reconcile.engine import run
from backoffice.reconcile.report import CSV_COLUMNS, summary
from backoffice.reconcile.wording import FIELD_LABELS, field_label
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import (
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    TargetFactory,
    corrupt,
    corrupt_bucket,
    forged_recharge,
)

D = Decimal
NOV = date(2026, 11, 1)


def _csv(client, run_id: int) -> list[dict]:
    return list(
        csv.DictReader(io.StringIO(client.get(f"/reconciliation/runs/{run_id}.csv").get_data().decode("utf-8-sig")))
    )


def test_the_csv_names_orders_targets_and_customers_by_business_key_and_name(client, auth):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    target = TargetFactory(account_manager=customer.account_manager, period_start=NOV)
    order = OrderFactory(customer=customer, number="SO-2026-0001", closing_date=date(2026, 11, 10))
    corrupt("orders", "grand_total", order.id, "1.00")
    corrupt("targets", "achieved_amount", target.id, "2.00")
    corrupt("customers", "balance", customer.id, "5.00")
    auth.login("finance")
    record = run(RunMode.VERIFY, checks=["order_grand_total", "target_achieved", "customer_wallet"])
    rows = {(r["check"], r["field"]): r for r in _csv(client, record.id)}

    ordered = rows["order_grand_total", "grand_total"]
    assert (ordered["entity_type"], ordered["entity_id"]) == ("order", str(order.id))
    assert ordered["entity_key"] == "SO-2026-0001"
    assert ordered["entity_name"] == "order SO-2026-0001 of C0042 — PT Sinar Jaya Makmur"
    assert ordered["field_label"] == "Grand total"

    manager = target.account_manager
    aimed = rows["target_achieved", "achieved_amount"]
    assert aimed["entity_key"] == f"{manager.email} 2026-11"
    assert aimed["entity_name"] == f"target of {manager.name} for November 2026"
    assert aimed["field_label"] == "Achieved amount"

    held = rows["customer_wallet", "balance"]
    assert (held["entity_key"], held["entity_name"], held["field_label"]) == (
        "C0042",
        "C0042 — PT Sinar Jaya Makmur",
        "Wallet balance",
    )


def test_a_fixed_discrepancy_is_dated_in_the_installations_time_zone_with_its_offset(app, client, auth):
    order = OrderFactory(number="SO-1")
    corrupt("orders", "grand_total", order.id, "1.00")
    record = run(RunMode.FIX, checks=["order_grand_total"])
    auth.login("finance")
    (row,) = _csv(client, record.id)
    fixed_at = datetime.fromisoformat(row["fixed_at"])
    assert row["fixed_at"].endswith("+07:00") and app.config["TIMEZONE"] == "Asia/Jakarta"
    stored = db.session.scalar(sa.select(Discrepancy.fixed_at))
    assert fixed_at == as_utc(stored).replace(microsecond=0)
    assert fixed_at.utcoffset() == datetime.now(ZoneInfo("Asia/Jakarta")).utcoffset()
    document = summary(db.session.merge(record))
    assert document["started_at"].endswith("+07:00") and document["discrepancies"][0]["fixed_at"] == row["fixed_at"]


def test_accounts_are_named_by_code_and_name(client, auth):
    wallet.recharge(CustomerFactory(code="HOTEL"), D("1000"))
    cash = db.session.scalar(sa.select(Account).where(Account.code == CASH))
    corrupt_bucket(cash.id, 0, "5.00")
    auth.login("finance")
    record = run(RunMode.VERIFY, checks=["account_balance"])
    (row,) = _csv(client, record.id)
    assert (row["entity_key"], row["entity_name"]) == (cash.code, f"account {cash.code} {cash.name}")
    assert row["field_label"] == "Account balance"


def test_discrepancies_show_fields_in_a_clerks_words_and_the_entity_beside_its_id(client, auth):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    wallet.recharge(customer, D("1000"))
    corrupt("customers", "balance", customer.id, "5.00")
    record = run(RunMode.VERIFY, checks=["monthly_balance"])
    auth.login("finance")
    page = client.get(f"/reconciliation/runs/{record.id}").get_data(as_text=True)
    assert "Latest closing balance against the wallet balance" in page
    assert ">closing_equals_wallet_balance<" not in page and 'title="closing_equals_wallet_balance"' in page
    assert "C0042 — PT Sinar Jaya Makmur" in page and f"customer {customer.id}" in page


def test_history_drift_and_evidence_rows_are_named_by_their_records(client, auth):
    customer = CustomerFactory(code="HOTEL", name="Hotel Melati")
    wallet.recharge(customer, D("1000"))
    corrupt("customers", "suspend_below", customer.id, "5000000.00")
    forged = forged_recharge(customer.id, "5000")
    record = run(RunMode.VERIFY, checks=["history_drift", "evidence_seals"])
    auth.login("finance")
    rows = _csv(client, record.id)
    drifted = next(r for r in rows if r["check"] == "history_drift")
    assert (drifted["entity_key"], drifted["entity_name"]) == ("HOTEL", "HOTEL — Hotel Melati")
    assert drifted["field_label"] == "Changed outside the application: suspend_below"
    unsealed = next(r for r in rows if r["check"] == "evidence_seals" and r["entity_id"] == str(forged))
    assert (unsealed["entity_type"], unsealed["field"]) == ("evidence", "balance_transactions")
    assert unsealed["entity_key"] == f"HOTEL #{forged}"
    assert unsealed["entity_name"] == f"movement #{forged} of HOTEL — Hotel Melati"
    assert unsealed["field_label"] == "Seal of the wallet movement"


def test_every_checked_field_has_a_clerks_label():
    from backoffice.reconcile import CHECKS

    for check in CHECKS.values():
        if check.examines:
            continue
        for f in check.fields():
            assert (check.name, f.name) in FIELD_LABELS, (check.name, f.name)
            assert field_label(check.name, f.name) != f.name


def test_a_job_result_totals_only_what_adds_and_names_its_customers(app):
    customer = CustomerFactory(code="HOTEL", name="Hotel Melati")
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, NOV)
    metering.set_pricing(customer.id, NOV, D("7500.00"), D("1.012345"))
    for day in (5, 6):
        metering.record_reading(meter.id, date(2026, 11, day), D("100"))
    record, _created = jobs.enqueue(
        "rebuild", {"dry_run": True, "checks": ["reading_calculation"], "customers": ["HOTEL"]}
    )
    db.session.refresh(record)
    (check,) = record.result["checks"]
    # Prices per Sm³ and correction factors do not add up; volumes and amounts do.
    assert set(check["totals"]) == {"volume_flow_meter", "volume_sm3", "total_price", "charged"}
    assert check["totals"]["total_price"]["before"] == "1518517.50"
    assert record.result["customers"] == [{"code": "HOTEL", "name": "Hotel Melati"}]
    assert record.result["labels"]["reading_calculation"]["label"] == "Reading charges"
    assert record.result["labels"]["reading_calculation"]["fields"]["price_per_sm3"] == "Price per Sm³"
    assert record.result["started_at"].endswith("+07:00")


def test_a_report_in_indonesian_or_vietnamese_names_checks_fields_and_entities_in_it(client, auth):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    order = OrderFactory(customer=customer, number="SO-2026-0001", closing_date=date(2026, 11, 10))
    corrupt("orders", "grand_total", order.id, "1.00")
    corrupt("customers", "balance", customer.id, "5.00")
    record = run(RunMode.VERIFY, checks=["order_grand_total", "customer_wallet"])
    user = auth.login("finance")
    expected = {
        "id": ("pesanan SO-2026-0001 milik C0042 — PT Sinar Jaya Makmur", "Saldo dompet", "Total keseluruhan pesanan"),
        "vi": ("đơn hàng SO-2026-0001 của C0042 — PT Sinar Jaya Makmur", "Số dư ví", "Tổng cộng đơn hàng"),
    }
    for language, (order_name, balance_label, check_label) in expected.items():
        user.language = language
        db.session.commit()
        header, *lines = csv.reader(
            io.StringIO(client.get(f"/reconciliation/runs/{record.id}.csv").get_data().decode("utf-8-sig"))
        )
        assert header != CSV_COLUMNS and len(header) == len(CSV_COLUMNS)
        rows = {(r["check"], r["field"]): r for r in (dict(zip(CSV_COLUMNS, line, strict=True)) for line in lines)}
        assert rows["order_grand_total", "grand_total"]["entity_name"] == order_name
        assert rows["customer_wallet", "balance"]["field_label"] == balance_label
        assert rows["customer_wallet", "balance"]["field"] == "balance"
        page = client.get(f"/reconciliation/runs/{record.id}").get_data(as_text=True)
        assert check_label in page and balance_label in page and order_name in page


def test_the_command_line_names_checks_and_fields_in_english(runner):
    listed = runner.invoke(args=["reconcile", "checks"])
    assert listed.exit_code == 0 and "Order grand totals" in listed.output and "Saldo" not in listed.output
    assert field_label("customer_wallet", "balance") == "Wallet balance"


def test_a_record_deleted_outside_the_application_is_named_by_its_latest_version(client, auth):
    gone = MeterFactory(serial="M-GONE").id
    db.session.execute(sa.text("DELETE FROM meters WHERE id = :id"), {"id": gone})
    db.session.commit()
    record = run(RunMode.VERIFY, checks=["history_drift"])
    auth.login("finance")
    (row,) = _csv(client, record.id)
    assert (row["entity_type"], row["entity_id"], row["field"]) == ("meter", str(gone), "deleted without a version")
    assert (row["entity_key"], row["entity_name"]) == ("M-GONE", "meter M-GONE (deleted)")
