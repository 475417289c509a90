"""``backoffice ledger``: money moved in customers' prepaid wallets."""

from __future__ import annotations

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.cli.common import VALUE_DATE, CommandError, CommandUsageError, Group, _day, option
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.money import BeyondLimit, MoneyError, format_money, read_amount, shown
from backoffice.platform.reasons import AdjustmentReason
from backoffice.platform.words import word


@click.group(cls=Group, help=_l("Move money in customers' prepaid wallets."))
def ledger() -> None:
    pass


def _ledger_options(command):
    command = VALUE_DATE(command)
    command = option("--idempotency-key", metavar="KEY", help=_l("Retrying with the same key moves money once."))(
        command
    )
    command = option("--description", default="", help=_l("What the movement is for."))(command)
    command = click.argument("amount")(command)
    command = click.argument("code")(command)
    return command


# A negative amount such as -5 is an amount to refuse with a reason, not an unknown option.
AMOUNT_ARGUMENTS = {"ignore_unknown_options": True}


@ledger.command(
    "recharge",
    context_settings=AMOUNT_ARGUMENTS,
    help=_l("Add AMOUNT (in the installation's locale, e.g. 100.000) to CODE's wallet."),
)
@_ledger_options
def ledger_recharge(code, amount, description, idempotency_key, value_date) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import wallet

    _move(
        wallet.recharge,
        code,
        amount,
        value_date,
        description=description,
        idempotency_key=idempotency_key,
        by_hand=True,
    )


@ledger.command(
    "charge", context_settings=AMOUNT_ARGUMENTS, help=_l("Take AMOUNT from CODE's wallet; refused beyond the balance.")
)
@_ledger_options
def ledger_charge(code, amount, description, idempotency_key, value_date) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import wallet

    _move(wallet.charge, code, amount, value_date, description=description, idempotency_key=idempotency_key)


@ledger.command(
    "adjust",
    context_settings=AMOUNT_ARGUMENTS,
    help=_l("Correct CODE's balance by AMOUNT: positive adds, negative (e.g. -5.000) takes away."),
)
@click.argument("code")
@click.argument("amount")
@option(
    "--reason",
    type=click.Choice([reason.value for reason in AdjustmentReason]),
    required=True,
    help=_l("Why ('other' needs --description)."),
)
@option("--description", default="", help=_l("What happened (required with --reason other)."))
@option("--idempotency-key", metavar="KEY", help=_l("Retrying with the same key moves money once."))
@VALUE_DATE
def ledger_adjust(code, amount, reason, description, idempotency_key, value_date) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import wallet

    negative = amount.strip().startswith("-")
    _move(
        wallet.adjust,
        code,
        amount.strip().removeprefix("-"),
        value_date,
        sign=-1 if negative else 1,
        reason=reason,
        description=description,
        idempotency_key=idempotency_key,
    )


@ledger.command(
    "reverse", help=_l("Undo wallet movement ID whole, with the accounts it moved swapped back, saying why.")
)
@click.argument("movement_id", type=int)
@option("--description", required=True, help=_l("Why it is reversed (required: every reversal says why)."))
@VALUE_DATE
def ledger_reverse(movement_id, description, value_date) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import wallet
    from backoffice.services.vocabulary import PeriodClosed

    try:
        original = wallet.movement_by_id(movement_id)
        movement = wallet.reverse(original, description=description, value_date=_day(value_date), refuse_again=True)
    except wallet.NeedsApproval as error:
        raise CommandError(_waits(error, _("movement #%(id)s's ledger page", id=movement_id))) from None
    except (wallet.WalletError, PeriodClosed, BeyondLimit) as error:
        raise CommandError(str(error)) from None
    _moved(movement, original.customer.code)


def _waits(error, where: str) -> str:
    """The wallet's refusal of money moved by hand beyond the approval limit, in a command's words: a command cannot
    ask a second admin, a page can (``where``)."""
    if error.today:
        return str(error)
    return _(
        "%(amount)s is above BACKOFFICE_APPROVAL_ABOVE (%(limit)s): it needs a second admin's approval, as all money "
        "moved by hand above the approval limit does. Ask for it on %(where)s.",
        amount=shown(error.amount),
        limit=shown(error.limit),
        where=where,
    )


def _move(operation, code, amount, value_date, *, sign: int = 1, **options) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Customer
    from backoffice.services.vocabulary import PeriodClosed
    from backoffice.services.wallet import IdempotencyKeyReserved, IdempotencyKeyTooLong, NeedsApproval, WalletError

    customer = db.session.scalar(select(Customer).where(Customer.code == code.strip().upper()))
    if customer is None:
        raise CommandError(_("Unknown customer code: %(code)s.", code=code))
    try:
        movement = operation(customer, read_amount(amount) * sign, value_date=_day(value_date), **options)
    except NeedsApproval as error:
        raise CommandError(_waits(error, _("the customer's ledger tab"))) from None
    except BeyondLimit as error:
        raise CommandError(str(error)) from None
    except (MoneyError, IdempotencyKeyTooLong, IdempotencyKeyReserved) as error:  # mistakes in what was typed
        raise CommandUsageError(str(error)) from None
    except (WalletError, PeriodClosed) as error:
        raise CommandError(str(error)) from None
    _moved(movement, customer.code)


def _moved(movement, code: str) -> None:
    config = current_app.config
    balance = format_money(movement.balance_after, config["LOCALE"], config["CURRENCY"])
    click.echo(
        _(
            "%(kind)s #%(id)s dated %(day)s: %(code)s balance %(balance)s.",
            kind=word(movement.kind),
            id=movement.id,
            day=named_date(movement.value_date),
            code=code,
            balance=balance,
        )
    )
