"""``backoffice db grant-runtime``: the runtime role's privileges, beside Flask-Migrate's ``db`` commands."""

from __future__ import annotations

import click


@click.command(
    "grant-runtime",
    help="Grant ROLE, an existing PostgreSQL role, what the running application needs and nothing more: no "
    "ownership, no TRUNCATE, no UPDATE or DELETE of the append-only tables, no DDL. Run it as the database's owner "
    "(DATABASE_URL), after every migration; running it again changes nothing.",
)
@click.argument("role")
def grant_runtime_command(role: str) -> None:
    from backoffice.extensions import db
    from backoffice.runtime_role import RoleRefused, grant_runtime

    if db.engine.dialect.name != "postgresql":
        raise click.ClickException(
            f"grant-runtime works on PostgreSQL only; DATABASE_URL is a {db.engine.dialect.name} database."
        )
    try:
        with db.engine.begin() as connection:
            grant = grant_runtime(connection, role)
    except RoleRefused as error:
        raise click.ClickException(f"{error} Nothing was granted.") from None
    click.echo(f"Granted {role} the runtime privileges in {grant.database} (schema {grant.schema}):")
    for line in grant.summary():
        click.echo(f"  {line}")
