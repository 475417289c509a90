"""``backoffice health``: the running web server asked whether the balances can be trusted."""

from __future__ import annotations

import json

import click
from flask import current_app

from backoffice.cli.common import CannotAsk, _local_address

HEALTH_PATH = "/admin/balance-health/check"


@click.command(
    "health",
    help=(
        "Ask the running web server whether the balances can be trusted (an orchestrator's health check): exit 0 "
        "when they can, 1 when the server says they cannot (with its reasons), 2 when it cannot be asked (not "
        "reachable, the API token refused, an answer that is not the health check's)."
    ),
)
@click.option("--url", metavar="URL", help="The server's address (default: http:// and BACKOFFICE_WEB_BIND).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the answer.",
)
def health(url: str | None, timeout: float) -> None:  # float-ok: seconds
    import os
    from urllib.parse import urlsplit

    from backoffice.config import web_server

    token = current_app.config["API_TOKEN"]
    if not token:
        raise CannotAsk("BACKOFFICE_API_TOKEN is not set: the health check is asked with the API's bearer token.")
    base = url or _local_address(web_server(os.environ)["bind"])
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).netloc:
        raise CannotAsk(f"{base!r} is not an http:// or https:// address (e.g. http://127.0.0.1:8000).")
    address = base.rstrip("/") + HEALTH_PATH
    status, answer = _ask(address, token, timeout)
    if status != 200:
        request_id = f" (request id {answer['request_id']})" if answer.get("request_id") else ""
        refused = "failed" if status >= 500 else "refused the health check"
        raise CannotAsk(f"{address} {refused} with HTTP {status}: {answer.get('message', '')}{request_id}")
    if not isinstance(answer.get("balance_status"), bool):
        raise CannotAsk(f"{address} answered without a balance_status: is it the back-office?")
    if answer["balance_status"]:
        click.echo("Healthy: the balances can be trusted.")
        return
    click.echo("Unhealthy: the balances cannot be trusted now.")
    for reason in answer.get("data", {}).get("reasons", []):
        click.echo(f"  - {reason}")
    click.get_current_context().exit(1)


def _ask(address: str, token: str, timeout: float) -> tuple[int, dict]:  # float-ok: seconds
    """The HTTP status and the JSON object the server answered."""
    from http.client import HTTPException
    from urllib.error import HTTPError, URLError
    from urllib.request import Request, urlopen

    request = Request(address, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except HTTPError as error:
        status, body = error.code, error.read()
    except (URLError, OSError, HTTPException) as error:
        raise CannotAsk(f"Cannot reach {address}: {getattr(error, 'reason', None) or error}.") from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CannotAsk(f"{address} answered HTTP {status} with something other than a JSON object.")
    return status, answer
