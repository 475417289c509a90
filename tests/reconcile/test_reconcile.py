"""The engine finds exactly what raw SQL corrupted, heals it with an audit row, and respects scope."""

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import (
    CheckResult,
    Discrepancy,
    Order,
    ReconciliationRun,
    RunMode,
    RunStatus,
    TransactionCalculation,
)
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS, UnknownCheck
from backoffice.reconcile.base import Scope
from backoffice.reconcile.engine import UnknownCustomer, key_ranges, run, scope_for
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import (
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    TargetFactory,
    corrupt,
    stored,
    two_managers_three_customers,
)


@pytest.fixture
def book(app):
    """Two managers, three customers, orders over two months, and their targets."""
    made = two_managers_three_customers()
    dewi, budi, hotel, bakery, mill = (made[name] for name in ("dewi", "budi", "hotel", "bakery", "mill"))
    orders = {
        "hotel_oct": OrderFactory(customer=hotel, closing_date=date(2026, 10, 5)),
        "hotel_nov": OrderFactory(customer=hotel, closing_date=date(2026, 11, 5)),
        "bakery_nov": OrderFactory(customer=bakery, closing_date=date(2026, 11, 6)),
        "mill_nov": OrderFactory(customer=mill, closing_date=date(2026, 11, 7)),
    }
    targets = {
        "dewi_oct": TargetFactory(account_manager=dewi, period_start=date(2026, 10, 1)),
        "dewi_nov": TargetFactory(account_manager=dewi, period_start=date(2026, 11, 1)),
        "budi_nov": TargetFactory(account_manager=budi, period_start=date(2026, 11, 1)),
    }
    return {**orders, **targets}


def found(record) -> set[tuple[str, int, str, Decimal, Decimal, Decimal]]:
    rows = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == record.id)).all()
    return {(d.check, d.entity_id, d.field, d.stored, d.expected, d.difference) for d in rows}


def counts(record) -> dict[str, tuple[int, int, int]]:
    """Checked, mismatched and fixed per check; the wallet's checks are covered in test_wallet."""
    return {r.check: (r.checked, r.mismatched, r.fixed) for r in record.results if r.check in ORDER_CHECKS}


ORDER_CHECKS = ("order_grand_total", "target_achieved", "order_month_totals")


def test_a_clean_book_verifies_clean(book):
    record = run(RunMode.VERIFY)
    assert record.status is RunStatus.SUCCEEDED
    assert counts(record) == {
        "order_grand_total": (4, 0, 0),
        "target_achieved": (3, 0, 0),
        "order_month_totals": (3, 0, 0),
    }
    assert found(record) == set()


def test_verify_finds_exactly_the_corrupted_values_and_writes_nothing(book):
    corrupt("orders", "grand_total", book["mill_nov"].id, "9300100.00")
    corrupt("targets", "achieved_amount", book["dewi_oct"].id, "1.00")
    record = run(RunMode.VERIFY)
    assert found(record) == {
        (
            "order_grand_total",
            book["mill_nov"].id,
            "grand_total",
            Decimal("9300100"),
            Decimal("9300000"),
            Decimal("-100"),
        ),
        (
            "target_achieved",
            book["dewi_oct"].id,
            "achieved_amount",
            Decimal("1"),
            Decimal("9300000"),
            Decimal("9299999"),
        ),
        # Budi's target is summed from the corrupted grand total: it disagrees until the order is fixed.
        (
            "target_achieved",
            book["budi_nov"].id,
            "achieved_amount",
            Decimal("9300000"),
            Decimal("9300100"),
            Decimal("100"),
        ),
        # So is his month of orders.
        (
            "order_month_totals",
            book["mill_nov"].account_manager_id,
            "grand_total",
            Decimal("9300000"),
            Decimal("9300100"),
            Decimal("100"),
        ),
    }
    assert counts(record) == {
        "order_grand_total": (4, 1, 0),
        "target_achieved": (3, 2, 0),
        "order_month_totals": (3, 1, 0),
    }
    assert stored("orders", "grand_total", book["mill_nov"].id) == Decimal("9300100.00")
    assert stored("targets", "achieved_amount", book["dewi_oct"].id) == Decimal("1.00")


