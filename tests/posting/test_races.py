"""Two writers at once never lose an update: each cross-row recompute locks what it recomputes first.

Each test runs two writers in threads (see ``tests/concurrency.py``); the first holds its locks
for a moment while the second writes. Afterwards the stored derived value equals its source,
and the reconciliation engine finds nothing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import (
    Account,
    AccountManager,
    Customer,
    Invoice,
    Meter,
    MeterAssignment,
    MonthlyCustomerBalance,
    Order,
    OrderMonthTotal,
    Payment,
    RunMode,
    Target,
)
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.posting.rules import CASH, CUSTOMER_DEPOSITS
from backoffice.reconcile.engine import run
from backoffice.services import (
    billing,
    customers,
    managers,
    meter_invoices,
    meter_lifecycle,
    meter_payments,
    metering,
    targets,
    wallet,
)
from backoffice.services.orders import save_order
from tests.concurrency import race
from tests.factories import (
    AccountManagerFactory,
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    TargetFactory,
    corrupt,
    stored,
)
from tests.verifying import found

D = Decimal
NOV = date(2026, 11, 1)


def test_two_orders_saved_at_once_both_count_towards_the_target(app):
    manager = AccountManagerFactory()
    target = TargetFactory(account_manager=manager, period_start=NOV)
    customer = CustomerFactory(account_manager=manager)
    target_id, customer_id, manager_id = target.id, customer.id, manager.id

    def order(amount: str):
        return lambda: save_order(
            Order(
                number=f"SO-{amount}",
                customer_id=customer_id,
                account_manager_id=manager_id,
                closing_date=date(2026, 11, 10),
                total_price=D(amount),
            )
        )

    race(app, order("100"), order("200"))
    orders = db.session.scalar(sa.select(sa.func.sum(Order.grand_total)))
    assert (stored("targets", "achieved_amount", target_id), orders) == (D("300.00"), D("300.00"))
    assert found("target_achieved") == 0


def test_two_orders_of_a_manager_edited_at_once_both_count_towards_the_target(app):
    manager = AccountManagerFactory()
    target = TargetFactory(account_manager=manager, period_start=NOV)
    customer = CustomerFactory(account_manager=manager)
    first, second = OrderFactory(customer=customer), OrderFactory(customer=customer)
    target_id, first_id, second_id = target.id, first.id, second.id

    def edit(order_id: int, total_price: str):
        def work() -> None:
            order = db.session.get(Order, order_id)  # read before the other clerk's save commits
            order.total_price = D(total_price)
            save_order(order)

        return work

    race(app, edit(first_id, "20000000"), edit(second_id, "30000000"))
    orders = db.session.scalar(sa.select(sa.func.sum(Order.grand_total)))
    assert stored("targets", "achieved_amount", target_id) == orders == D("48600000.00")
    assert found("target_achieved") == 0


def month_totals(manager_id: int) -> list[tuple]:
    """The manager's months of orders as stored: month, count, grand total."""
    db.session.rollback()
    rows = sa.select(OrderMonthTotal.month, OrderMonthTotal.order_count, OrderMonthTotal.grand_total)
    rows = rows.where(OrderMonthTotal.account_manager_id == manager_id).order_by(OrderMonthTotal.month)
    return [tuple(row) for row in db.session.execute(rows)]


def test_two_orders_of_a_manager_month_saved_at_once_both_count_in_its_totals(app):
    manager = AccountManagerFactory()
    first, second = CustomerFactory(account_manager=manager), CustomerFactory(account_manager=manager)
    manager_id = manager.id

    def order(customer_id: int, amount: str):
        return lambda: save_order(
            Order(
                number=f"SO-{amount}",
                customer_id=customer_id,
                account_manager_id=manager_id,
                closing_date=date(2026, 11, 10),
                total_price=D(amount),
            )
        )

    race(app, order(first.id, "100"), order(second.id, "200"))
    assert month_totals(manager_id) == [(NOV, 2, D("300.00"))]
    assert found("order_month_totals") == 0


def test_moving_an_order_out_of_a_month_as_another_is_saved_there_leaves_both_right(app):
    manager = AccountManagerFactory()
    customer = CustomerFactory(account_manager=manager)
    moved = OrderFactory(customer=customer)
    manager_id, customer_id, moved_id = manager.id, customer.id, moved.id

    def move() -> None:
        order = db.session.get(Order, moved_id)
        order.closing_date = date(2026, 12, 1)
        save_order(order)

    def add() -> None:
        save_order(
            Order(
                number="SO-NEW",
                customer_id=customer_id,
                account_manager_id=manager_id,
                closing_date=date(2026, 11, 30),
                total_price=D("100"),
            )
        )

    race(app, move, add)
    assert month_totals(manager_id) == [(NOV, 1, D("100.00")), (date(2026, 12, 1), 1, D("9300000.00"))]
    assert found("order_month_totals") == 0


