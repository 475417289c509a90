"""What several groups of the ``backoffice`` command share: their group, the language they speak, errors, options,
the acting admin, the console.

A command speaks the installation's language (``BACKOFFICE_LANGUAGE``) from its start to its end (:func:`speaking`):
its messages, its tables' headings, the services' refusals and what it asks the web server for; its log lines
stay English, as every log line does. Its help speaks it too (:class:`SpokenHelp`): the descriptions and the options'
help, declared as lazy texts (``_l``) and said when the help is shown. Click's own words (``Usage:``, ``Options:``,
``Aborted!``, an unknown option) stay English."""

from __future__ import annotations

import gc
from contextlib import ExitStack, contextmanager
from functools import update_wrapper

import click
from flask import current_app, has_app_context
from flask.cli import ScriptInfo
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from backoffice.platform.extensions import db
from backoffice.platform.switchover import SWITCHING_OVER, end_session, switching_over


def with_database(callback):
    """The command binds the database to the app when it runs (see :mod:`backoffice.services.listeners`): not when it is
    looked up, nor asked for its help. Its start-up ends there (:func:`started`). A movement it asks for that is
    refused because its customer is quarantined ends it with the refusal (:class:`QuarantinedRefusal`); a database
    lost or not the primary, with :class:`SwitchingOver`. The command ends its transaction itself (see
    :func:`backoffice.platform.switchover.end_session`)."""

    def bound(*args, **kwargs):
        # Imported when the command runs: its help, and the commands that read no database, declare no model.
        from backoffice.evidence.quarantine import Quarantined
        from backoffice.services.listeners import bind

        bind(current_app._get_current_object())
        started()
        try:
            return callback(*args, **kwargs)
        except Quarantined as refused:
            raise QuarantinedRefusal(str(refused)) from None
        except DBAPIError as error:
            if switching_over(error) and current_app.config.get("DATABASE_EMBEDDED"):
                raise EmbeddedNotRunning() from None
            if switching_over(error):
                raise SwitchingOver() from None
            raise
        finally:
            # What the command said stands, whatever became of the database since: its transaction ends here, and a
            # connection lost meanwhile is let go (Flask-SQLAlchemy then finds nothing to roll back).
            end_session(db.session.rollback)

    return update_wrapper(bound, callback)


def started() -> None:
    """The command has started: Python's collector, paused by ``backoffice.command.main`` while the libraries, the app
    and its database were built, resumes, without what they built (kept to the end of the process, it would only be
    walked again and again). A command that never binds the database (a help, a list, a question to the web server)
    ends before it would matter, and is left paused."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def speaking(callback):
    """The command speaks the installation's language while it runs: Flask-Babel's locale is forced to it, so every
    ``_()`` it says, its own and the services', comes out in it."""

    def spoken(*args, **kwargs):
        with force_locale(current_app.config["LANGUAGE"]):
            return callback(*args, **kwargs)

    return update_wrapper(spoken, callback)


@contextmanager
def installation_language(ctx: click.Context):
    """Flask-Babel's locale forced to the installation's language, in the context of the command's app: the one
    Flask's :class:`~flask.cli.ScriptInfo` loads once for the whole command (built, its database not bound), pushed
    when it is not the current app. Without an app to ask (a command run on its own), nothing is forced."""
    info = ctx.find_object(ScriptInfo)
    if info is not None:
        app = info.load_app()
    elif has_app_context():
        app = current_app._get_current_object()
    else:
        yield
        return
    with ExitStack() as stack:
        if not has_app_context() or current_app._get_current_object() is not app:
            stack.enter_context(app.app_context())
        stack.enter_context(force_locale(app.config["LANGUAGE"]))
        yield


