"""The ``backoffice`` command: Flask's CLI bound to the app, plus the project's own groups."""

from __future__ import annotations

import gc
import json
import sys
from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal
from functools import partial
from importlib import metadata

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo

from backoffice import create_app, register_migrations
from backoffice.config import ConfigError
from backoffice.models import Role

WEB_COMMANDS = frozenset({"run", "routes", "shell", "limiter"})
"""The commands that serve or show the web layer (Flask's, and Flask-Limiter's ``limiter``); every other command's
app is built without it."""


class _Commands(FlaskGroup):
    """Flask's commands and the app's, with Flask-Migrate's ``db`` bound to the app only when it is asked for, and
    the plugins' commands (Flask-Limiter's ``limiter``) imported only when they are: Flask would import them all
    before any command runs, and ``limiter`` imports the rate limits' storages and Rich, a twentieth of a second."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._plugins = {entry.name: entry for entry in metadata.entry_points(group="flask.commands")}
        self._loaded_plugin_commands = True  # Flask's own loading of them, done here by name

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "db", *self._plugins})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "db":
            register_migrations(ctx.ensure_object(ScriptInfo).load_app())
        if name in self._plugins and name not in self.commands:
            self.add_command(self._plugins[name].load(), name)
        return super().get_command(ctx, name)


def _create_app() -> Flask:
    """The app for the command being run, with its web layer only for :data:`WEB_COMMANDS`.

    Flask loads the app for Flask's and the plugins' commands when they run, once the command is known; for the
    app's own commands (and ``db``, and the list in ``--help``), while it looks them up, before it is. The
    command's database connections are closed when it ends (see :func:`main`).
    """
    root = click.get_current_context().find_root()
    app = create_app(web=root.invoked_subcommand in WEB_COMMANDS)
    root.call_on_close(partial(_close_connections, app))
    return app


def _close_connections(app: Flask) -> None:
    from backoffice.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@click.group(cls=_Commands, create_app=_create_app, help="Run and administer the back-office.")
def cli() -> None:
    pass


def main() -> None:
    try:
        cli.main(prog_name="backoffice")
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    finally:
        # The process ends here, its connections closed: what the libraries and the app built is left for it to
        # free rather than walked by Python's last garbage collections, about a third of a short command's CPU time.
        gc.freeze()


def init_app(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(customers)
    app.cli.add_command(managers)
    app.cli.add_command(meters)
    app.cli.add_command(targets)
    app.cli.add_command(ledger)
    app.cli.add_command(books)
    app.cli.add_command(billing)
    app.cli.add_command(pricing)
    app.cli.add_command(demo_data)
    app.cli.add_command(reconcile)
    app.cli.add_command(health)
    app.cli.add_command(api_token)


@click.group(help="Manage the people who log in.")
def users() -> None:
    pass


@users.command("create", help="Create a user who logs in with EMAIL.")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user_command(email: str, role: str, name: str, password_stdin: bool) -> None:
    from backoffice.services.users import UserError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(email, role, password, name)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {user.role.value} user {user.email}.")


@users.command("change", help="Change the role or the active flag of the user with EMAIL, or reset their password.")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), help="Their new role.")
@click.option("--active/--inactive", default=None, help="Reactivate, or deactivate (asks first).")
@click.option("--password-stdin", is_flag=True, help="Reset the password to the first line of standard input.")
@click.option("--yes", is_flag=True, help="Do not ask.")
def change_user_command(email: str, role: str | None, active: bool | None, password_stdin: bool, yes: bool) -> None:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.users import normal_email
    from backoffice.services.users import UserError, change_user

    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        raise CommandUsageError(f"No user {email}.")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise CommandUsageError("No password on standard input.")
    if active is False and user.active and not yes:
        click.echo(f"{user.email} is logged out everywhere at once and can no longer log in; what they recorded stays.")
        click.confirm(f"Deactivate {user.email}?", abort=True)
    try:
        change_user(user, role or user.role, user.active if active is None else active, password, by=None)
    except UserError as error:
        raise CommandUsageError(str(error)) from None
    state = "active" if user.active else "inactive"
    click.echo(f"User {user.email}: {user.role.value}, {state}; if anything changed, their sessions have ended.")


@click.command("demo-data", help="Load demonstration data (running it again adds nothing).")
def demo_data() -> None:
    from backoffice import demo

    if current_app.config["BACKOFFICE_ENV"] == "production":
        raise click.ClickException("Demo data has well-known passwords; it is not loaded in production.")
    added = demo.load()
    click.echo("Demo data: " + ", ".join(f"{count} {name} added" for name, count in added.items()) + ".")
    click.echo("Log in at http://127.0.0.1:5000/login as one of:")
    for email, password, role in demo.LOGINS:
        click.echo(f"  {email:<26} password {password:<20} ({role.value})")


@click.group(help="Manage customers.")
def customers() -> None:
    pass


BY_ADMIN = click.option("--user", "email", required=True, metavar="EMAIL", help="The admin who does it (recorded).")


def _customer_options(command):
    """The details ``customers add`` sets and ``customers edit`` changes (what is not given stays as it is)."""
    for option in reversed(
        [
            click.option("--manager", metavar="EMAIL", help="The account manager's email."),
            click.option("--suspend-below", metavar="AMOUNT", help="Suspend the customer below this balance."),
            click.option("--contact-person", metavar="NAME", help="Whom to speak to ('' clears it)."),
            click.option("--email", metavar="EMAIL", help="The customer's email ('' clears it)."),
            click.option("--phone", metavar="NUMBER", help="The customer's phone ('' clears it)."),
            click.option("--address", metavar="TEXT", help="The customer's address ('' clears it)."),
        ]
    ):
        command = option(command)
    return command


@customers.command("add", help="Add a customer with CODE and NAME.")
@click.argument("code")
@click.argument("name")
@_customer_options
def customers_add(code: str, name: str, manager, suspend_below, contact_person, email, phone, address) -> None:
    from backoffice.services.customers import Details, create_customer

    details = _customer_details(
        Details(name=name), manager, False, suspend_below, contact_person, email, phone, address
    )
    customer = _customer_call(create_customer, code, details)
    click.echo(f"Added customer {customer.code} — {customer.name}.")


@customers.command("edit", help="Change CODE's details: only what is given changes.")
@click.argument("code")
@click.option("--name", help="The customer's name.")
@_customer_options
@click.option("--no-manager", is_flag=True, help="The customer has no account manager from now on.")
def customers_edit(code, name, manager, suspend_below, contact_person, email, phone, address, no_manager) -> None:
    from dataclasses import fields

    from backoffice.services.customers import Details, change_customer

    customer = _customer(code)
    if manager and no_manager:
        raise CommandUsageError("Give --manager or --no-manager, not both.")
    now = Details(**{field.name: getattr(customer, field.name) for field in fields(Details)})
    details = _customer_details(
        now if name is None else replace(now, name=name),
        manager,
        no_manager,
        suspend_below,
        contact_person,
        email,
        phone,
        address,
    )
    _customer_call(change_customer, customer, details)
    click.echo(f"Saved customer {customer.code} — {customer.name}.")


@customers.command("close", help="Close CODE: it takes no new movement; its history stays (asks first).")
@click.argument("code")
@BY_ADMIN
@click.option("--yes", is_flag=True, help="Do not ask.")
def customers_close(code: str, email: str, yes: bool) -> None:
    from backoffice.services.customers import close_customer, closing_blockers

    customer = _customer(code)
    user = _admin(email, "closes a customer")
    if customer.closed:
        raise click.ClickException(f"Customer {customer.code} is closed already.")
    if blockers := closing_blockers(customer):
        raise click.ClickException(f"Customer {customer.code} cannot be closed yet. " + " ".join(blockers))
    click.echo(
        f"Closing {customer} refuses every new movement, reading, pricing, invoice, payment and meter for it; "
        "its history stays, and an admin can reopen it."
    )
    if not yes:
        click.confirm(f"Close {customer.code}?", abort=True)
    _customer_call(close_customer, customer, user=user)
    click.echo(f"Closed customer {customer.code}.")


@customers.command("reopen", help="Reopen CODE, a closed customer: it takes movements again.")
@click.argument("code")
@BY_ADMIN
def customers_reopen(code: str, email: str) -> None:
    from backoffice.services.customers import reopen_customer

    customer = _customer(code)
    _admin(email, "reopens a customer")
    _customer_call(reopen_customer, customer)
    click.echo(f"Reopened customer {customer.code}.")


def _customer(code: str):
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import Customer

    customer = db.session.scalar(select(Customer).where(Customer.code == code.strip().upper()))
    if customer is None:
        raise click.ClickException(f"Unknown customer code: {code}.")
    return customer


def _customer_details(details, manager, no_manager, suspend_below, contact_person, email, phone, address):
    """``details`` with what the options give (``None``: not given)."""
    from backoffice.money import MoneyError, read_amount
    from backoffice.services.managers import ManagerError, manager_by_email

    changes = {
        name: value
        for name, value in (
            ("contact_person", contact_person),
            ("email", email),
            ("phone", phone),
            ("address", address),
        )
        if value is not None
    }
    try:
        if suspend_below is not None:
            changes["suspend_below"] = read_amount(suspend_below)
        if manager is not None:
            changes["account_manager_id"] = manager_by_email(manager).id
    except MoneyError as error:
        raise CommandUsageError(str(error)) from None
    except ManagerError as error:
        raise click.ClickException(str(error)) from None
    if no_manager:
        changes["account_manager_id"] = None
    return replace(details, **changes)


def _customer_call(operation, *args, **kwargs):
    from backoffice.services.customers import CustomerError

    try:
        return operation(*args, **kwargs)
    except CustomerError as error:
        raise click.ClickException(str(error)) from None


def _admin(email: str, what: str):
    """The active admin ``email``, who does what the command does (recorded where the record keeps who)."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.users import normal_email

    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None or not user.is_active:
        raise CommandUsageError(f"No active user {email}.")
    if not user.is_admin:
        raise click.ClickException(f"{user.email} is not an admin: only an admin {what}.")
    return user


