"""Customers: the list with balances, a customer's page (orders, prepaid ledger, recharge and
charge), and "Recalculate customer" for admins."""

from __future__ import annotations

import uuid
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from backoffice import jobs
from backoffice.extensions import db
from backoffice.models import BalanceTransaction, Customer, CustomerStatus, Order, Role
from backoffice.services import wallet
from backoffice.web.auth import requires_role
from backoffice.web.fields import MoneyField
from backoffice.web.filters import money
from backoffice.web.jobs import start

bp = Blueprint("customers", __name__, url_prefix="/customers")

SORTS = {
    "code": Customer.code.asc(),
    "name": Customer.name.asc(),
    "balance": Customer.balance.asc(),
    "-balance": Customer.balance.desc(),
}
TABS = ("orders", "ledger")


class CustomerFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Search", description="Code or name")
    status = SelectField(
        "Status",
        choices=[SelectChoice("", "All"), *(SelectChoice(s.value, s.value) for s in CustomerStatus)],
        default="",
    )
    sort = SelectField(
        "Sort by",
        choices=[
            SelectChoice("code", "Code"),
            SelectChoice("name", "Name"),
            SelectChoice("-balance", "Balance, highest first"),
            SelectChoice("balance", "Balance, lowest first"),
        ],
        default="code",
    )


class MovementForm(FlaskForm):
    """A recharge or a charge; the hidden key makes a double submit move money once."""

    amount = MoneyField("Amount")
    description = StringField("Description", validators=[Length(max=300)])
    idempotency_key = HiddenField()


@bp.get("")
def index():
    filters = CustomerFilterForm(request.args)
    conditions = []
    if filters.validate():
        if text := (filters.q.data or "").strip():
            conditions.append(or_(Customer.code.ilike(f"%{text}%"), Customer.name.ilike(f"%{text}%")))
        if filters.status.data:
            conditions.append(Customer.status == CustomerStatus(filters.status.data))
        order = SORTS[filters.sort.data or "code"]
    else:
        conditions.append(Customer.id.is_(None))
        order = SORTS["code"]
    page = db.paginate(select(Customer).where(*conditions).order_by(order, Customer.id), per_page=50, error_out=False)
    total = db.session.scalar(select(func.coalesce(func.sum(Customer.balance), 0)).where(*conditions))
    return render_template("customers/index.html", filters=filters, page=page, total=Decimal(total))


@bp.get("/<code>")
def show(code: str):
    customer = _get(code)
    tab = request.args.get("tab", "orders")
    if tab not in TABS:
        abort(404)
    return _page(customer, tab)


@bp.post("/<code>/recharge")
def recharge(code: str):
    return _move(_get(code), wallet.recharge, "recharge")


@bp.post("/<code>/charge")
def charge(code: str):
    return _move(_get(code), wallet.charge, "charge")


@bp.post("/<code>/charge/preview")
def charge_preview(code: str):
    """Checks a charge amount as it is typed: readable, and within the balance. Writes nothing."""
    customer = _get(code)
    form = MovementForm(prefix="charge")
    form.validate()
    error = " ".join(form.amount.errors)
    if not error and form.amount.data is not None and form.amount.data > customer.balance:
        error = f"More than the {money(customer.balance)} available."
    return render_template("customers/_charge_preview.html", customer=customer, form=form, error=error)


@bp.post("/<code>/recalculate")
@requires_role(Role.ADMIN)
def recalculate(code: str):
    customer = _get(code)
    return start("recalculate_customer", {"customer_id": customer.id}, fallback=url_for("customers.show", code=code))


def _move(customer: Customer, operation, name: str):
    form = MovementForm(prefix=name)
    if form.validate_on_submit():
        try:
            movement = operation(
                customer,
                form.amount.data,
                description=form.description.data or "",
                idempotency_key=form.idempotency_key.data or None,
                user=current_user,
            )
        except wallet.WalletError as error:
            form.amount.errors.append(str(error))
        else:
            flash(f"{name.capitalize()} #{movement.id} posted.", "success")
            return redirect(url_for("customers.show", code=customer.code, tab="ledger"))
    db.session.rollback()
    forms = {name: form}
    return _page(db.session.get(Customer, customer.id), "ledger", forms=forms), 422


def _page(customer: Customer, tab: str, forms: dict | None = None):
    forms = forms or {}
    for name in ("recharge", "charge"):
        if name not in forms:
            forms[name] = MovementForm(prefix=name, formdata=None, idempotency_key=uuid.uuid4().hex)
    context = {
        "customer": customer,
        "tab": tab,
        "forms": forms,
        "job": jobs.active_job("recalculate_customer", {"customer_id": customer.id}),
    }
    if tab == "orders":
        context["orders"] = db.paginate(
            select(Order).where(Order.customer_id == customer.id).order_by(Order.closing_date.desc(), Order.id.desc()),
            per_page=25,
            error_out=False,
        )
        context["total"] = Decimal(
            db.session.scalar(
                select(func.coalesce(func.sum(Order.grand_total), 0)).where(Order.customer_id == customer.id)
            )
        )
    else:
        context["movements"] = db.paginate(
            select(BalanceTransaction)
            .where(BalanceTransaction.customer_id == customer.id)
            .order_by(BalanceTransaction.id.desc()),
            per_page=25,
            error_out=False,
        )
    return render_template("customers/show.html", **context)


def _get(code: str) -> Customer:
    customer = db.session.scalar(select(Customer).where(Customer.code == code))
    if customer is None:
        abort(404)
    return customer
