"""Customers: the list with balances (sortable, filtered, exported as CSV), a customer's page (its tabs), adding and
editing a customer, and for admins "Recalculate customer" and closing or reopening one. What the page's forms write
(a recharge or a charge, a meter, an invoice, a payment) is in ``customer_money``."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import String, case, cast, func, literal, or_, select
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from backoffice.models import AccountManager, Customer, CustomerStatus, Role, TaxStatus
from backoffice.models.types import folded, folded_text
from backoffice.platform.i18n import LANGUAGE_NAMES
from backoffice.platform.money import ZERO
from backoffice.platform.replica import reads
from backoffice.platform.words import WORDS
from backoffice.services import ChangedMeanwhile, customers, efaktur
from backoffice.services.exports import guarded
from backoffice.web.customers.page import customer_or_404, customer_page_or_404, render_customer
from backoffice.web.oversight.jobs import start
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import OptionalMoneyField
from backoffice.web.plumbing.filters import money
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import Column, Filters, Listing
from backoffice.web.plumbing.pickers import PickerField
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("customers", __name__, url_prefix="/customers")

COLUMNS = [
    Column("code", _l("Code"), Customer.code),
    Column("name", _l("Name"), Customer.name),
    Column("manager", _l("Account manager"), AccountManager.name, nullable=True),
    Column("status", _l("Status"), Customer.status),
    Column("balance", _l("Balance"), Customer.balance, numeric=True),
    Column("recharged", _l("Recharged"), Customer.total_recharged, numeric=True),
    Column("spent", _l("Spent"), Customer.total_spent, numeric=True),
]
CSV_COLUMNS = [
    "code",
    "name",
    "account_manager",
    "status",
    "balance",
    "total_recharged",
    "total_spent",
    "contact_person",
    "email",
    "phone",
    "city",
    "route",
    "route_stop",
    "tax_number",
    "tax_status",
]
PER_PAGE = 50
TABS = ("orders", "ledger", "billing", "metering", "monthly", "documents")


CLOSED = "closed"


class CustomerFilterForm(Filters):
    q = StringField(_l("Search"), description=_l("Code or name"))
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("All open")),
            *(SelectChoice(s.value, WORDS[s.value]) for s in CustomerStatus),
            SelectChoice(CLOSED, WORDS[CLOSED]),
        ],
        default="",
    )
    manager = PickerField(_l("Account manager"), kind="manager", render_kw={"placeholder": _l("All managers")})


class CustomerFields(FlaskForm):
    """What a clerk keeps of a customer besides its code."""

    name = StringField(
        _l("Name"),
        validators=[
            InputRequired(_l("Enter the customer's name.")),
            Length(max=200, message=_l("Use at most 200 characters.")),
        ],
    )
    account_manager_id = PickerField(
        _l("Account manager"), kind="manager", render_kw={"placeholder": _l("No account manager")}
    )
    suspend_below = OptionalMoneyField(
        _l("Suspend below"),
        description=_l("The customer is suspended while the prepaid balance is below this amount; empty or 0: never."),
        zero_example=True,
    )
    contact_person = StringField(
        _l("Contact person"), validators=[Length(max=120, message=_l("Use at most 120 characters."))]
    )
    email = EmailField(_l("Email"), validators=[Length(max=254, message=_l("Use at most 254 characters."))])
    phone = StringField(
        _l("Phone"),
        validators=[Length(max=40, message=_l("Use at most 40 characters."))],
        render_kw={"placeholder": "+62 21 555-0123", "inputmode": "tel"},
    )
    address = TextAreaField(_l("Address"), validators=[Length(max=500, message=_l("Use at most 500 characters."))])
    city = StringField(_l("City"), validators=[Length(max=100, message=_l("Use at most 100 characters."))])
    route = StringField(
        _l("Route"),
        validators=[Length(max=60, message=_l("Use at most 60 characters."))],
        description=_l("The meter reader's round (or area) its meters are read on: route sheets are chosen by it."),
    )
    route_stop = StringField(
        _l("Stop on the route"),
        description=_l("Its place on the round, from 1: the route sheet lists its meters in that order."),
        render_kw={"inputmode": "numeric"},
    )
    tax_number = StringField(
        _l("Tax number"),
        validators=[Length(max=40, message=_l("Use at most 40 characters.")), lambda form, field: _tin(field)],
        description=_l("As the tax office writes it (NPWP, MST, KRA PIN)."),
    )
    nitku = StringField(
        _l("NITKU (place of business)"),
        validators=[Length(max=40, message=_l("Use at most 40 characters."))],
        description=_l("Indonesia: 22 digits, the NPWP's 16 and the place's 6; empty: the head office."),
    )
    tax_status = SelectField(
        _l("Tax status"),
        choices=[
            SelectChoice(TaxStatus.TAXED.value, _l("Taxed: VAT at the rate in force")),
            SelectChoice(TaxStatus.EXEMPT.value, _l("Exempt from VAT")),
            SelectChoice(TaxStatus.ZERO_RATED.value, _l("Zero-rated: VAT at 0 %")),
        ],
        default=TaxStatus.TAXED.value,
        validate_choice=False,  # the service refuses a status not offered, under the field
    )
    language = SelectField(
        _l("Documents' language"),
        choices=[SelectChoice("", _l("The installation's"))]
        + [SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()],
        description=_l("The language the customer's invoices, statements and e-mails are written in."),
        validate_choice=False,  # the service refuses a language not offered, under the field
    )

    def offer(self, keep: int | None = None) -> None:
        """The active managers, and ``keep``: the customer's manager, which it keeps even when inactive."""
        self.account_manager_id.active_only = True
        self.account_manager_id.keep = keep

    def details(self) -> customers.Details:
        return customers.Details(
            name=self.name.data,
            account_manager_id=self.account_manager_id.data,
            suspend_below=self.suspend_below.data if self.suspend_below.data is not None else ZERO,
            contact_person=self.contact_person.data,
            email=self.email.data,
            phone=self.phone.data,
            address=self.address.data,
            city=self.city.data,
            route=self.route.data,
            route_stop=self.route_stop.data or None,
            tax_number=self.tax_number.data,
            nitku=self.nitku.data,
            tax_status=self.tax_status.data or "",
            language=self.language.data or None,
        )


