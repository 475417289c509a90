"""``backoffice users``: the people who log in."""

from __future__ import annotations

import sys

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.cli.common import CommandError, CommandUsageError, Group, option
from backoffice.platform.extensions import db
from backoffice.platform.roles import Role
from backoffice.platform.words import word


@click.group(cls=Group, help=_l("Manage the people who log in."))
def users() -> None:
    pass


@users.command("create", help=_l("Create a user who logs in with EMAIL."))
@click.argument("email")
@option("--role", type=click.Choice([r.value for r in Role]), required=True)
@option("--name", default="", help=_l("Display name."))
@option("--password-stdin", is_flag=True, help=_l("Read the password from the first line of standard input."))
def create_user_command(email: str, role: str, name: str, password_stdin: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.users import UserError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(email, role, password, name)
    except UserError as error:
        raise CommandError(str(error)) from None
    click.echo(_("Created %(role)s user %(email)s.", role=word(user.role), email=user.email))


@users.command("change", help=_l("Change the role or the active flag of the user with EMAIL, or reset their password."))
@click.argument("email")
@option("--role", type=click.Choice([r.value for r in Role]), help=_l("Their new role."))
@option("--active/--inactive", default=None, help=_l("Reactivate, or deactivate (asks first)."))
@option("--password-stdin", is_flag=True, help=_l("Reset the password to the first line of standard input."))
@option("--yes", is_flag=True, help=_l("Do not ask."))
def change_user_command(email: str, role: str | None, active: bool | None, password_stdin: bool, yes: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import User
    from backoffice.models.users import normal_email
    from backoffice.services.users import UserError, change_user

    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        raise CommandUsageError(_("No user %(email)s.", email=email))
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise CommandUsageError(_("No password on standard input."))
    if active is False and user.active and not yes:
        click.echo(
            _(
                "%(email)s is logged out everywhere at once and can no longer log in; what they recorded stays.",
                email=user.email,
            )
        )
        click.confirm(_("Deactivate %(name)s?", name=user.email), abort=True)
    try:
        change_user(user, role or user.role, user.active if active is None else active, password, by=None)
    except UserError as error:
        raise CommandUsageError(str(error)) from None
    said = {"email": user.email, "role": word(user.role)}
    if user.active:
        click.echo(_("User %(email)s: %(role)s, active; if anything changed, their sessions have ended.", **said))
    else:
        click.echo(_("User %(email)s: %(role)s, inactive; if anything changed, their sessions have ended.", **said))
