"""The home page: the business at a glance (prepaid money, what postpaid customers owe, who is suspended, the
gas sold this month), then this month's orders and targets, then the checks' status."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import Blueprint, render_template
from sqlalchemy import case, func, select

from backoffice.models import Customer, CustomerStatus, Invoice, MonthlyCustomerBalance, Order, Target
from backoffice.models.metering import Volume
from backoffice.models.types import Balance, Month
from backoffice.operations import health
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.replica import reading

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class Figures:
    prepaid: Decimal
    """The customers' prepaid balances, summed."""
    customers: int
    due: Decimal
    """What postpaid customers owe (``amount_due``), summed."""
    owing: int
    overpaid: Decimal
    suspended: int
    volume_sm3: Decimal
    """Gas sold this month by the prepaid readings, as the monthly balances count it."""
    purchases: Decimal
    """What the prepaid customers bought this month (gas and other charges, net of reversals)."""
    invoiced: Decimal
    """Postpaid invoices issued this month, less the withdrawn."""


@bp.get("/")
def index():
    month = Month.of(local_today())
    with reading():
        count, total, target, achieved, shown = _sums(month)
    return render_template(
        "home.html",
        month=month,
        figures=shown,
        order_count=count,
        order_total=Decimal(total),
        target=Decimal(target),
        achieved=Decimal(achieved),
        checks=health.check_states(),
        nightly=health.nightly_state(),
    )


def _sums(month: Month) -> tuple:
    """The month's orders (how many, their total), its targets (set, achieved) and the :func:`figures`."""
    start = month.first_day
    count, total = db.session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.grand_total), 0)).where(
            Order.closing_date >= start, Order.closing_date < month.next().first_day
        )
    ).one()
    target, achieved = db.session.execute(
        select(
            func.coalesce(func.sum(Target.target_amount), 0), func.coalesce(func.sum(Target.achieved_amount), 0)
        ).where(Target.period_start == start)
    ).one()
    return count, total, target, achieved, figures(month)


def figures(month: Month) -> Figures:
    """Three queries: the customers' stored totals, the month's balances, the month's invoices."""

    def total(value, kind=Balance):
        return func.round(func.coalesce(func.sum(value), 0), kind.scale, type_=kind)

    customers = db.session.execute(
        select(
            total(Customer.balance),
            func.count(Customer.id),
            total(Customer.amount_due),
            func.count(case((Customer.amount_due > 0, 1))),
            total(Customer.overpayment),
            func.count(case((Customer.status == CustomerStatus.SUSPENDED, 1))),
        )
    ).one()
    volume, purchases = db.session.execute(
        select(
            total(MonthlyCustomerBalance.total_volume_sm3, Volume),
            total(MonthlyCustomerBalance.total_purchases),
        ).where(MonthlyCustomerBalance.year_month == str(month))
    ).one()
    invoiced = db.session.scalar(
        select(total(Invoice.amount)).where(
            Invoice.issued_on >= month.first_day,
            Invoice.issued_on < month.next().first_day,
            Invoice.withdrawn_at.is_(None),
        )
    )
    return Figures(*customers, volume, purchases, invoiced)
