"""Invoices and payments across customers: filtered by customer, status and date, sorted by any column, a page at
a time, and exported as CSV; and the aging of the open invoices as of a date, a page at a time under their
customers, and as CSV.

An invoice or a payment belongs to the customer whose meter assignment covered its date. An invoice's status is
the one it stores (what the payments applied to it leave of it: *open*, *partly paid*, *paid*, or *withdrawn*),
read as *overdue* when it still asks something after its due date.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError

from backoffice.models import Customer, Invoice, Meter, MeterAssignment, Payment, covers
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db, page_asked
from backoffice.platform.i18n import named_date
from backoffice.platform.replica import reads
from backoffice.platform.words import WORDS
from backoffice.services import receivables
from backoffice.services.exports import copied_csv, guarded, iso, plain, text_cell
from backoffice.services.vocabulary import invoice_status_sql
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.plumbing.fields import LocalDateField
from backoffice.web.plumbing.lists import (
    Column,
    CustomerFilter,
    DateRange,
    Listing,
    RowPage,
    csv_response,
    streamed,
    xlsx_response,
)

bp = Blueprint("receivables", __name__)

PER_PAGE = 50
INVOICE_STATUSES = ("open", "partly_paid", "overdue", "paid", "withdrawn")
PAYMENT_STATUSES = ("received", "withdrawn")
INVOICE_CSV = [
    "number",
    "issued_on",
    "due_on",
    "customer_code",
    "customer_name",
    "meter",
    "amount",
    "status",
    "outstanding",
]
PAYMENT_CSV = ["id", "paid_on", "customer_code", "customer_name", "meter", "reference", "amount", "status"]
AGING_CSV = [
    "customer_code",
    "customer_name",
    "meter",
    "invoice",
    "issued_on",
    "due_on",
    "days_overdue",
    "outstanding",
    *receivables.BUCKETS,
]
INVOICES_PER_PAGE = 200


class InvoiceFilters(CustomerFilter, DateRange):
    status = SelectField(
        _l("Status"),
        choices=[SelectChoice("", _l("All")), *(SelectChoice(s, WORDS[s]) for s in INVOICE_STATUSES)],
        default="",
    )


class PaymentFilters(CustomerFilter, DateRange):
    status = SelectField(
        _l("Status"),
        choices=[SelectChoice("", _l("All")), *(SelectChoice(s, WORDS[s]) for s in PAYMENT_STATUSES)],
        default="",
    )


class AgingFilters(CustomerFilter):
    as_of = LocalDateField(
        _l("As of"),
        validators=[Optional()],
        description=_l("Today if blank."),
        render_kw={"type": "date"},
    )

    def validate_as_of(self, field) -> None:
        today = local_today()
        if field.data and field.data > today:
            raise ValidationError(
                _("Nothing is dated after today (%(today)s): choose it or an earlier day.", today=named_date(today))
            )

    @property
    def day(self) -> date:
        return self.as_of.data or local_today()

    def scope(self) -> receivables.Scope:
        """The customers the filter selects: a code typed whole, that customer alone (the link from their page);
        other text, as the lists read it; none, everyone."""
        text = (self.customer.data or "").strip()
        if text and db.session.scalar(select(Customer.id).where(Customer.code == text)) is not None:
            return receivables.Scope(where=(Customer.code == text,))
        return receivables.Scope(where=tuple(self.customer_conditions()))


@bp.get("/receivables/aging")
@reads
def aging():
    """The open invoices as of a day, a page at a time, under their customers with each one's totals; the totals of
    every customer selected; and the credit payments leave unapplied."""
    filters = AgingFilters(request.args)
    if not filters.validate():
        return render_template("receivables/aging.html", filters=filters, report=None), 422
    as_of, scope = filters.day, filters.scope()
    totals = receivables.totals(as_of, scope)
    page = _page_of(receivables.open_invoice_ids(as_of, scope), totals.invoices)
    rows = []
    if ids := [row.id for row in page.items]:
        rows = db.session.execute(receivables.open_invoices(as_of, scope, ids)).all()
    subtotals = {}
    if rows:
        shown = receivables.Scope(ids=tuple(dict.fromkeys(row.customer_id for row in rows)))
        subtotals = {row.customer_id: row for row in db.session.execute(receivables.customer_totals(as_of, shown))}
    return render_template(
        "receivables/aging.html",
        filters=filters,
        report=True,
        as_of=as_of,
        page=page,
        rows=rows,
        subtotals=subtotals,
        totals=totals,
        credits=receivables.credits(as_of, scope),
        buckets=receivables.BUCKETS,
    )


@bp.get("/receivables/aging.<any(csv, xlsx):format>")
@reads
def export_aging(format: str = "csv"):
    """A row per open invoice as of the day, every customer the filter selects, in the report's order, streamed
    (as a workbook: each value as its type)."""
    filters = AgingFilters(request.args)
    if not filters.validate():
        return render_template("receivables/aging.html", filters=filters, report=None), 422
    query = receivables.open_invoices(filters.day, filters.scope())
    if format == "xlsx":
        rows = (_typed_aging_row(row) for row in streamed(query))
        return xlsx_response("aging", xlsx_chunks(AGING_CSV, rows))
    return csv_response("aging", copied_csv(AGING_CSV, _aging_cells(query)))


def _page_of(query: Select, count: int) -> RowPage:
    """The page of ``query``'s rows asked for (``count`` of them in all)."""
    page = RowPage(
        select=query,
        session=db.session,
        page=page_asked(INVOICES_PER_PAGE),
        per_page=INVOICES_PER_PAGE,
        error_out=False,
        count=False,
    )
    page.counted(count, more=False)  # the aging report's totals count its open invoices exactly
    return page


