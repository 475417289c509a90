"""Correcting an invoice: its number, amount or due date (its meter and issue date stay as issued)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import exists, select
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length

from backoffice.extensions import db
from backoffice.models import Invoice, MeterAssignment, covers
from backoffice.services import ChangedMeanwhile, billing, periods
from backoffice.web.fields import MoneyField
from backoffice.web.versions import Versioned, refused_edit

bp = Blueprint("invoices", __name__, url_prefix="/customers/<code>/invoices")


class InvoiceChangeForm(Versioned, FlaskForm):
    number = StringField("Invoice number", validators=[InputRequired("Enter the invoice number."), Length(max=40)])
    amount = MoneyField("Amount")
    due_on = DateField("Due", validators=[InputRequired("Enter the due date.")])


@bp.route("/<int:invoice_id>/edit", methods=["GET", "POST"])
def edit(code: str, invoice_id: int):
    from backoffice.web.customers import customer_or_404

    customer = customer_or_404(code)
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or not _billed_to(invoice, customer.id):
        abort(404)
    form = InvoiceChangeForm(obj=invoice)
    if form.validate_on_submit():
        try:
            billing.change_invoice(
                invoice, form.number.data, form.amount.data, form.due_on.data, version=form.version.data
            )
        except (billing.BillingError, periods.PeriodClosed) as error:
            form.amount.errors.append(str(error))
        except ChangedMeanwhile:
            billing_tab = url_for("customers.show", code=code, tab="billing")
            if gone := refused_edit(form, Invoice, invoice_id, "invoice", gone_to=billing_tab):
                return gone
        else:
            flash(f"Invoice {invoice.number} saved.", "success")
            return redirect(url_for("customers.show", code=code, tab="billing"))
    status = 409 if form.changed else 422 if form.errors else 200
    return render_template("invoices/form.html", form=form, invoice=invoice, customer=customer), status


def _billed_to(invoice: Invoice, customer_id: int) -> bool:
    """The invoice is on the customer's billing tab: the customer held its meter on the day it was issued."""
    return db.session.scalar(
        select(
            exists().where(
                MeterAssignment.customer_id == customer_id,
                MeterAssignment.meter_id == invoice.meter_id,
                covers(MeterAssignment, invoice.issued_on),
            )
        )
    )
