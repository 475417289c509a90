"""The home page: the business at a glance (prepaid money, what postpaid customers owe, who is suspended, the
gas sold this month), then this month's orders and targets, then the checks' status.

Its figures are what is kept rather than sums over every customer: the prepaid balances are the ledger's Customer
deposits, the month's orders the sums of the orders' months; what postpaid customers owe and overpaid, how many owe
and are suspended, the month's gas, purchases and invoices are tallies the database keeps as it writes what they
count (``models.tallies``), and the customers are counted up to the lists' bound."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import Blueprint, render_template
from sqlalchemy import func, select

from backoffice.models import Customer, Figure, OrderMonthTotal, Target, tallies
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
    """The ledger's Customer deposits; the customers counted up to the bound; the rest tallied (what postpaid
    customers owe and overpaid, how many owe and are suspended, the month's Sm³, purchases and invoices)."""
    bound = extensions.COUNTED_UP_TO
    customers, _total = counted(select(Customer.id), bound)
    tallied = tallies.figures(str(month))
    return Figures(
        wallets_total(),
        Counted(customers, customers > bound),
        _quantized(tallied[Figure.OWED], Balance),
        int(tallied[Figure.OWING]),
        _quantized(tallied[Figure.OVERPAID], Balance),
        int(tallied[Figure.SUSPENDED]),
        _quantized(tallied[Figure.VOLUME_SM3], Volume),
        _quantized(tallied[Figure.PURCHASES], Balance),
        _quantized(tallied[Figure.INVOICED], Balance),
    )


def _quantized(value: Decimal, kind) -> Decimal:
    """A tally at the scale of what it sums (a sum of values stored at that scale: exact, nothing rounded)."""
    return value.quantize(Decimal(1).scaleb(-kind.scale))