def _typed_aging_row(row) -> list:
    """An open invoice's row of the aging workbook, each value as its type."""
    return [
        row.code,
        row.name,
        row.serial,
        row.number,
        row.issued_on,
        row.due_on,
        row.days_overdue,
        row.outstanding,
        *(row._mapping[name] for name in receivables.BUCKETS),
    ]


def _aging_cells(query: Select) -> Select:
    """The export's cells as text, for the database to write (see :func:`copied_csv`)."""
    rows = query.order_by(None).subquery("aging")
    return select(
        guarded(rows.c.code),
        guarded(rows.c.name),
        guarded(rows.c.serial),
        guarded(rows.c.number),
        rows.c.issued_on,
        rows.c.due_on,
        rows.c.days_overdue,
        rows.c.outstanding,
        *(rows.c[name] for name in receivables.BUCKETS),
    ).order_by(rows.c.code.asc().nulls_last(), rows.c.customer_id, rows.c.serial, rows.c.due_on, rows.c.id)


@bp.get("/invoices")
def invoices():
    listing, query, _status = _invoices()
    return _page("receivables/invoices.html", listing, query, Invoice.amount)


@bp.get("/invoices/export.<any(csv, xlsx):format>")
@reads
def export_invoices(format: str = "csv"):
    """Every invoice the filters select, in the list's order, streamed."""
    listing, query, status = _invoices()
    if not listing.valid:
        return invoices(), 422
    columns = query.with_only_columns(
        Invoice.number,
        Invoice.issued_on,
        Invoice.due_on,
        Customer.code,
        Customer.name,
        Meter.serial,
        Invoice.amount,
        status.label("status"),
        Invoice.outstanding,
    )
    return listing.export("invoices", INVOICE_CSV, columns, _invoice_row, format=format)


@bp.get("/payments")
def payments():
    listing, query, _status = _payments()
    return _page("receivables/payments.html", listing, query, Payment.amount)


@bp.get("/payments/export.<any(csv, xlsx):format>")
@reads
def export_payments(format: str = "csv"):
    """Every payment the filters select, in the list's order, streamed."""
    listing, query, status = _payments()
    if not listing.valid:
        return payments(), 422
    columns = query.with_only_columns(
        Payment.id,
        Payment.paid_on,
        Customer.code,
        Customer.name,
        Meter.serial,
        Payment.reference,
        Payment.amount,
        status.label("status"),
    )
    return listing.export("payments", PAYMENT_CSV, columns, _payment_row, format=format)


