"""Orders: the list with its filters, sortable columns, total and CSV export, the order form, and the live grand
total."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select, or_, select
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional

from backoffice.models import (
    COMPONENTS,
    AccountManager,
    Customer,
    GrandTotalTooLarge,
    NegativeGrandTotal,
    Order,
    OrderMonthTotal,
    checked_grand_total,
)
from backoffice.models.types import folded, folded_text, next_month_start
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.money import ZERO
from backoffice.platform.replica import reading, reads
from backoffice.services import ChangedMeanwhile
from backoffice.services.exports import guarded
from backoffice.services.orders import OrderNumberTaken, delete_order, month_totals, save_order
from backoffice.web.oversight import history
from backoffice.web.plumbing.fields import LocalDateField, MoneyField, MonthField
from backoffice.web.plumbing.filters import money
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import Column, Counted, Filters, Listing
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pickers import PickerField
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("orders", __name__, url_prefix="/orders")

COLUMNS = [
    Column("number", _l("Number"), Order.number),
    Column("customer", _l("Customer"), Customer.code),
    Column("manager", _l("Account manager"), AccountManager.name),
    Column("closing", _l("Closing date"), Order.closing_date),
    Column("total_price", _l("Total price"), Order.total_price, numeric=True),
    Column("additions", _l("Additions"), Order.additions, numeric=True),
    Column("promo", _l("Promo"), Order.promo, numeric=True),
    Column("reductions", _l("Reductions"), Order.reductions, numeric=True),
    Column("grand_total", _l("Grand total"), Order.grand_total, numeric=True),
]
CSV_COLUMNS = [
    "number",
    "customer_code",
    "customer_name",
    "account_manager",
    "closing_date",
    "total_price",
    "additions",
    "promo",
    "reductions",
    "grand_total",
]


class OrderAmountsForm(FlaskForm):
    """The four components; their grand total is what the live partial shows."""

    total_price = MoneyField(_l("Total price"), description=_l("The price of the initial package."))
    additions = MoneyField(_l("Additions"), description=_l("Added to the total price."))
    promo = MoneyField(_l("Promo"), description=_l("A promotional discount."))
    reductions = MoneyField(_l("Reductions"), description=_l("Any other deduction."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self._compute_grand_total()
        except (NegativeGrandTotal, GrandTotalTooLarge):
            self.grand_total = None

    def amount_fields(self):
        return [self.total_price, self.additions, self.promo, self.reductions]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        try:
            self._compute_grand_total()
        except NegativeGrandTotal as error:
            self.grand_total = None
            self.form_errors.append(
                _(
                    "Promo and reductions (%(discounts)s) exceed total price plus additions (%(gross)s): the grand "
                    "total cannot be negative.",
                    discounts=money(error.discounts),
                    gross=money(error.gross),
                )
            )
            valid = False
        except GrandTotalTooLarge as error:
            self.grand_total = None
            self.form_errors.append(str(error))
            valid = False
        return valid

    def _compute_grand_total(self) -> None:
        self.grand_total = None
        amounts = [field.data for field in self.amount_fields()]
        if not any(field.errors for field in self.amount_fields()) and None not in amounts:
            self.grand_total = checked_grand_total(*amounts)


class OrderForm(Versioned, OrderAmountsForm):
    number = StringField(
        _l("Order number"),
        validators=[Optional(), Length(max=32)],
        description=_l("Leave blank to assign the next number."),
    )
    customer_id = PickerField(_l("Customer"), [InputRequired(_l("Choose a customer."))], kind="customer")
    account_manager_id = PickerField(
        _l("Account manager"), [InputRequired(_l("Choose an account manager."))], kind="manager"
    )
    closing_date = LocalDateField(_l("Closing date"), validators=[InputRequired(_l("Enter the closing date."))])


class OrderFilterForm(Filters):
    q = StringField(_l("Search"), description=_l("Order number, customer code or name"))
    manager = PickerField(_l("Account manager"), kind="manager", render_kw={"placeholder": _l("All managers")})
    month = MonthField(_l("Closing month"))


@bp.get("")
def index():
    listing = _listing()
    # Rows, not records: the list shows the export's columns, and links each row by its id; its count is the
    # page's too.
    query = export_query().add_columns(Order.id)
    per_page = current_app.config["ORDERS_PER_PAGE"]
    counted = _counted(listing, query, per_page)
    page = listing.page(query, per_page, rows=True, counted=counted)
    return render_template("orders/index.html", listing=listing, page=page, counted=counted, total=counted.total)


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str = "csv"):
    """Every order the filters select, in the list's order, streamed."""
    listing = _listing()
    if not listing.valid:
        return index(), 422
    return listing.export("orders", CSV_COLUMNS, export_query(), cells=export_cells(), format=format)


