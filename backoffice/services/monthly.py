"""Keeping monthly customer balances in the write path's transaction.

One movement (a deposit, a charge, a reading's calculation coming or going) *shifts* its
month: the month's sums move by the movement, and so do the opening and closing of every
later month. Work over many readings *recalculates* the customer's months from a month on,
set-based, from the same SQL the ``monthly_balance`` check compares with. Both run inside
a transaction that holds the customer's lock.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.engine import Connection

from backoffice.models import MonthlyCustomerBalance, RecalculationReason, RecalculationRequest, expected_months
from backoffice.models.metering import Volume
from backoffice.models.types import Money, Month, upsert, utcnow
from backoffice.services.locking import lock_customers

months = MonthlyCustomerBalance.__table__
requests = RecalculationRequest.__table__
STORED = ("opening_balance", "total_deposits", "total_purchases", "closing_balance", "total_volume_sm3")

_customer, _month = bindparam("b_customer_id"), bindparam("b_year_month")
_net = bindparam("net", type_=Money)
_previous_closing = func.coalesce(
    select(months.c.closing_balance)
    .where(months.c.customer_id == _customer, months.c.year_month < _month)
    .order_by(months.c.year_month.desc())
    .limit(1)
    .scalar_subquery(),
    0,
)
LATER = (  # every later month carries the net
    update(months)
    .where(months.c.customer_id == _customer, months.c.year_month > _month)
    .values(
        opening_balance=func.round(months.c.opening_balance + _net, 2),
        closing_balance=func.round(months.c.closing_balance + _net, 2),
    )
)
EMPTY = delete(months).where(  # a month left with nothing in it has no row
    months.c.customer_id == _customer,
    months.c.year_month == _month,
    months.c.total_deposits == 0,
    months.c.total_purchases == 0,
    months.c.total_volume_sm3 == 0,
)


def adding_to_month(dialect: str, *, where=None, details=None):
    """Add to a month's row, or create it opening at the previous month's closing; say whether later months exist.

    The month, the customer and the amounts are bound (``b_year_month``, ``b_customer_id``, ``deposits``,
    ``purchases``, ``volume``, ``net``, ``moment``). Within a larger statement, ``where`` is the condition on
    which the row is written and ``details`` an expression for its ``calculation_details``; else the details
    are bound too.
    """
    values = {
        "customer_id": _customer,
        "year_month": _month,
        "opening_balance": _previous_closing,
        "total_deposits": bindparam("deposits", type_=Money),
        "total_purchases": bindparam("purchases", type_=Money),
        "closing_balance": func.round(_previous_closing + _net, 2),
        "total_volume_sm3": bindparam("volume", type_=Volume),
        "calculation_details": bindparam("details", type_=months.c.calculation_details.type)
        if details is None
        else details,
        "last_calculated_at": bindparam("moment"),
    }
    statement = upsert(dialect, months)
    if where is None:
        statement = statement.values(**values)
    else:
        statement = statement.from_select(list(values), select(*values.values()).where(where))
    new = statement.excluded
    later = exists().where(months.c.customer_id == _customer, months.c.year_month > _month)
    return statement.on_conflict_do_update(
        index_elements=[months.c.customer_id, months.c.year_month],
        set_={
            "total_deposits": func.round(months.c.total_deposits + new.total_deposits, 2),
            "total_purchases": func.round(months.c.total_purchases + new.total_purchases, 2),
            "closing_balance": func.round(months.c.closing_balance + _net, 2),
            "total_volume_sm3": func.round(months.c.total_volume_sm3 + new.total_volume_sm3, 4),
            "calculation_details": new.calculation_details,
            "last_calculated_at": new.last_calculated_at,
        },
    ).returning(later)


_UPSERT = {dialect: adding_to_month(dialect) for dialect in ("postgresql", "sqlite")}


def shift(
    connection: Connection,
    customer_id: int,
    year_month: str,
    *,
    deposits: Decimal = Decimal(0),
    purchases: Decimal = Decimal(0),
    volume: Decimal = Decimal(0),
    details: dict,
) -> None:
    """Apply one movement to its month and carry its net to every later month's opening and closing."""
    values = shifting(customer_id, year_month, deposits=deposits, purchases=purchases, volume=volume, details=details)
    later = connection.execute(_UPSERT[connection.dialect.name], values).scalar_one()
    if values["net"] and later:
        connection.execute(LATER, values)
    if deposits <= 0 and purchases <= 0 and volume <= 0:
        # Something was taken away (or nothing moved): a month left with nothing in it has no row.
        connection.execute(EMPTY, values)


def shifting(
    customer_id: int,
    month: str | date,
    *,
    deposits: Decimal = Decimal(0),
    purchases: Decimal = Decimal(0),
    volume: Decimal = Decimal(0),
    details: dict | None = None,
) -> dict:
    """The parameters of the statements that shift a month (``month``, or the month of a date) by a movement
    (``details`` bound unless ``None``)."""
    return {
        "b_customer_id": customer_id,
        "b_year_month": month if isinstance(month, str) else month_of(month),
        "deposits": deposits,
        "purchases": purchases,
        "volume": volume,
        "net": deposits - purchases,
        "moment": utcnow(),
    } | ({} if details is None else {"details": details})


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
    for statement in _RECALCULATION[from_month is not None]:
        connection.execute(statement, values)


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


_RECALCULATION = {from_month: _recalculation(from_month) for from_month in (False, True)}


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
