"""``backoffice managers``: account managers."""

from __future__ import annotations

import click

from backoffice.cli.common import Group


@click.group(cls=Group, help="Manage account managers.")
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
