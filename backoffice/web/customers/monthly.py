"""What the monthly tab of a customer's page offers: its months downloaded as CSV or a workbook, and the customer's
real-time calculation turned on or off."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.models import MonthlyCustomerBalance, Role
from backoffice.platform.replica import reads
from backoffice.services import customers as customer_service
from backoffice.web.customers.page import customer_or_404
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.lists import export

bp = Blueprint("monthly", __name__, url_prefix="/customers/<code>")

CSV_COLUMNS = ["period", "opening_balance", "deposits", "purchases", "closing_balance", "volume_sm3"]


@bp.get("/monthly.<any(csv, xlsx):format>")
@reads
def download(code: str, format: str):
    """Every month of the customer's balances, newest first (the tab shows the latest), streamed."""
    customer = customer_or_404(code)
    month = MonthlyCustomerBalance
    months = (
        select(
            month.year_month,
            month.opening_balance,
            month.total_deposits,
            month.total_purchases,
            month.closing_balance,
            month.total_volume_sm3,
        )
        .where(month.customer_id == customer.id)
        .order_by(month.year_month.desc())
    )
    name = "monthly-balances-" + (re.sub(r"[^A-Za-z0-9._-]", "", customer.code) or str(customer.id))
    return export(name, CSV_COLUMNS, months, cells=months, format=format, title=_l("Monthly balances"))


@bp.get("/realtime/off")
@requires_role(Role.ADMIN)
def confirm_realtime_off(code: str):
    """What stopping real-time calculation stops, and how the customer's months catch up, asked before it stops."""
    customer = customer_or_404(code)
    if not customer.use_realtime_calculation:
        flash(_("%(code)s is not calculated in real time already.", code=customer.code), "info")
        return redirect(url_for("customers.show", code=code, tab="monthly"))
    hour, minute = current_app.config["NIGHTLY_AT"]
    return render_template("customers/realtime_off.html", customer=customer, nightly=f"{hour:02d}:{minute:02d}")


@bp.post("/realtime/<any(on, off):state>")
@requires_role(Role.ADMIN)
def set_realtime(code: str, state: str):
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
