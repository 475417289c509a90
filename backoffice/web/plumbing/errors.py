"""Error pages with a message a clerk can act on; stack traces stay in the log.

The operations API (views marked ``api``, and any address under theirs) answers the same errors in JSON, each
with the request's id, which its log lines carry too; the page of a failure (500, 503) shows that id. A database
switching over (see :mod:`backoffice.platform.switchover`) is answered 503 with ``Retry-After``, whatever the request
was doing: what it wrote is rolled back, and the clerk's retry posts once, by the form's idempotency key.
"""

from __future__ import annotations

from contextlib import suppress

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound, default_exceptions
from werkzeug.routing import RequestRedirect

from backoffice.evidence.quarantine import Quarantined
from backoffice.evidence.seals import WrongSealKey
from backoffice.platform.extensions import db
from backoffice.platform.money import BeyondLimit
from backoffice.platform.switchover import RETRY_AFTER_SECONDS, SWITCHING_OVER, end_session, one_line, switching_over
from backoffice.services.vocabulary import CustomerClosed, already_recorded
from backoffice.web.plumbing.request_log import request_id

MESSAGES = {
    400: _l("The request could not be read. Go back and try again."),
    403: _l("Your role does not allow this. Ask an admin if you need it."),
    404: _l("There is nothing at this address. It may have been deleted."),
    405: _l("This page cannot be used that way."),
    409: _l("That cannot be done in the state it is in now. Reload the page to see where things stand."),
    413: _l("What was sent is too large: a file is at most 50 MB. Split it into smaller files."),
}
CSRF_MESSAGE = _l("The form had expired or did not come from this site. Reload the page and submit it again.")
UNAVAILABLE_MESSAGE = _l("The database is unavailable, try again shortly.")
FAILURE_MESSAGE = _l(
    "Something went wrong on our side and has been logged. If it happens again, "
    "give the reference below to whoever looks after the back-office."
)
API_FAILURE_MESSAGE = _l("Something went wrong on our side and has been logged under the request id.")
ERROR_NAMES = (
    _l("Bad Request"),
    _l("Unauthorized"),
    _l("Forbidden"),
    _l("Not Found"),
    _l("Method Not Allowed"),
    _l("Conflict"),
    _l("Unsupported Media Type"),
    _l("Unprocessable Entity"),
    _l("Too Many Requests"),
    _l("Internal Server Error"),
    _l("Service Unavailable"),
)
"""The names of the errors the pages show, as Werkzeug gives them: the error pages' headings translate them."""


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(InternalServerError, _failure)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_failed)
    app.register_error_handler(BeyondLimit, _beyond_limit)
    app.register_error_handler(CustomerClosed, _customer_closed)
    app.register_error_handler(Quarantined, _quarantined)
    app.register_error_handler(WrongSealKey, _wrong_seal_key)
    # Registered after Flask-SQLAlchemy's, so run before it: the session is ended here (see _end_session).
    app.teardown_appcontext(_end_session)


def refuse(code: int, message: str):
    """Answer an error with its message: JSON for the API, the error page for everything else."""
    if _is_api():
        return api_error(code, message)
    return render_template("errors/error.html", error=default_exceptions[code](), message=message), code


def api_error(code: int, message: str, **details):
    """The API's answer to an error: JSON, with the id of the request, which its log lines carry too; the message in
    the request's language (its ``Accept-Language``; an admin session's own choice); ``details``: more to answer
    (the field at fault)."""
    return jsonify(status="error", message=str(message), **details, request_id=request_id()), code


def _csrf_error(error: CSRFError):
    return render_template("errors/error.html", error=error, message=CSRF_MESSAGE), error.code


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    if _is_api():
        response, code = api_error(error.code, MESSAGES.get(error.code) or error.description)
        response.headers.extend(name_value for name_value in error.get_headers() if name_value[0] != "Content-Type")
        return response, code
    if error.code not in MESSAGES:
        return error
    if error.code == 405 and request.method == "GET" and (page := _page_above(request.path)):
        # A form's address, reloaded or typed after the form was refused there: the page the form is on.
        return redirect(page, 303)
    return render_template("errors/error.html", error=error, message=MESSAGES[error.code]), error.code


def _failure(error: InternalServerError):
    """An unexpected exception (Flask has logged it, with the request's id): the id, that finds it in the log."""
    if _is_api():
        return api_error(500, API_FAILURE_MESSAGE)
    return _server_page(error, FAILURE_MESSAGE)