def test_fix_heals_records_each_fix_and_a_second_verify_is_clean(book):
    corrupt("orders", "grand_total", book["hotel_nov"].id, "0")
    corrupt("targets", "achieved_amount", book["budi_nov"].id, "5")
    record = run(RunMode.FIX)
    assert counts(record) == {
        "order_grand_total": (4, 1, 1),
        "target_achieved": (3, 1, 1),
        "order_month_totals": (3, 0, 0),
    }
    fixes = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == record.id)).all()
    assert all(d.fixed and d.fixed_at is not None for d in fixes)
    assert stored("orders", "grand_total", book["hotel_nov"].id) == Decimal("9300000.00")
    assert stored("targets", "achieved_amount", book["budi_nov"].id) == Decimal("9300000.00")
    again = run(RunMode.VERIFY)
    assert counts(again) == {
        "order_grand_total": (4, 0, 0),
        "target_achieved": (3, 0, 0),
        "order_month_totals": (3, 0, 0),
    }


def test_fix_records_the_before_and_after_totals(book):
    corrupt("orders", "grand_total", book["hotel_nov"].id, "9300500.00")
    record = run(RunMode.FIX, checks=["order_grand_total"])
    assert record.results[0].totals == {"grand_total": {"before": "37200500.00", "after": "37200000.00"}}


def test_a_fix_s_totals_are_exact_decimals(app):
    customer = CustomerFactory()
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customer, date(2026, 10, 1))
    wallet.recharge(customer.id, Decimal("100"))
    metering.set_pricing(customer.id, date(2026, 10, 1), Decimal("1000.00"), Decimal("1"))
    for day, volume in ((5, "0.0001"), (6, "0.0002"), (7, "0.0004")):  # charged 0.10, 0.20 and 0.40
        metering.record_reading(meter.id, date(2026, 11, day), Decimal(volume))
    db.session.commit()
    calculation = db.session.scalar(sa.select(sa.func.max(TransactionCalculation.id)))
    corrupt("transaction_calculations", "total_price", calculation, "0.50")
    record = run(RunMode.FIX, checks=["reading_calculation"])
    totals = record.results[0].totals
    assert totals["charged"] == {"before": "0.70", "after": "0.70"}


def test_a_fix_keeps_the_orders_last_edit_time(book):
    order = book["hotel_nov"]
    before = db.session.execute(sa.text("SELECT updated_at FROM orders WHERE id = :id"), {"id": order.id}).scalar_one()
    corrupt("orders", "grand_total", order.id, "1")
    run(RunMode.FIX)
    after = db.session.execute(sa.text("SELECT updated_at FROM orders WHERE id = :id"), {"id": order.id}).scalar_one()
    assert after == before


def test_rebuild_dry_run_shows_the_changes_and_changes_nothing(book):
    corrupt("orders", "grand_total", book["bakery_nov"].id, "7")
    record = run(RunMode.DRY_RUN, checks=["order_grand_total"])
    assert counts(record) == {"order_grand_total": (4, 1, 0)}
    assert record.left == 1
    assert stored("orders", "grand_total", book["bakery_nov"].id) == Decimal("7.00")
    rebuilt = run(RunMode.REBUILD, checks=["order_grand_total"])
    assert counts(rebuilt) == {"order_grand_total": (4, 1, 1)}
    assert stored("orders", "grand_total", book["bakery_nov"].id) == Decimal("9300000.00")


def test_customer_scope_selects_their_orders_and_the_targets_they_count_towards(book):
    for name in ("hotel_oct", "bakery_nov", "mill_nov"):
        corrupt("orders", "grand_total", book[name].id, "1")
    for name in ("dewi_oct", "dewi_nov", "budi_nov"):
        corrupt("targets", "achieved_amount", book[name].id, "2")
    record = run(RunMode.VERIFY, scope=scope_for(["HOTEL"]))
    assert {(c, i) for c, i, *_ in found(record)} == {
        ("order_grand_total", book["hotel_oct"].id),
        ("target_achieved", book["dewi_oct"].id),
        ("target_achieved", book["dewi_nov"].id),
        ("order_month_totals", book["hotel_oct"].account_manager_id),
    }
    assert counts(record) == {
        "order_grand_total": (2, 1, 0),
        "target_achieved": (2, 2, 0),
        "order_month_totals": (2, 2, 0),
    }


