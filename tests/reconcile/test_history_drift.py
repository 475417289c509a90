"""history_drift: a versioned record changed outside the application is reported by its business key, never fixed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import Discrepancy, RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS
from backoffice.reconcile.engine import run
from backoffice.reconcile.history_drift import NAMES, versioned_tables
from backoffice.services import wallet
from tests.factories import (
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    TargetFactory,
    UserFactory,
    corrupt,
)

D = Decimal


def drift(mode: RunMode = RunMode.VERIFY) -> tuple[object, list[Discrepancy]]:
    record = run(mode, checks=["history_drift"])
    found = db.session.scalars(
        sa.select(Discrepancy).where(Discrepancy.run_id == record.id).order_by(Discrepancy.id)
    ).all()
    return record, found


def described(found: list[Discrepancy]) -> set[tuple[str, str, str]]:
    return {(d.entity_type, d.field, d.reason) for d in found}


def test_every_versioned_table_is_named_by_its_business_key(app):
    assert {table.name for table, _history in versioned_tables()} <= set(NAMES)
    assert "customers" in {table.name for table, _history in versioned_tables()}


def test_records_saved_through_the_application_verify_clean(app):
    hotel = CustomerFactory(code="HOTEL")
    wallet.recharge(hotel.id, D("10000"))
    OrderFactory(customer=hotel)
    TargetFactory(account_manager=hotel.account_manager)
    MeterFactory()
    UserFactory()
    record, found = drift()
    result = record.results[0]
    assert (result.check, result.mismatched, result.fixed) == ("history_drift", 0, 0)
    assert result.checked >= 6
    assert found == []


def test_a_customer_edited_by_sql_is_reported_by_its_code_and_never_rewritten(app):
    hotel = CustomerFactory(code="HOTEL", name="Hotel", email="hotel@example.com", suspend_below=D("0"))
    CustomerFactory(code="BAKERY")
    corrupt("customers", "name", hotel.id, "Hotel (by hand)")
    corrupt("customers", "email", hotel.id, "thief@example.com")
    corrupt("customers", "suspend_below", hotel.id, "5000000.00")
    record, found = drift()
    assert record.results[0].mismatched == 1
    (discrepancy,) = found
    assert (discrepancy.entity_type, discrepancy.entity_id) == ("customer", hotel.id)
    assert discrepancy.field == "name, suspend_below, email"
    assert discrepancy.reason.startswith("customer HOTEL: name, suspend_below, email differ from its latest")
    assert not discrepancy.fixed

    fixing, found = drift(RunMode.FIX)
    assert fixing.results[0].fixed == 0 and [d.fixed for d in found] == [False]
    assert db.session.execute(sa.text("SELECT name FROM customers WHERE id = :id"), {"id": hotel.id}).scalar_one() == (
        "Hotel (by hand)"
    )
    assert drift()[0].results[0].mismatched == 1


def test_an_edit_through_the_application_is_not_drift(client, auth):
    auth.login()
    hotel = CustomerFactory(code="HOTEL", name="Hotel")
    data = {
        "name": "Hotel Indah",
        "account_manager_id": hotel.account_manager.email,
        "suspend_below": "20.000",
        "contact_person": "",
        "email": "hotel@example.com",
        "phone": "",
        "address": "",
    }
    assert client.post("/customers/HOTEL/edit", data=data).status_code == 302
    assert drift()[1] == []


def test_a_record_without_a_version_and_one_deleted_without_one_are_reported(app):
    gone = MeterFactory(serial="M-GONE").id
    db.session.execute(
        sa.text(
            "INSERT INTO customers (code, name, status, created_at, balance, total_recharged, total_spent, "
            "suspend_below, use_realtime_calculation, amount_due, overpayment, version) "
            "VALUES ('SMUGGLED', 'Smuggled', 'active', CURRENT_TIMESTAMP, 0, 0, 0, 0, true, 0, 0, 1)"
        )
    )
    db.session.execute(sa.text("DELETE FROM meters WHERE id = :id"), {"id": gone})
    db.session.commit()
    smuggled = db.session.execute(sa.text("SELECT id FROM customers WHERE code = 'SMUGGLED'")).scalar_one()
    record, found = drift()
    assert record.results[0].mismatched == 2
    assert {(d.entity_type, d.entity_id, d.field) for d in found} == {
        ("customer", smuggled, "no version"),
        ("meter", gone, "deleted without a version"),
    }
    reasons = {d.field: d.reason for d in found}
    assert reasons["no version"].startswith("customer SMUGGLED has no history version")
    assert reasons["deleted without a version"].startswith("meter M-GONE was deleted outside the application")


def test_rows_of_several_tables_with_the_same_id_count_apart(app):
    hotel = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="M-001")
    target = TargetFactory(account_manager=hotel.account_manager, period_start=date(2026, 11, 1))
    corrupt("customers", "name", hotel.id, "x")
    corrupt("meters", "serial", meter.id, "M-999")
    corrupt("targets", "target_amount", target.id, "1.00")
    record, found = drift()
    assert record.results[0].mismatched == 3
    names = {d.reason.split(":")[0] for d in found}
    manager = hotel.account_manager.email
    assert names == {"customer HOTEL", "meter M-999", f"target of {manager} for 2026-11"}


def test_history_drift_is_listed_and_only_reports(runner):
    assert CHECKS["history_drift"].fixable is False
    result = runner.invoke(args=["reconcile", "checks"])
    assert result.exit_code == 0
    assert "history_drift" in result.output


def test_verify_names_the_drifted_record_by_its_code(runner):
    hotel = CustomerFactory(code="HOTEL")
    corrupt("customers", "name", hotel.id, "Hotel (by hand)")
    result = runner.invoke(args=["reconcile", "verify", "--check", "history_drift"])
    assert result.exit_code == 1
    assert "customer HOTEL: name differ" in result.output.replace("\n", " ") or "customer HOTEL" in result.output


def test_a_grand_total_is_left_to_its_own_check_and_an_order_s_components_are_not(app):
    order = OrderFactory(number="T-1")
    corrupt("orders", "grand_total", order.id, "1")
    assert drift()[1] == []
    corrupt("orders", "promo", order.id, "0")
    (found,) = drift()[1]
    assert (found.entity_type, found.field) == ("order", "promo")
    assert found.reason.startswith("order T-1: promo differs from its latest history version")


def test_a_verify_in_chunks_finds_in_each_chunk_what_one_chunk_finds(app):
    customers = [CustomerFactory(code=f"C{n}") for n in range(5)]
    gone = MeterFactory(serial="M-GONE").id
    corrupt("customers", "name", customers[3].id, "x")
    db.session.execute(sa.text("DELETE FROM meters WHERE id = :id"), {"id": gone})
    db.session.commit()
    once, whole = drift()
    app.config["RECONCILE_CHUNK_SIZE"] = 2
    record, chunked = drift()
    assert described(chunked) == described(whole)
    assert {(d.entity_type, d.entity_id) for d in chunked} == {("customer", customers[3].id), ("meter", gone)}
    assert record.results[0].checked == once.results[0].checked
