"""A customer's page: who they are, their orders, and "Recalculate customer" for admins."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, render_template, url_for
from sqlalchemy import func, select

from backoffice import jobs
from backoffice.extensions import db
from backoffice.models import Customer, Order, Role
from backoffice.web.auth import requires_role
from backoffice.web.jobs import start

bp = Blueprint("customers", __name__, url_prefix="/customers")


@bp.get("/<code>")
def show(code: str):
    customer = _get(code)
    orders = db.paginate(
        select(Order).where(Order.customer_id == customer.id).order_by(Order.closing_date.desc(), Order.id.desc()),
        per_page=25,
        error_out=False,
    )
    total = db.session.scalar(
        select(func.coalesce(func.sum(Order.grand_total), 0)).where(Order.customer_id == customer.id)
    )
    return render_template(
        "customers/show.html",
        customer=customer,
        orders=orders,
        total=Decimal(total),
        job=jobs.active_job("recalculate_customer", {"customer_id": customer.id}),
    )


@bp.post("/<code>/recalculate")
@requires_role(Role.ADMIN)
def recalculate(code: str):
    customer = _get(code)
    return start("recalculate_customer", {"customer_id": customer.id}, fallback=url_for("customers.show", code=code))


def _get(code: str) -> Customer:
    customer = db.session.scalar(select(Customer).where(Customer.code == code))
    if customer is None:
        abort(404)
    return customer