def test_month_scope_selects_from_that_month_on(book):
    corrupt("orders", "grand_total", book["hotel_oct"].id, "1")
    corrupt("orders", "grand_total", book["mill_nov"].id, "1")
    corrupt("targets", "achieved_amount", book["dewi_oct"].id, "2")
    record = run(
        RunMode.VERIFY, checks=["order_grand_total", "target_achieved"], scope=scope_for(from_month=date(2026, 11, 1))
    )
    assert {(c, i) for c, i, *_ in found(record)} == {
        ("order_grand_total", book["mill_nov"].id),
        ("target_achieved", book["budi_nov"].id),
    }
    assert record.scope == {"from_month": "2026-11"}


def test_chunks_give_the_same_answer_as_one_pass(app, book):
    corrupt("orders", "grand_total", book["hotel_oct"].id, "1")
    corrupt("orders", "grand_total", book["mill_nov"].id, "1")
    app.config["RECONCILE_CHUNK_SIZE"] = 1
    chunked = run(RunMode.VERIFY, checks=["order_grand_total"])
    app.config["RECONCILE_CHUNK_SIZE"] = 100_000
    whole = run(RunMode.VERIFY, checks=["order_grand_total"])
    assert counts(chunked) == counts(whole) == {"order_grand_total": (4, 2, 0)}
    assert {d[1:] for d in found(chunked)} == {d[1:] for d in found(whole)}


PARALLEL_HOWEVER_SMALL = (
    # A few rows' work is worth splitting only when it is what costs: the pages a scan reads cost the same split or
    # not, and left at their price, on a table earlier tests filled and emptied, they drown the split's saving
    # within the planner's tolerance of 1 %; each row's aggregate steps priced high, partial aggregates are cheaper.
    "SET LOCAL seq_page_cost = 0",
    "SET LOCAL cpu_operator_cost = 1",
    "SET LOCAL parallel_setup_cost = 0",
    "SET LOCAL parallel_tuple_cost = 0",
    "SET LOCAL min_parallel_table_scan_size = 0",
    "SET LOCAL max_parallel_workers_per_gather = 2",
)


def test_a_one_table_check_counts_and_finds_in_one_scan_split_over_parallel_workers(app, book):
    corrupt("orders", "grand_total", book["hotel_oct"].id, "1")
    corrupt("orders", "grand_total", book["mill_nov"].id, "1")
    statements = []

    def parallel(connection):
        for setting in PARALLEL_HOWEVER_SMALL:
            connection.exec_driver_sql(setting)

    def executed(_connection, _cursor, statement, parameters, *_args):
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "begin", parallel)
    sa.event.listen(db.engine, "before_cursor_execute", executed)
    try:
        record = run(RunMode.VERIFY, checks=["order_grand_total"])
        reads = [statement for statement, _parameters in statements if re.search(r"\sFROM orders\b", statement)]
        scan, parameters = next(executed for executed in statements if "keys_of(" in executed[0])
        plan = "\n".join(db.session.connection().exec_driver_sql(f"EXPLAIN {scan}", parameters).scalars())
    finally:
        sa.event.remove(db.engine, "begin", parallel)
        sa.event.remove(db.engine, "before_cursor_execute", executed)
    assert "Gather" in plan and "Partial Aggregate" in plan, plan
    assert counts(record) == {"order_grand_total": (4, 2, 0)}
    assert {(check, key) for check, key, *_ in found(record)} == {
        ("order_grand_total", book["hotel_oct"].id),
        ("order_grand_total", book["mill_nov"].id),
    }
    assert len(reads) == 2, reads  # the key bounds, then the scan that counts and finds


def test_each_run_is_recorded_with_its_mode_scope_and_checks(book):
    record = run(RunMode.VERIFY, checks=["target_achieved"], scope=scope_for(["MILL"], date(2026, 1, 1)))
    stored_run = db.session.get(ReconciliationRun, record.id)
    assert stored_run.mode is RunMode.VERIFY
    assert stored_run.checks == ["target_achieved"]
    assert stored_run.scope == {"customers": ["MILL"], "from_month": "2026-01"}
    assert stored_run.finished_at is not None and stored_run.status is RunStatus.SUCCEEDED
    assert db.session.scalar(sa.select(sa.func.count(CheckResult.id))) == 1


