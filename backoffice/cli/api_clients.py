"""``backoffice api-client``: the clients of the API under ``/api/v1``, each with a token of its own."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.table import Table

from backoffice.cli.common import BY_ADMIN, CommandError, CommandUsageError, Group, _admin, _console


@click.group("api-client", cls=Group, help=_l("Issue, list and revoke the tokens of the systems that call the API."))
def api_client() -> None:
    pass


@api_client.command("issue", help=_l("Issue a token to a new client named NAME; the token is printed this once."))
@click.argument("name")
@BY_ADMIN
def issue(name: str, email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import api_clients

    user = _admin(email, _l("%(email)s is not an admin: only an admin issues an API client's token."))
    try:
        client, token = api_clients.issue(name, by=user)
    except api_clients.ApiClientError as error:
        raise CommandUsageError(str(error)) from None
    click.echo(_("API client %(name)s issued. Its token, shown this once (it is kept nowhere):", name=client.name))
    click.echo(token)


@api_client.command("list", help=_l("List the clients, with their token's first characters and when each last called."))
def list_clients() -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import api_clients

    table = Table(_("name"), _("token"), _("issued"), _("last used"), _("state"), box=None)
    for client in api_clients.clients():
        table.add_row(
            client.name,
            f"{client.token_prefix}…",
            _when(client.issued_at),
            _when(client.last_used_at) if client.last_used_at else _("never"),
            _("revoked %(moment)s", moment=_when(client.revoked_at)) if client.revoked else _("in use"),
        )
    _console().print(table)


@api_client.command("revoke", help=_l("Revoke the token of the client named NAME: its next call is refused."))
@click.argument("name")
@BY_ADMIN
def revoke(name: str, email: str) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services import api_clients

    user = _admin(email, _l("%(email)s is not an admin: only an admin revokes an API client's token."))
    try:
        found = api_clients.by_name(name)
    except api_clients.ApiClientError as error:
        raise CommandUsageError(str(error)) from None
    try:
        client = api_clients.revoke(found.id, by=user)
    except api_clients.ApiClientError as error:
        raise CommandError(str(error)) from None
    click.echo(_("API client %(name)s revoked: its token is refused from its next call.", name=client.name))


def _when(moment: datetime) -> str:
    """A moment in the installation's time zone, to the minute."""
    return f"{moment.astimezone(ZoneInfo(current_app.config['TIMEZONE'])):%Y-%m-%d %H:%M}"
