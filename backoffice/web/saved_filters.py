"""The filters a person saved of each list that has filters (``saved_filters(name, filters)`` above the list): their
names as links that apply them, a form that saves the list's filters under a name, and a button that deletes one.

A saved query string holds the list's own filters and its sort, nothing else (no page number). Applying it opens the
list at that address, which the list reads as it reads any: filters that no longer read (an account manager whose
email changed) are said under their fields, as the list says them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from backoffice.services import saved_filters
from backoffice.web.billing import receivables
from backoffice.web.books import journal as books
from backoffice.web.books import movements
from backoffice.web.customers import records as customers
from backoffice.web.metering import meters
from backoffice.web.plumbing.lists import Filters
from backoffice.web.sales import orders, targets

bp = Blueprint("saved_filters", __name__)


@dataclass(frozen=True)
class SavedList:
    """A list whose filters may be saved: its page, the form of its filters, and whether it sorts."""

    endpoint: str
    filters: type[Filters]
    sorts: bool = True

    def address(self, query_string: str) -> str:
        """The list's address with the query string."""
        address = url_for(self.endpoint)
        return f"{address}?{query_string}" if query_string else address

    def kept(self, args: MultiDict) -> str:
        """The query string of what ``args`` holds of the list's filters (a blank one left out), then its sort."""
        names = (*_names(self.filters), *(("sort",) if self.sorts else ()))
        return urlencode([(name, args[name]) for name in names if args.get(name, "").strip()])


LISTS = {
    "aging": SavedList("receivables.aging", receivables.AgingFilters, sorts=False),
    "customers": SavedList("customers.index", customers.CustomerFilterForm),
    "invoices": SavedList("receivables.invoices", receivables.InvoiceFilters),
    "journal": SavedList("books.journal", books.JournalFilterForm),
    "meters": SavedList("meters.index", meters.MeterFilterForm),
    "movements": SavedList("movements.index", movements.MovementFilters),
    "orders": SavedList("orders.index", orders.OrderFilterForm),
    "payments": SavedList("receivables.payments", receivables.PaymentFilters),
    "targets": SavedList("targets.index", targets.TargetFilterForm),
}
"""The lists whose filters may be saved, by the name their page gives them (``saved_filters(name, filters)``)."""


class Link(NamedTuple):
    """A saved filter as the list shows it: its id, its name, the list's address with it, and whether it is the one
    the list shows now."""

    id: int
    name: str
    address: str
    current: bool


@bp.app_template_global()
def saved_filters_of(list_name: str) -> tuple[list[Link], str]:
    """The reader's saved filters of the list, and the query string of the list's own filters as it shows them now
    (what saving keeps)."""
    if list_name not in LISTS:
        raise LookupError(f"the list {list_name!r} is not in saved_filters.LISTS")
    listed = LISTS[list_name]
    now = listed.kept(request.args)
    links = [
        Link(row.id, row.name, listed.address(row.query_string), row.query_string == now)
        for row in saved_filters.saved_filters(current_user.id, list_name)
    ]
    return links, now


@bp.post("/account/filters/<name>")
def save(name: str):
    """Save the list's filters (``query``, its query string) under ``name``, and show the list with them."""
    listed = _listed(name)
    query_string = listed.kept(_args(request.form.get("query", "")))
    called = request.form.get("name", "")
    try:
        replaced = saved_filters.save_filters(current_user.id, name, called, query_string)
    except saved_filters.FiltersRefused as refused:
        flash(str(refused), "error")
    else:
        if replaced:
            flash(_("The filters saved as “%(name)s” were replaced with these.", name=called.strip()), "success")
        else:
            flash(_("These filters are saved as “%(name)s”.", name=called.strip()), "success")
    return redirect(listed.address(query_string))


@bp.post("/account/filters/<name>/<int:filter_id>/delete")
def delete(name: str, filter_id: int):
    """Delete one of the reader's saved filters of the list, and show the list as it was (``query``)."""
    listed = _listed(name)
    deleted = saved_filters.delete_filters(current_user.id, name, filter_id)
    if deleted is None:
        abort(404)
    flash(_("The saved filter “%(name)s” is deleted.", name=deleted), "success")
    return redirect(listed.address(listed.kept(_args(request.form.get("query", "")))))


def _listed(name: str) -> SavedList:
    if name not in LISTS:
        abort(404)
    return LISTS[name]


def _args(query_string: str) -> MultiDict:
    return MultiDict(parse_qsl(query_string, keep_blank_values=True))


@cache
def _names(filters: type[Filters]) -> tuple[str, ...]:
    """The names of the form's fields: the list's parameters."""
    return tuple(field.name for field in filters(formdata=None))
