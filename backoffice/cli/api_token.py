"""``backoffice api-token``: the operations API's bearer token, and how to call the API with it."""

from __future__ import annotations

import os
import shutil
import sys

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import CannotAsk, Command, _local_address, option, speaking


@click.command(
    "api-token",
    cls=Command,
    help=_l(
        "Print the bearer token of the operations API, /metrics and 'backoffice health', and how to call them: "
        "BACKOFFICE_API_TOKEN, or outside production the one made once into the instance folder."
    ),
)
@option("--url", metavar="URL", help=_l("The server's address (default: http:// and BACKOFFICE_WEB_BIND)."))
@speaking
def api_token(url: str | None) -> None:
    token = current_app.config["API_TOKEN"]
    if not token:
        raise CannotAsk(
            _("BACKOFFICE_API_TOKEN is not set: the operations API, /metrics and the health check are off.")
        )
    base = (url or _local_address(current_app.config["WEB_BIND"])).rstrip("/")
    if current_app.config["API_TOKEN_FILE"] is None:
        kept = "BACKOFFICE_API_TOKEN"
    else:
        kept = _("kept in %(file)s, the same at every start", file=current_app.config["API_TOKEN_FILE"])
    click.echo(_("API token (%(kept)s): %(token)s", kept=kept, token=token))
    click.echo("  " + _("Health check: %(command)s", command=f"{_program()} health --url {base}"))
    click.echo("  " + _("Metrics: %(command)s", command=f'curl -H "Authorization: Bearer {token}" {base}/metrics'))


def _program() -> str:
    """How this command was called: ``backoffice`` when that is what the PATH finds, else the path it was run by
    (``.venv/bin/backoffice`` under ``make run``)."""
    called = sys.argv[0]
    found = shutil.which("backoffice")
    return "backoffice" if found and os.path.realpath(found) == os.path.realpath(called) else called