def _database_failed(error: DBAPIError):
    """The database lost or not the primary: 503, the clerk tries again (logged as a warning, without a traceback:
    nothing is wrong with the request). Unavailable otherwise (a lock or a statement timing out): 503 too. Anything
    else the database refused is a failure of the application's, and answered as one (500, the traceback logged)."""
    with suppress(DBAPIError):
        db.session.rollback()
    if switching_over(error):
        current_app.logger.warning("The database is switching over: %s", one_line(error.orig))
        return _retry_later(SWITCHING_OVER)
    if isinstance(error, OperationalError):
        current_app.logger.error("The database is unavailable: %s", error)
        return _retry_later(UNAVAILABLE_MESSAGE)
    if isinstance(error, IntegrityError) and (refusal := already_recorded(error)) is not None:
        # A rule the database holds whatever the door (a source keyed once, a text of one line), met by a writer the
        # service's own check let through: another wrote the same source meanwhile. Nothing was written.
        return refuse(409, str(refusal))
    raise error


def _end_session(_error) -> None:
    """The request's session ended: a database lost since its last statement does not fail the request's answer,
    made already (a page read before, a movement committed before), into a 500 from the server."""
    if (lost := end_session(db.session.remove)) is not None:
        current_app.logger.warning("The database was lost as the request ended: %s", one_line(lost.orig))


def _retry_later(message: str):
    """503 with ``message`` (JSON for the API, a page of its own for everything else), and ``Retry-After``."""
    if _is_api():
        response, code = api_error(503, message)
    else:
        response, code = _server_page(default_exceptions[503](), message), 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, code


def _server_page(error: HTTPException, message: str) -> Response:
    """A page of its own, with nothing read from the database, not even who is logged in: the database may be
    what failed. Rendered without the context processors, which would load the logged-in user."""
    page = current_app.jinja_env.get_template("errors/server.html").render(
        error=error, message=message, request_id=request_id()
    )
    return Response(page, error.code, mimetype="text/html")


def _beyond_limit(error: BeyondLimit):
    return refuse(422, str(error))


def _page_above(path: str) -> str | None:
    """The nearest address above ``path`` that shows a page (``/customers/C1`` above ``/customers/C1/recharge``);
    none for an action of the site's own (``/logout``)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    parts = path.rstrip("/").split("/")
    for end in range(len(parts) - 1, 1, -1):
        above = "/".join(parts[:end])
        try:
            adapter.match(above, method="GET")
        except HTTPException:
            continue
        except RequestRedirect as moved:
            return moved.new_url
        return above
    return None


def _customer_closed(error: CustomerClosed):
    """A movement the posting core refused because its customer was closed meanwhile (the screens refuse it
    under the field first)."""
    return refuse(409, str(error))


def _quarantined(error: Quarantined):
    """A movement refused because its customer is quarantined, whichever screen asked for it (a charge, a reading, its
    correction, a pricing): what the request wrote before the refusal is undone."""
    db.session.rollback()
    return refuse(422, str(error))


def _wrong_seal_key(error: WrongSealKey):
    """The application runs with another seal key than the evidence's: nothing is verified or reviewed under it."""
    db.session.rollback()
    current_app.logger.error("%s", error)
    return refuse(503, str(error))


def _is_api() -> bool:
    """The request is the API's: its view is, or, asked with a method the view does not take, the view it names;
    or, matching no view, its address is under one of the API's (``/admin/jobs/…``)."""
    endpoint = request.endpoint
    refused = request.routing_exception
    if endpoint is None and isinstance(refused, MethodNotAllowed) and refused.valid_methods:
        endpoint, _arguments = current_app.url_map.bind_to_environ(request.environ).match(
            method=refused.valid_methods[0]
        )
    if endpoint is None and isinstance(refused, NotFound):
        return request.path.startswith(_api_folders())
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return bool(getattr(view, "api", False))


def _api_folders() -> tuple[str, ...]:
    """The folders of the API's addresses (``/admin/balance-health/``, ``/admin/jobs/``, ``/metrics/``)."""
    folders = current_app.extensions.get("backoffice.api_folders")
    if folders is None:
        found = set()
        for rule in current_app.url_map.iter_rules():
            if getattr(current_app.view_functions.get(rule.endpoint), "api", False):
                fixed, variable, _rest = rule.rule.partition("<")
                if variable:  # /admin/jobs/<job_id>: under /admin/jobs/
                    found.add(fixed.rsplit("/", 1)[0] + "/")
                else:  # /admin/balance-health/check: under /admin/balance-health/, and under itself
                    found |= {fixed.rsplit("/", 1)[0] + "/", fixed + "/"}
        folders = current_app.extensions["backoffice.api_folders"] = tuple(sorted(found - {"/"}))
    return folders
