"""A customer's real-time calculation turned on or off (the monthly tab of the customer's page offers it)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from backoffice.models import Role
from backoffice.services import customers as customer_service
from backoffice.web.auth import requires_role
from backoffice.web.customer_page import customer_or_404

bp = Blueprint("monthly", __name__, url_prefix="/customers/<code>")


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