def meter(meter_id: int) -> Meter:
    return db.session.get(Meter, meter_id)


def invoice(meter_id: int, number: str, amount: str):
    return lambda: meter_invoices.add_invoice(meter(meter_id), number, D(amount), NOV, date(2026, 11, 30))


def test_two_invoices_of_one_meter_saved_at_once_both_count_towards_its_balance(app):
    customer = CustomerFactory()
    meter_lifecycle.assign_meter(m := MeterFactory(), customer, NOV)
    meter_id = m.id
    race(app, invoice(meter_id, "INV-1", "100"), invoice(meter_id, "INV-2", "200"), hold_after="commit")
    invoiced = db.session.scalar(sa.select(sa.func.sum(Invoice.amount)))
    assert (stored("meters", "balance", meter_id), invoiced) == (D("300.00"), D("300.00"))
    assert found("meter_balance") == 0


def test_an_invoice_and_a_payment_on_a_customer_s_two_meters_count_in_its_totals(app):
    customer = CustomerFactory()
    meter_lifecycle.assign_meter(first := MeterFactory(), customer, NOV)
    meter_lifecycle.assign_meter(second := MeterFactory(), customer, NOV)
    customer_id, first_id, second_id = customer.id, first.id, second.id
    race(
        app,
        invoice(first_id, "INV-1", "100"),
        lambda: meter_payments.add_payment(meter(second_id), D("40"), NOV),
        hold_after="commit",
    )
    totals = stored("customers", "amount_due", customer_id), stored("customers", "overpayment", customer_id)
    sources = (
        db.session.scalar(sa.select(sa.func.sum(Invoice.amount))),
        db.session.scalar(sa.select(sa.func.sum(Payment.amount))),
    )
    assert totals == sources == (D("100.00"), D("40.00"))
    assert found("customer_meter_totals") == 0


def test_a_pricing_change_and_a_reading_at_once_both_reach_the_months(app):
    customer = CustomerFactory()
    meter_lifecycle.assign_meter(m := MeterFactory(), customer, NOV)
    customer_id, meter_id = customer.id, m.id
    wallet.recharge(customer_id, D("1000000"))
    metering.set_pricing(customer_id, NOV, D("1000.00"), D("1"))
    metering.record_reading(meter_id, date(2026, 11, 5), D("10"))
    race(
        app,
        lambda: metering.set_pricing(customer_id, NOV, D("2000.00"), D("1")),
        lambda: metering.record_reading(meter_id, date(2026, 11, 6), D("10")),
        hold_after="commit",
    )
    closing = db.session.scalar(
        sa.select(MonthlyCustomerBalance.closing_balance).where(MonthlyCustomerBalance.customer_id == customer_id)
    )
    assert closing == stored("customers", "balance", customer_id) == D("1000000") - 2 * D("20000.00")
    assert found("monthly_balance") == 0


def test_two_customers_recharged_at_once_both_reach_the_accounts(app):
    first, second = CustomerFactory(), CustomerFactory()
    first_id, second_id = first.id, second.id
    race(
        app,
        lambda: wallet.recharge(first_id, D("100")),
        lambda: wallet.recharge(second_id, D("200")),
        hold_after="commit",
    )
    db.session.rollback()
    balances = dict(db.session.execute(sa.select(Account.code, Account.balance)).all())
    deposits = db.session.scalar(sa.select(sa.func.sum(Customer.balance)))
    assert balances[CASH] == balances[CUSTOMER_DEPOSITS] == deposits == D("300.00")
    assert found("account_balance") == 0


def test_a_fix_while_an_order_is_saved_writes_the_target_with_that_order(app):
    manager = AccountManagerFactory()
    target = TargetFactory(account_manager=manager, period_start=NOV)
    customer = CustomerFactory(account_manager=manager)
    target_id, customer_id, manager_id = target.id, customer.id, manager.id
    corrupt("targets", "achieved_amount", target_id, "1")
    order = Order(
        number="SO-1", customer_id=customer_id, account_manager_id=manager_id, closing_date=NOV, total_price=D("100")
    )
    race(app, lambda: save_order(order), lambda: run(RunMode.FIX, checks=["target_achieved"]))
    assert stored("targets", "achieved_amount", target_id) == D("100.00")
    assert found("target_achieved") == 0