@click.group(help="Manage account managers.")
def managers() -> None:
    pass


@managers.command("add", help="Add an account manager with NAME and EMAIL.")
@click.argument("name")
@click.argument("email")
def managers_add(name: str, email: str) -> None:
    from backoffice.services.managers import create_manager

    manager = _manager_call(create_manager, name, email)
    click.echo(f"Added account manager {manager.name} <{manager.email}>.")


@managers.command("edit", help="Change the name or email of the account manager with EMAIL.")
@click.argument("email")
@click.option("--name", help="Their new name.")
@click.option("--new-email", metavar="EMAIL", help="Their new email.")
def managers_edit(email: str, name: str | None, new_email: str | None) -> None:
    from backoffice.services.managers import change_manager, manager_by_email

    manager = _manager_call(manager_by_email, email)
    _manager_call(change_manager, manager, name if name is not None else manager.name, new_email or manager.email)
    click.echo(f"Saved account manager {manager.name} <{manager.email}>.")


@managers.command("deactivate", help="Deactivate the account manager with EMAIL (asks first).")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask.")
def managers_deactivate(email: str, yes: bool) -> None:
    from backoffice.services.managers import manager_by_email, set_active, what_refers_to

    manager = _manager_call(manager_by_email, email)
    customers_kept, targets_kept = what_refers_to(manager)
    click.echo(
        f"{manager.name} keeps {customers_kept} customer(s) and {targets_kept} target(s), is not offered as a "
        "customer's new account manager, and gets no target when a month's targets are generated."
    )
    if not yes:
        click.confirm(f"Deactivate {manager.name}?", abort=True)
    _manager_call(set_active, manager, False)
    click.echo(f"Deactivated account manager {manager.name}.")