def test_unknown_checks_and_customers_are_refused(book):
    with pytest.raises(UnknownCheck, match="nope"):
        run(RunMode.VERIFY, checks=["nope"])
    with pytest.raises(UnknownCustomer, match="GHOST"):
        scope_for(["HOTEL", "GHOST"])
    assert db.session.scalar(sa.select(sa.func.count(ReconciliationRun.id))) == 0


def test_an_empty_scope_checks_nothing(book):
    record = run(RunMode.VERIFY, scope=scope_for(from_month=date(2030, 1, 1)))
    assert counts(record) == {
        "order_grand_total": (0, 0, 0),
        "target_achieved": (0, 0, 0),
        "order_month_totals": (0, 0, 0),
    }


def test_a_run_that_fails_is_recorded_as_failed_and_its_chunk_rolled_back(book):
    # Components edited past the hooks give a negative total, which the database refuses to store.
    corrupt("orders", "promo", book["hotel_nov"].id, "99999999.00")
    with pytest.raises(sa.exc.IntegrityError):
        run(RunMode.FIX, checks=["order_grand_total"])
    record = db.session.scalar(sa.select(ReconciliationRun))
    assert record.status is RunStatus.FAILED
    assert "IntegrityError" in record.error and record.finished_at is not None
    assert db.session.scalar(sa.select(sa.func.count(Discrepancy.id))) == 0
    assert stored("orders", "grand_total", book["hotel_nov"].id) == Decimal("9300000.00")


FINISHED_RUN_CHANGES = {
    "reopen the run": "UPDATE reconciliation_runs SET status = 'running' WHERE id = :r",
    "delete the run": "DELETE FROM reconciliation_runs WHERE id = :r",
    "unfix a discrepancy": "UPDATE reconciliation_discrepancies SET fixed = false WHERE run_id = :r",
    "delete a discrepancy": "DELETE FROM reconciliation_discrepancies WHERE run_id = :r",
    "add a discrepancy": (
        'INSERT INTO reconciliation_discrepancies (run_id, "check", entity_type, entity_id, field, difference, fixed) '
        "VALUES (:r, 'order_grand_total', 'order', 1, 'grand_total', 1, false)"
    ),
    "change a count": "UPDATE reconciliation_check_results SET fixed = 0 WHERE run_id = :r",
    "delete a count": "DELETE FROM reconciliation_check_results WHERE run_id = :r",
    "add a count": (
        'INSERT INTO reconciliation_check_results (run_id, "check", checked, mismatched, fixed, totals, duration_ms) '
        "VALUES (:r, 'target_achieved', 0, 0, 0, '{}', 0)"
    ),
}


@pytest.mark.parametrize("statement", FINISHED_RUN_CHANGES.values(), ids=FINISHED_RUN_CHANGES.keys())
def test_a_finished_run_and_its_audit_rows_refuse_changes_in_the_database(book, statement):
    corrupt("orders", "grand_total", book["mill_nov"].id, "1")
    record = run(RunMode.FIX, checks=["order_grand_total"])
    db.session.rollback()
    with pytest.raises(sa.exc.DatabaseError, match="a finished reconciliation run is evidence"):
        with db.engine.begin() as connection:
            connection.execute(sa.text(statement), {"r": record.id})
    db.session.rollback()
    assert db.session.get(ReconciliationRun, record.id).status is RunStatus.SUCCEEDED
    assert [(d.entity_id, d.fixed) for d in db.session.scalars(sa.select(Discrepancy))] == [(book["mill_nov"].id, True)]
    assert [(r.check, r.fixed) for r in db.session.scalars(sa.select(CheckResult))] == [("order_grand_total", 1)]


@pytest.mark.parametrize(
    "table", ["reconciliation_runs", "reconciliation_check_results", "reconciliation_discrepancies"]
)
def test_the_audit_trail_refuses_truncate(book, table):
    corrupt("orders", "grand_total", book["mill_nov"].id, "1")
    run(RunMode.FIX, checks=["order_grand_total"])
    db.session.rollback()
    with pytest.raises(sa.exc.DatabaseError, match="TRUNCATE is refused"):
        with db.engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    assert db.session.scalar(sa.select(sa.func.count(Discrepancy.id))) == 1


