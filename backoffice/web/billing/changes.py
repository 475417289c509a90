"""Correcting an invoice (number, amount, due date) or a payment (amount, reference), withdrawing either, and an
invoice printed for its customer.

A row's page is its edit form; for an admin it also offers the withdrawal, saying what it posts.
An invoice or a payment is never deleted: a withdrawal keeps it, struck through, with who
withdrew it, when, why, and its journal entry, and it no longer changes.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, select
from wtforms import StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from backoffice.models import Invoice, JournalEntry, MeterAssignment, Payment, Role, User, covers
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import shown
from backoffice.services import (
    ChangedMeanwhile,
    allocations,
    billing,
    documents,
    einvoices,
    meter_invoices,
    meter_payments,
    sending,
)
from backoffice.services.vocabulary import Kind, PeriodClosed
from backoffice.web.customers.forms import NET_HELP, VALUE_DATE_HELP, ReallocateForm, invoice_said
from backoffice.web.customers.page import customer_or_404, posting_of
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.choices import open_invoices
from backoffice.web.plumbing.documents import page_or_pdf, sent
from backoffice.web.plumbing.fields import LocalDateField, MoneyField, error_under_field
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("billing", __name__, url_prefix="/customers/<code>")


class InvoiceChangeForm(Versioned, FlaskForm):
    number = StringField(
        _l("Invoice number"), validators=[InputRequired(_l("Enter the invoice number.")), Length(max=40)]
    )
    amount = MoneyField(_l("Amount"), description=NET_HELP)
    due_on = LocalDateField(_l("Due"), validators=[InputRequired(_l("Enter the due date."))])

    def __init__(self, *args, obj: Invoice | None = None, **kwargs) -> None:
        """The form of ``obj`` as a clerk typed it: its net as its amount (the total adds the VAT to it)."""
        if obj is not None:
            obj = SimpleNamespace(number=obj.number, amount=obj.net, due_on=obj.due_on, version=obj.version)
        super().__init__(*args, obj=obj, **kwargs)


class PaymentChangeForm(Versioned, FlaskForm):
    amount = MoneyField(_l("Amount"))
    reference = StringField(_l("Reference"), validators=[Length(max=100)])


class WithdrawForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        # Blank once stripped is no reason.
        filters=[lambda text: text.strip() if text else text],
        validators=[DataRequired(_l("Say why it is withdrawn.")), Length(max=DESCRIPTION_LENGTH)],
        description=_l("Kept with it."),
    )
    value_date = LocalDateField(_l("Value date"), validators=[Optional()], description=VALUE_DATE_HELP)


@bp.route("/invoices/<int:invoice_id>/edit", methods=["GET", "POST"])
@posts_once
def edit_invoice(code: str, invoice_id: int):
    customer, invoice = _of(code, Invoice, invoice_id)
    form = InvoiceChangeForm(obj=invoice)
    if form.validate_on_submit():
        try:
            changed = meter_invoices.change_invoice(
                invoice,
                form.number.data,
                form.amount.data,
                form.due_on.data,
                version=form.version.data,
                user=current_user,
            )
        except billing.Withdrawn as error:
            return _refused(customer, invoice, str(error))
        except (billing.BillingError, PeriodClosed) as error:
            error_under_field(form, error, dated="amount", default="amount")
        except ChangedMeanwhile:
            if gone := refused_edit(form, Invoice, invoice_id, "invoice", gone_to=_tab(code)):
                return gone
        else:
            flash(
                invoice_said(changed, customer, _("Invoice %(number)s of %(amount)s saved for %(customer)s.")),
                "success",
            )
            return redirect(_tab(code))
    status = 409 if form.changed else 422 if form.errors else 200
    return _page(customer, invoice, form=form), status


@bp.get("/invoices/<int:invoice_id>/print")
def print_invoice(code: str, invoice_id: int):
    """The invoice to print on A4: who sends it and to whom, what it bills line by line, what payments pay of it,
    what it still asks and its status today, and how to pay it."""
    return _invoice_document(code, invoice_id, pdf=False)


@bp.get("/invoices/<int:invoice_id>.pdf")
def invoice_pdf(code: str, invoice_id: int):
    """The printed invoice as a PDF, drawn from the same page."""
    return _invoice_document(code, invoice_id, pdf=True)


@bp.post("/invoices/<int:invoice_id>/send")
@posts_once
def send_invoice(code: str, invoice_id: int):
    """E-mail the invoice's PDF to the customer, and log it."""
    customer, invoice = _of(code, Invoice, invoice_id)
    back_to = url_for("billing.print_invoice", code=customer.code, invoice_id=invoice.id)
    return sent(documents.invoice(customer, invoice), back_to)


