"""The ``backoffice`` command: its root group, bound to the app, and ``main()``, the console script."""

from __future__ import annotations

import gc
import sys
from functools import partial
from importlib import metadata

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo
from flask_babel import lazy_gettext as _l

from backoffice.app import create_app, register_migrations
from backoffice.cli.common import CommandUsageError, SpokenHelp, installation_language, started

WEB_COMMANDS = frozenset({"run", "routes", "shell", "limiter"})
"""The commands that serve or show the web layer (Flask's, and Flask-Limiter's ``limiter``); every other command's
app is built without it."""


class _Commands(SpokenHelp, FlaskGroup):
    """Flask's commands and the app's, with Flask-Migrate's ``db`` bound to the app only when it is asked for, and
    the plugins' commands (Flask-Limiter's ``limiter``) imported only when they are: Flask would import them all
    before any command runs, and ``limiter`` imports the rate limits' storages and Rich, a twentieth of a second.
    Its help is in the installation's language (:class:`~backoffice.cli.common.SpokenHelp`), as the app's commands'
    are; Flask's options and commands, and the plugins', describe themselves in English."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._plugins = {entry.name: entry for entry in metadata.entry_points(group="flask.commands")}
        self._loaded_plugin_commands = True  # Flask's own loading of them, done here by name

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "db", *self._plugins})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "db":
            register_migrations(ctx.ensure_object(ScriptInfo).load_app())
            started()
        if name in self._plugins and name not in self.commands:
            self.add_command(self._plugins[name].load(), name)
        return super().get_command(ctx, name)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        """The command's context, refused when an argument is not UTF-8 text: Python keeps the bytes it could not
        decode as stand-ins that no database, file or terminal takes (a code, a name, a path typed in another
        encoding), and the command would fail wherever it first used it."""
        ctx = super().make_context(info_name, args, parent, **extra)
        if unreadable := [argument for argument in args if not _utf8(argument)]:
            with ctx:
                _refuse_unreadable(ctx, unreadable[0])
        return ctx


def _create_app() -> Flask:
    """The app for the command being run, with its web layer only for :data:`WEB_COMMANDS`, and the database bound
    only for them: the app's own commands bind it when they run (see ``backoffice.cli.common``), the ``db`` commands
    when they are looked up (see ``backoffice.app.register_migrations``).

    Flask loads the app for Flask's and the plugins' commands when they run, once the command is known; for the
    app's own commands (and ``db``, and the list in ``--help``), while it looks them up, before it is. The
    command's database connections are closed when it ends (see :func:`main`).
    """
    root = click.get_current_context().find_root()
    web = root.invoked_subcommand in WEB_COMMANDS
    app = create_app(web=web, database=web)
    root.call_on_close(partial(_close_connections, app))
    if web:
        started()
    return app


def _utf8(argument: str) -> bool:
    try:
        argument.encode()
    except UnicodeEncodeError:
        return False
    return True


def _refuse_unreadable(ctx: click.Context, argument: str) -> None:
    """Refuse ``argument`` in the installation's language, each byte of it that is not UTF-8 written as ``\\xff``."""
    from flask_babel import gettext as _

    shown = argument.encode(errors="surrogateescape").decode(errors="backslashreplace")
    with installation_language(ctx):
        raise CommandUsageError(
            _(
                "The argument '%(argument)s' is not UTF-8 text: type it again from a terminal that writes UTF-8, or "
                "give it in UTF-8 from the script.",
                argument=shown,
            )
        )


def _close_connections(app: Flask) -> None:
    if "sqlalchemy" not in app.extensions:
        return
    from backoffice.platform.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@click.group(cls=_Commands, create_app=_create_app, help=_l("Run and administer the back-office."))
def cli() -> None:
    pass


def main() -> None:
    # Python's collector is paused while the command starts, until its app and database are built (see
    # backoffice.cli.common.started): what is built then is kept to the end, and each collection would walk all of it
    # again as it grows (a fifth of a short command's CPU time).
    gc.disable()
    from backoffice.platform.config import ConfigError  # Babel and the settings: imported once paused

    try:
        cli.main(prog_name="backoffice")
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    finally:
        # The process ends here, its connections closed: what the libraries and the app built is left for it to
        # free rather than walked by Python's last garbage collections, about a third of a short command's CPU time.
        gc.freeze()
