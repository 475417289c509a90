"""SQLAlchemy event listeners: derived fields of records a clerk edits through the ORM, and guards.

An order's grand total, its targets' achieved amounts and its managers' ``order_month_totals`` are recomputed with the
flush, by the same SQL the verifier uses. Money moves only through the posting core: a wallet movement, an invoice or
a payment written through the ORM is refused here (and by the database).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, product

from sqlalchemy import and_, delete, inspect, or_, tuple_, update
from sqlalchemy.orm import Session

from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Invoice,
    Order,
    OrderMonthTotal,
    Target,
    checked_grand_total,
)
from backoffice.models.formulas import achieved_amount_sql, order_month_totals_sql
from backoffice.models.types import month_start, next_month_start, upsert
from backoffice.posting.locking import lock_rows, lock_where

totals = OrderMonthTotal.__table__
_TOUCHED = "backoffice.touched"


class AppendOnly(RuntimeError):
    """The ledger is only ever appended to, by the posting core; a correction is a new movement."""


@dataclass
class Touched:
    """The keys of the cross-row derived fields a flush moves."""

    targets: set = field(default_factory=set)
    order_months: set = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.targets or self.order_months)

    def add(self, obj) -> None:
        """Note the keys ``obj`` counts towards, before and after its change."""
        if isinstance(obj, Order):
            keys = month_keys_of(obj)
            self.targets |= keys
            self.order_months |= keys
        elif isinstance(obj, Target):
            self.targets.add((obj.account_manager_id, obj.period_start))


def month_keys_of(order: Order) -> set[tuple[int, object]]:
    """Every (manager, month) the order counts towards, before and after the change: its target's and its row of
    ``order_month_totals``."""
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


def recompute_order_month_totals(connection, keys) -> None:
    """The ``order_month_totals`` rows of the (manager, month) keys, from the orders as committed: each month with
    orders written (inserted or updated), each without deleted.

    The managers are locked first, as for their targets: a concurrent save of the same manager's orders commits
    first, and the statements that follow read it; a month's row being created meanwhile has no row to lock yet.
    """
    if not keys:
        return
    lock_rows(connection, AccountManager.__table__, {manager for manager, _month in keys})
    keyed = tuple_(totals.c.account_manager_id, totals.c.month)
    for chunk in _chunks(sorted(keys, key=lambda key: (key[1], key[0])), 500):
        written = set(map(tuple, connection.execute(_writing_totals(chunk))))
        gone = [key for key in chunk if key not in written]
        if gone:
            connection.execute(delete(totals).where(keyed.in_(gone)))


def before_flush(session: Session, _context, _instances) -> None:
    """Before the session's flush: each new or changed order's grand total, and the keys of what is deleted."""
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Order):
            obj.grand_total = checked_grand_total(*obj.components())
    # A deleted row can no longer be read after the flush: note its keys now.
    touched = Touched()
    for obj in session.deleted:
        touched.add(obj)
    session.info[_TOUCHED] = touched


def after_flush(session: Session, _context) -> None:
    """After the session's flush: the targets and order months the flushed rows touch, recomputed."""
    # Foreign keys set through relationships are only populated by the flush: read them after it.
    touched: Touched = session.info.get(_TOUCHED) or Touched()
    for obj in chain(session.new, session.dirty):
        touched.add(obj)
    session.info[_TOUCHED] = touched
    if not touched:
        return
    connection = session.connection()
    recompute_targets(connection, touched.targets)
    recompute_order_month_totals(connection, touched.order_months)


def expire_recomputed(session: Session, _context) -> None:
    """Loaded rows whose derived fields the database just changed must be read again."""
    touched: Touched | None = session.info.pop(_TOUCHED, None)
    if not touched:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Target) and (obj.account_manager_id, obj.period_start) in touched.targets:
            session.expire(obj, ["achieved_amount"])
        elif isinstance(obj, OrderMonthTotal) and inspect(obj).identity in touched.order_months:
            session.expire(obj)


def refuse_money_write(_mapper, _connection, row) -> None:
    """Refuse an ORM write of a ledger movement, an invoice or a payment: the posting core writes them."""
    if isinstance(row, BalanceTransaction):
        raise AppendOnly(
            f"Ledger movement #{row.id} cannot be written, changed or deleted but by the posting core; "
            "post a reversal or an adjustment."
        )
    what = "invoice" if isinstance(row, Invoice) else "payment"
    raise AppendOnly(
        f"{'An' if what == 'invoice' else 'A'} {what} is written, corrected and withdrawn by the billing "
        f"service only (add_{what}, withdraw_{what})."
    )


def _writing_totals(keys: list[tuple[int, object]]):
    """``INSERT … SELECT`` the keys' months that have orders, ``ON CONFLICT`` updating them; returns their keys.

    The orders are read a month at a time, each month's for its managers: one range of closing dates per month
    rather than one per key, which the database would test every order against.
    """
    orders = Order.__table__
    managers_by_month: dict[object, set[int]] = {}
    for manager, month in keys:
        managers_by_month.setdefault(month, set()).add(manager)
    in_keys = or_(
        *(
            and_(
                orders.c.closing_date >= month,
                orders.c.closing_date < next_month_start(month),
                orders.c.account_manager_id.in_(sorted(managers)),
            )
            for month, managers in sorted(managers_by_month.items())
        )
    )
    columns = ["account_manager_id", "month", "order_count", "grand_total"]
    statement = upsert(totals)
    statement = statement.from_select(columns, order_month_totals_sql().where(in_keys))
    return statement.on_conflict_do_update(
        index_elements=[totals.c.account_manager_id, totals.c.month],
        set_={"order_count": statement.excluded.order_count, "grand_total": statement.excluded.grand_total},
    ).returning(totals.c.account_manager_id, totals.c.month)


def _values(state, attribute: str) -> set:
    history = state.attrs[attribute].history
    current = getattr(state.obj(), attribute)
    return {value for value in chain(history.deleted or (), [current]) if value is not None}


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
