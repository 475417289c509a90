"""``backoffice customers``: adding, changing, closing and reopening customers."""

from __future__ import annotations

from dataclasses import fields, replace

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.cli.common import BY_ADMIN, CommandError, CommandUsageError, Group, _admin, option
from backoffice.platform.extensions import db
from backoffice.platform.money import MoneyError, read_amount


@click.group(cls=Group, help=_l("Manage customers."))
def customers() -> None:
    pass


def _customer_options(command):
    """The details ``customers add`` sets and ``customers edit`` changes (what is not given stays as it is)."""
    for declared in reversed(
        [
            option("--manager", metavar="EMAIL", help=_l("The account manager's email.")),
            option("--suspend-below", metavar="AMOUNT", help=_l("Suspend the customer below this balance.")),
            option("--contact-person", metavar="NAME", help=_l("Whom to speak to ('' clears it).")),
            option("--email", metavar="EMAIL", help=_l("The customer's email ('' clears it).")),
            option("--phone", metavar="NUMBER", help=_l("The customer's phone ('' clears it).")),
            option("--address", metavar="TEXT", help=_l("The customer's address ('' clears it).")),
            option("--city", metavar="TEXT", help=_l("The customer's city ('' clears it).")),
            option(
                "--route", metavar="TEXT", help=_l("The meter reader's round its meters are read on ('' clears it).")
            ),
            option("--route-stop", metavar="N", help=_l("Its place on the round, from 1 ('' clears it).")),
            option("--tax-number", metavar="NUMBER", help=_l("The customer's tax number ('' clears it).")),
            option("--tax-status", metavar="STATUS", help=_l("taxed, exempt or zero_rated (VAT at 0 %).")),
        ]
    ):
        command = declared(command)
    return command


@customers.command("add", help=_l("Add a customer with CODE and NAME."))
@click.argument("code")
@click.argument("name")
@_customer_options
def customers_add(code: str, name: str, manager, suspend_below, **texts) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.customers import Details, create_customer

    details = _customer_details(Details(name=name), manager, False, suspend_below, texts)
    customer = _customer_call(create_customer, code, details)
    click.echo(_("Added customer %(customer)s.", customer=f"{customer.code} — {customer.name}"))


@customers.command("edit", help=_l("Change CODE's details: only what is given changes."))
@click.argument("code")
@option("--name", help=_l("The customer's name."))
@_customer_options
@option("--no-manager", is_flag=True, help=_l("The customer has no account manager from now on."))
def customers_edit(code, name, manager, suspend_below, no_manager, **texts) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.customers import Details, change_customer

    customer = _customer(code)
    if manager and no_manager:
        raise CommandUsageError(_("Give --manager or --no-manager, not both."))
    now = Details(**{field.name: getattr(customer, field.name) for field in fields(Details)})
    details = _customer_details(
        now if name is None else replace(now, name=name), manager, no_manager, suspend_below, texts
    )
    _customer_call(change_customer, customer, details)
    click.echo(_("Saved customer %(customer)s.", customer=f"{customer.code} — {customer.name}"))


@customers.command("close", help=_l("Close CODE: it takes no new movement; its history stays (asks first)."))
@click.argument("code")
@BY_ADMIN
@option("--yes", is_flag=True, help=_l("Do not ask."))
def customers_close(code: str, email: str, yes: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.customers import close_customer, closing_blockers

    customer = _customer(code)
    user = _admin(email, _l("%(email)s is not an admin: only an admin closes a customer."))
    if customer.closed:
        raise CommandError(_("Customer %(code)s is closed already.", code=customer.code))
    if blockers := closing_blockers(customer):
        raise CommandError(_("Customer %(code)s cannot be closed yet.", code=customer.code) + " " + " ".join(blockers))
    click.echo(
        _(
            "Closing %(customer)s refuses every new movement, reading, pricing, invoice, payment and meter for it; "
            "its history stays, and an admin can reopen it.",
            customer=customer,
        )
    )
    if not yes:
        click.confirm(_("Close %(code)s?", code=customer.code), abort=True)
    _customer_call(close_customer, customer, user=user)
    click.echo(_("Closed customer %(code)s.", code=customer.code))


@customers.command("reopen", help=_l("Reopen CODE, a closed customer: it takes movements again."))
@click.argument("code")
@BY_ADMIN
def customers_reopen(code: str, email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.customers import reopen_customer

    customer = _customer(code)
    _admin(email, _l("%(email)s is not an admin: only an admin reopens a customer."))
    _customer_call(reopen_customer, customer)
    click.echo(_("Reopened customer %(code)s.", code=customer.code))


def _customer(code: str):
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import Customer

    customer = db.session.scalar(select(Customer).where(Customer.code == code.strip().upper()))
    if customer is None:
        raise CommandError(_("Unknown customer code: %(code)s.", code=code))
    return customer


def _customer_details(details, manager, no_manager, suspend_below, texts: dict):
    """``details`` with what the options give (``None``: not given); ``texts``: the text details by name (contact
    person, email, phone, address, city, route and stop, tax number)."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.managers import ManagerError, manager_by_email

    changes = {name: value for name, value in texts.items() if value is not None}
    try:
        if suspend_below is not None:
            changes["suspend_below"] = read_amount(suspend_below)
        if manager is not None:
            changes["account_manager_id"] = manager_by_email(manager).id
    except MoneyError as error:
        raise CommandUsageError(str(error)) from None
    except ManagerError as error:
        raise CommandError(str(error)) from None
    if no_manager:
        changes["account_manager_id"] = None
    return replace(details, **changes)


def _customer_call(operation, *args, **kwargs):
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.customers import CustomerError

    try:
        return operation(*args, **kwargs)
    except CustomerError as error:
        raise CommandError(str(error)) from None