@managers.command("reactivate", help="Reactivate the account manager with EMAIL.")
@click.argument("email")
def managers_reactivate(email: str) -> None:
    from backoffice.services.managers import manager_by_email, set_active

    manager = _manager_call(manager_by_email, email)
    _manager_call(set_active, manager, True)
    click.echo(f"Reactivated account manager {manager.name}.")


def _manager_call(operation, *args):
    from backoffice.services.managers import ManagerError

    try:
        return operation(*args)
    except ManagerError as error:
        raise click.ClickException(str(error)) from None


@click.group(help="Manage meters.")
def meters() -> None:
    pass


@meters.command("add", help="Add a meter with SERIAL (assigned to nobody until it is assigned on a customer's page).")
@click.argument("serial")
def meters_add(serial: str) -> None:
    from backoffice.services.billing import BillingError, add_meter

    try:
        meter = add_meter(serial)
    except BillingError as error:
        raise CommandUsageError(str(error)) from None
    click.echo(f"Added meter {meter.serial} (id {meter.id}), assigned to nobody.")


@meters.command("list", help="List the meters with where each is now.")
@click.option("--status", type=click.Choice(["active", "retired"]), help="Only the meters in service, or retired.")
def meters_list(status: str | None) -> None:
    from rich.table import Table
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import Meter, MeterAssignment, MeterStatus

    query = (
        select(Meter, MeterAssignment)
        .outerjoin(MeterAssignment, (MeterAssignment.meter_id == Meter.id) & MeterAssignment.is_active)
        .order_by(Meter.serial)
    )
    if status:
        query = query.where(Meter.status == MeterStatus(status))
    table = Table("serial", "status", "at", "since", box=None)
    for meter, assignment in db.session.execute(query):
        table.add_row(
            meter.serial,
            f"retired {meter.retired_on:%Y-%m-%d}" if meter.retired else "in service",
            str(assignment.customer) if assignment else "nobody",
            f"{assignment.started_on:%Y-%m-%d}" if assignment else "",
        )
    _console().print(table)


@meters.command("retire", help="Retire meter SERIAL: it takes no new reading or assignment (asks first).")
@click.argument("serial")
@click.option(
    "--on",
    "retired_on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day it is taken out of service, YYYY-MM-DD (default: today); its assignment ends that day.",
)
@BY_ADMIN
@click.option("--yes", is_flag=True, help="Do not ask.")
def meters_retire(serial: str, retired_on, email: str, yes: bool) -> None:
    from backoffice.config import local_today
    from backoffice.services.billing import BillingError, active_assignment, meter_by_serial, retire_meter

    try:
        meter = meter_by_serial(serial)
    except BillingError as error:
        raise CommandUsageError(str(error)) from None
    user = _admin(email, "retires a meter")
    on = _day(retired_on) or local_today()
    current = active_assignment(meter.id)
    where = f"at {current.customer} since {current.started_on:%Y-%m-%d}" if current else "at nobody's"
    ends = f"; that assignment ends on {on:%Y-%m-%d}" if current else ""
    click.echo(f"Meter {meter.serial} is {where}{ends}. Retired, it takes no new reading or assignment.")
    if not yes:
        click.confirm(f"Retire {meter.serial} on {on:%Y-%m-%d}?", abort=True)
    try:
        retire_meter(meter, on, user=user, confirm_from=current.id if current else None)
    except BillingError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Retired meter {meter.serial} on {on:%Y-%m-%d}.")


@click.group(help="Set account managers' monthly targets.")
def targets() -> None:
    pass


