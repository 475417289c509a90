"""SQLAlchemy event listeners that keep derived fields right in the same transaction.

Row-local fields (an order's grand total) are computed before the flush writes the row.
Cross-row fields (a target's achieved amount) are recomputed set-based after the flush,
for exactly the keys the flush touched, with the same SQL expression the verifier uses.
"""

from __future__ import annotations

from itertools import chain, product

from sqlalchemy import event, inspect, tuple_, update
from sqlalchemy.orm import Session

from backoffice.models import BalanceTransaction, Order, Target, achieved_amount_sql, checked_grand_total
from backoffice.models.types import month_start

_TARGET_KEYS = "backoffice.target_keys"
_LISTENERS = (
    ("before_flush", "_compute_row_local_fields"),
    ("after_flush", "_recompute_targets"),
    ("after_flush_postexec", "_expire_recomputed_targets"),
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


def target_keys_of(order: Order) -> set[tuple[int, object]]:
    """Every (manager, month) whose target the order counts towards, before and after the change."""
    state = inspect(order)
    managers = _values(state, "account_manager_id")
    months = {month_start(day) for day in _values(state, "closing_date")}
    return set(product(managers, months))


def recompute_targets(connection, keys) -> None:
    targets = Target.__table__
    for chunk in _chunks(sorted(keys), 500):
        connection.execute(
            update(targets)
            .where(tuple_(targets.c.account_manager_id, targets.c.period_start).in_(chunk))
            .values(achieved_amount=achieved_amount_sql())
        )


def _compute_row_local_fields(session: Session, _context, _instances) -> None:
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Order):
            obj.grand_total = checked_grand_total(*obj.components())
    # A deleted row can no longer be read after the flush: note its keys now.
    deleted = set()
    for obj in session.deleted:
        if isinstance(obj, Order):
            deleted |= target_keys_of(obj)
    session.info[_TARGET_KEYS] = deleted


def _recompute_targets(session: Session, _context) -> None:
    # Foreign keys set through relationships are only populated by the flush: read them after it.
    keys: set = session.info.get(_TARGET_KEYS, set())
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Order):
            keys |= target_keys_of(obj)
        elif isinstance(obj, Target):
            keys.add((obj.account_manager_id, obj.period_start))
    if keys:
        recompute_targets(session.connection(), keys)
        session.info[_TARGET_KEYS] = keys


def _expire_recomputed_targets(session: Session, _context) -> None:
    keys = session.info.pop(_TARGET_KEYS, None)
    if not keys:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Target) and (obj.account_manager_id, obj.period_start) in keys:
            session.expire(obj, ["achieved_amount"])


def _refuse_ledger_change(_mapper, _connection, movement) -> None:
    raise AppendOnly(f"Ledger movement #{movement.id} cannot be changed or deleted; post a reversal or an adjustment.")


def _values(state, attribute: str) -> set:
    history = state.attrs[attribute].history
    current = getattr(state.obj(), attribute)
    return {value for value in chain(history.deleted or (), [current]) if value is not None}


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
