"""``backoffice health``: the running web server asked whether the balances can be trusted, in the installation's
language (``Accept-Language``), so that what the server says and what the command says are in one language."""

from __future__ import annotations

import json
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import CannotAsk, Command, _local_address, option, speaking

HEALTH_PATH = "/admin/balance-health/check"


@click.command(
    "health",
    cls=Command,
    help=_l(
        "Ask the running web server whether the balances can be trusted (an orchestrator's health check): exit 0 "
        "when they can, 1 when the server says they cannot (with its reasons), 2 when it cannot be asked (not "
        "reachable, the API token refused, an answer that is not the health check's)."
    ),
)
@option("--url", metavar="URL", help=_l("The server's address (default: http:// and BACKOFFICE_WEB_BIND)."))
@option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10,
    show_default=True,
    metavar="SECONDS",
    help=_l("How long to wait for the answer."),
)
@speaking
def health(url: str | None, timeout: float) -> None:  # float-ok: seconds
    token = current_app.config["API_TOKEN"]
    if not token:
        raise CannotAsk(_("BACKOFFICE_API_TOKEN is not set: the health check is asked with the API's bearer token."))
    base = url or _local_address(current_app.config["WEB_BIND"])
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise CannotAsk(
            _("%(address)s is not an http:// or https:// address (e.g. http://127.0.0.1:8000).", address=repr(base))
        )
    address = base.rstrip("/") + HEALTH_PATH
    status, answer = _ask(address, token, timeout, current_app.config["LANGUAGE"])
    if status != 200:
        said = {"address": address, "status": status, "message": answer.get("message", "")}
        if status >= 500:
            refusal = _("%(address)s failed with HTTP %(status)s: %(message)s", **said)
        else:
            refusal = _("%(address)s refused the health check with HTTP %(status)s: %(message)s", **said)
        if answer.get("request_id"):
            refusal = _("%(refusal)s (request id %(id)s)", refusal=refusal, id=answer["request_id"])
        raise CannotAsk(refusal)
    if not isinstance(answer.get("balance_status"), bool):
        raise CannotAsk(_("%(address)s answered without a balance_status: is it the back-office?", address=address))
    data = answer.get("data", {})
    if answer["balance_status"]:
        click.echo(_("Healthy: the balances can be trusted."))
    else:
        click.echo(_("Unhealthy: the balances cannot be trusted now."))
        for reason in data.get("reasons", []):
            click.echo(f"  - {reason}")
    replica = data.get("replica") or {}
    if replica.get("state", "none") != "none":  # a replica set: where the reads go, and why
        click.echo(replica.get("said", ""))
    if not answer["balance_status"]:
        click.get_current_context().exit(1)


def _ask(address: str, token: str, timeout: float, language: str) -> tuple[int, dict]:  # float-ok: seconds
    """The HTTP status and the JSON object the server answered, in ``language``."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "Accept-Language": language}
    request = Request(address, headers=headers)
    try:
        with urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except HTTPError as error:
        status, body = error.code, error.read()
    except (URLError, OSError, HTTPException) as error:
        raise CannotAsk(_("Cannot reach %(address)s: %(reason)s.", address=address, reason=_why(error))) from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CannotAsk(
            _(
                "%(address)s answered HTTP %(status)s with something other than a JSON object.",
                address=address,
                status=status,
            )
        )
    return status, answer


def _why(error: Exception) -> str:
    """Why the server could not be reached, in the command's language where it is one of the usual reasons (the
    system's own words otherwise)."""
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, ConnectionRefusedError):
        return _("Connection refused")
    if isinstance(reason, TimeoutError):
        return _("no answer in time")
    return str(reason)