@targets.command(
    "generate",
    help="Give every active account manager without a target for MONTH (YYYY-MM) one: --amount, or with "
    "--from-previous their previous month's (--amount for those without one). A target already set is kept.",
)
@click.argument("month")
@click.option("--from-previous", is_flag=True, help="Each manager's target of the previous month.")
@click.option("--amount", metavar="AMOUNT", help="The target amount (e.g. 100.000.000).")
@click.option(
    "--update",
    is_flag=True,
    help="Then recompute the achieved amounts of the targets from MONTH on, through the reconciliation engine.",
)
def targets_generate(month: str, from_previous: bool, amount: str | None, update: bool) -> None:
    from backoffice.models.types import Month
    from backoffice.money import MoneyError, read_amount
    from backoffice.services.targets import TargetError, generate_targets

    try:
        period = Month.parse(month)
        value = read_amount(amount) if amount is not None else None
    except (ValueError, MoneyError) as error:
        raise CommandUsageError(str(error)) from None
    if value is not None or from_previous or not update:
        try:
            done = generate_targets(period, amount=value, from_previous=from_previous)
        except TargetError as error:
            raise CommandUsageError(str(error)) from None
        click.echo(done.describe())
    if update:
        _recompute_achieved(period)


def _recompute_achieved(period) -> None:
    from backoffice.models import RunMode, RunTrigger
    from backoffice.reconcile import Scope
    from backoffice.reconcile.engine import run
    from backoffice.reconcile.locks import RunRefused

    try:
        record = run(
            RunMode.REBUILD,
            checks=["target_achieved"],
            scope=Scope(from_month=period.first_day),
            trigger=RunTrigger.CLI,
        )
    except RunRefused as refused:
        raise click.ClickException(str(refused)) from None
    (result,) = record.results
    click.echo(
        f"Achieved amounts from {period} recomputed (run {record.id}): {result.checked} target(s), "
        f"{result.mismatched} changed."
    )


@click.group(help="Move money in customers' prepaid wallets.")
def ledger() -> None:
    pass


VALUE_DATE = click.option(
    "--value-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The business date, YYYY-MM-DD (default: today in the installation's time zone; never after today).",
)


def _ledger_options(command):
    command = VALUE_DATE(command)
    command = click.option("--idempotency-key", metavar="KEY", help="Retrying with the same key moves money once.")(
        command
    )
    command = click.option("--description", default="", help="What the movement is for.")(command)
    command = click.argument("amount")(command)
    command = click.argument("code")(command)
    return command


# A negative amount such as -5 is an amount to refuse with a reason, not an unknown option.
AMOUNT_ARGUMENTS = {"ignore_unknown_options": True}


@ledger.command(
    "recharge",
    context_settings=AMOUNT_ARGUMENTS,
    help="Add AMOUNT (in the installation's locale, e.g. 100.000) to CODE's wallet.",
)
@_ledger_options
def ledger_recharge(code, amount, description, idempotency_key, value_date) -> None:
    from backoffice.services import wallet

    _move(wallet.recharge, code, amount, value_date, description=description, idempotency_key=idempotency_key)


@ledger.command(
    "charge", context_settings=AMOUNT_ARGUMENTS, help="Take AMOUNT from CODE's wallet; refused beyond the balance."
)
@_ledger_options
def ledger_charge(code, amount, description, idempotency_key, value_date) -> None:
    from backoffice.services import wallet

    _move(wallet.charge, code, amount, value_date, description=description, idempotency_key=idempotency_key)


ADJUSTMENT_REASONS = ("data_entry_error", "goodwill", "write_off", "other")


@ledger.command(
    "adjust",
    context_settings=AMOUNT_ARGUMENTS,
    help="Correct CODE's balance by AMOUNT: positive adds, negative (e.g. -5.000) takes away.",
)
@click.argument("code")
@click.argument("amount")
@click.option(
    "--reason", type=click.Choice(ADJUSTMENT_REASONS), required=True, help="Why ('other' needs --description)."
)
@click.option("--description", default="", help="What happened (required with --reason other).")
@click.option("--idempotency-key", metavar="KEY", help="Retrying with the same key moves money once.")
@VALUE_DATE
def ledger_adjust(code, amount, reason, description, idempotency_key, value_date) -> None:
    from backoffice.services import wallet

    negative = amount.strip().startswith("-")
    _move(
        wallet.adjust,
        code,
        amount.strip().removeprefix("-"),
        value_date,
        sign=-1 if negative else 1,
        approved_above=True,
        reason=reason,
        description=description,
        idempotency_key=idempotency_key,
    )


@ledger.command("reverse", help="Undo wallet movement ID whole, with the accounts it moved swapped back.")
@click.argument("movement_id", type=int)
@click.option("--description", default="", help="Why it is reversed.")
@VALUE_DATE
def ledger_reverse(movement_id, description, value_date) -> None:
    from backoffice.money import BeyondLimit
    from backoffice.posting.periods import PeriodClosed
    from backoffice.services import wallet

    try:
        original = wallet.movement_by_id(movement_id)
        _refuse_above_the_approval_limit(original.amount, f"movement #{movement_id}'s ledger page")
        movement = wallet.reverse(original, description=description, value_date=_day(value_date), refuse_again=True)
    except (wallet.WalletError, PeriodClosed, BeyondLimit) as error:
        raise click.ClickException(str(error)) from None
    _moved(movement, original.customer.code)


def _day(value_date):
    return value_date.date() if value_date is not None else None


def _refuse_above_the_approval_limit(amount, where: str) -> None:
    """Money moved by hand above the approval limit waits for a second admin, which a command cannot ask for."""
    from backoffice.money import shown
    from backoffice.services import approvals

    if approvals.needs_approval(amount):
        raise click.ClickException(
            f"{shown(abs(amount))} is above BACKOFFICE_APPROVAL_ABOVE ({shown(approvals.limit())}): it needs a second "
            f"admin's approval. Ask for it on {where}."
        )


