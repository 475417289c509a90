"""``backoffice billing``: withdrawing postpaid invoices and payments."""

from __future__ import annotations

import click

from backoffice.cli.common import VALUE_DATE, Group, _day


@click.group(cls=Group, help="Correct postpaid invoices and payments.")
def billing() -> None:
    pass


WITHDRAWAL_REASON = click.option("--reason", required=True, help="Why it is withdrawn (kept with it).")


@billing.command("withdraw-invoice", help="Withdraw invoice NUMBER: it stops counting; its reversing entry is posted.")
@click.argument("number")
@WITHDRAWAL_REASON
@VALUE_DATE
def billing_withdraw_invoice(number, reason, value_date) -> None:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import Invoice
    from backoffice.services import billing as service

    invoice = db.session.scalar(select(Invoice).where(Invoice.number == number.strip()))
    if invoice is None:
        raise click.ClickException(f"No invoice numbered {number}.")
    _withdrawn(service.withdraw_invoice, invoice, reason, value_date, f"Invoice {invoice.number}")


@billing.command("withdraw-payment", help="Withdraw payment ID: it stops counting; its reversing entry is posted.")
@click.argument("payment_id", type=int)
@WITHDRAWAL_REASON
@VALUE_DATE
def billing_withdraw_payment(payment_id, reason, value_date) -> None:
    from backoffice.extensions import db
    from backoffice.models import Payment
    from backoffice.services import billing as service

    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise click.ClickException(f"No payment {payment_id}.")
    _withdrawn(service.withdraw_payment, payment, reason, value_date, f"Payment #{payment.id}")


def _withdrawn(operation, row, reason: str, value_date, what: str) -> None:
    from backoffice.extensions import db
    from backoffice.models import JournalEntry
    from backoffice.money import BeyondLimit
    from backoffice.posting.periods import PeriodClosed
    from backoffice.posting.post import WalletError
    from backoffice.services.billing import BillingError

    try:
        withdrawn = operation(row, reason, value_date=_day(value_date))
    except (BillingError, WalletError, PeriodClosed, BeyondLimit) as error:
        raise click.ClickException(str(error)) from None
    entry = db.session.get(JournalEntry, withdrawn.withdrawal_entry_id)
    click.echo(f"{what} withdrawn: entry {entry.number} dated {entry.entry_date:%Y-%m-%d}.")
