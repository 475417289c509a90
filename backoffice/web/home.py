"""The home page: this month at a glance."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, render_template
from sqlalchemy import func, select

from backoffice.config import local_today
from backoffice.extensions import db
from backoffice.models import Order, Target
from backoffice.models.types import Month
from backoffice.reconcile import status

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    month = Month.of(local_today())
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
    return render_template(
        "home.html",
        month=month,
        order_count=count,
        order_total=Decimal(total),
        target=Decimal(target),
        achieved=Decimal(achieved),
        statuses=status.latest(),
    )