def _move(operation, code, amount, value_date, *, sign: int = 1, approved_above: bool = False, **options) -> None:
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import Customer
    from backoffice.money import BeyondLimit, MoneyError, read_amount
    from backoffice.posting.periods import PeriodClosed
    from backoffice.services.wallet import IdempotencyKeyReserved, IdempotencyKeyTooLong, WalletError

    customer = db.session.scalar(select(Customer).where(Customer.code == code.strip().upper()))
    if customer is None:
        raise click.ClickException(f"Unknown customer code: {code}.")
    try:
        value = read_amount(amount) * sign
        if approved_above:
            _refuse_above_the_approval_limit(value, "the customer's ledger tab")
        movement = operation(customer, value, value_date=_day(value_date), **options)
    except BeyondLimit as error:
        raise click.ClickException(str(error)) from None
    except (MoneyError, IdempotencyKeyTooLong, IdempotencyKeyReserved) as error:  # mistakes in what was typed
        raise CommandUsageError(str(error)) from None
    except (WalletError, PeriodClosed) as error:
        raise click.ClickException(str(error)) from None
    _moved(movement, customer.code)


def _moved(movement, code: str) -> None:
    from backoffice.money import format_money

    config = current_app.config
    balance = format_money(movement.balance_after, config["LOCALE"], config["CURRENCY"])
    click.echo(f"{movement.kind.value} #{movement.id} dated {movement.value_date:%Y-%m-%d}: {code} balance {balance}.")


@click.group(help="Close and reopen months of the books.")
def books() -> None:
    pass


def _acting_admin(command):
    return click.option(
        "--user", "email", required=True, metavar="EMAIL", help="The admin closing or reopening (recorded)."
    )(command)


@books.command("close", help="Close the books through MONTH (YYYY-MM): anything dated on or before its last day.")
@click.argument("month")
@click.option("--note", default="", help="Why, or what was checked (recorded).")
@_acting_admin
def books_close(month: str, note: str, email: str) -> None:
    from backoffice.services import periods

    _period_action(month, email, lambda user: periods.close(month, user, note), "closed")


@books.command("reopen", help="Reopen MONTH (YYYY-MM), the latest closed month.")
@click.argument("month")
@click.option("--reason", required=True, help="Why it is reopened (recorded).")
@_acting_admin
def books_reopen(month: str, reason: str, email: str) -> None:
    from backoffice.services import periods

    _period_action(month, email, lambda user: periods.reopen(month, user, reason), "reopened")


@books.command("periods", help="List the last 24 months: closed or open, by whom and when.")
def books_periods() -> None:
    from rich.table import Table

    from backoffice.services import periods
    from backoffice.web.filters import local_datetime

    overview = periods.overview()
    console = _console()
    console.print(f"Closed through {overview.closed_through}." if overview.closed_through else "No month is closed.")
    table = Table("month", "state", "posted entries", "closed by", "at", "note", box=None)
    table.columns[2].justify = "right"
    for m in overview.months:
        by = m.closed_by
        state = "closed" if m.closed else "open" if m.closable else "open (not ended)"
        table.add_row(
            m.month,
            state,
            str(m.entries),
            by.user.email if by else "",
            local_datetime(by.acted_at) if by else "",
            by.note if by else "",
        )
    console.print(table)


