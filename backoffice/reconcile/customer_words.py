from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import ARRAY, Integer, func, literal, select

from backoffice.models import Customer
from backoffice.models.types import one_of
from backoffice.posting.locking import lock_customers
from backoffice.reconcile.base import Check, CheckedField, Scope

customers = Customer.__table__


class CustomerWords(Check):
    """The words the search finds a customer by (``customer_words``, migration 0086), which the database keeps with
    every write of what the search matches: written with the triggers off, or by hand, they would hide the customer
    from a search of its words. The field counts the words kept for a customer that are not its words and its words
    not kept (``customer_words_wrong``); the fix writes its words anew (``customer_words_write``, the triggers' own
    writer)."""

    name = "customer_words"
    label = _l("Customers' search words")
    description = _l(
        "the words a customer is found by in the search, as the database keeps them = the words of its code, name, "
        "contact person, e-mail and phone"
    )
    entity_type = "customer"
    table = customers

    def fields(self):
        wrong = func.customer_words_wrong(customers.table_valued(), type_=Integer)
        return [CheckedField("words", wrong, literal(0), scale=0, adds=False)]

    def scope_conditions(self, scope: Scope):
        return [one_of(customers.c.id, scope.customer_ids)] if scope.customer_ids else []

    def write(self, connection, ids):
        lock_customers(connection, ids)  # a rename in flight commits first, and its words are then written
        connection.execute(select(func.customer_words_write(literal(sorted(ids), ARRAY(Integer)))))
