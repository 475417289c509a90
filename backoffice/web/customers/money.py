"""A customer's money and meters, from its page: a recharge or a charge of its wallet (the charge checked as it is
typed), a meter assigned, deactivated or reactivated, and an invoice or a payment of a meter it holds. Each form comes
back to its tab, with what was refused under the field at fault and nothing written."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from backoffice.models import Customer, Meter, MeterAssignment
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import approvals, billing, meter_invoices, meter_lifecycle, meter_payments, wallet
from backoffice.services.vocabulary import PeriodClosed, due_sql, meter_customer_net_sql, overpaid_sql
from backoffice.web.customers.forms import AssignMeterForm, InvoiceForm, MovementForm, PaymentForm, invoice_said
from backoffice.web.customers.page import customer_or_404, render_customer
from backoffice.web.plumbing.choices import named_in, open_invoices
from backoffice.web.plumbing.fields import error_under_field
from backoffice.web.plumbing.filters import money
from backoffice.web.plumbing.forms import errors_text
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pending import pending_notice
from backoffice.web.plumbing.pickers import meters_of

bp = Blueprint("customer_money", __name__, url_prefix="/customers")


@bp.post("/<code>/recharge")
def recharge(code: str):
    return _move(customer_or_404(code), wallet.recharge, "recharge")


@bp.post("/<code>/charge")
def charge(code: str):
    return _move(customer_or_404(code), wallet.charge, "charge")


@bp.post("/<code>/charge/preview")
def charge_preview(code: str):
    """Checks a charge amount as it is typed: readable, and within the balance. Writes nothing."""
    customer = customer_or_404(code)
    form = MovementForm(prefix="charge")
    form.validate()
    error = errors_text(form.amount)
    if not error and form.amount.data is not None and form.amount.data > customer.balance:
        error = _("More than the %(balance)s available.", balance=money(customer.balance))
    return render_template("customers/_charge_preview.html", customer=customer, form=form, error=error)


@bp.post("/<code>/meters")
def assign_meter(code: str):
    customer = customer_or_404(code)
    form = AssignMeterForm(prefix="assign")
    if form.validate_on_submit():
        try:
            meter = meter_lifecycle.meter_by_serial(form.serial.data)
            shown = form.confirm_move_from.data or ""
            # Anything but an assignment's id (as the page sent it) confirms nothing: the page asks again.
            confirmed = int(shown) if shown.isdigit() and len(shown) <= 18 else None
            meter_lifecycle.assign_meter(meter, customer, form.started_on.data, confirm_move_from=confirmed)
        except meter_lifecycle.MoveNotConfirmed as move:
            # Nothing is written: the page asks, showing where the meter is and what is due there.
            form.confirm_move_from.data = str(move.current.id)
            return render_customer(customer, "billing", forms={"assign": form}, move=move)
        except billing.BillingError as error:
            error_under_field(form, error, dated="started_on", default="serial")
        else:
            flash(_("Meter %(serial)s assigned to %(code)s.", serial=meter.serial, code=customer.code), "success")
            return redirect(url_for("customers.show", code=code, tab="billing"))
    db.session.rollback()
    return render_customer(customer_or_404(code), "billing", forms={"assign": form}), 422


@bp.get("/<code>/assignments/<int:assignment_id>/confirm-deactivate")
def confirm_deactivate(code: str, assignment_id: int):
    """What deactivating the meter's assignment does, with what it takes out of the customer's totals, asked first."""
    customer = customer_or_404(code)
    assignment = db.session.get(MeterAssignment, assignment_id)
    if assignment is None or assignment.customer_id != customer.id:
        abort(404)
    if not assignment.is_active:
        flash(_("This assignment is already inactive."), "info")
        return redirect(url_for("customers.show", code=code, tab="billing"))
    due, overpaid = _assignment_totals(assignment)
    return render_template(
        "customers/deactivate.html",
        customer=customer,
        assignment=assignment,
        today=local_today(),
        due=due,
        overpaid=overpaid,
    )


@bp.post("/<code>/assignments/<int:assignment_id>/<any(deactivate, reactivate):action>")
def change_assignment(code: str, assignment_id: int, action: str):
    customer = customer_or_404(code)
    assignment = db.session.get(MeterAssignment, assignment_id)
    if assignment is None or assignment.customer_id != customer.id:
        abort(404)
    try:
        if action == "deactivate":
            meter_lifecycle.deactivate(assignment, local_today())
        else:
            meter_lifecycle.reactivate(assignment)
    except billing.BillingError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        done = _("Meter %(serial)s deactivated.") if action == "deactivate" else _("Meter %(serial)s reactivated.")
        flash(done % {"serial": assignment.meter.serial}, "success")
    return redirect(url_for("customers.show", code=code, tab="billing"))


@bp.post("/<code>/invoices")
@posts_once
def add_invoice(code: str):
    def write(form, meter, customer):
        lines = form.lines()
        invoice = meter_invoices.add_invoice(
            meter,
            form.number.data,
            sum((line.amount for line in lines), Decimal(0)) if lines else form.amount.data,
            form.issued_on.data,
            form.due_on.data,
            customer_id=customer.id,
            lines=lines,
        )
        said = _("Invoice %(number)s of %(amount)s added for %(customer)s on meter %(meter)s.")
        return invoice_said(invoice, customer, said, meter=meter)

    return _meter_entry(code, "invoice", InvoiceForm, write, dated="issued_on")


@bp.post("/<code>/payments")
@posts_once
def add_payment(code: str):
    def write(form, meter, customer):
        reference = form.reference.data or ""
        try:
            meter_payments.add_payment(
                meter,
                form.amount.data,
                form.paid_on.data,
                reference,
                invoice_ids=form.invoice_ids.data or [],
                customer_id=customer.id,
                user=current_user,
                by_hand=True,
            )
        except wallet.NeedsApproval as refused:  # as the core decided under the holder's lock: asked of a second admin
            payment = meter_payments.NewPayment(
                meter.id, form.amount.data, form.paid_on.data, reference, form.invoice_ids.data or [], customer.id
            )
            asked = approvals.ask_payment(payment, customer.id, user=current_user, reason=refused.why())
            return pending_notice(asked), "info"
        return _(
            "Payment of %(amount)s added for %(customer)s on meter %(meter)s.",
            amount=money(form.amount.data),
            customer=customer,
            meter=meter,
        )

    return _meter_entry(code, "payment", PaymentForm, write, dated="paid_on")


def _meter_entry(code: str, name: str, form_class, write, *, dated: str):
    """Validate a per-meter form of the billing tab (``dated``: its date field), write it (``write`` returns what the
    page says, or that and how: a request asked is news, not a success), and come back to the tab."""
    customer = customer_or_404(code)
    form = form_class(prefix=name)
    meters_of(form.meter_id, customer)
    if name == "payment":
        form.invoice_ids.choices = [(o.id, o.label) for o in open_invoices(customer)]
    if form.validate_on_submit():
        try:
            message = write(form, db.session.get(Meter, form.meter_id.data), customer)
        except billing.BillingError as error:
            error_under_field(form, error, dated=dated, default="amount")
        except PeriodClosed as error:
            form[dated].errors.append(str(error))
        else:
            flash(*(message if isinstance(message, tuple) else (message, "success")))
            return redirect(url_for("customers.show", code=code, tab="billing"))
    db.session.rollback()
    return render_customer(customer_or_404(code), "billing", forms={name: form}), 422


@bp.get("/<code>/payments/invoices")
def payment_invoices(code: str):
    """The payment form's open invoices, those the reference names ticked (the form asks again as it is typed)."""
    customer = customer_or_404(code)
    form = PaymentForm(request.args, prefix="payment")
    found = open_invoices(customer)
    form.invoice_ids.choices = [(o.id, o.label) for o in found]
    form.invoice_ids.data = list(
        dict.fromkeys(
            [
                *(value for value in form.invoice_ids.data or [] if isinstance(value, int)),
                *named_in(form.reference.data or "", found),
            ]
        )
    )
    return render_template("customers/_payment_invoices.html", pay=form)


