"""Keeping monthly customer balances in the write path's transaction.

One movement *shifts* its month and the opening and closing of every later month (``shift_customer_month_v1``,
migration ``0054``); work over many readings *recalculates* the customer's months from a month on, set-based. Both run
inside a transaction that holds the customer's lock.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache

from sqlalchemy import Integer, and_, bindparam, delete, func, insert, literal, or_, select, text, true, union_all
from sqlalchemy.engine import Connection

from backoffice.models import BalanceTransaction, MonthlyCustomerBalance, RecalculationReason, RecalculationRequest
from backoffice.models.metering import TransactionCalculation, Volume
from backoffice.models.types import Balance, Month, month_of_date, utcnow
from backoffice.posting.locking import lock_customers
from backoffice.posting.rules import DELIVERED, MONTH_ADDED
from backoffice.posting.sql import counted

months = MonthlyCustomerBalance.__table__
requests = RecalculationRequest.__table__
STORED = ("opening_balance", "total_deposits", "total_purchases", "closing_balance", "total_volume_sm3")

_SHIFT = text(
    "SELECT shift_customer_month_v1(:customer_id, :year_month, :total_deposits, :total_purchases,"
    " :total_volume_sm3, :details, :moment)"
).bindparams(bindparam("customer_id", type_=Integer), bindparam("details", type_=months.c.calculation_details.type))
"""A month shifted by ``shift_customer_month_v1`` (migration ``0054``), the SQL function a wallet movement's posting
shifts its month with."""


def shift(connection: Connection, customer_id: int, year_month: str, moved: dict, details: dict) -> None:
    """Apply what a reading's calculation adds to its month (``moved``, by column: ``rules.measured``), or takes
    away, as a wallet movement is applied to its own: every later month carries its net, and a month left with
    nothing in it has no row."""
    added = {column: moved.get(column, Decimal(0)) for column in MONTH_ADDED}
    values = {"customer_id": customer_id, "year_month": year_month, "details": details, "moment": utcnow()}
    connection.execute(_SHIFT, values | added)


def expected_months(customer_ids=None, between: tuple[int, int] | None = None, within=None, starts=None):
    """Every customer month as the sources make it: a subquery with the stored table's column names,
    and ``is_latest`` for the customer's last month.

    ``customer_ids`` narrows the sources to those customers (the write path's recalculation), ``between`` to the
    customers whose ids lie from its first to its last (a chunk of a check's), ``within`` (given a customer id
    column, a condition on it) to some customers (a nightly's part of a check's). ``starts``, a subquery of
    ``customer_id``, ``first_day`` and ``year_month`` (of the month it falls in) and ``base``, narrows them to those
    customers' months from ``year_month`` on, the first opening at ``base`` (every month, from nothing, for a
    customer whose ``year_month`` is NULL).
    """
    ledger = BalanceTransaction.__table__
    calculations = TransactionCalculation.__table__
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    movements = select(
        ledger.c.customer_id,
        month_of_date(ledger.c.value_date).label("year_month"),
        counted("total_deposits", kind, signed).label("deposits"),
        counted("total_purchases", kind, signed).label("purchases"),
        literal(0, Volume).label("volume"),
    )
    readings = select(
        calculations.c.customer_id,
        calculations.c.year_month,
        literal(0, Balance),
        literal(0, Balance),
        calculations.c[DELIVERED.column],
    )
    if customer_ids is not None:
        movements = movements.where(ledger.c.customer_id.in_(customer_ids))
        readings = readings.where(calculations.c.customer_id.in_(customer_ids))
    if between is not None:
        movements = movements.where(ledger.c.customer_id.between(*between))
        readings = readings.where(calculations.c.customer_id.between(*between))
    if within is not None and starts is None:
        movements = movements.where(within(ledger.c.customer_id))
        readings = readings.where(within(calculations.c.customer_id))
    if starts is not None:
        # Each customer's rows from its start on, read for each customer by the indexes of a customer's dates and
        # months: a lateral read kept apart (OFFSET 0, which the planner does not pull up into a join), where a join
        # reads every row of each customer before leaving out those before its start.
        moved = (
            movements.where(
                ledger.c.customer_id == starts.c.customer_id,
                ledger.c.value_date >= func.coalesce(starts.c.first_day, literal(date.min)),
            )
            .offset(0)
            .lateral("moved")
        )
        read = (
            readings.where(
                calculations.c.customer_id == starts.c.customer_id,
                calculations.c.year_month >= func.coalesce(starts.c.year_month, ""),
            )
            .offset(0)
            .lateral("read")
        )
        movements = select(*moved.c).select_from(starts.join(moved, true()))
        readings = select(*read.c).select_from(starts.join(read, true()))
    sources = union_all(movements, readings).subquery("sources")
    sums = {
        "total_deposits": func.round(func.sum(sources.c.deposits), 2, type_=Balance),
        "total_purchases": func.round(func.sum(sources.c.purchases), 2, type_=Balance),
        "total_volume_sm3": func.round(func.sum(sources.c.volume), 4, type_=Volume),
    }
    months = (
        select(sources.c.customer_id, sources.c.year_month, *(value.label(name) for name, value in sums.items()))
        .group_by(sources.c.customer_id, sources.c.year_month)
        .having(or_(*(value != 0 for value in sums.values())))
        .subquery("months")
    )
    net = months.c.total_deposits - months.c.total_purchases
    running = func.sum(net).over(partition_by=months.c.customer_id, order_by=months.c.year_month)
    read = months
    if starts is not None:
        read = months.join(starts, starts.c.customer_id == months.c.customer_id)
        running = running + starts.c.base
    closing = func.round(running, 2, type_=Balance)
    latest = func.row_number().over(partition_by=months.c.customer_id, order_by=months.c.year_month.desc())
    return (
        select(
            months.c.customer_id,
            months.c.year_month,
            func.round(closing - net, 2, type_=Balance).label("opening_balance"),
            months.c.total_deposits,
            months.c.total_purchases,
            closing.label("closing_balance"),
            months.c.total_volume_sm3,
            (latest == 1).label("is_latest"),
        )
        .select_from(read)
        .subquery("expected_months")
    )


def recalculate(connection: Connection, customer_ids: list[int], from_month: Month | None = None) -> None:
    """Write the customers' months from ``from_month`` on (all when ``None``) as their sources make them.

    Takes the customers' locks (held already by the write path; not by a reconciliation fix).
    """
    lock_customers(connection, customer_ids)
    values = {
        "customer_ids": list(customer_ids),
        "from_month": str(from_month) if from_month else None,
        "details": {"recalculated": True, "from_month": str(from_month) if from_month else None},
        "moment": utcnow(),
    }
    for statement in _recalculation(from_month is not None):
        connection.execute(statement, values)


# Built when a process first recalculates, not at import: the checks import this module, and building these would
# take longer than the rest of its import (see posting.wallet_batches).
@cache
def _recalculation(from_month: bool) -> tuple:
    """The customers' months removed, from ``from_month`` on or all, and written again: built once, bound at each
    recalculation."""
    customer_ids = bindparam("customer_ids", expanding=True)
    expected = expected_months(customer_ids)
    columns = ["customer_id", "year_month", *STORED]
    stale = months.c.customer_id.in_(customer_ids)
    fresh = []
    if from_month:
        since = bindparam("from_month", type_=months.c.year_month.type)
        stale = and_(stale, months.c.year_month >= since)
        fresh.append(expected.c.year_month >= since)
    return (
        delete(months).where(stale),
        insert(months).from_select(
            [*columns, "calculation_details", "last_calculated_at"],
            select(
                *(expected.c[name] for name in columns),
                bindparam("details", type_=months.c.calculation_details.type),
                bindparam("moment", type_=months.c.last_calculated_at.type),
            ).where(*fresh),
        ),
    )


def request(
    connection: Connection,
    customer_id: int,
    from_date: date,
    reason: RecalculationReason,
    description: str,
    user=None,
) -> None:
    """Record work for a job: the customer's readings and months from ``from_date`` on."""
    connection.execute(
        insert(requests).values(
            customer_id=customer_id,
            from_date=from_date,
            reason=reason,
            description=description[:300],
            requested_at=utcnow(),
            requested_by_id=user.id if user else None,
        )
    )


def month_of(day: date) -> str:
    """The ``year_month`` a date counts in."""
    return str(Month.of(day))
