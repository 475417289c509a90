"""Every request gets an id and every answer a log line: method, path, status, duration, request id and user.

The id is the caller's ``X-Request-ID`` when it is a plausible one (a proxy in front sets it), else a new one. The
answer gives it back in ``X-Request-ID``; every line written while answering carries it (see
:mod:`backoffice.platform.logs`), and so do the API's errors and the page of a failure: the reference a clerk or an API
caller quotes finds the request's lines in the log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from functools import partial
from urllib.parse import quote

from flask import Flask, g, request

HEADER = "X-Request-ID"
ACCEPTED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
"""What a given id may be: UUIDs, hex, a load balancer's trace ids; never spaces, quotes or control characters
that would forge or break a log line."""
PATH_AS_IS = "/;:@&=+$,!~*'()-._"
"""What a path's line shows as it is; anything else (a space, a line break, a non-ASCII letter) percent-encoded, as
it came on the wire: a path decoded from ``%0A`` would otherwise start a forged line of its own."""

log = logging.getLogger("backoffice.requests")


def init_app(app: Flask) -> None:
    # First of the request hooks, so that a request another hook answers early has its id too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)


def request_id() -> str | None:
    return g.get("request_id")


def started() -> float | None:  # float-ok: the performance counter's seconds
    """When the request began (``time.perf_counter``): the clock of its log line and of its latency's sample."""
    return g.get("request_clock")


def identify(user: str) -> None:
    """Name who makes the request, for its log line (read when the user is loaded: at the end of the request the
    user's row may be expired, and the database away)."""
    g.request_user = user


def _start() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_clock = time.perf_counter()


def _finish(response):
    request_id = g.get("request_id")
    if request_id is None:
        return response
    response.headers[HEADER] = request_id
    line = partial(
        _log_line,
        started=g.request_clock,
        method=request.method,
        path=quote(request.path, safe=PATH_AS_IS),
        status=response.status_code,
        user=g.get("request_user", "-"),
        request_id=request_id,
    )
    if response.is_streamed:
        # An export's time is the time to send it all: its line is written once the server has.
        response.call_on_close(line)
    else:
        line()
    return response


def _log_line(*, started: float, method: str, path: str, status: int, user: str, request_id: str) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)  # float-ok: milliseconds
    log.info(
        "%s %s %s %.1f ms %s",
        method,
        path,
        status,
        duration_ms,
        user,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "user": user,
            "request_id": request_id,
        },
    )
