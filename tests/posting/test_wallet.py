"""The prepaid wallet: atomic movements under row locks, idempotency, suspension, and its checks."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from backoffice.models import (
    ApprovalRequest,
    BalanceTransaction,
    Customer,
    CustomerStatus,
    Discrepancy,
    Kind,
    RunMode,
)
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import discrepancies, run, scope_for
from backoffice.services import approvals, wallet
from backoffice.services.orm_hooks import AppendOnly
from tests.factories import CustomerFactory, UserFactory, corrupt, forged_recharge, past_the_guards, stored

D = Decimal
WALLET_CHECKS = ["customer_wallet", "customer_status", "ledger_chain"]


def ledger(customer_id: int) -> list[tuple]:
    db.session.rollback()
    return db.session.execute(
        sa.select(
            BalanceTransaction.kind,
            BalanceTransaction.signed_amount,
            BalanceTransaction.balance_before,
            BalanceTransaction.balance_after,
        )
        .where(BalanceTransaction.customer_id == customer_id)
        .order_by(BalanceTransaction.id)
    ).all()


def cached(customer_id: int) -> tuple:
    db.session.rollback()
    customer = db.session.get(Customer, customer_id)
    return customer.balance, customer.total_recharged, customer.total_spent, customer.status


def verified(*customer_ids: int, mode=RunMode.VERIFY):
    codes = [db.session.get(Customer, i).code for i in customer_ids]
    return run(mode, checks=WALLET_CHECKS, scope=scope_for(codes))


def test_a_charge_moves_the_ledger_and_the_balance_together(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("100000"))
    movement = wallet.charge(customer, D("30000.50"), description="gas", idempotency_key="c-1")
    assert (movement.kind, movement.amount, movement.signed_amount) == (
        Kind.CHARGE,
        D("30000.50"),
        D("-30000.50"),
    )
    assert ledger(customer.id) == [
        (Kind.RECHARGE, D("100000.00"), D("0.00"), D("100000.00")),
        (Kind.CHARGE, D("-30000.50"), D("100000.00"), D("69999.50")),
    ]
    assert cached(customer.id) == (D("69999.50"), D("100000.00"), D("30000.50"), CustomerStatus.ACTIVE)


def test_a_recharge_updates_the_ledger_and_the_customer(app):
    customer = CustomerFactory()
    movement = wallet.recharge(customer, D("250000"), description="transfer 42")
    assert (movement.balance_before, movement.balance_after) == (D("0.00"), D("250000.00"))
    assert cached(customer.id)[:3] == (D("250000.00"), D("250000.00"), D("0.00"))
    assert db.session.get(Customer, customer.id).balance_last_updated_at is not None


def test_insufficient_balance_raises_naming_what_is_available_and_writes_nothing(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("50000"))
    with pytest.raises(wallet.InsufficientBalance, match=r"HOTEL has Rp50\.000,00 available, Rp80\.000,00 is needed"):
        wallet.charge(customer, D("80000"))
    assert len(ledger(customer.id)) == 1
    assert cached(customer.id)[:3] == (D("50000.00"), D("50000.00"), D("0.00"))


def test_an_error_inside_the_transaction_rolls_everything_back(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("100000"))

    def fail_after_the_ledger_insert(_connection, _cursor, statement, *_):
        # the movement's function has written its ledger row, its entry, its month and its buckets
        if "post_wallet_movements_v3" in statement:
            raise RuntimeError("the disk is full")

    event.listen(db.engine, "after_cursor_execute", fail_after_the_ledger_insert)
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            wallet.charge(customer, D("10000"))
    finally:
        event.remove(db.engine, "after_cursor_execute", fail_after_the_ledger_insert)
    assert len(ledger(customer.id)) == 1
    assert cached(customer.id)[:3] == (D("100000.00"), D("100000.00"), D("0.00"))


def test_before_and_after_chain_through_every_kind_of_movement(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    spent = wallet.charge(customer, D("300"))
    wallet.adjust(customer, D("-0.10"), description="rounding at the bank")
    wallet.reverse(spent, description="Entered by mistake")
    assert ledger(customer.id) == [
        (Kind.RECHARGE, D("1000.00"), D("0.00"), D("1000.00")),
        (Kind.CHARGE, D("-300.00"), D("1000.00"), D("700.00")),
        (Kind.ADJUSTMENT, D("-0.10"), D("700.00"), D("699.90")),
        (Kind.REVERSAL, D("300.00"), D("699.90"), D("999.90")),
    ]
    assert cached(customer.id)[:3] == (D("999.90"), D("1000.00"), D("0.00"))
    record = verified(customer.id)
    assert record.mismatched == 0


def test_a_movement_is_reversed_once_and_a_reversed_adjustment_is_an_adjustment(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    correction = wallet.adjust(customer, D("5"), description="bank fee refund")
    undo = wallet.reverse(correction, description="Entered by mistake")
    assert (undo.kind, undo.signed_amount) == (Kind.ADJUSTMENT, D("-5.00"))
    assert wallet.reverse(correction, description="Entered by mistake").id == undo.id
    with pytest.raises(wallet.WalletError, match="cannot itself be reversed"):
        wallet.reverse(
            wallet.reverse(wallet.charge(customer, D("1")), description="Entered by mistake"),
            description="Entered by mistake",
        )
    assert cached(customer.id)[:3] == (D("1000.00"), D("1000.00"), D("0.00"))


@pytest.mark.parametrize("why", ["", " \t "])
def test_a_reversal_states_its_reason_whoever_asks_for_it_or_posts_it(app, why):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    charge = wallet.charge(customer, D("300"))
    clerk = UserFactory(role="finance")
    before = ledger(customer.id), db.session.scalar(sa.select(sa.func.count(ApprovalRequest.id)))
    with pytest.raises(wallet.NoReason, match="Say why the movement is reversed: every reversal states its reason"):
        wallet.reverse(charge, description=why)
    with pytest.raises(wallet.NoReason):
        wallet.reversal(charge, description=why)
    with pytest.raises(wallet.NoReason):
        approvals.ask_wallet_reversal(charge, description=why, value_date=None, user=clerk)
    assert (ledger(customer.id), db.session.scalar(sa.select(sa.func.count(ApprovalRequest.id)))) == before
    assert wallet.reverse(charge, description="  Charged twice ").description == "Charged twice"


def test_concurrent_charges_leave_one_success_and_never_a_negative_balance(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("100000"))
    customer_id = customer.id  # read here: the threads must not touch this session's objects
    outcomes = _in_threads(app, 5, lambda: wallet.charge(customer_id, D("80000")))
    assert sorted(type(o).__name__ for o in outcomes) == ["InsufficientBalance"] * 4 + ["int"]
    rows = ledger(customer.id)
    assert len(rows) == 2 and all(after >= 0 for *_, after in rows)
    assert cached(customer.id)[0] == D("20000.00")
    assert verified(customer.id).mismatched == 0


def test_concurrent_retries_with_one_idempotency_key_write_one_row(app):
    customer = CustomerFactory()
    customer_id = customer.id  # read here: the threads must not touch this session's objects
    outcomes = _in_threads(app, 5, lambda: wallet.recharge(customer_id, D("75000"), idempotency_key="transfer-9"))
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int)
    assert len(ledger(customer.id)) == 1
    assert cached(customer.id)[0] == D("75000.00")


def test_the_same_key_for_a_different_operation_is_refused(app):
    first, other = CustomerFactory(), CustomerFactory()
    wallet.recharge(first, D("100"), idempotency_key="k")
    for attempt in (
        lambda: wallet.recharge(first, D("101"), idempotency_key="k"),
        lambda: wallet.charge(first, D("100"), idempotency_key="k"),
        lambda: wallet.recharge(other, D("100"), idempotency_key="k"),
    ):
        with pytest.raises(wallet.IdempotencyConflict):
            attempt()
    assert len(ledger(first.id)) == 1 and ledger(other.id) == []


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("0"), "greater than zero"),
        (D("-5"), "must not be negative"),
        (D("0.001"), "2 decimal places"),
        (5, "Decimal"),
    ],
)
def test_amounts_that_cannot_be_money_are_refused(app, amount, message):
    customer = CustomerFactory()
    with pytest.raises(wallet.WalletError, match=message):
        wallet.recharge(customer, amount)
    assert ledger(customer.id) == []


def test_a_balance_below_the_threshold_suspends_and_a_recharge_above_it_reactivates(app):
    customer = CustomerFactory(suspend_below=D("50000"))
    wallet.recharge(customer, D("100000"))
    wallet.charge(customer, D("60000"))
    assert cached(customer.id)[3] is CustomerStatus.SUSPENDED
    wallet.recharge(customer, D("5000"))
    assert cached(customer.id)[3] is CustomerStatus.SUSPENDED
    wallet.recharge(customer, D("5000"))
    assert cached(customer.id)[3] is CustomerStatus.ACTIVE


def test_verify_detects_a_corrupted_balance_and_fix_heals_it(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("100000"))
    corrupt("customers", "balance", customer.id, "99999")
    found = verified(customer.id)
    assert found.left == 1
    discrepancy = db.session.scalar(sa.select(Discrepancy).where(Discrepancy.run_id == found.id))
    assert (discrepancy.field, discrepancy.stored, discrepancy.expected) == ("balance", D("99999"), D("100000"))
    assert verified(customer.id, mode=RunMode.FIX).fixed == 1
    assert stored("customers", "balance", customer.id) == D("100000.00")
    assert verified(customer.id).mismatched == 0


def test_rebuild_restores_every_cached_field(app):
    customers = [CustomerFactory() for _ in range(3)]
    for customer in customers:
        wallet.recharge(customer, D("1000"))
        wallet.charge(customer, D("400"))
    corrupt("customers", "balance", customers[0].id, "0")
    corrupt("customers", "total_recharged", customers[1].id, "1")
    corrupt("customers", "total_spent", customers[2].id, "2")
    rebuilt = run(RunMode.REBUILD, checks=["customer_wallet"])
    assert rebuilt.fixed == 3
    assert [cached(c.id)[:3] for c in customers] == [(D("600.00"), D("1000.00"), D("400.00"))] * 3


def test_the_discrepancy_report_lists_customers_by_largest_difference(app):
    small, large, middle = CustomerFactory(), CustomerFactory(), CustomerFactory()
    for customer in (small, large, middle):
        wallet.recharge(customer, D("1000"))
    corrupt("customers", "balance", small.id, "999")
    corrupt("customers", "balance", large.id, "10")
    corrupt("customers", "balance", middle.id, "900")
    record = run(RunMode.VERIFY, checks=["customer_wallet"])
    order = [d.entity_id for d in db.session.scalars(discrepancies(record.id))]
    assert order == [large.id, middle.id, small.id]


def test_a_broken_chain_is_reported_and_never_overwritten(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    second = wallet.charge(customer, D("100"))
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET balance_before = 950, balance_after = 850 WHERE id = :id"),
            {"id": second.id},
        )
    record = run(RunMode.FIX, checks=["ledger_chain"])
    rows = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == record.id)).all()
    assert {(d.entity_id, d.field, d.stored, d.expected, d.fixed) for d in rows} == {
        (second.id, "balance_before", D("950"), D("1000"), False)
    }
    assert record.fixed == 0 and record.left == 1


def test_a_verify_in_chunks_compares_a_chunk_s_first_rows_with_the_rows_before_it(app):
    hotel, cafe = CustomerFactory(code="HOTEL"), CustomerFactory(code="CAFE")
    for amount in ("100", "200", "300"):
        wallet.recharge(hotel, D(amount))
        wallet.recharge(cafe, D(amount))
    ids = [m.id for m in db.session.scalars(sa.select(BalanceTransaction).order_by(BalanceTransaction.id))]
    broken = ids[2]  # hotel's second movement, first of the second chunk of two ids; the row before it is in the first
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET balance_before = 90, balance_after = 290 WHERE id = :id"),
            {"id": broken},
        )

    def found() -> set[tuple]:
        record = run(RunMode.VERIFY, checks=["ledger_chain"])
        assert record.results[0].checked == len(ids)
        return {(d.entity_id, d.field, d.stored, d.expected) for d in db.session.scalars(discrepancies(record.id))}

    whole = found()
    app.config["RECONCILE_CHUNK_SIZE"] = 2
    assert (
        found()
        == whole
        == {
            (broken, "balance_before", D("90"), D("100")),
            (ids[4], "balance_before", D("300"), D("290")),
        }
    )


def test_a_fix_leaves_a_customer_whose_ledger_chain_is_broken_as_it_is_and_says_why(app):
    forged_for, drifted = CustomerFactory(code="HOTEL"), CustomerFactory(code="MILL")
    for customer in (forged_for, drifted):
        wallet.recharge(customer, D("1000"))
        wallet.charge(customer, D("100"))
    forged = forged_recharge(forged_for.id, "5000")
    corrupt("customers", "balance", drifted.id, "1")
    record = run(RunMode.FIX, checks=["customer_wallet", "ledger_chain"])
    rows = db.session.scalars(discrepancies(record.id)).all()
    because = f"left unfixed: the ledger chain of HOTEL is broken at movement #{forged}; deal with the ledger first"
    assert {(d.check, d.entity_id, d.field, d.stored, d.expected, d.fixed, d.reason) for d in rows} == {
        ("ledger_chain", forged, "balance_before", D("0"), D("900"), False, None),
        ("customer_wallet", forged_for.id, "balance", D("900"), D("5900"), False, because),
        ("customer_wallet", forged_for.id, "total_recharged", D("1000"), D("6000"), False, because),
        ("customer_wallet", drifted.id, "balance", D("1"), D("900"), True, None),
    }
    assert cached(forged_for.id)[:3] == (D("900.00"), D("1000.00"), D("100.00"))
    assert cached(drifted.id)[0] == D("900.00")
    assert [(r.check, r.mismatched, r.fixed) for r in record.results] == [
        ("customer_wallet", 2, 1),
        ("ledger_chain", 1, 0),
    ]


def test_a_forged_customer_status_is_found_fixed_and_rebuilt(app):
    low, fine, raised = (CustomerFactory(suspend_below=D("5000")) for _ in range(3))
    for customer in (low, fine, raised):
        wallet.recharge(customer, D("1000") if customer is low else D("10000"))
    corrupt("customers", "status", low.id, "active")
    corrupt("customers", "status", fine.id, "suspended")
    corrupt("customers", "suspend_below", raised.id, "20000")
    found = run(RunMode.VERIFY, checks=["customer_status"])
    assert {(d.entity_id, d.field, d.stored, d.expected) for d in db.session.scalars(discrepancies(found.id))} == {
        (low.id, "suspended", D("0"), D("1")),
        (fine.id, "suspended", D("1"), D("0")),
        (raised.id, "suspended", D("0"), D("1")),
    }
    assert run(RunMode.FIX, checks=["customer_status"]).fixed == 3
    assert [cached(c.id)[3] for c in (low, fine, raised)] == [
        CustomerStatus.SUSPENDED,
        CustomerStatus.ACTIVE,
        CustomerStatus.SUSPENDED,
    ]
    assert run(RunMode.VERIFY, checks=["customer_status"]).mismatched == 0
    corrupt("customers", "status", fine.id, "suspended")
    assert run(RunMode.REBUILD, checks=["customer_status"]).fixed == 1
    assert cached(fine.id)[3] is CustomerStatus.ACTIVE


def test_a_movement_sets_the_status_the_check_expects_whatever_its_sign(app):
    customer = CustomerFactory(suspend_below=D("50000"))
    wallet.recharge(customer, D("10000"))
    assert cached(customer.id)[3] is CustomerStatus.SUSPENDED
    corrupt("customers", "suspend_below", customer.id, "5000")  # the threshold lowered
    wallet.charge(customer, D("1000"))
    assert cached(customer.id)[3] is CustomerStatus.ACTIVE
    assert verified(customer.id).mismatched == 0


def test_the_ledger_refuses_changes_through_the_models(app):
    customer = CustomerFactory()
    movement = db.session.get(BalanceTransaction, wallet.recharge(customer, D("1000")).id)
    movement.amount = D("2000")
    with pytest.raises(AppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(BalanceTransaction, movement.id))
    with pytest.raises(AppendOnly):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement", ["UPDATE balance_transactions SET amount = 1", "DELETE FROM balance_transactions"]
)
def test_the_database_refuses_raw_updates_and_deletes_of_the_ledger(app, statement):
    wallet.recharge(CustomerFactory(), D("1000"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        db.session.execute(sa.text(statement))
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(sa.select(BalanceTransaction.amount)) == D("1000.00")


@pytest.mark.parametrize("statement", ["TRUNCATE balance_transactions", "TRUNCATE customers CASCADE"])
def test_the_database_refuses_to_truncate_the_ledger(app, statement):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    with pytest.raises(sa.exc.DatabaseError, match="TRUNCATE is refused"):
        with db.engine.begin() as connection:
            connection.execute(sa.text(statement))
    assert ledger(customer.id) == [(Kind.RECHARGE, D("1000.00"), D("0.00"), D("1000.00"))]


operations = st.lists(
    st.tuples(
        st.sampled_from(["recharge", "charge", "adjust", "reverse"]),
        st.decimals(min_value=D("0.01"), max_value=D("50000"), places=2),
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_random_sequences_leave_the_wallet_checks_clean(app, steps):
    customer = CustomerFactory()
    movements = []
    for operation, amount in steps:
        try:
            if operation == "recharge":
                movements.append(wallet.recharge(customer.id, amount))
            elif operation == "charge":
                movements.append(wallet.charge(customer.id, amount))
            elif operation == "adjust":
                sign = 1 if len(movements) % 2 else -1
                movements.append(wallet.adjust(customer.id, sign * amount, description="correction"))
            elif movements:
                wallet.reverse(movements[int(amount * 100) % len(movements)], description="Entered by mistake")
        except wallet.WalletError:
            pass
    record = verified(customer.id)
    assert record.mismatched == 0, [(d.field, d.stored, d.expected) for d in record.results]
    assert all(after >= 0 for *_, after in ledger(customer.id))


def _in_threads(app, count: int, operation) -> list:
    """Run ``operation`` in ``count`` threads at once, each with its own app context and session.

    Returns the id of each movement made, or the wallet error raised.
    """
    barrier = threading.Barrier(count)
    outcomes: list = []
    lock = threading.Lock()

    def work():
        with app.app_context():
            barrier.wait()
            try:
                outcome = operation().id
            except wallet.WalletError as error:
                outcome = error
            with lock:
                outcomes.append(outcome)

    db.session.commit()
    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == count
    return outcomes
