"""``backoffice demo-data``: demonstration data."""

from __future__ import annotations

import click
from flask import current_app

from backoffice.cli.common import with_database


@click.command("demo-data", help="Load demonstration data (running it again adds nothing).")
@with_database
def demo_data() -> None:
    from backoffice import demo

    if current_app.config["BACKOFFICE_ENV"] == "production":
        raise click.ClickException("Demo data has well-known passwords; it is not loaded in production.")
    added = demo.load()
    click.echo("Demo data: " + ", ".join(f"{count} {name} added" for name, count in added.items()) + ".")
    click.echo("Log in at http://127.0.0.1:5000/login as one of:")
    for email, password, role in demo.LOGINS:
        click.echo(f"  {email:<26} password {password:<20} ({role.value})")