def _move(customer: Customer, operation, name: str):
    form = MovementForm(prefix=name)
    if form.validate_on_submit():
        given = {
            "description": form.description.data or "",
            "idempotency_key": form.idempotency_key.data or None,
            "user": current_user,
            "value_date": form.value_date.data,
        }
        try:
            try:
                movement = operation(customer, form.amount.data, **given)
            except wallet.NeedsApproval:
                # Beyond the approval limit, as the core decided under the customer's lock: asked of a second admin.
                asked = approvals.ask_recharge(
                    wallet.recharge_of(customer, form.amount.data, **given),
                    user=current_user,
                    reason=given["description"],
                )
                flash(pending_notice(asked), "info")
                return redirect(url_for("customers.show", code=customer.code, tab="ledger"))
        except approvals.ApprovalError:
            form.description.errors.append(
                _("This amount needs a second admin's approval: say why, for the admin who approves it.")
            )
        except (wallet.DatedAfterToday, PeriodClosed) as error:
            form.value_date.errors.append(str(error))
        except wallet.WalletError as error:
            form.amount.errors.append(str(error))
        else:
            posted = (
                _("Recharge of %(amount)s posted to %(customer)s: movement #%(id)s.")
                if name == "recharge"
                else _("Charge of %(amount)s posted to %(customer)s: movement #%(id)s.")
            )
            flash(posted % {"amount": money(form.amount.data), "customer": customer, "id": movement.id}, "success")
            return redirect(url_for("customers.show", code=customer.code, tab="ledger"))
    db.session.rollback()
    forms = {name: form}
    return render_customer(db.session.get(Customer, customer.id), "ledger", forms=forms), 422


def _assignment_totals(assignment: MeterAssignment) -> tuple[Decimal, Decimal]:
    """What is due and overpaid on the assignment's meter while the customer held it."""
    net = meter_customer_net_sql(MeterAssignment.meter_id, MeterAssignment.customer_id)
    return db.session.execute(select(due_sql(net), overpaid_sql(net)).where(MeterAssignment.id == assignment.id)).one()
