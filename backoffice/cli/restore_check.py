"""``backoffice db restore-check URL``: whether a restored database can be trusted before it serves, beside
Flask-Migrate's ``db`` commands (what it finds, and why: :mod:`backoffice.operations.restore`)."""

from __future__ import annotations

import secrets
import sys

import click
from alembic.script import ScriptDirectory
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from backoffice.cli.common import CannotAsk, Command, CommandError, CommandUsageError, _console, option, speaking
from backoffice.cli.reconcile import print_run
from backoffice.platform.databases import database_url
from backoffice.platform.extensions import db
from backoffice.services import rehearsal

ON_ANOTHER_DATABASE = "backoffice.on_another_database"
"""The app's extension that builds an app of its settings on another database (``backoffice.app`` registers it with
the ``db`` commands): the command checks the restored database through it."""

CONNECT_TIMEOUT = 10
"""Seconds to wait for a database's server (the restored one's, or the installation's when asked whether they are one)
before taking it as unreachable (unless its URL says)."""


@click.command(
    "restore-check",
    cls=Command,
    help=_l(
        "Check URL, a restored PostgreSQL database, before it serves: its schema at the migrations' head, the "
        "runtime role's privileges as grant-runtime grants them, the seal key's fingerprint this installation's "
        "key's, and every reconciliation check clean (a verify run, in a transaction rolled back at its end). "
        "Nothing is written to URL. When URL is the database DATABASE_URL names, it asks first. Exits 0 when all is "
        "well, 1 naming what is wrong, 2 when URL cannot be checked."
    ),
)
@click.argument("url")
@option(
    "--role",
    metavar="ROLE",
    help=_l("The runtime role whose privileges to check (default: BACKOFFICE_RUNTIME_ROLE; neither: not checked)."),
)
@option("--yes", is_flag=True, help=_l("Do not ask, when URL is the database this installation serves."))
@speaking
def restore_check_command(url: str, role: str | None, yes: bool) -> None:
    target = _postgresql(url)
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    role = role or current_app.config["RUNTIME_ROLE"]
    language = current_app.config["LANGUAGE"]
    served = db.engine.url
    # The restored database alone: no replica of the installation's, no anchors folder (see chain_proof.broken).
    restored = current_app.extensions[ON_ANOTHER_DATABASE](
        target.render_as_string(hide_password=False),
        ANCHORS_FOLDER=None,
        READ_DATABASE_URL=None,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(target),
    )
    with restored.app_context(), force_locale(language):
        try:
            _reach(target)
            if not yes and _serves(served):
                _confirm(target)
            with rehearsal():
                _report(target, _examined(target, script, role))
        finally:
            db.session.remove()
            db.engine.dispose()


def _postgresql(url: str):
    """The URL, read; a mistake in it, or a database other than PostgreSQL, is refused before anything is opened."""
    try:
        target = make_url(database_url(url))
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        raise CommandUsageError(
            _("%(url)s is not a database URL (e.g. postgresql://owner@host:5432/restored).", url=repr(url))
        ) from None
    if target.get_backend_name() != "postgresql":
        raise CommandUsageError(
            _(
                "restore-check checks a PostgreSQL database; %(url)s is a %(dialect)s URL.",
                url=_shown(target),
                dialect=target.get_backend_name(),
            )
        )
    if target.get_driver_name() != "psycopg":
        raise CommandUsageError(
            _(
                "restore-check reads PostgreSQL with psycopg 3, not %(driver)s: write the URL as %(url)s.",
                driver=target.get_driver_name(),
                url=_shown(target),
            )
        )
    return target


def _engine_options(target) -> dict:
    if "connect_timeout" in target.query:
        return {}
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}


def _reach(target) -> None:
    try:
        with db.engine.connect():
            pass
    except DBAPIError as error:
        reason = _first_line(error).removeprefix("connection failed: ")
        raise CannotAsk(_("Cannot connect to %(url)s: %(reason)s", url=_shown(target), reason=reason)) from None


def _serves(served) -> bool:
    """Whether the database checked is the one at ``served`` (the URL of this installation's), however the two URLs
    are written: a connection to it, named with a name drawn for it, is among those the checked database's server
    lists as its own. A database that cannot be reached from here is not the one checked, which was."""
    name = f"backoffice restore-check {secrets.token_hex(8)}"
    engine = create_engine(served, poolclass=NullPool, **_engine_options(served))
    try:
        with engine.connect() as serving:
            serving.execute(text("SELECT set_config('application_name', :name, true)"), {"name": name})
            with db.engine.connect() as checked:
                listed = "SELECT FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"
                return checked.scalar(text(f"SELECT EXISTS ({listed})"), {"name": name})
    except DBAPIError:
        return False
    finally:
        engine.dispose()


def _confirm(target) -> None:
    """The database this installation serves is checked only when asked for: at a terminal, asked; elsewhere, with
    ``--yes`` (a script that meant a restored copy named the live database)."""
    if not sys.stdin.isatty():
        raise CommandUsageError(
            _(
                "%(url)s is the database this installation serves (DATABASE_URL), not a restored copy: give --yes to "
                "check it all the same.",
                url=_shown(target),
            )
        )
    click.confirm(
        _(
            "%(url)s is the database this installation serves (DATABASE_URL), not a restored copy. Check it all the "
            "same?",
            url=_shown(target),
        ),
        abort=True,
    )


def _examined(target, script, role):
    """The findings; a database the URL's role may not read (its catalogue, its tables) cannot be checked."""
    # The checks and the models, for this command alone: not with every db command (a migration, say).
    from backoffice.operations.restore import examine

    try:
        return examine(script, role)
    except DBAPIError as error:
        raise CannotAsk(_("Cannot check %(url)s: %(reason)s", url=_shown(target), reason=_first_line(error))) from None


VERDICTS = {"ok": _l("ok"), "wrong": _l("WRONG"), "skipped": _l("skipped")}


def _report(target, findings) -> None:
    """A line per finding; the checks' run in full when it found mismatches; then the verdict, or the refusal naming
    what is wrong."""
    # The checks and the models, for this command alone: not with every db command (a migration, say).
    from backoffice.operations.restore import Verdict

    click.echo(_("Restored database %(url)s:", url=_shown(target)))
    width = max(len(str(word)) for word in VERDICTS.values())
    for finding in findings:
        click.echo(f"  {str(VERDICTS[finding.verdict]):<{width}}  {finding.named}: {finding.said}")
    wrong = [finding for finding in findings if finding.verdict is Verdict.WRONG]
    for finding in wrong:
        if finding.run is not None:
            print_run(_console(), finding.run, None)
    if wrong:
        raise CommandError(
            _(
                "The restored database is not ready to serve: %(wrong)s.",
                wrong=", ".join(finding.named for finding in wrong),
            )
        )
    click.echo(_("The restored database is ready to serve."))


def _shown(target) -> str:
    """The URL as it is written, its password hidden."""
    return target.set(drivername=target.get_backend_name()).render_as_string(hide_password=True)


def _first_line(error) -> str:
    """The driver's message, without SQLAlchemy's statement and link."""
    return str(error.orig or error).strip().splitlines()[0]
