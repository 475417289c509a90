"""Recalculation requests: work on a customer's readings and months, from a date, left to a job.

A request is committed in the transaction that makes the work necessary (a pricing change too large
for the request, a tariff change, any write for a customer not kept in real time), so the work is
done eventually even if the job queue loses it: every job that writes does the pending requests first.
A quarantined customer's requests wait, and are named (:func:`left_quarantined`), until an admin has reviewed its
evidence; the others' are done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import selectinload

from backoffice.evidence import quarantine
from backoffice.models import MeterReading, RecalculationRequest, User
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.extensions import db
from backoffice.posting.locking import lock_customers
from backoffice.services import transaction
from backoffice.services.metering.repricing import reprice_where

readings = MeterReading.__table__
requests = RecalculationRequest.__table__

CUSTOMERS_PER_TRANSACTION = 50
"""A tariff change's requests are done this many customers at a time: a transaction of some 36,000 re-priced
readings at two years of daily readings each, committed before the next, with the job's progress after each."""


def pending_recalculations(customer_id: int, limit: int | None = None) -> list[RecalculationRequest]:
    """The customer's pending requests, oldest first (the first ``limit`` of them)."""
    return list(
        db.session.scalars(
            select(RecalculationRequest)
            .options(selectinload(RecalculationRequest.requested_by))
            .where(RecalculationRequest.customer_id == customer_id, RecalculationRequest.done_at.is_(None))
            .order_by(RecalculationRequest.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Pending:
    requests: int
    customers: int
    oldest: datetime | None
    from_date: date | None
    """The earliest date a pending request recalculates from."""


def pending_summary(customer_id: int | None = None) -> Pending:
    """How much recalculation work waits, for one customer or over every customer (for monitoring)."""
    if customer_id is None:
        row = db.session.execute(_pending(everyone=True)).one()
    else:
        row = db.session.execute(_pending(everyone=False), {"customer_id": customer_id}).one()
    requests_, customers_, oldest, from_date = row
    return Pending(requests_, customers_, as_utc(oldest), from_date)


def pending_waits(customer_id: int) -> ColumnElement[bool]:
    """Whether a recalculation request of the customer waits, in SQL: a page asks it with other questions in one
    statement, and reads :func:`pending_summary` only when one does."""
    return select(requests.c.id).where(requests.c.done_at.is_(None), requests.c.customer_id == customer_id).exists()


NOTHING_PENDING = Pending(0, 0, None, None)
"""The summary of a customer for whom nothing waits."""


@cache
def _pending(*, everyone: bool):
    """:func:`pending_summary`'s statement, built once: the health check reads everyone's at every poll."""
    query = select(
        func.count(requests.c.id),
        func.count(requests.c.customer_id.distinct()),
        func.min(requests.c.requested_at),
        func.min(requests.c.from_date),
    ).where(requests.c.done_at.is_(None))
    return query if everyone else query.where(requests.c.customer_id == bindparam("customer_id"))


def process_recalculations(
    customer_ids: list[int] | None = None,
    user: User | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Do the pending recalculation requests (of these customers, or all); returns how many were done.

    Each customer's readings from its earliest requested date are priced again (the differences posted)
    and its months from that month on recalculated, :data:`CUSTOMERS_PER_TRANSACTION` customers a
    transaction. ``progress(customers done, customers)`` is called after each. A quarantined customer's requests
    are left waiting (:func:`left_quarantined` names them): its re-pricing would move its wallet.
    """
    waiting = (
        select(requests.c.customer_id)
        .where(requests.c.done_at.is_(None), requests.c.customer_id.not_in(quarantine.quarantined_ids()))
        .distinct()
    )
    if customer_ids is not None:
        waiting = waiting.where(requests.c.customer_id.in_(customer_ids))
    waiting_ids = sorted(db.session.scalars(waiting))
    done = 0
    for start in range(0, len(waiting_ids), CUSTOMERS_PER_TRANSACTION):
        batch = waiting_ids[start : start + CUSTOMERS_PER_TRANSACTION]
        db.session.rollback()
        with transaction() as session:
            done += _process(session.connection(), batch, user)
        if progress:
            progress(start + len(batch), len(waiting_ids))
    return done


def left_quarantined(customer_ids: list[int] | None = None, from_date: date | None = None) -> list[str]:
    """The codes of the quarantined customers (of these, or all) whose recalculation requests (from ``from_date``,
    or any) wait, in code order."""
    waiting = select(requests.c.customer_id).where(requests.c.done_at.is_(None))
    if customer_ids is not None:
        waiting = waiting.where(requests.c.customer_id.in_(customer_ids))
    if from_date is not None:
        waiting = waiting.where(requests.c.from_date == from_date)
    return sorted(quarantine.customers_held(db.session.connection(), waiting).values())


def _process(connection, customer_ids: list[int], user: User | None) -> int:
    lock_customers(connection, customer_ids)
    # Quarantined since they were chosen: left waiting with the others quarantined before.
    held = quarantine.customers_held(connection, customer_ids)
    customer_ids = [customer_id for customer_id in customer_ids if customer_id not in held]
    pending = connection.execute(
        select(requests.c.customer_id, func.min(requests.c.from_date), func.count())
        .where(requests.c.customer_id.in_(customer_ids), requests.c.done_at.is_(None))
        .group_by(requests.c.customer_id)
    ).all()
    if not pending:
        return 0  # done meanwhile, by another job
    by_start: dict[date, list[int]] = defaultdict(list)
    for customer_id, from_date, _count in pending:
        by_start[from_date].append(customer_id)
    chosen = or_(
        *(
            and_(readings.c.customer_id.in_(ids), readings.c.reading_date >= from_date)
            for from_date, ids in sorted(by_start.items())
        )
    )
    reprice_where(connection, chosen, sorted(c for c, _d, _n in pending), user, since=min(by_start))
    connection.execute(
        update(requests)
        .where(requests.c.customer_id.in_([c for c, _d, _n in pending]), requests.c.done_at.is_(None))
        .values(done_at=utcnow())
    )
    return sum(count for _c, _d, count in pending)
