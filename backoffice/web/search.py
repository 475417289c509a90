"""The search box of every page's header, its page of results, and the pickers' suggestions.

As the clerk types, the box asks ``/search`` (htmx active search) and shows what it finds under it: customers,
meters, invoices, payments, orders, account managers and, for admins, users, each saying what it is and linking to
its page. A kind whose page the user may not open is not searched. Sent (Enter), the box opens at once the one
record whose key is what was typed (a customer's code, a meter's serial, an invoice's or an order's number, a
payment's reference), else the page of results.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from backoffice.services import search
from backoffice.web.plumbing import pickers

bp = Blueprint("search", __name__, url_prefix="/search")

PAGES = {
    "customer": ("customers.show", _l("Customer")),
    "meter": ("meters.index", _l("Meter")),
    "invoice": ("billing.edit_invoice", _l("Invoice")),
    "payment": ("billing.edit_payment", _l("Payment")),
    "order": ("orders.edit", _l("Order")),
    "manager": ("managers.edit", _l("Account manager")),
    "user": ("admin.user", _l("User")),
}
"""Each kind's page (the view a result opens) and what a result of it is called."""
OPENED_AT_ONCE = ("customer", "meter", "invoice", "order", "payment")
"""The kinds whose key, typed whole and sent, opens the record."""
PER_KIND = 8
"""Results of each kind, at most (the best)."""


@bp.get("")
def index():
    """The results of what was typed: the list under the box (an htmx request), or the page, or the one record
    whose key it is."""
    text = request.args.get("q", "").strip()
    too_long = len(text) > search.LONGEST
    found = {} if too_long else search.found(text, [kind for kind in PAGES if _may_open(kind)], PER_KIND)
    # The records whose key is what was typed first, then each kind's best, kind by kind.
    results = sorted(
        ((kind, row, address(kind, row)) for kind, rows in found.items() for row in rows), key=lambda r: not r[1].exact
    )
    said = {
        "text": text,
        "results": results,
        "kinds": PAGES,
        "problem": _("Type at most %(count)s characters.", count=search.LONGEST) if too_long else None,
        "short": len(text) < search.SHORTEST,
        "shortest": search.SHORTEST,
    }
    if request.headers.get("HX-Request"):
        return render_template("search/_results.html", **said)
    exact = [url for kind, row, url in results if row.exact and kind in OPENED_AT_ONCE]
    if len(exact) == 1:
        return redirect(exact[0])
    return render_template("search/index.html", **said)


@bp.get("/pick/<any(customer, meter, manager):kind>")
def pick(kind: str):
    """A picker's suggestions for what is typed in it (``q``; see :mod:`backoffice.web.plumbing.pickers`)."""
    text = request.args.get("q", "").strip()[: search.LONGEST]
    found = pickers.suggestions(kind, text, request.args) if _may_open(kind) else []
    return render_template("search/_suggestions.html", suggestions=found, text=text)


def address(kind: str, row) -> str:
    """The address of a result's page."""
    if kind == "customer":
        return url_for("customers.show", code=row.key)
    if kind == "meter":
        return url_for("meters.index", q=row.key)
    if kind == "invoice":
        return url_for("billing.edit_invoice", code=row.holder, invoice_id=row.id)
    if kind == "payment":
        return url_for("billing.edit_payment", code=row.holder, payment_id=row.id)
    if kind == "order":
        return url_for("orders.edit", order_id=row.id)
    if kind == "manager":
        return url_for("managers.edit", manager_id=row.id)
    return url_for("admin.user", user_id=row.id)


def _may_open(kind: str) -> bool:
    """Whether the user may open the kind's page: the role its view requires (``auth.requires_role``), if any."""
    required = getattr(current_app.view_functions[PAGES[kind][0]], "required_role", None)
    return required is None or current_user.has_role(required)