@bp.get("/deleted")
def deleted():
    page = history.deleted_orders()
    ids = {order.customer_id for order in page.items}
    customers = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    return render_template("orders/deleted.html", page=page, customers=customers)


@bp.route("/new", methods=["GET", "POST"])
@posts_once
def new():
    order = Order(closing_date=local_today(), **dict.fromkeys(COMPONENTS, ZERO))
    return _edit(order, _l("Order created. Grand total %(total)s for %(customer)s."))


@bp.route("/<int:order_id>/edit", methods=["GET", "POST"])
@posts_once
def edit(order_id: int):
    return _edit(_get(order_id), _l("Order saved. Grand total %(total)s for %(customer)s."))


@bp.post("/<int:order_id>/delete")
@posts_once
def delete(order_id: int):
    order = _get(order_id)
    number = order.number
    try:
        delete_order(order)
    except ChangedMeanwhile:
        flash(_("Order %(number)s was changed by someone else meanwhile; it was not deleted.", number=number), "error")
        return redirect(url_for("orders.edit", order_id=order_id))
    flash(_("Order %(number)s deleted.", number=number), "success")
    return redirect(url_for("orders.index"))


@bp.post("/grand-total")
def grand_total():
    """The live grand total: parses and computes, never writes."""
    form = OrderAmountsForm()
    form.validate()
    return render_template("orders/_grand_total_response.html", form=form)


def _edit(order: Order, saved_message):
    form = OrderForm(obj=order)
    order_id = order.id
    if form.validate_on_submit():
        form.populate_obj(order)
        order.number = (form.number.data or "").strip() or None
        try:
            save_order(order, user=current_user, version=form.version.data)
        except OrderNumberTaken as error:
            form.number.errors.append(str(error))
        except ChangedMeanwhile:
            if gone := refused_edit(form, Order, order_id, "order", gone_to=url_for("orders.index")):
                return gone
        else:
            saved = {"total": money(order.grand_total), "customer": order.customer}
            flash(str(saved_message) % saved, "success")
            return redirect(url_for("orders.index", q=order.number))
    status = 409 if form.changed else 422 if form.errors or form.form_errors else 200
    return render_template("orders/form.html", form=form, order=order), status


def _get(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        abort(404)
    return order


def export_query():
    """The columns of the CSV, of every order (the list narrows and sorts it)."""
    return (
        select(
            Order.number,
            Customer.code,
            Customer.name,
            AccountManager.name.label("manager"),
            Order.closing_date,
            *(getattr(Order, name) for name in COMPONENTS),
            Order.grand_total,
        )
        .select_from(Order)
        .join(Order.customer)
        .join(Order.account_manager)
    )


def export_cells():
    """The cells of the CSV as text, of every order (see :func:`backoffice.services.exports.copied_csv`): the cells
    of :func:`export_query`'s rows, as :func:`backoffice.services.exports.csv_cell` writes them."""
    return (
        select(
            guarded(Order.number),
            guarded(Customer.code),
            guarded(Customer.name),
            guarded(AccountManager.name),
            Order.closing_date,
            *(getattr(Order, name) for name in COMPONENTS),
            Order.grand_total,
        )
        .select_from(Order)
        .join(Order.customer)
        .join(Order.account_manager)
    )


def _listing() -> Listing:
    return Listing(
        OrderFilterForm(request.args),
        COLUMNS,
        _filter_conditions,
        default="-closing",
        tiebreak=Order.id,
        csv_endpoint="orders.export",
    )


def _counted(listing: Listing, query: Select, per_page: int) -> Counted:
    """How many orders the filters select and the sum of their grand totals. By manager and/or month alone, or
    unfiltered, they are the sums of the orders' months (``order_month_totals``), exact at any size; a search
    counts the orders (the filters name a customer through a subquery) up to the list's bound."""
    filters = listing.filters
    if not listing.valid or (filters.q.data or "").strip():
        return listing.counted(query, per_page, Order.grand_total)
    conditions = []
    if filters.manager.data:
        conditions.append(OrderMonthTotal.account_manager_id == filters.manager.data)
    if filters.month.data:
        conditions.append(OrderMonthTotal.month == filters.month.data)
    with reading():
        count, total = month_totals(*conditions)
    return Counted(count, total=total)


def _filter_conditions(filters: OrderFilterForm) -> list:
    conditions = []
    if text := (filters.q.data or "").strip():
        pattern = folded_text(f"%{text}%")
        customers = select(Customer.id).where(
            or_(folded(Customer.code).ilike(pattern), folded(Customer.name).ilike(pattern))
        )
        conditions.append(or_(folded(Order.number).ilike(pattern), Order.customer_id.in_(customers)))
    if filters.manager.data:
        conditions.append(Order.account_manager_id == filters.manager.data)
    if filters.month.data:
        conditions += [
            Order.closing_date >= filters.month.data,
            Order.closing_date < next_month_start(filters.month.data),
        ]
    return conditions
