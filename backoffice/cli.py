"""The ``backoffice`` command: Flask's CLI bound to the app, plus the project's own groups."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from backoffice import create_app
from backoffice.config import ConfigError
from backoffice.models import Role


@click.group(cls=FlaskGroup, create_app=create_app, help="Run and administer the back-office.")
def cli() -> None:
    pass


def main() -> None:
    try:
        cli.main(prog_name="backoffice")
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)


def init_app(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(demo_data)


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


@click.command("demo-data", help="Load demonstration data (running it again adds nothing).")
def demo_data() -> None:
    from backoffice import demo

    if current_app.config["BACKOFFICE_ENV"] == "production":
        raise click.ClickException("Demo data has well-known passwords; it is not loaded in production.")
    added = demo.load()
    click.echo(
        "Demo data: "
        + ", ".join(f"{count} {name} added" for name, count in added.items())
        + "."
    )
    click.echo("Log in at http://127.0.0.1:5000/login as one of:")
    for email, password, role in demo.LOGINS:
        click.echo(f"  {email:<26} password {password:<20} ({role.value})")