def _period_action(month: str, email: str, act, done: str) -> None:
    """Close or reopen as the admin ``email``: a mistyped month or user exits 2, a refusal 1."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.models.users import normal_email
    from backoffice.services.periods import PeriodError, closed_through, month_days

    try:
        month_days(month)
    except PeriodError as error:
        raise CommandUsageError(f"{month!r} is not a month. {error}") from None
    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None or not user.is_active:
        raise CommandUsageError(f"No active user {email}.")
    if not user.is_admin:
        raise click.ClickException(f"{user.email} is not an admin: only an admin closes or reopens a month.")
    try:
        action = act(user)
    except PeriodError as error:
        raise click.ClickException(str(error)) from None
    through = closed_through()
    state = f"the books are closed through {through}" if through else "no month is closed"
    click.echo(f"{action.year_month} {done}; {state}.")


@click.group(help="Correct postpaid invoices and payments.")
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


@click.group(help="Set the price of gas.")
def pricing() -> None:
    pass


@pricing.command(
    "tariff",
    help="Set a price per Sm³ and/or a meter correction factor from a date for every customer (or those chosen "
    "by --manager and --customer), and re-price their readings from that date. What is not given is kept from "
    "each customer's pricing in force on the date.",
)
@click.option(
    "--from",
    "effective_from",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="The date the tariff applies from, YYYY-MM-DD.",
)
@click.option("--price", metavar="AMOUNT", help="The price per Sm³, in the installation's locale (e.g. 7.500,00).")
@click.option("--correction", metavar="FACTOR", help="The meter correction factor (e.g. 1,012345).")
@click.option("--manager", metavar="EMAIL", help="Only the customers of this account manager.")
@click.option("--customer", "customers", multiple=True, metavar="CODE", help="Only this customer (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
def pricing_tariff(effective_from, price, correction, manager, customers, dry_run) -> None:
    from backoffice.money import BeyondLimit, MoneyError, parse_number, read_amount
    from backoffice.services import metering

    locale = current_app.config["LOCALE"]
    try:
        price_per_sm3 = read_amount(price) if price is not None else None
        meter_correction = parse_number(correction, locale, "number") if correction is not None else None
        tariff = metering.checked_tariff(effective_from.date(), price_per_sm3, meter_correction, manager, customers)
    except (MoneyError, metering.MeteringError) as error:
        raise CommandUsageError(str(error)) from None
    console = _console()
    try:
        impact = metering.tariff_impact(tariff)
    except metering.MeteringError as error:
        raise click.ClickException(str(error)) from None
    _print_tariff(console, tariff, impact)
    if dry_run:
        console.print("Dry run: nothing was written.")
        return
    try:
        metering.change_tariff(tariff)
    except metering.MeteringError as error:
        raise click.ClickException(str(error)) from None
    console.print(f"Saved the pricing of {impact.customers:,} customer(s) from {tariff.effective_from:%Y-%m-%d}.")
    try:
        with _customers_progress(console, "Re-pricing") as progress:
            done = metering.reprice_tariff(tariff.effective_from, progress=progress)
    except (metering.MeteringError, BeyondLimit) as error:
        raise click.ClickException(
            f"Re-pricing stopped: {error} What is left waits as recalculation requests (the nightly run does them)."
        ) from None
    console.print(
        f"Re-priced the readings of {impact.repriced_customers:,} customer(s); {done:,} recalculation request(s) done."
    )


def _print_tariff(console, tariff, impact) -> None:
    from rich.table import Table

    from backoffice.money import format_money

    config = current_app.config

    def money(value) -> str:
        return format_money(value, config["LOCALE"], config["CURRENCY"])

    table = Table("", "", title=tariff.describe(), box=None, show_header=False)
    table.add_row("customers who get the pricing row", f"{impact.customers:,}")
    if impact.left_out:
        table.add_row("left out: no pricing in force on the date", f"{impact.left_out:,}")
    table.add_row("customers whose readings are re-priced", f"{impact.repriced_customers:,}")
    table.add_row(
        "readings re-priced", f"{impact.readings:,}" + (f" from {impact.from_month}" if impact.from_month else "")
    )
    table.add_row("purchases before", money(impact.purchases_before))
    table.add_row("purchases after", money(impact.purchases_after))
    table.add_row("change in purchases", money(impact.purchases_change))
    console.print(table)


class _customers_progress:
    """A progress bar over customers on a terminal; nothing otherwise."""

    def __init__(self, console, label: str) -> None:
        self.console, self.label = console, label

    def __enter__(self):
        if not self.console.is_terminal:
            return None
        from rich.progress import Progress

        self.bar = Progress(console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.console.is_terminal:
            self.bar.stop()


class CommandUsageError(click.ClickException):
    """A mistake in what was typed: one line on standard error, exit status 2."""

    exit_code = 2


@click.group(help="Verify, fix and rebuild the derived fields.")
def reconcile() -> None:
    pass


@reconcile.command("checks", help="List the registered checks.")
def reconcile_checks() -> None:
    from rich.table import Table

    from backoffice.reconcile import CHECKS

    table = Table("check", "", "entity", "fixable", "description", box=None)
    for check in CHECKS.values():
        fixable = "yes" if check.fixable else "report only"
        table.add_row(check.name, str(check.label), check.entity_type, fixable, str(check.description))
    _console().print(table)


def _scope_options(command):
    command = click.option("--check", "checks", multiple=True, metavar="NAME", help="Only this check (repeatable).")(
        command
    )
    command = click.option(
        "--customer", "customers", multiple=True, metavar="CODE", help="Only this customer (repeatable)."
    )(command)
    command = click.option("--from-month", metavar="YYYY-MM", help="Only from this month on.")(command)
    command = click.option("--json", "as_json", is_flag=True, help="Print one JSON document, nothing else.")(command)
    return command


@reconcile.command("verify", help="Compare every derived field in scope with its source of truth.")
@_scope_options
@click.option("--fix", is_flag=True, help="Write the expected values where they differ.")
@click.option("--threshold", metavar="AMOUNT", help="Mark discrepancies larger than this as significant.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write every discrepancy to this CSV file.",
)
def reconcile_verify(checks, customers, from_month, as_json, fix, threshold, csv_path) -> None:
    from backoffice.models import RunMode

    _reconcile(RunMode.FIX if fix else RunMode.VERIFY, checks, customers, from_month, as_json, threshold, csv_path)


@reconcile.command("rebuild", help="Recompute every derived field in scope (emergency recovery, after imports).")
@_scope_options
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing but the run record.")
@click.option("--threshold", metavar="AMOUNT", help="Mark changes larger than this as significant.")
def reconcile_rebuild(checks, customers, from_month, as_json, dry_run, threshold) -> None:
    from backoffice.models import RunMode

    mode = RunMode.DRY_RUN if dry_run else RunMode.REBUILD
    _reconcile(mode, checks, customers, from_month, as_json, threshold, None)


def _reconcile(mode, checks, customers, from_month, as_json, threshold, csv_path) -> None:
    from backoffice.models import RunTrigger
    from backoffice.money import MoneyError, read_amount
    from backoffice.reconcile import UnknownCheck, resolve
    from backoffice.reconcile.engine import UnknownCustomer, run, scope_for
    from backoffice.reconcile.locks import RunRefused
    from backoffice.reconcile.report import csv_lines, summary
    from backoffice.services.metering import process_recalculations

    try:
        resolve(checks)
        month = _month_option(from_month) if from_month else None
        limit = read_amount(threshold) if threshold is not None else None
        scope = scope_for(customers, month)
    except (UnknownCheck, UnknownCustomer, MoneyError) as error:
        raise CommandUsageError(str(error)) from None

    console = _console()
    show_progress = console.is_terminal and not as_json
    # Opened before the run: a path that cannot be written is a mistake to correct, not a run to record.
    with _open_csv(csv_path) if csv_path else nullcontext() as report:
        # What writes first does the pending recalculation requests of its scope, as the jobs do.
        done = process_recalculations(list(scope.customer_ids) or None) if mode.writes else 0
        try:
            with _progress(console, show_progress) as progress:
                record = run(mode, checks=checks, scope=scope, trigger=RunTrigger.CLI, progress=progress)
        except RunRefused as refused:
            raise click.ClickException(str(refused)) from None
        if report:
            report.writelines(csv_lines(record.id))
    if as_json:
        click.echo(json.dumps(summary(record) | {"recalculations_done": done}))
    else:
        if done:
            console.print(f"{done} pending recalculation request(s) done first.")
        _print_run(console, record, limit)
    sys.exit(1 if record.left else 0)


def _month_option(text: str):
    from backoffice.models.types import parse_month

    try:
        return parse_month(text)
    except ValueError:
        raise CommandUsageError(f"--from-month must be YYYY-MM (at most 9999-11), not {text!r}.") from None


def _open_csv(path: str):
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as error:
        raise CommandUsageError(f"Cannot write the CSV to {path}: {error.strerror}.") from None


def _console():
    """Rich output; wide when it goes to a file or a pipe, so no column is cut."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


