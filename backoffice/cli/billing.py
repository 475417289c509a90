"""``backoffice billing``: withdrawing postpaid invoices and payments, and finding the rows that need a look."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.table import Table
from sqlalchemy import String, cast, exists, literal, select, union_all

from backoffice.cli.common import VALUE_DATE, CommandError, Group, _console, _day, option
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.money import BeyondLimit, format_money


@click.group(cls=Group, help=_l("Correct postpaid invoices and payments, and find the ones that need a look."))
def billing() -> None:
    pass


WITHDRAWAL_REASON = option("--reason", required=True, help=_l("Why it is withdrawn (kept with it)."))


@billing.command(
    "withdraw-invoice", help=_l("Withdraw invoice NUMBER: it stops counting; its reversing entry is posted.")
)
@click.argument("number")
@WITHDRAWAL_REASON
@VALUE_DATE
def billing_withdraw_invoice(number, reason, value_date) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Invoice
    from backoffice.services.meter_invoices import withdraw_invoice

    invoice = db.session.scalar(select(Invoice).where(Invoice.number == number.strip()))
    if invoice is None:
        raise CommandError(_("No invoice numbered %(number)s.", number=number))
    _withdrawn(withdraw_invoice, invoice, reason, value_date, _("Invoice %(number)s", number=invoice.number))


@billing.command("withdraw-payment", help=_l("Withdraw payment ID: it stops counting; its reversing entry is posted."))
@click.argument("payment_id", type=int)
@WITHDRAWAL_REASON
@VALUE_DATE
def billing_withdraw_payment(payment_id, reason, value_date) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Payment
    from backoffice.services.meter_payments import withdraw_payment

    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise CommandError(_("No payment %(id)s.", id=payment_id))
    _withdrawn(withdraw_payment, payment, reason, value_date, _("Payment #%(id)s", id=payment.id))


def _withdrawn(operation, row, reason: str, value_date, what: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import JournalEntry
    from backoffice.services.billing import BillingError
    from backoffice.services.vocabulary import PeriodClosed, WalletError

    try:
        withdrawn = operation(row, reason, value_date=_day(value_date))
    except (BillingError, WalletError, PeriodClosed, BeyondLimit) as error:
        raise CommandError(str(error)) from None
    entry = db.session.get(JournalEntry, withdrawn.withdrawal_entry_id)
    click.echo(
        _(
            "%(what)s withdrawn: entry %(number)s dated %(day)s.",
            what=what,
            number=entry.number,
            day=named_date(entry.entry_date),
        )
    )


@billing.command("unapplied", help=_l("List payments with unapplied credit beside open invoices of the same customer."))
def billing_unapplied() -> None:
    found = _unapplied_beside_open()
    console = _console()
    if not found:
        console.print(_("No payment holds unapplied credit beside an open invoice of the same customer."))
        return
    table = Table(_("payment"), _("paid on"), _("meter"), _("customer"), _("unapplied"), _("open invoices"), box=None)
    table.columns[4].justify = "right"
    for payment, waiting in found.items():
        payment_id, paid_on, serial, code, unapplied = payment
        invoices = ", ".join(f"{number} {_money(outstanding)}" for number, outstanding in waiting)
        table.add_row(str(payment_id), f"{paid_on:%Y-%m-%d}", serial, code, _money(unapplied), invoices)
    console.print(table)
    credit = sum(unapplied for *_payment, unapplied in found)
    invoices = len({number for waiting in found.values() for number, _outstanding in waiting})
    console.print(
        _(
            "%(payments)s payment(s) hold %(credit)s of unapplied credit beside %(invoices)s open invoice(s) of the "
            "same customer.",
            payments=len(found),
            credit=_money(credit),
            invoices=invoices,
        )
    )
    sys.exit(1)


def _unapplied_beside_open() -> dict[tuple, list[tuple]]:
    """Each payment not withdrawn with an unapplied part (id, date, meter serial, holder's code, unapplied), oldest
    first, with the open invoices of the same meter and holder (number, outstanding), oldest first."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Customer, Invoice, Meter, MeterAssignment, Payment, covers

    payments, invoices, meters = Payment.__table__, Invoice.__table__, Meter.__table__
    paid_at, issued_at = MeterAssignment.__table__.alias("paid_at"), MeterAssignment.__table__.alias("issued_at")
    customers = Customer.__table__
    rows = db.session.execute(
        select(
            payments.c.id,
            payments.c.paid_on,
            meters.c.serial,
            customers.c.code,
            payments.c.unapplied,
            invoices.c.number,
            invoices.c.outstanding,
        )
        .join(meters, meters.c.id == payments.c.meter_id)
        .join(paid_at, (paid_at.c.meter_id == payments.c.meter_id) & covers(paid_at.c, payments.c.paid_on))
        .join(customers, customers.c.id == paid_at.c.customer_id)
        .join(invoices, invoices.c.meter_id == payments.c.meter_id)
        .join(
            issued_at,
            (issued_at.c.meter_id == invoices.c.meter_id)
            & covers(issued_at.c, invoices.c.issued_on)
            & (issued_at.c.customer_id == paid_at.c.customer_id),
        )
        .where(
            payments.c.unapplied > 0,
            payments.c.withdrawn_at.is_(None),
            invoices.c.outstanding > 0,
            invoices.c.withdrawn_at.is_(None),
        )
        .order_by(payments.c.paid_on, payments.c.id, invoices.c.issued_on, invoices.c.id)
    )
    found: dict[tuple, list[tuple]] = {}
    for row in rows:
        found.setdefault(tuple(row[:5]), []).append((row.number, row.outstanding))
    return found


@billing.command("orphans", help=_l("List invoices and payments dated when nobody held their meter."))
def billing_orphans() -> None:
    found = _orphans()
    console = _console()
    if not found:
        console.print(_("Every invoice and payment is dated in a period when a customer held its meter."))
        return
    table = Table(_("kind"), _("invoice / payment"), _("meter"), _("date"), _("amount"), _("withdrawn"), box=None)
    table.columns[4].justify = "right"
    for row in found:
        withdrawn = _("yes") if row.withdrawn_at is not None else _("no")
        kind = _("invoice") if row.kind == "invoice" else _("payment")
        table.add_row(kind, row.reference, row.serial, f"{row.on:%Y-%m-%d}", _money(row.amount), withdrawn)
    console.print(table)
    invoices = sum(row.kind == "invoice" for row in found)
    withdrawn = sum(row.withdrawn_at is not None for row in found)
    said = {"invoices": invoices, "payments": len(found) - invoices, "withdrawn": withdrawn}
    if withdrawn:
        summary = _(
            "%(invoices)s invoice(s) and %(payments)s payment(s) dated when nobody held their meter, %(withdrawn)s of "
            "them withdrawn (they count nowhere).",
            **said,
        )
    else:
        summary = _("%(invoices)s invoice(s) and %(payments)s payment(s) dated when nobody held their meter.", **said)
    console.print(summary)
    # Only what counts asks for something to be done.
    sys.exit(1 if withdrawn < len(found) else 0)


def _orphans() -> list:
    """The invoices and payments, withdrawn or not, that no period of their meter covers, by date: kind, invoice
    number or payment id, meter serial, date, amount, when withdrawn."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Invoice, Meter, MeterAssignment, Payment, covers

    meters, held = Meter.__table__, MeterAssignment.__table__

    def nobody_held(table, kind: str, reference, on):
        return (
            select(
                literal(kind).label("kind"),
                table.c.id,
                reference.label("reference"),
                meters.c.serial,
                on.label("on"),
                table.c.amount,
                table.c.withdrawn_at,
            )
            .join(meters, meters.c.id == table.c.meter_id)
            .where(~exists().where(held.c.meter_id == table.c.meter_id, covers(held.c, on)))
        )

    invoices, payments = Invoice.__table__, Payment.__table__
    found = union_all(
        nobody_held(invoices, "invoice", invoices.c.number, invoices.c.issued_on),
        nobody_held(payments, "payment", cast(payments.c.id, String), payments.c.paid_on),
    ).subquery()
    return db.session.execute(select(found).order_by(found.c.on, found.c.kind, found.c.id)).all()


def _money(value) -> str:
    return format_money(value, current_app.config["LOCALE"], current_app.config["CURRENCY"])