def test_a_fix_while_an_order_is_saved_writes_the_managers_month_with_that_order(app):
    manager = AccountManagerFactory()
    customer = CustomerFactory(account_manager=manager)
    OrderFactory(customer=customer)
    manager_id, customer_id = manager.id, customer.id
    db.session.execute(sa.update(OrderMonthTotal.__table__).values(order_count=5))
    db.session.commit()
    order = Order(
        number="SO-1", customer_id=customer_id, account_manager_id=manager_id, closing_date=NOV, total_price=D("100")
    )
    race(app, lambda: save_order(order), lambda: run(RunMode.FIX, checks=["order_month_totals"]))
    assert month_totals(manager_id) == [(NOV, 2, D("9300100.00"))]
    assert found("order_month_totals") == 0


# What a write depends on is read under the lock: a customer's closed flag, a manager's active flag


def refused(work, error: type[Exception], outcome: dict):
    """``work``, keeping the message it is refused with in ``outcome``."""

    def body() -> None:
        try:
            work()
        except error as refusal:
            outcome["refused"] = str(refusal)

    return body


def held_meters(customer_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.count(MeterAssignment.id)).where(
            MeterAssignment.customer_id == customer_id, MeterAssignment.is_active
        )
    )


def closed(customer_id: int) -> bool:
    db.session.rollback()
    return db.session.get(Customer, customer_id).closed


def test_a_meter_assigned_while_its_customer_is_closed_is_refused(app):
    customer_id, meter_id = CustomerFactory(code="SHUT").id, MeterFactory().id
    outcome = {}

    def close() -> None:
        customers.close_customer(db.session.get(Customer, customer_id))

    def assign() -> None:
        meter_lifecycle.assign_meter(db.session.get(Meter, meter_id), db.session.get(Customer, customer_id), NOV)

    race(app, close, refused(assign, billing.BillingError, outcome))
    assert outcome["refused"] == (
        "Customer SHUT is closed: it takes no new meter, reading, invoice or payment. An admin can reopen it."
    )
    assert (closed(customer_id), held_meters(customer_id)) == (True, 0)


def test_a_customer_closed_while_a_meter_is_assigned_to_it_stays_open(app):
    customer_id, meter_id = CustomerFactory(code="SHUT").id, MeterFactory(serial="M-1").id
    outcome = {}

    def assign() -> None:
        meter_lifecycle.assign_meter(db.session.get(Meter, meter_id), db.session.get(Customer, customer_id), NOV)

    def close() -> None:
        customers.close_customer(db.session.get(Customer, customer_id))

    race(app, assign, refused(close, customers.CustomerError, outcome), hold_after="commit")
    assert outcome["refused"].startswith("Customer SHUT cannot be closed yet. It holds meter M-1")
    assert (closed(customer_id), held_meters(customer_id)) == (False, 1)


def test_a_manager_deactivated_while_targets_are_generated_gets_none(app):
    AccountManagerFactory(name="Dewi")
    leaving_id = AccountManagerFactory(name="Gone").id
    generated = []

    def deactivate() -> None:
        managers.set_active(db.session.get(AccountManager, leaving_id), False)

    def generate() -> None:
        generated.append(targets.generate_targets(Month.of(NOV), amount=D("1000")).describe())

    race(app, deactivate, generate)
    db.session.rollback()
    names = db.session.scalars(sa.select(AccountManager.name).join(Target).where(Target.period_start == NOV)).all()
    assert (names, generated) == (["Dewi"], ["Targets for November 2026: 1 set."])


def test_a_manager_deactivated_while_a_customer_is_added_for_them_is_refused(app):
    manager_id = AccountManagerFactory(name="Gone").id
    outcome = {}

    def deactivate() -> None:
        managers.set_active(db.session.get(AccountManager, manager_id), False)

    def add() -> None:
        customers.create_customer("NEW", customers.Details(name="Hotel", account_manager_id=manager_id))

    race(app, deactivate, refused(add, customers.CustomerError, outcome))
    assert outcome["refused"] == "Gone is inactive: choose an active account manager."
    db.session.rollback()
    assert db.session.scalar(sa.select(Customer.id).where(Customer.code == "NEW")) is None