class _progress:
    """A progress bar per check on a terminal; nothing otherwise (--json, cron, pipes)."""

    def __init__(self, console, enabled: bool) -> None:
        self.console, self.enabled, self.tasks = console, enabled, {}

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import Progress

        self.bar = Progress(console=self.console, transient=True)
        self.bar.start()
        return self.update

    def update(self, check: str, done: int, total: int) -> None:
        if check not in self.tasks:
            self.tasks[check] = self.bar.add_task(check, total=total)
        self.bar.update(self.tasks[check], completed=done)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()


def _print_run(console, record, threshold: Decimal | None, limit: int = 20) -> None:
    from rich.table import Table

    from backoffice.extensions import db
    from backoffice.reconcile import label
    from backoffice.reconcile.engine import discrepancies
    from backoffice.reconcile.report import entity_of, name_of, named_entities, plain, postpaid_standing, scope_text

    console.print(f"Run {record.id} · {record.mode.value} · {scope_text(record.scope)} · {record.status.value}")
    counts = Table("check", "", "checked", "mismatched", "fixed", box=None)
    for result in record.results:
        style = "red" if result.left else "green"
        counts.add_row(
            label(result.check),
            f"[dim]{result.check}[/]",
            str(result.checked),
            f"[{style}]{result.mismatched}[/]",
            str(result.fixed),
        )
    console.print(counts)
    if standing := postpaid_standing(record):
        console.print(standing.describe(record.mode.writes))
    for result in record.results:
        found = db.session.scalars(discrepancies(record.id, result.check).limit(limit)).all()
        if not found:
            continue
        title = f"{label(result.check)} ({result.check}): largest discrepancies ({len(found)} of {result.mismatched})"
        if threshold is not None:
            title += f", * above {plain(threshold)}"
        rows = Table("", "entity", "field", "stored", "expected", "difference", "fixed", title=title, box=None)
        for column in rows.columns[3:6]:
            column.justify, column.no_wrap, column.overflow = "right", True, "fold"
        named = named_entities({entity_of(d) for d in found})
        for d in found:
            significant = "*" if threshold is not None and abs(d.difference) > threshold else ""
            kind = f"{d.entity_type} {d.entity_id}"
            named_as = name_of(d, named)
            name = f"{named_as.name} · {kind}" if named_as.key else kind
            rows.add_row(
                significant,
                name + (f" {d.period}" if d.period else ""),
                d.field,
                plain(d.stored) or "-",
                plain(d.expected) or "-",
                plain(d.difference),
                "yes" if d.fixed else "no",
            )
        console.print(rows)
        for reason in dict.fromkeys(d.reason for d in found if d.reason):
            console.print(f"{result.check}: {reason}")
    with_totals = [r for r in record.results if r.mismatched and r.totals]
    if with_totals:
        after = "after" if record.mode.writes else "would be"
        totals = Table("check", "field", "before", after, box=None, title="Totals")
        for column in totals.columns[2:]:
            column.justify, column.no_wrap = "right", True
        for result in with_totals:
            for field, values in result.totals.items():
                totals.add_row(result.check, field, values["before"], values["after"])
        console.print(totals)


class CannotAsk(click.ClickException):
    """The health check could not be asked, or gave no answer to read: exit status 2."""

    exit_code = 2


HEALTH_PATH = "/admin/balance-health/check"


