"""Error pages with a message a clerk can act on; stack traces stay in the log."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: "The request could not be read. Go back and try again.",
    403: "Your role does not allow this. Ask an admin if you need it.",
    404: "There is nothing at this address. It may have been deleted.",
    405: "This page cannot be used that way.",
    409: "That cannot be done in the state it is in now. Reload the page to see where things stand.",
}
CSRF_MESSAGE = "The form had expired or did not come from this site. Reload the page and submit it again."


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)


def _csrf_error(error: CSRFError):
    return render_template("errors/error.html", error=error, message=CSRF_MESSAGE), error.code


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400 or error.code not in MESSAGES:
        return error
    return render_template("errors/error.html", error=error, message=MESSAGES[error.code]), error.code
