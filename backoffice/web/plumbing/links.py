"""Links to one endpoint from every row of a list, built once for the list: ``url_for`` finds the endpoint's rule and
builds its address again for each row, and a list links each of its rows (often twice)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote_plus

from flask import current_app, url_for
from werkzeug.routing import BaseConverter

MARKS = (9_223_372_036_854_775_807, 9_223_372_036_854_775_806, 9_223_372_036_854_775_805)
"""Stand-ins for the values that differ from row to row, numbers no row has: the address is built once with them,
then cut where they stand."""
QUERY_SAFE = "!$'()*,/:;?@"
"""What a query string's values keep as they are (werkzeug's choice, after the URL standard's)."""


def link(endpoint: str, *names: str, **values) -> Callable[..., str]:
    """The address of ``endpoint`` with ``values``, and each row's values of ``names`` (path arguments) given in
    order: ``link("orders.edit", "order_id")(7) == url_for("orders.edit", order_id=7)``."""
    marks = dict(zip(names, MARKS, strict=False))
    address = url_for(endpoint, **values, **marks)
    path = address.partition("?")[0]
    at = [path.find(str(mark)) for mark in marks.values()]
    if any(address.count(str(mark)) != 1 for mark in marks.values()) or -1 in at or at != sorted(at):
        raise ValueError(f"{endpoint}: {names} must be path arguments, in the order the path has them")
    pieces, rest = [], address
    for mark in marks.values():
        piece, _mark, rest = rest.partition(str(mark))
        pieces.append(piece)
    converter = BaseConverter(current_app.url_map)

    def address_of(*row_values) -> str:
        parts = []
        for piece, value in zip(pieces, row_values, strict=True):
            parts += [piece, str(value) if isinstance(value, int) else converter.to_url(value)]
        return "".join(parts) + rest

    return address_of


def query_link(endpoint: str, *names: str, **values) -> Callable[..., str]:
    """The address of ``endpoint`` with ``values``, and each row's values of ``names`` (query arguments, never None)
    given in order: ``query_link("orders.index", "manager", "month")(7, "2026-10") == url_for("orders.index",
    manager=7, month="2026-10")``. A name among ``values`` keeps its place in the query string (a page number)."""
    marks = dict(zip(names, MARKS, strict=False))
    address = url_for(endpoint, **(values | marks))
    if any(address.count(str(mark)) != 1 for mark in marks.values()):  # a value given holds a mark: built each time
        return lambda *row_values: url_for(endpoint, **(values | dict(zip(names, row_values, strict=True))))
    query = address.find("?")
    at = [address.find(str(mark)) for mark in marks.values()]
    if query == -1 or min(at) < query:
        raise ValueError(f"{endpoint}: {names} must be query arguments")
    if at != sorted(at):
        raise ValueError(f"{endpoint}: {names} must be given in the order the query string has them")
    pieces, rest = [], address
    for mark in marks.values():
        piece, _mark, rest = rest.partition(str(mark))
        pieces.append(piece)

    def address_of(*row_values) -> str:
        parts = []
        for piece, value in zip(pieces, row_values, strict=True):
            parts += [piece, str(value) if isinstance(value, int) else quote_plus(str(value), safe=QUERY_SAFE)]
        return "".join(parts) + rest

    return address_of