@click.command(
    "health",
    help=(
        "Ask the running web server whether the balances can be trusted (an orchestrator's health check): exit 0 "
        "when they can, 1 when the server says they cannot (with its reasons), 2 when it cannot be asked (not "
        "reachable, the API token refused, an answer that is not the health check's)."
    ),
)
@click.option("--url", metavar="URL", help="The server's address (default: http:// and BACKOFFICE_WEB_BIND).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the answer.",
)
def health(url: str | None, timeout: float) -> None:  # float-ok: seconds
    import os
    from urllib.parse import urlsplit

    from backoffice.config import web_server

    token = current_app.config["API_TOKEN"]
    if not token:
        raise CannotAsk("BACKOFFICE_API_TOKEN is not set: the health check is asked with the API's bearer token.")
    base = url or _local_address(web_server(os.environ)["bind"])
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise CannotAsk(f"{base!r} is not an http:// or https:// address (e.g. http://127.0.0.1:8000).")
    address = base.rstrip("/") + HEALTH_PATH
    status, answer = _ask(address, token, timeout)
    if status != 200:
        request_id = f" (request id {answer['request_id']})" if answer.get("request_id") else ""
        refused = "failed" if status >= 500 else "refused the health check"
        raise CannotAsk(f"{address} {refused} with HTTP {status}: {answer.get('message', '')}{request_id}")
    if not isinstance(answer.get("balance_status"), bool):
        raise CannotAsk(f"{address} answered without a balance_status: is it the back-office?")
    if answer["balance_status"]:
        click.echo("Healthy: the balances can be trusted.")
        return
    click.echo("Unhealthy: the balances cannot be trusted now.")
    for reason in answer.get("data", {}).get("reasons", []):
        click.echo(f"  - {reason}")
    click.get_current_context().exit(1)


@click.command(
    "api-token",
    help=(
        "Print the bearer token of the operations API, /metrics and 'backoffice health', and how to call them: "
        "BACKOFFICE_API_TOKEN, or outside production the one made once into the instance folder."
    ),
)
@click.option("--url", metavar="URL", help="The server's address (default: http:// and BACKOFFICE_WEB_BIND).")
def api_token(url: str | None) -> None:
    import os
    from pathlib import Path

    from backoffice.config import web_server

    token = current_app.config["API_TOKEN"]
    if not token:
        raise CannotAsk("BACKOFFICE_API_TOKEN is not set: the operations API, /metrics and the health check are off.")
    base = (url or _local_address(web_server(os.environ)["bind"])).rstrip("/")
    kept = (
        "BACKOFFICE_API_TOKEN"
        if os.environ.get("BACKOFFICE_API_TOKEN")
        else f"kept in {Path(current_app.instance_path) / 'api_token'}, the same at every start"
    )
    click.echo(f"API token ({kept}): {token}")
    click.echo(f"  Health check: {_program()} health --url {base}")
    click.echo(f'  Metrics:      curl -H "Authorization: Bearer {token}" {base}/metrics')


def _program() -> str:
    """How this command was called: ``backoffice`` when that is what the PATH finds, else the path it was run by
    (``.venv/bin/backoffice`` under ``make run``)."""
    import os
    import shutil

    called = sys.argv[0]
    found = shutil.which("backoffice")
    return "backoffice" if found and os.path.realpath(found) == os.path.realpath(called) else called


def _ask(address: str, token: str, timeout: float) -> tuple[int, dict]:  # float-ok: seconds
    """The HTTP status and the JSON object the server answered."""
    from http.client import HTTPException
    from urllib.error import HTTPError, URLError
    from urllib.request import Request, urlopen

    request = Request(address, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except HTTPError as error:
        status, body = error.code, error.read()
    except (URLError, OSError, HTTPException) as error:
        raise CannotAsk(f"Cannot reach {address}: {getattr(error, 'reason', None) or error}.") from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CannotAsk(f"{address} answered HTTP {status} with something other than a JSON object.")
    return status, answer


def _local_address(bind: str) -> str:
    """The address of the server BACKOFFICE_WEB_BIND makes, on this machine (a wildcard host is this machine)."""
    if bind.startswith(("unix:", "fd://")):
        raise CannotAsk(f"BACKOFFICE_WEB_BIND={bind!r} is not a TCP address: give the server's address with --url.")
    host, _, port = bind.rpartition(":")
    if not port.isdigit():  # a host alone: gunicorn's port
        host, port = bind, "8000"
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}"


@click.command(
    "grant-runtime",
    help="Grant ROLE, an existing PostgreSQL role, what the running application needs and nothing more: no "
    "ownership, no TRUNCATE, no UPDATE or DELETE of the append-only tables, no DDL. Run it as the database's owner "
    "(DATABASE_URL), after every migration; running it again changes nothing.",
)
@click.argument("role")
def grant_runtime_command(role: str) -> None:
    from backoffice.extensions import db
    from backoffice.runtime_role import RoleRefused, grant_runtime

    if db.engine.dialect.name != "postgresql":
        raise click.ClickException(
            f"grant-runtime works on PostgreSQL only; DATABASE_URL is a {db.engine.dialect.name} database."
        )
    try:
        with db.engine.begin() as connection:
            grant = grant_runtime(connection, role)
    except RoleRefused as error:
        raise click.ClickException(f"{error} Nothing was granted.") from None
    click.echo(f"Granted {role} the runtime privileges in {grant.database} (schema {grant.schema}):")
    for line in grant.summary():
        click.echo(f"  {line}")
