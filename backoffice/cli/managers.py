"""``backoffice managers``: account managers."""

from __future__ import annotations

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import CommandError, Group, option


@click.group(cls=Group, help=_l("Manage account managers."))
def managers() -> None:
    pass


@managers.command("add", help=_l("Add an account manager with NAME and EMAIL."))
@click.argument("name")
@click.argument("email")
def managers_add(name: str, email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.managers import create_manager

    manager = _manager_call(create_manager, name, email)
    click.echo(_("Added account manager %(manager)s.", manager=f"{manager.name} <{manager.email}>"))


@managers.command("edit", help=_l("Change the name or email of the account manager with EMAIL."))
@click.argument("email")
@option("--name", help=_l("Their new name."))
@option("--new-email", metavar="EMAIL", help=_l("Their new email."))
def managers_edit(email: str, name: str | None, new_email: str | None) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.managers import change_manager, manager_by_email

    manager = _manager_call(manager_by_email, email)
    _manager_call(change_manager, manager, name if name is not None else manager.name, new_email or manager.email)
    click.echo(_("Saved account manager %(manager)s.", manager=f"{manager.name} <{manager.email}>"))


@managers.command("deactivate", help=_l("Deactivate the account manager with EMAIL (asks first)."))
@click.argument("email")
@option("--yes", is_flag=True, help=_l("Do not ask."))
def managers_deactivate(email: str, yes: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.managers import manager_by_email, set_active, what_refers_to

    manager = _manager_call(manager_by_email, email)
    customers_kept, targets_kept = what_refers_to(manager)
    click.echo(
        _(
            "%(name)s keeps %(customers)s customer(s) and %(targets)s target(s), is not offered as a customer's new "
            "account manager, and gets no target when a month's targets are generated.",
            name=manager.name,
            customers=customers_kept,
            targets=targets_kept,
        )
    )
    if not yes:
        click.confirm(_("Deactivate %(name)s?", name=manager.name), abort=True)
    _manager_call(set_active, manager, False)
    click.echo(_("Deactivated account manager %(name)s.", name=manager.name))


@managers.command("reactivate", help=_l("Reactivate the account manager with EMAIL."))
@click.argument("email")
def managers_reactivate(email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.managers import manager_by_email, set_active

    manager = _manager_call(manager_by_email, email)
    _manager_call(set_active, manager, True)
    click.echo(_("Reactivated account manager %(name)s.", name=manager.name))


def _manager_call(operation, *args):
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.managers import ManagerError

    try:
        return operation(*args)
    except ManagerError as error:
        raise CommandError(str(error)) from None
