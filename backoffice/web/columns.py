"""The columns a person chose to see of each list (the Columns chooser above a list, ``static/lists.js``): read with
the page, kept on the server when they change them, so that the choice follows them from one browser to another."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask_babel import gettext as _
from flask_login import current_user

from backoffice.services import columns
from backoffice.web.plumbing.errors import api_error

bp = Blueprint("columns", __name__)

LISTS = frozenset(
    {
        "account-lines",
        "accounts",
        "aging",
        "approvals-decided",
        "approvals-pending",
        "customer-invoices",
        "customer-ledger",
        "customer-meters",
        "customer-months",
        "customer-payments",
        "customer-readings",
        "customers",
        "deleted-orders",
        "discrepancies",
        "imports",
        "invoices",
        "jobs",
        "journal",
        "meters",
        "movements",
        "orders",
        "payments",
        "reading-postings",
        "reconciliation-runs",
        "statement-lines",
        "targets",
        "users",
    }
)
"""The lists that offer a Columns chooser, by the name their page gives them (``column_chooser(name)``)."""


@bp.app_template_global()
def chosen_columns(list_name: str) -> dict[str, bool]:
    """The reader's choice of the list's columns (each, by name: shown or hidden), read once a page for every list."""
    if list_name not in LISTS:
        raise LookupError(f"the list {list_name!r} is not in columns.LISTS")
    if not current_user.is_authenticated:
        return {}  # a document a job draws for a customer: every column
    if "chosen_columns" not in g:
        g.chosen_columns = columns.chosen_columns(current_user.id)
    return g.chosen_columns.get(list_name, {})


@bp.post("/account/columns/<name>")
def choose(name: str):
    """Keep the reader's choice of a list's columns: ``shown`` and ``hidden``, each a column's name, repeated; none
    of either: the list's usual columns again. Answers 204, or JSON saying what was refused."""
    if name not in LISTS:
        return api_error(404, _("There is no list %(name)s to choose columns for.", name=repr(name[:50])))
    try:
        columns.choose_columns(current_user.id, name, request.form.getlist("shown"), request.form.getlist("hidden"))
    except columns.ColumnsRefused as refused:
        return api_error(400, str(refused))
    return "", 204
