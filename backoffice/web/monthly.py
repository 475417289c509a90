"""A customer's monthly balances (table and chart), pending recalculations, and real-time calculation on or off."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.models import Customer, MonthlyCustomerBalance, Role
from backoffice.models.types import Month
from backoffice.services import customers as customer_service
from backoffice.web.auth import requires_role

bp = Blueprint("monthly", __name__, url_prefix="/customers/<code>")

MONTHS_SHOWN = 24
WIDTH, HEIGHT, PAD = 720, 220, 24
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Bar:
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    month: MonthlyCustomerBalance
    label: str
    """The month under its bar, ``MM/YY``; every other month when there are many."""


@dataclass(frozen=True)
class Chart:
    """Closing balance (a line) and Sm³ volume (bars) per month, in SVG coordinates."""

    width: int
    height: int
    bars: list[Bar]
    points: str
    zero_y: Decimal


def tab_context(customer: Customer) -> dict:
    rows = db.session.scalars(
        select(MonthlyCustomerBalance)
        .where(MonthlyCustomerBalance.customer_id == customer.id)
        .order_by(MonthlyCustomerBalance.year_month.desc())
        .limit(MONTHS_SHOWN)
    ).all()
    return {"months": rows, "chart": chart(list(reversed(rows))) if rows else None}


def chart(rows: list[MonthlyCustomerBalance]) -> Chart:
    """Scale the months into the drawing: bars from the bottom, the line between its lowest and highest value."""
    inner_w, inner_h = Decimal(WIDTH - 2 * PAD), Decimal(HEIGHT - 2 * PAD)
    slot = inner_w / len(rows)
    top_volume = max((r.total_volume_sm3 for r in rows), default=Decimal(0)) or Decimal(1)
    closings = [r.closing_balance for r in rows]
    low, high = min([*closings, Decimal(0)]), max([*closings, Decimal(0)])
    span = (high - low) or Decimal(1)

    def y_of(value: Decimal) -> Decimal:
        return (PAD + inner_h - (value - low) / span * inner_h).quantize(TENTH)

    bars, points = [], []
    for index, row in enumerate(rows):
        height = (row.total_volume_sm3 / top_volume * inner_h).quantize(TENTH)
        x = (PAD + slot * index).quantize(TENTH)
        month = Month.parse(row.year_month)
        label = f"{month.month:02d}/{month.year % 100:02d}" if len(rows) <= 12 or index % 2 == 0 else ""
        width = (slot * 3 / 5).quantize(TENTH)
        bars.append(Bar(x + (slot / 5).quantize(TENTH), PAD + inner_h - height, width, height, row, label))
        points.append(f"{(x + slot / 2).quantize(TENTH)},{y_of(row.closing_balance)}")
    return Chart(WIDTH, HEIGHT, bars, " ".join(points), y_of(Decimal(0)))


@bp.get("/realtime/off")
@requires_role(Role.ADMIN)
def confirm_realtime_off(code: str):
    """What stopping real-time calculation stops, and how the customer's months catch up, asked before it stops."""
    from backoffice.web.customers import customer_or_404

    customer = customer_or_404(code)
    if not customer.use_realtime_calculation:
        flash(_("%(code)s is not calculated in real time already.", code=customer.code), "info")
        return redirect(url_for("customers.show", code=code, tab="monthly"))
    hour, minute = current_app.config["NIGHTLY_AT"]
    return render_template("customers/realtime_off.html", customer=customer, nightly=f"{hour:02d}:{minute:02d}")


@bp.post("/realtime/<any(on, off):state>")
@requires_role(Role.ADMIN)
def set_realtime(code: str, state: str):
    from backoffice.web.customers import customer_or_404

    customer = customer_or_404(code)
    on = state == "on"
    customer_service.set_realtime(customer.id, on)
    if on:
        flash(
            _(
                "%(code)s is calculated in real time again. Recalculations already pending are done by the next job "
                "or the nightly run.",
                code=customer.code,
            ),
            "success",
        )
    else:
        flash(
            _(
                "%(code)s is no longer calculated in real time: readings, pricing changes and deposits are recorded "
                "as pending recalculations, done by jobs and the nightly run.",
                code=customer.code,
            ),
            "success",
        )
    return redirect(url_for("customers.show", code=code, tab="monthly"))