def _invoice_document(code: str, invoice_id: int, *, pdf: bool):
    customer, invoice = _of(code, Invoice, invoice_id)
    more = {}
    if not pdf:
        more = {"replaceable": einvoices.replaceable(invoice)}
    return page_or_pdf(documents.invoice(customer, invoice), pdf=pdf, **more)


@bp.get("/invoices/<int:invoice_id>.xml")
def invoice_xml(code: str, invoice_id: int):
    """The invoice as the XML of a Vietnamese e-invoice, to send through the provider; ``?replaces=`` the number of
    the withdrawn invoice it replaces."""
    customer, invoice = _of(code, Invoice, invoice_id)
    try:
        replaces = einvoices.replaced(invoice, request.args.get("replaces", "").strip())
        body = einvoices.vietnam_xml(invoice, customer, replaces=replaces)
    except einvoices.EInvoiceError as error:
        return _refused_file(customer, invoice, error)
    return _file(body, "application/xml", _("e-invoice-%(number)s", number=invoice.number), "xml")


@bp.get("/invoices/<int:invoice_id>.etims.json")
def invoice_etims(code: str, invoice_id: int):
    """The invoice as the sale an eTIMS device takes (``saveTrnsSalesOsdc``'s body), JSON."""
    customer, invoice = _of(code, Invoice, invoice_id)
    try:
        body = einvoices.etims_json(invoice, customer)
    except einvoices.EInvoiceError as error:
        return _refused_file(customer, invoice, error)
    return _file(body, "application/json", _("etims-sale-%(number)s", number=invoice.number), "json")


def _file(body: bytes, mimetype: str, name: str, extension: str) -> Response:
    disposition = f'attachment; filename="{sending.file_name(name)}.{extension}"'
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": disposition})


def _refused_file(customer, invoice, error: einvoices.EInvoiceError):
    """Back to the printed invoice, saying why its file was not written."""
    flash(str(error), "error")
    return redirect(url_for("billing.print_invoice", code=customer.code, invoice_id=invoice.id))


@bp.route("/payments/<int:payment_id>/edit", methods=["GET", "POST"])
@posts_once
def edit_payment(code: str, payment_id: int):
    customer, payment = _of(code, Payment, payment_id)
    form = PaymentChangeForm(obj=payment)
    if form.validate_on_submit():
        try:
            meter_payments.change_payment(
                payment, form.amount.data, form.reference.data or "", version=form.version.data, user=current_user
            )
        except billing.Withdrawn as error:
            return _refused(customer, payment, str(error))
        except (billing.BillingError, PeriodClosed) as error:
            error_under_field(form, error, dated="amount", default="amount")
        except ChangedMeanwhile:
            if gone := refused_edit(form, Payment, payment_id, "payment", gone_to=_tab(code)):
                return gone
        else:
            flash(
                _(
                    "Payment #%(id)s of %(amount)s saved for %(customer)s.",
                    id=payment_id,
                    amount=shown(form.amount.data),
                    customer=customer,
                ),
                "success",
            )
            return redirect(_tab(code))
    status = 409 if form.changed else 422 if form.errors else 200
    return _page(customer, payment, form=form), status


@bp.post("/payments/<int:payment_id>/reallocate")
@posts_once
def reallocate(code: str, payment_id: int):
    """Apply the payment to other invoices: what it pays now is reversed with the clerk's reason."""
    customer, payment = _of(code, Payment, payment_id)
    form = ReallocateForm(prefix="reallocate")
    form.invoice_ids.choices = _reallocation_choices(customer, payment)
    if form.validate_on_submit():
        try:
            meter_payments.reallocate(
                payment, form.invoice_ids.data, form.reason.data, version=form.version.data, user=current_user
            )
        except billing.Withdrawn as error:
            return _refused(customer, payment, str(error))
        except billing.BillingError as error:
            error_under_field(form, error, dated="invoice_ids", default="invoice_ids")
        except ChangedMeanwhile:
            form.changed = _("The payment was applied elsewhere meanwhile: reload to see what it pays now.")
        else:
            flash(_("Payment #%(id)s applied again; what it paid before is reversed.", id=payment_id), "success")
            return redirect(url_for("billing.edit_payment", code=code, payment_id=payment_id))
    db.session.rollback()
    status = 409 if form.changed else 422
    return _page(customer, db.session.get(Payment, payment_id), reallocation=form), status


@bp.post("/invoices/<int:invoice_id>/withdraw")
@requires_role(Role.ADMIN)
@posts_once
def withdraw_invoice(code: str, invoice_id: int):
    return _withdraw(code, Invoice, invoice_id, meter_invoices.withdraw_invoice)


