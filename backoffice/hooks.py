"""SQLAlchemy event listeners that keep derived fields right in the same transaction.

Row-local fields (an order's grand total) are computed before the flush writes the row.
Cross-row fields (a target's achieved amount, a meter's balance, a customer's postpaid
totals) are recomputed set-based after the flush, for exactly the keys the flush touched,
with the same SQL expressions the verifier uses. Invoices and payments are posted to the books.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, product

from sqlalchemy import event, inspect, select, tuple_, update
from sqlalchemy.orm import Session

from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Customer,
    Invoice,
    Meter,
    MeterAssignment,
    Order,
    Payment,
    Target,
    achieved_amount_sql,
    checked_grand_total,
    customer_meter_sums_sql,
    meter_balance_sql,
    meter_overpayment_sql,
)
from backoffice.models.types import month_start
from backoffice.services import books
from backoffice.services.locking import lock_customers, lock_rows, lock_where

_TOUCHED = "backoffice.touched"
_LISTENERS = (
    ("before_flush", "_before_flush"),
    ("after_flush", "_after_flush"),
    ("after_flush_postexec", "_expire_recomputed"),
)


def register() -> None:
    """Attach the listeners to every SQLAlchemy session and to the ledger (idempotent)."""
    for name, function in _LISTENERS:
        listener = globals()[function]
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
    for name in ("before_update", "before_delete"):
        if not event.contains(BalanceTransaction, name, _refuse_ledger_change):
            event.listen(BalanceTransaction, name, _refuse_ledger_change)


class AppendOnly(RuntimeError):
    """The ledger is only ever appended to; a correction is a new row."""


@dataclass
class Touched:
    """The keys of the cross-row derived fields a flush moves."""

    targets: set = field(default_factory=set)
    meters: set = field(default_factory=set)
    customers: set = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.targets or self.meters or self.customers)

    def add(self, obj) -> None:
        """Note the keys ``obj`` counts towards, before and after its change."""
        if isinstance(obj, Order):
            self.targets |= target_keys_of(obj)
        elif isinstance(obj, Target):
            self.targets.add((obj.account_manager_id, obj.period_start))
        elif isinstance(obj, Invoice | Payment):
            self.meters |= _values(inspect(obj), "meter_id")
        elif isinstance(obj, MeterAssignment):
            self.customers |= _values(inspect(obj), "customer_id")


def target_keys_of(order: Order) -> set[tuple[int, object]]:
    """Every (manager, month) whose target the order counts towards, before and after the change."""
    state = inspect(order)
    managers = _values(state, "account_manager_id")
    months = {month_start(day) for day in _values(state, "closing_date")}
    return set(product(managers, months))


def recompute_targets(connection, keys) -> None:
    """The achieved amounts of the (manager, month) keys' targets, from the orders as committed.

    The managers are locked first, then their targets, in id order: a concurrent save of the
    same manager's orders commits first, and the recomputation, a statement of its own, then
    reads it. The manager, not only the target, because a target being created meanwhile has no
    row to lock yet.
    """
    targets = Target.__table__
    lock_rows(connection, AccountManager.__table__, {manager for manager, _month in keys})
    keyed = tuple_(targets.c.account_manager_id, targets.c.period_start)
    ids = lock_where(connection, targets, keyed.in_(sorted(keys)))
    for chunk in _chunks(ids, 500):
        connection.execute(update(targets).where(targets.c.id.in_(chunk)).values(achieved_amount=achieved_amount_sql()))


def recompute_billing(connection, meter_ids, customer_ids) -> None:
    """Meters' balances first, then the totals of every customer who has held them.

    An invoice or payment counts towards whoever held its meter on its date, and a date can
    change: every holder of the meter is recomputed, not only the one holding it now.
    The customers, then the meters, are locked first (in id order): each recomputation then
    reads what a concurrent invoice or payment committed instead of overwriting it.
    """
    meters, customers, assignments = Meter.__table__, Customer.__table__, MeterAssignment.__table__
    holders = select(assignments.c.customer_id).where(assignments.c.meter_id.in_(meter_ids))
    recomputed = sorted(set(customer_ids) | set(connection.execute(holders).scalars()))
    lock_customers(connection, recomputed)
    lock_rows(connection, meters, meter_ids)
    for chunk in _chunks(sorted(meter_ids), 500):
        connection.execute(
            update(meters)
            .where(meters.c.id.in_(chunk))
            .values(balance=meter_balance_sql(), overpayment=meter_overpayment_sql())
        )
    connection.execute(update(customers).where(customers.c.id.in_(recomputed)).values(customer_meter_sums_sql()))


def _before_flush(session: Session, _context, _instances) -> None:
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Order):
            obj.grand_total = checked_grand_total(*obj.components())
    # A deleted row can no longer be read after the flush: note its keys now.
    touched = Touched()
    for obj in session.deleted:
        touched.add(obj)
    session.info[_TOUCHED] = touched


def _after_flush(session: Session, _context) -> None:
    # Foreign keys set through relationships are only populated by the flush: read them after it.
    touched: Touched = session.info.get(_TOUCHED) or Touched()
    for obj in chain(session.new, session.dirty):
        touched.add(obj)
    session.info[_TOUCHED] = touched
    if not touched:
        return
    if touched.targets:
        recompute_targets(session.connection(), touched.targets)
    if touched.meters or touched.customers:
        recompute_billing(session.connection(), touched.meters, touched.customers)
        # The accounts last, as the wallet does: customers before accounts, so the two never deadlock.
        post_billing(session)


def post_billing(session: Session) -> None:
    """Post each invoice and payment the flush added, withdrew or changed the amount of, to the books."""
    for obj in chain(session.new, session.dirty, session.deleted):
        if not isinstance(obj, Invoice | Payment):
            continue
        if obj in session.new:
            change, what = obj.amount, ""
        elif obj in session.deleted:
            change, what = -obj.amount, " withdrawn"
        else:
            history = inspect(obj).attrs.amount.history
            if not history.deleted:
                continue
            change, what = obj.amount - history.deleted[0], " amount changed"
        if not change:
            continue
        if isinstance(obj, Invoice):
            on, lines, about = obj.issued_on, books.invoice_lines(change), f"Invoice {obj.number}"
            source = books.Source("invoice", obj.id)
        else:
            on, lines, about = obj.paid_on, books.payment_lines(change), f"Payment #{obj.id}"
            source = books.Source("payment", obj.id)
        books.post(session.connection(), on, f"{about}{what}", lines, source=source, bucket_key=obj.meter_id)


def _expire_recomputed(session: Session, _context) -> None:
    """Loaded rows whose derived fields the database just changed must be read again."""
    touched: Touched | None = session.info.pop(_TOUCHED, None)
    if not touched:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Target) and (obj.account_manager_id, obj.period_start) in touched.targets:
            session.expire(obj, ["achieved_amount"])
        elif isinstance(obj, Meter) and obj.id in touched.meters:
            session.expire(obj, ["balance", "overpayment"])
        elif isinstance(obj, Customer) and (touched.meters or touched.customers):
            session.expire(obj, ["amount_due", "overpayment"])


def _refuse_ledger_change(_mapper, _connection, movement) -> None:
    raise AppendOnly(f"Ledger movement #{movement.id} cannot be changed or deleted; post a reversal or an adjustment.")


def _values(state, attribute: str) -> set:
    history = state.attrs[attribute].history
    current = getattr(state.obj(), attribute)
    return {value for value in chain(history.deleted or (), [current]) if value is not None}


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