def _tin(field) -> None:
    """In Indonesia, a tax number the tax office reads as a TIN (an NPWP of 15 or 16 digits, a NIK of 16), as typed on
    the form (:func:`backoffice.services.efaktur.tin`); one typed elsewhere is reported by the tax register."""
    if field.data and efaktur.applies():
        try:
            efaktur.tin(field.data)
        except efaktur.TinError as error:
            raise ValidationError(str(error)) from None


class NewCustomerForm(CustomerFields):
    code = StringField(
        _l("Code"),
        validators=[
            InputRequired(_l("Enter the customer's code.")),
            Length(max=32, message=_l("Use at most 32 characters.")),
        ],
        description=_l("Up to 32 letters, digits, '-' or '_'; it never changes."),
    )


class CustomerForm(Versioned, CustomerFields):
    pass


@bp.get("")
def index():
    listing = _listing()
    # Rows, not records: the list shows some of the export's columns; its count is the page's too.
    counted = listing.counted(_columns(), PER_PAGE, Customer.balance)
    if counted.more and _every_open(listing):
        counted = replace(counted, total=customers.wallets_total())
    page = listing.page(_columns(), PER_PAGE, rows=True, counted=counted)
    return render_template("customers/index.html", listing=listing, page=page, counted=counted, total=counted.total)


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str = "csv"):
    """Every customer the filters select, in the list's order, streamed."""
    listing = _listing()
    if not listing.valid:
        return index(), 422
    return listing.export("customers", CSV_COLUMNS, _columns(), cells=_cells(), format=format, typed=_typed_row)


def _columns():
    """The columns of the CSV, of every customer (the list narrows and sorts it)."""
    return select(
        Customer.code,
        Customer.name,
        AccountManager.name.label("manager"),
        Customer.status,
        Customer.closed_at,
        Customer.balance,
        Customer.total_recharged,
        Customer.total_spent,
        Customer.contact_person,
        Customer.email,
        Customer.phone,
        Customer.city,
        Customer.route,
        Customer.route_stop,
        Customer.tax_number,
        func.coalesce(Customer.tax_status, TaxStatus.TAXED.value).label("tax_status"),
    ).outerjoin(Customer.account_manager)


def _cells():
    """The cells of the CSV as text, of every customer (see :func:`backoffice.services.exports.copied_csv`): the
    cells of :func:`_typed_row`, as :func:`backoffice.services.exports.csv_cell` writes them."""
    return (
        select(
            guarded(Customer.code),
            guarded(Customer.name),
            guarded(AccountManager.name),
            case((Customer.closed_at.is_not(None), literal(CLOSED)), else_=cast(Customer.status, String)),
            Customer.balance,
            Customer.total_recharged,
            Customer.total_spent,
            guarded(Customer.contact_person),
            guarded(Customer.email),
            guarded(Customer.phone),
            guarded(Customer.city),
            guarded(Customer.route),
            Customer.route_stop,
            guarded(Customer.tax_number),
            func.coalesce(Customer.tax_status, TaxStatus.TAXED.value),
        )
        .select_from(Customer)
        .outerjoin(Customer.account_manager)
    )


def _listing() -> Listing:
    return Listing(
        CustomerFilterForm(request.args),
        COLUMNS,
        _filter_conditions,
        default="code",
        tiebreak=Customer.id,
        csv_endpoint="customers.export",
    )