@bp.post("/payments/<int:payment_id>/withdraw")
@requires_role(Role.ADMIN)
@posts_once
def withdraw_payment(code: str, payment_id: int):
    return _withdraw(code, Payment, payment_id, meter_payments.withdraw_payment)


def _withdraw(code: str, model, row_id: int, operation):
    customer, row = _of(code, model, row_id)
    form = WithdrawForm(prefix="withdraw")
    if form.validate_on_submit():
        try:
            withdrawn = operation(row, form.reason.data, user=current_user, value_date=form.value_date.data)
        except billing.Withdrawn as error:
            return _refused(customer, row, str(error))
        except (billing.BillingError, PeriodClosed) as error:
            error_under_field(form, error, dated="value_date", default="value_date")
        else:
            entry = db.session.get(JournalEntry, withdrawn.withdrawal_entry_id)
            if isinstance(withdrawn, Invoice):
                done = _("Invoice %(number)s withdrawn; entry %(entry)s posted, dated %(date)s.")
            else:
                done = _("Payment #%(number)s withdrawn; entry %(entry)s posted, dated %(date)s.")
            number = withdrawn.number if isinstance(withdrawn, Invoice) else withdrawn.id
            values = {"entry": entry.number, "date": named_date(entry.entry_date)}
            flash(done % {"number": number, **values}, "success")
            return redirect(_tab(code))
    db.session.rollback()
    return _page(customer, db.session.get(model, row_id), withdraw=form), 422


def _page(customer, row, *, form=None, withdraw=None, reallocation=None, refused: str | None = None):
    """An invoice's or a payment's page: what it is, what pays it or what it pays, its edit form (a payment's
    re-allocation too), and for an admin its withdrawal (or, once withdrawn, who withdrew it, when, why, and the
    entry that records it)."""
    invoice = isinstance(row, Invoice)
    connection = db.session.connection()
    allocated = (allocations.by_invoice if invoice else allocations.by_payment)(connection, [row.id]).get(row.id, [])
    if not invoice and reallocation is None:
        reallocation = ReallocateForm(
            prefix="reallocate", formdata=None, version=meter_payments.allocation_version(row.id)
        )
        reallocation.invoice_ids.choices = _reallocation_choices(customer, row)
    if form is None:
        form = InvoiceChangeForm(obj=row) if invoice else PaymentChangeForm(obj=row)
    if withdraw is None:
        withdraw = WithdrawForm(prefix="withdraw", formdata=None, value_date=local_today())
    return render_template(
        "billing/invoice.html" if invoice else "billing/payment.html",
        customer=customer,
        row=row,
        form=form,
        withdraw=withdraw,
        refused=refused,
        withdrawn_by=db.session.get(User, row.withdrawn_by_id) if row.withdrawn_by_id else None,
        allocated=allocated,
        reallocation=reallocation,
        today=local_today(),
        posts=posting_of(Kind.INVOICE if invoice else Kind.PAYMENT, -row.amount),
    )


def _reallocation_choices(customer, payment: Payment) -> list[tuple[int, str]]:
    """The invoices a payment may be applied to: those it pays now and the open ones of its meter."""
    paying = allocations.by_payment(db.session.connection(), [payment.id]).get(payment.id, [])
    now = {
        row.invoice_id: _("%(number)s · pays %(amount)s of it now", number=row.number, amount=shown(row.amount))
        for row in paying
    }
    others = [(o.id, o.label) for o in open_invoices(customer, payment.meter_id) if o.id not in now]
    return [*now.items(), *others]


def _refused(customer, row, message: str):
    """The row was withdrawn meanwhile: its page, saying so; nothing was written."""
    db.session.rollback()
    return _page(customer, db.session.get(type(row), row.id), refused=message), 409


def _of(code: str, model, row_id: int):
    """The customer and their invoice or payment (one dated while they held its meter), or 404."""
    customer = customer_or_404(code)
    row = db.session.get(model, row_id)
    if row is None or not _held_on(row, customer.id):
        abort(404)
    return customer, row


def _held_on(row, customer_id: int) -> bool:
    """The row is on the customer's billing tab: the customer held its meter on its date."""
    return db.session.scalar(
        select(
            exists().where(
                MeterAssignment.customer_id == customer_id,
                MeterAssignment.meter_id == row.meter_id,
                covers(MeterAssignment, _dated(row)),
            )
        )
    )


def _dated(row) -> date:
    return row.issued_on if isinstance(row, Invoice) else row.paid_on


def _tab(code: str) -> str:
    return url_for("customers.show", code=code, tab="billing")