def test_chunks_of_keys_spread_far_apart_are_planned_by_the_keys_that_exist(app):
    orders = [OrderFactory() for _ in range(4)]
    db.session.execute(sa.text("UPDATE orders SET id = -5000 WHERE id = :id"), {"id": orders[0].id})
    db.session.commit()
    app.config["RECONCILE_CHUNK_SIZE"] = 2
    check = CHECKS["order_grand_total"]

    ranges = key_ranges(check, Scope())

    ids = sorted(db.session.scalars(sa.select(Order.id)))
    assert len(ranges) == 2
    assert all(any(low <= key <= high for low, high in ranges) for key in ids)
    assert run(RunMode.VERIFY, checks=["order_grand_total"]).results[0].checked == 4


def test_months_are_read_in_chunks_of_customers_holding_about_a_chunk_s_movements(app):
    customers = [CustomerFactory() for _ in range(4)]
    for customer in customers:
        for _ in range(3):
            wallet.recharge(customer, Decimal("10"))
    db.session.commit()
    db.session.execute(sa.text("ANALYZE balance_transactions"))
    first = min(customer.id for customer in customers)
    assert max(customer.id for customer in customers) == first + 3
    app.config["RECONCILE_CHUNK_SIZE"] = 6

    # 12 movements of 4 customers: two customers hold 6 of them. A chunk of the months reads its customers' alone.
    assert key_ranges(CHECKS["monthly_balance"], Scope()) == [(first, first + 1), (first + 2, first + 3)]
    assert len(key_ranges(CHECKS["order_grand_total"], Scope())) <= 1
    chunk = CHECKS["monthly_balance"].bounded(first, first + 1)
    assert set(db.session.scalars(sa.select(chunk.key).select_from(chunk.source))) == {first, first + 1}
    db.session.execute(
        sa.text("UPDATE monthly_customer_balances SET closing_balance = closing_balance + 1 WHERE customer_id = :id"),
        {"id": first + 2},
    )
    db.session.commit()
    record = run(RunMode.VERIFY, checks=["monthly_balance"])
    (result,) = record.results
    assert (result.checked, result.mismatched) == (4, 1)
    found = db.session.scalars(sa.select(Discrepancy.entity_id).where(Discrepancy.run_id == record.id)).all()
    assert set(found) == {first + 2}


def test_a_customer_s_movements_spread_over_the_ledger_are_checked_as_one_chunk(app):
    """A customer's movements lie among everyone's: a verify of that customer reads its rows, not every range of the
    ledger's ids between its first and its last."""
    mine, theirs = CustomerFactory(code="MINE"), CustomerFactory(code="THEIRS")
    wallet.recharge(mine, Decimal("100"))
    for _ in range(4):
        wallet.recharge(theirs, Decimal("10"))
    wallet.charge(mine, Decimal("30"))
    app.config["RECONCILE_CHUNK_SIZE"] = 2
    check = CHECKS["ledger_chain"]

    assert key_ranges(check, Scope(customer_ids=(mine.id,))) == [None]
    assert len(key_ranges(check, Scope())) == 3
    scoped = run(
        RunMode.VERIFY, checks=["ledger_chain"], scope=Scope(customer_ids=(mine.id,), customer_codes=("MINE",))
    )
    assert [(result.checked, result.mismatched) for result in scoped.results] == [(2, 0)]


@pytest.mark.parametrize("check", ["history_drift", "ledger_chain", "evidence_seals"])
def test_a_check_reads_without_jit_compilation(app, check):
    wallet.recharge(CustomerFactory(), Decimal("100"))
    db.session.commit()
    settings = []

    def after(_connection, cursor, statement, *_rest):
        if statement.lstrip().upper().startswith("SELECT"):
            settings.append(cursor.connection.execute("SELECT current_setting('jit')").fetchone()[0])

    sa.event.listen(db.engine, "after_cursor_execute", after)
    try:
        record = run(RunMode.VERIFY, checks=[check])
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", after)
    assert record.mismatched == 0
    # Its long generated statements are each run once: compiling them took longer than running them. The setting
    # is its transaction's alone: what runs after it plans as the server is set to.
    assert "off" in settings and "on" in settings
    assert db.session.scalar(sa.text("SELECT current_setting('jit')")) == "on"
