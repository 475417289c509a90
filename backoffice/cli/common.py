"""What several groups of the ``backoffice`` command share: their group, errors, options, the acting admin, the
console."""

from __future__ import annotations

import gc
from functools import update_wrapper

import click
from flask import current_app


def with_database(callback):
    """The command binds the database to the app when it runs (see :mod:`backoffice.database`): not when it is
    looked up, nor asked for its help. Its start-up ends there (:func:`started`). A movement it asks for that is
    refused because its customer is quarantined ends it with the refusal (:class:`QuarantinedRefusal`)."""

    def bound(*args, **kwargs):
        from backoffice.database import bind
        from backoffice.quarantine import Quarantined

        bind(current_app._get_current_object())
        started()
        try:
            return callback(*args, **kwargs)
        except Quarantined as refused:
            raise QuarantinedRefusal(str(refused)) from None

    return update_wrapper(bound, callback)


def started() -> None:
    """The command has started: Python's collector, paused by ``backoffice.command.main`` while the libraries, the app
    and its database were built, resumes, without what they built (kept to the end of the process, it would only be
    walked again and again). A command that never binds the database (a help, a list, a question to the web server)
    ends before it would matter, and is left paused."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


class Group(click.Group):
    """A group whose commands bind the database when they run (:func:`with_database`), unless declared with
    ``database=False``."""

    def command(self, *args, database: bool = True, **kwargs):
        def decorator(callback):
            return super(Group, self).command(*args, **kwargs)(with_database(callback) if database else callback)

        return decorator


class CommandUsageError(click.ClickException):
    """A mistake in what was typed: one line on standard error, exit status 2."""

    exit_code = 2


class QuarantinedRefusal(click.ClickException):
    """A movement refused because its customer is quarantined: the refusal on standard error, exit status 2."""

    exit_code = 2


class CannotAsk(click.ClickException):
    """The health check could not be asked, or gave no answer to read: exit status 2."""

    exit_code = 2


BY_ADMIN = click.option("--user", "email", required=True, metavar="EMAIL", help="The admin who does it (recorded).")

VALUE_DATE = click.option(
    "--value-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The business date, YYYY-MM-DD (default: today in the installation's time zone; never after today).",
)


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


def _day(value_date):
    return value_date.date() if value_date is not None else None


def _console():
    """Rich output; wide when it goes to a file or a pipe, so no column is cut."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def _local_address(bind: str) -> str:
    """The address of the server BACKOFFICE_WEB_BIND makes, on this machine (a wildcard host is this machine)."""
    if bind.startswith(("unix:", "fd://")):
        raise CannotAsk(f"BACKOFFICE_WEB_BIND={bind!r} is not a TCP address: give the server's address with --url.")
    host, _, port = bind.rpartition(":")
    if not port.isdigit():  # a host alone: gunicorn's port
        host, port = bind, "8000"
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}"