class SpokenHelp:
    """A command whose help is in the installation's language (:func:`installation_language`): its description, its
    options' help and, for a group, its commands' short descriptions, each a lazy text (``_l``) said when the help is
    shown. Its options are declared with :func:`option`, which keeps their help lazy."""

    def get_help(self, ctx: click.Context) -> str:
        with installation_language(ctx):
            return super().get_help(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        # The short description a group's help lists, shown while the group's context is the current one.
        ctx = click.get_current_context(silent=True)
        if ctx is None:
            return super().get_short_help_str(limit)
        with installation_language(ctx):
            return super().get_short_help_str(limit)


class Command(SpokenHelp, click.Command):
    """A command whose help is in the installation's language (:class:`SpokenHelp`)."""


class Option(click.Option):
    """An option whose help stays the lazy text it is declared with (``_l``), said in the language its command's help
    is shown in: click would make it a ``str`` as the option is declared, in no language but English."""

    def __init__(self, *param_decls, **attrs) -> None:
        lazy = attrs.pop("help", None)
        super().__init__(*param_decls, **attrs)
        self.help = lazy

    @property
    def help(self) -> str | None:
        return None if self._help is None else str(self._help)

    @help.setter
    def help(self, text) -> None:
        self._help = text


def option(*param_decls: str, **attrs):
    """``click.option``, of an :class:`Option`: its help said in the language the help is shown in."""
    return click.option(*param_decls, cls=Option, **attrs)


class Group(SpokenHelp, click.Group):
    """A group whose commands speak the installation's language (:func:`speaking`), their help too
    (:class:`SpokenHelp`), and bind the database when they run (:func:`with_database`), unless declared with
    ``database=False``."""

    command_class = Command

    def command(self, *args, database: bool = True, **kwargs):
        def decorator(callback):
            bound = with_database(callback) if database else callback
            return super(Group, self).command(*args, **kwargs)(speaking(bound))

        return decorator


class CommandError(click.ClickException):
    """A refusal: one line on standard error, "Error: …" and all in the command's language, exit status 1.

    The line is said when the error is raised, while the command speaks its language: click shows it once the
    command has ended."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.line = _("Error: %(message)s", message=message)

    def show(self, file=None) -> None:
        click.echo(self.line, file=file, err=True)


class CommandUsageError(CommandError):
    """A mistake in what was typed: one line on standard error, exit status 2."""

    exit_code = 2


class QuarantinedRefusal(CommandError):
    """A movement refused because its customer is quarantined: the refusal on standard error, exit status 2."""

    exit_code = 2


class SwitchingOver(CommandError):
    """The database was lost, or is not the primary, while the command ran (a switch-over under way): the sentence the
    screens say on standard error, exit status 75 (``EX_TEMPFAIL``: try again). What the command wrote was kept
    whole or not at all; run again with the same ``--idempotency-key``, a movement is posted once."""

    exit_code = 75

    def __init__(self) -> None:
        super().__init__(str(SWITCHING_OVER))


class EmbeddedNotRunning(CommandError):
    """No ``DATABASE_URL`` is set and the embedded PostgreSQL, the database then, cannot be reached: what to run,
    on standard error, exit status 75 (``EX_TEMPFAIL``: try again once it runs)."""

    exit_code = 75

    def __init__(self) -> None:
        super().__init__(
            _(
                "The database cannot be reached: DATABASE_URL is not set, and the embedded PostgreSQL is not running. "
                "Start it with 'backoffice embedded start' (make run does), or set DATABASE_URL to a PostgreSQL "
                "server's URL."
            )
        )


class CannotAsk(CommandError):
    """What the command asks could not be asked (the health check, a restored database that cannot be reached), or
    gave no answer to read: exit status 2."""

    exit_code = 2


BY_ADMIN = option("--user", "email", required=True, metavar="EMAIL", help=_l("The admin who does it (recorded)."))

VALUE_DATE = option(
    "--value-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help=_l("The business date, YYYY-MM-DD (default: today in the installation's time zone; never after today)."),
)


def _admin(email: str, refusal):
    """The active admin ``email``, who does what the command does (recorded where the record keeps who); anyone
    else is refused with ``refusal`` (a lazy text naming them as ``%(email)s``)."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import User
    from backoffice.models.users import normal_email

    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None or not user.is_active:
        raise CommandUsageError(_("No active user %(email)s.", email=email))
    if not user.is_admin:
        raise CommandError(str(refusal) % {"email": user.email})
    return user


def _day(value_date):
    return value_date.date() if value_date is not None else None


def _console():
    """Rich output; wide when it goes to a file or a pipe, so no column is cut."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _local_address(bind: str) -> str:
    """The address of the server BACKOFFICE_WEB_BIND makes, on this machine (a wildcard host is this machine)."""
    if bind.startswith(("unix:", "fd://")):
        raise CannotAsk(
            _(
                "BACKOFFICE_WEB_BIND=%(bind)s is not a TCP address: give the server's address with --url.",
                bind=repr(bind),
            )
        )
    host, _colon, port = bind.rpartition(":")
    if not port.isdigit():  # a host alone: gunicorn's port
        host, port = bind, "8000"
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
    return f"http://{host}:{port}"
