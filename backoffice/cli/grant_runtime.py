"""``backoffice db grant-runtime``: the runtime role's privileges, beside Flask-Migrate's ``db`` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import Command, CommandError, speaking
from backoffice.platform.extensions import db
from backoffice.platform.money import keep_unit
from backoffice.platform.runtime_role import RoleRefused, grant_runtime


@click.command(
    "grant-runtime",
    cls=Command,
    help=_l(
        "Grant ROLE, an existing PostgreSQL role, what the running application needs and nothing more: no ownership, "
        "no TRUNCATE, no UPDATE or DELETE of the append-only tables, no DDL. Run it as the database's owner "
        "(DATABASE_URL), after every migration; running it again changes nothing. It also has the database hold "
        "amounts in the currency's unit the settings name (BACKOFFICE_CURRENCY_PLACES)."
    ),
)
@click.argument("role")
@speaking
def grant_runtime_command(role: str) -> None:
    try:
        with db.engine.begin() as connection:
            grant = grant_runtime(connection, role)
            keep_unit(connection, current_app.config["CURRENCY_PLACES"])
    except RoleRefused as error:
        raise CommandError(_("%(refusal)s Nothing was granted.", refusal=error)) from None
    click.echo(
        _(
            "Granted %(role)s the runtime privileges in %(database)s (schema %(schema)s):",
            role=role,
            database=grant.database,
            schema=grant.schema,
        )
    )
    for line in grant.summary():
        click.echo(f"  {line}")
