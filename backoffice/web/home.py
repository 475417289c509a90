"""The home page: the business at a glance (prepaid money, what postpaid customers owe, who is suspended, the
gas sold this month), then this month's orders and targets, then the checks' status.

Its figures are what is kept rather than sums over every customer: the prepaid balances are the ledger's Customer
deposits, the month's orders the sums of the orders' months; the owing, overpaid and suspended customers are read
off indexes of those rows alone, the month's gas and invoices off the month's rows, and the customers are counted
up to the lists' bound."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import Blueprint, render_template
from sqlalchemy import case, func, select

from backoffice.models import Customer, Invoice, MonthlyCustomerBalance, OrderMonthTotal, Target
from backoffice.models.customers import OWING, SUSPENDED
from backoffice.models.metering import Volume
from backoffice.models.types import Balance, Month
from backoffice.operations import health
from backoffice.platform import extensions
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import counted, db
from backoffice.platform.replica import reading
from backoffice.services.customers import wallets_total
from backoffice.services.orders import month_totals
from backoffice.web.plumbing.lists import Counted

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class Figures:
    prepaid: Decimal
    """The customers' prepaid balances, summed: the ledger's Customer deposits."""
    customers: Counted
    """How many customers there are, counted up to the lists' bound."""
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
        order_total=total,
        target=Decimal(target),
        achieved=Decimal(achieved),
        checks=health.check_states(),
        nightly=health.nightly_state(),
    )


def _sums(month: Month) -> tuple:
    """The month's orders (how many, their total, from the orders' months), its targets (set, achieved) and the
    :func:`figures`."""
    start = month.first_day
    count, total = month_totals(OrderMonthTotal.month == start)
    target, achieved = db.session.execute(
        select(
            func.coalesce(func.sum(Target.target_amount), 0), func.coalesce(func.sum(Target.achieved_amount), 0)
        ).where(Target.period_start == start)
    ).one()
    return count, total, target, achieved, figures(month)


def figures(month: Month) -> Figures:
    """The ledger's Customer deposits; the customers counted up to the bound; the owing and overpaid ones, and the
    suspended ones, each off the index of those rows; the month's balances and its invoices."""

    def total(value, kind=Balance):
        return func.round(func.coalesce(func.sum(value), 0), kind.scale, type_=kind)

    bound = extensions.COUNTED_UP_TO
    customers, _total = counted(select(Customer.id), bound)
    due, owing, overpaid = db.session.execute(
        select(
            total(Customer.amount_due), func.count(case((Customer.amount_due > 0, 1))), total(Customer.overpayment)
        ).where(OWING)
    ).one()
    suspended = db.session.scalar(select(func.count()).select_from(Customer).where(SUSPENDED))
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
    return Figures(
        wallets_total(),
        Counted(customers, customers > bound),
        due,
        owing,
        overpaid,
        suspended,
        volume,
        purchases,
        invoiced,
    )
