"""What each kind of import holds: its columns (with the words each is headed by in English, Indonesian and
Vietnamese), its natural key, what is already stored under a key, and how a row is written: by the operation its
form calls, or, for money on the wallet, by the posting core's batch (``post_many``).

A row is a dict of its columns' values, read by :mod:`backoffice.imports.values`; what it refers to (a customer by
its code, a meter by its serial, a manager by their email) is looked up in bulk and added under ``*_id``.
"""

from __future__ import annotations

from backoffice.imports.kinds.assignments import ASSIGNMENTS
from backoffice.imports.kinds.balances import BALANCES
from backoffice.imports.kinds.base import Field, ImportKind, Row, Stated
from backoffice.imports.kinds.customers import CUSTOMERS
from backoffice.imports.kinds.invoices import INVOICES
from backoffice.imports.kinds.managers import MANAGERS
from backoffice.imports.kinds.meters import METERS
from backoffice.imports.kinds.orders import ORDERS
from backoffice.imports.kinds.payments import PAYMENTS
from backoffice.imports.kinds.prices import PRICES
from backoffice.imports.kinds.readings import READINGS
from backoffice.imports.kinds.tax_office_numbers import TAX_OFFICE_NUMBERS
from backoffice.imports.names import KIND_NAMES

KINDS: dict[str, ImportKind] = {
    kind.name: kind
    for kind in sorted(
        (
            MANAGERS,
            CUSTOMERS,
            METERS,
            ASSIGNMENTS,
            PRICES,
            ORDERS,
            READINGS,
            BALANCES,
            INVOICES,
            PAYMENTS,
            TAX_OFFICE_NUMBERS,
        ),
        key=lambda kind: KIND_NAMES.index(kind.name),
    )
}
"""Every kind, in the order an installation is brought in (:data:`KIND_NAMES`)."""

__all__ = [
    "ASSIGNMENTS",
    "BALANCES",
    "CUSTOMERS",
    "INVOICES",
    "KINDS",
    "MANAGERS",
    "METERS",
    "ORDERS",
    "PAYMENTS",
    "PRICES",
    "READINGS",
    "TAX_OFFICE_NUMBERS",
    "Field",
    "ImportKind",
    "Row",
    "Stated",
]
