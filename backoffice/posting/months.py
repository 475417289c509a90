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

from sqlalchemy import and_, bindparam, delete, exists, func, insert, literal, or_, select, union_all, update
from sqlalchemy.engine import Connection

from backoffice.models import BalanceTransaction, MonthlyCustomerBalance, RecalculationReason, RecalculationRequest
from backoffice.models.metering import TransactionCalculation, Volume
from backoffice.models.types import Balance, Money, Month, month_of_date, upsert, utcnow
from backoffice.posting.locking import lock_customers
from backoffice.posting.rules import DELIVERED, MEASURES, MONTH_COLUMNS
from backoffice.posting.sql import contribution_sql

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


def shift(connection: Connection, customer_id: int, year_month: str, moved: dict, details: dict) -> None:
    """Apply one movement to its month and carry its net to every later month's opening and closing.

    ``moved``: what the movement adds to each month column it counts in (``rules.counts``, ``rules.measured``)."""
    values = shifting(customer_id, year_month, moved, details)
    later = connection.execute(_UPSERT[connection.dialect.name], values).scalar_one()
    if values["net"] and later:
        connection.execute(LATER, values)
    if values["deposits"] <= 0 and values["purchases"] <= 0 and values["volume"] <= 0:
        # Something was taken away (or nothing moved): a month left with nothing in it has no row.
        connection.execute(EMPTY, values)


def shifting(customer_id: int, month: str | date, moved: dict | None = None, details: dict | None = None) -> dict:
    """The parameters of the statements that shift a month (``month``, or the month of a date) by what a movement
    adds to its columns (``moved``, by column; none for the month alone), ``details`` bound unless ``None``."""
    columns = (*MONTH_COLUMNS, *(measure.month for measure in MEASURES))
    added = {column: (moved or {}).get(column, Decimal(0)) for column in columns}
    deposits, purchases = added["total_deposits"], added["total_purchases"]
    return {
        "b_customer_id": customer_id,
        "b_year_month": month if isinstance(month, str) else month_of(month),
        "deposits": deposits,
        "purchases": purchases,
        "volume": added[DELIVERED.month],
        "net": deposits - purchases,
        "moment": utcnow(),
    } | ({} if details is None else {"details": details})


def expected_months(customer_ids=None):
    """Every customer month as the sources make it: a subquery with the stored table's column names,
    and ``is_latest`` for the customer's last month.

    ``customer_ids`` narrows the sources to those customers (the write path's recalculation).
    """
    ledger = BalanceTransaction.__table__
    calculations = TransactionCalculation.__table__
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    movements = select(
        ledger.c.customer_id,
        month_of_date(ledger.c.value_date).label("year_month"),
        contribution_sql("total_deposits", kind, signed).label("deposits"),
        contribution_sql("total_purchases", kind, signed).label("purchases"),
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
    closing = func.round(
        func.sum(net).over(partition_by=months.c.customer_id, order_by=months.c.year_month), 2, type_=Balance
    )
    latest = func.row_number().over(partition_by=months.c.customer_id, order_by=months.c.year_month.desc())
    return select(
        months.c.customer_id,
        months.c.year_month,
        func.round(closing - net, 2, type_=Balance).label("opening_balance"),
        months.c.total_deposits,
        months.c.total_purchases,
        closing.label("closing_balance"),
        months.c.total_volume_sm3,
        (latest == 1).label("is_latest"),
    ).subquery("expected_months")


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
