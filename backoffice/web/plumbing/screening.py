"""Requests no view can read are refused before any view runs, with a message instead of a failed query:
ids no row can have, NUL characters, and JSON sent where a form is expected (anywhere but the clients' API)."""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.routing import IntegerConverter

from backoffice.platform.extensions import LARGEST_ROW_NUMBER
from backoffice.platform.lines import writable
from backoffice.web.plumbing.errors import refuse

NUL_MESSAGE = "The request contains a NUL character, which no field or address here may hold."
SURROGATE_MESSAGE = "The request contains a lone surrogate, a character no text can hold."
JSON_MESSAGE = "This address takes a form (application/x-www-form-urlencoded), not JSON."


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in an address matches only an id a row can have (64 bits): a larger one is not there (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", LARGEST_ROW_NUMBER)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter
    app.before_request(_screen)


def _screen():
    if _has_nul():
        return refuse(400, NUL_MESSAGE)
    if _has_lone_surrogate():
        return refuse(400, SURROGATE_MESSAGE)
    # Flask-WTF would read a JSON body as the form's fields, values of any type; only the views marked ``takes_json``
    # (the clients' API, which reads its body itself) take one.
    if request.is_json and request.method not in ("GET", "HEAD", "OPTIONS") and not _takes_json():
        return refuse(415, JSON_MESSAGE)
    return None


def _takes_json() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, "takes_json", False))


def _has_nul() -> bool:
    if "\0" in request.path:
        return True
    fields = request.args if request.method in ("GET", "HEAD") else request.values
    return any("\0" in key or any("\0" in value for value in fields.getlist(key)) for key in fields)


def _has_lone_surrogate() -> bool:
    fields = request.args if request.method in ("GET", "HEAD") else request.values
    return any(not writable(key) or not all(writable(value) for value in fields.getlist(key)) for key in fields)