def _page(template: str, listing: Listing, query: Select, amount):
    counted = listing.counted(query, PER_PAGE, amount)
    page = listing.page(query, PER_PAGE, rows=True, counted=counted)
    return render_template(template, listing=listing, page=page, counted=counted, total=counted.total)


def _invoices() -> tuple[Listing, Select, object]:
    """The invoices' list, the query of its rows (the invoice, its customer, meter and status) and the status."""
    status = invoice_status_sql(local_today())
    query = _holder(
        select(Invoice, Customer.code, Customer.name, Meter.serial, status.label("status")).join(
            Meter, Meter.id == Invoice.meter_id
        ),
        Invoice,
        Invoice.issued_on,
    )
    columns = [
        Column("number", _l("Number"), Invoice.number),
        Column("issued", _l("Issued"), Invoice.issued_on),
        Column("due", _l("Due"), Invoice.due_on),
        Column("customer", _l("Customer"), Customer.code, nullable=True),
        Column("meter", _l("Meter"), Meter.serial),
        Column("amount", _l("Amount"), Invoice.amount, numeric=True),
        Column("status", _l("Status"), status),
        Column("outstanding", _l("Outstanding"), Invoice.outstanding, numeric=True),
    ]

    def conditions(filters: InvoiceFilters) -> list:
        found = [*filters.customer_conditions(), *filters.date_conditions(Invoice.issued_on)]
        if filters.status.data:
            found.append(status == filters.status.data)
        return found

    listing = Listing(
        InvoiceFilters(request.args),
        columns,
        conditions,
        default="-issued",
        tiebreak=Invoice.id,
        csv_endpoint="receivables.export_invoices",
    )
    return listing, query, status


def _payments() -> tuple[Listing, Select, object]:
    """The payments' list, the query of its rows (the payment, its customer, meter and status) and the status."""
    status = case((Payment.withdrawn_at.is_not(None), "withdrawn"), else_="received")
    query = _holder(
        select(Payment, Customer.code, Customer.name, Meter.serial, status.label("status")).join(
            Meter, Meter.id == Payment.meter_id
        ),
        Payment,
        Payment.paid_on,
    )
    columns = [
        Column("paid", _l("Paid on"), Payment.paid_on),
        Column("customer", _l("Customer"), Customer.code, nullable=True),
        Column("meter", _l("Meter"), Meter.serial),
        Column("reference", _l("Reference"), Payment.reference),
        Column("amount", _l("Amount"), Payment.amount, numeric=True),
        Column("status", _l("Status"), status),
    ]

    def conditions(filters: PaymentFilters) -> list:
        found = [*filters.customer_conditions(), *filters.date_conditions(Payment.paid_on)]
        if filters.status.data:
            found.append(status == filters.status.data)
        return found

    listing = Listing(
        PaymentFilters(request.args),
        columns,
        conditions,
        default="-paid",
        tiebreak=Payment.id,
        csv_endpoint="receivables.export_payments",
    )
    return listing, query, status


def _holder(query: Select, model, on) -> Select:
    """``query`` with the customer whose assignment of the meter covered the date ``on`` (none if no one's did)."""
    return query.outerjoin(
        MeterAssignment, (MeterAssignment.meter_id == model.meter_id) & covers(MeterAssignment, on)
    ).outerjoin(Customer, Customer.id == MeterAssignment.customer_id)


def _invoice_row(row) -> list:
    return [
        text_cell(row.number),
        iso(row.issued_on),
        iso(row.due_on),
        text_cell(row.code),
        text_cell(row.name),
        text_cell(row.serial),
        plain(row.amount),
        row.status,
        plain(row.outstanding),
    ]


def _payment_row(row) -> list:
    return [
        row.id,
        iso(row.paid_on),
        text_cell(row.code),
        text_cell(row.name),
        text_cell(row.serial),
        text_cell(row.reference),
        plain(row.amount),
        row.status,
    ]
