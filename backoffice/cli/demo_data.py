"""``backoffice demo-data``: demonstration data."""

from __future__ import annotations

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import Command, CommandError, option, speaking, with_database

KINDS = {
    "users": _l("users"),
    "account managers": _l("account managers"),
    "customers": _l("customers"),
    "orders": _l("orders"),
    "targets": _l("targets"),
    "wallet movements": _l("wallet movements"),
    "meters": _l("meters"),
    "invoices": _l("invoices"),
    "readings": _l("readings"),
}
"""What ``demo.load`` counts, in the command's words."""


@click.command("demo-data", cls=Command, help=_l("Load demonstration data (running it again adds nothing)."))
@option(
    "--url",
    metavar="URL",
    default="http://127.0.0.1:5000",
    show_default=True,
    help=_l("The address the server will answer on, where the accounts log in."),
)
@option(
    "--serving",
    is_flag=True,
    help=_l("The server starts next (make run): end with where it answers and how to stop it."),
)
@speaking
@with_database
def demo_data(url: str, serving: bool) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import demo

    if current_app.config["BACKOFFICE_ENV"] == "production":
        raise CommandError(_("Demo data has well-known passwords; it is not loaded in production."))
    added = demo.load()
    counted = ", ".join(
        _("%(count)s %(what)s added", count=count, what=KINDS.get(name, name)) for name, count in added.items()
    )
    click.echo(_("Demo data: %(added)s.", added=counted))
    click.echo(_("Log in at %(address)s as one of:", address=url.rstrip("/") + "/login"))
    for email, password, role in demo.LOGINS:
        click.echo(f"  {email:<26} " + _("password %(password)s", password=f"{password:<20}") + f" ({role.value})")
    if serving:
        click.echo(
            _(
                "Serving on %(address)s — log in with one of the accounts above (Ctrl-C stops).",
                address=url.rstrip("/"),
            )
        )