def _every_open(listing: Listing) -> bool:
    """Whether the list is of every open customer: no search, status or manager chosen."""
    filters = listing.filters
    return listing.valid and not ((filters.q.data or "").strip() or filters.status.data or filters.manager.data)


def _filter_conditions(filters: CustomerFilterForm) -> list:
    conditions = []
    if text := (filters.q.data or "").strip():
        conditions.append(
            or_(*(folded(column).ilike(folded_text(f"%{text}%")) for column in (Customer.code, Customer.name)))
        )
    if filters.status.data == CLOSED:
        conditions.append(Customer.closed_at.is_not(None))
    else:
        conditions.append(Customer.closed_at.is_(None))
    if filters.status.data and filters.status.data != CLOSED:
        conditions.append(Customer.status == CustomerStatus(filters.status.data))
    if filters.manager.data:
        conditions.append(Customer.account_manager_id == filters.manager.data)
    return conditions


def _typed_row(row) -> list:
    """A customer's row of the workbook, each value as its type."""
    return [
        row.code,
        row.name,
        row.manager,
        CLOSED if row.closed_at else row.status.value,
        row.balance,
        row.total_recharged,
        row.total_spent,
        row.contact_person,
        row.email,
        row.phone,
        row.city,
        row.route,
        row.route_stop,
        row.tax_number,
        row.tax_status,
    ]


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = NewCustomerForm()
    form.offer()
    if form.validate_on_submit():
        try:
            customer = customers.create_customer(form.code.data, form.details())
        except customers.CustomerError as error:
            form[error.field].errors.append(str(error))
        else:
            flash(_("Customer %(customer)s added.", customer=customer) + _suspends(customer), "success")
            return redirect(url_for("customers.show", code=customer.code))
    return render_template(
        "customers/form.html", form=form, customer=None, indonesia=efaktur.applies()
    ), 422 if form.errors else 200


@bp.route("/<code>/edit", methods=["GET", "POST"])
def edit(code: str):
    customer = customer_or_404(code)
    form = CustomerForm(obj=customer)
    form.offer(keep=customer.account_manager_id)
    if form.validate_on_submit():
        try:
            customers.change_customer(customer, form.details(), version=form.version.data)
        except customers.CustomerError as error:
            form[error.field].errors.append(str(error))
        except ChangedMeanwhile:
            gone_to = url_for("customers.index")
            if gone := refused_edit(form, Customer, customer.id, "customer", gone_to=gone_to):
                return gone
        else:
            flash(_("Customer %(customer)s saved.", customer=customer) + _suspends(customer), "success")
            return redirect(url_for("customers.show", code=code))
    status = 409 if form.changed else 422 if form.errors else 200
    return render_template("customers/form.html", form=form, customer=customer, indonesia=efaktur.applies()), status


@bp.route("/<code>/close", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def close(code: str):
    """The page says what closing does and what keeps the customer open; its button closes."""
    customer = customer_or_404(code)
    if customer.closed:
        flash(_("Customer %(code)s is closed already.", code=customer.code), "info")
        return redirect(url_for("customers.show", code=code))
    form = FlaskForm()
    refusal = None
    if form.validate_on_submit():
        try:
            customers.close_customer(customer, user=current_user)
        except customers.CustomerError as error:
            refusal = str(error)
        else:
            flash(
                _("Customer %(customer)s closed: it takes no new movement; its history stays.", customer=customer),
                "success",
            )
            return redirect(url_for("customers.show", code=code))
    customer = customer_or_404(code)
    blockers = customers.closing_blockers(customer)
    page = render_template("customers/close.html", customer=customer, blockers=blockers, form=form, refusal=refusal)
    return page, 409 if refusal else 200


@bp.post("/<code>/reopen")
@requires_role(Role.ADMIN)
def reopen(code: str):
    customer = customer_or_404(code)
    try:
        customers.reopen_customer(customer)
    except customers.CustomerError as error:
        flash(str(error), "error")
    else:
        flash(_("Customer %(customer)s reopened: it takes movements again.", customer=customer), "success")
    return redirect(url_for("customers.show", code=code))


@bp.get("/<code>")
def show(code: str):
    customer, asked = customer_page_or_404(code)
    tab = request.args.get("tab", "orders")
    if tab not in TABS:
        abort(404)
    return render_customer(customer, tab, asked=asked)


@bp.post("/<code>/recalculate")
@requires_role(Role.ADMIN)
def recalculate(code: str):
    customer = customer_or_404(code)
    return start("recalculate_customer", {"customer_id": customer.id}, fallback=url_for("customers.show", code=code))


def _suspends(customer: Customer) -> str:
    """The suspension threshold as it was read, for the message confirming a customer's details."""
    if not customer.suspend_below:
        return ""
    return " " + _("Suspended while the balance is below %(amount)s.", amount=money(customer.suspend_below))
