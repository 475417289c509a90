"""Edits made outside the application: a record whose values are not those of its latest history version.

The application writes a history version with every change to a versioned record, so a row that differs from its
latest version, has none, or is gone while its version says it exists was written another way (SQL access, a script).
The check reports them and never rewrites anything: which side is right is for a person to find out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cached_property, lru_cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Subquery,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import configure_mappers

from backoffice.models import HistoryOperation, HistoryTransaction
from backoffice.platform.extensions import db
from backoffice.reconcile.base import CheckedField, ChunkedCheck, Found, Part, Scope
from backoffice.reconcile.night import sealed_since

NO_VERSION = "no version"
DELETED_VERSION = "version says deleted"
DELETED = "deleted without a version"

FIELD_WIDTH = 64
"""``reconciliation_discrepancies.field``: a longer list of columns is cut, and given whole in the reason."""


def _text(value) -> ColumnElement:
    return func.coalesce(cast(value, String), "?")


def _lookup(table: str, column: str, id_value) -> ColumnElement:
    """A referred record's business key (a customer's code, a meter's serial) by its id."""
    referred = db.metadata.tables[table]
    return _text(select(referred.c[column]).where(referred.c.id == id_value).scalar_subquery())


Namer = Callable[[object], ColumnElement]
"""Given a row's columns (the live row's, or a version's), the SQL text naming the record by its business key."""

NAMES: dict[str, tuple[str, Namer]] = {
    "customers": ("customer", lambda c: "customer " + _text(c.code)),
    "account_managers": ("account_manager", lambda c: "account manager " + _text(c.email)),
    "customer_pricing": (
        "customer_pricing",
        lambda c: (
            "pricing of customer " + _lookup("customers", "code", c.customer_id) + " from " + _text(c.effective_from)
        ),
    ),
    "invoices": ("invoice", lambda c: "invoice " + _text(c.number)),
    "payments": (
        "payment",
        lambda c: (
            "payment on meter "
            + _lookup("meters", "serial", c.meter_id)
            + " of "
            + _text(c.paid_on)
            + " ref "
            + _text(c.reference)
        ),
    ),
    "meter_assignments": (
        "meter_assignment",
        lambda c: (
            "assignment of meter "
            + _lookup("meters", "serial", c.meter_id)
            + " to customer "
            + _lookup("customers", "code", c.customer_id)
            + " from "
            + _text(c.started_on)
        ),
    ),
    "meter_readings": (
        "meter_reading",
        lambda c: "reading of meter " + _lookup("meters", "serial", c.meter_id) + " on " + _text(c.reading_date),
    ),
    "meters": ("meter", lambda c: "meter " + _text(c.serial)),
    "payment_allocations": (
        "payment_allocation",
        lambda c: (
            "allocation of payment #"
            + _text(c.payment_id)
            + " to invoice "
            + _lookup("invoices", "number", c.invoice_id)
        ),
    ),
    "orders": ("order", lambda c: "order " + _text(c.number)),
    "targets": (
        "target",
        lambda c: (
            "target of "
            + _lookup("account_managers", "email", c.account_manager_id)
            + " for "
            # The month the target is for: its first day, YYYY-MM-DD, cut to YYYY-MM.
            + func.substr(_text(c.period_start), 1, 7)
        ),
    ),
    "users": ("user", lambda c: "user " + _text(c.email)),
    "issuer": ("issuer", lambda c: "issuer " + _text(c.name)),
    "approval_requests": (
        "approval_request",
        lambda c: (
            "approval request #"
            + _text(c.id)
            + " ("
            + _text(c.kind)
            + " asked by "
            + _lookup("users", "email", c.requested_by_id)
            + ")"
        ),
    ),
}
"""Per versioned table: the entity type its discrepancies are recorded as, and its name by business key."""

KEYS: dict[str, Namer] = {
    "customers": lambda c: _text(c.code),
    "account_managers": lambda c: _text(c.email),
    "customer_pricing": lambda c: _lookup("customers", "code", c.customer_id) + " " + _text(c.effective_from),
    "invoices": lambda c: _text(c.number),
    "payments": lambda c: "#" + _text(c.id),
    "meter_assignments": lambda c: (
        _lookup("meters", "serial", c.meter_id)
        + " "
        + _lookup("customers", "code", c.customer_id)
        + " "
        + _text(c.started_on)
    ),
    "meter_readings": lambda c: _lookup("meters", "serial", c.meter_id) + " " + _text(c.reading_date),
    "meters": lambda c: _text(c.serial),
    "payment_allocations": lambda c: "#" + _text(c.id),
    "orders": lambda c: _text(c.number),
    "targets": lambda c: (
        _lookup("account_managers", "email", c.account_manager_id) + " " + func.substr(_text(c.period_start), 1, 7)
    ),
    "users": lambda c: _text(c.email),
    "issuer": lambda c: _text(c.name),
    "approval_requests": lambda c: "#" + _text(c.id),
}
"""Per versioned table: a record's business key as a page names the live record (``reconcile.report``), in no
language's words: a deleted record is said as its type in the reader's words and this key."""


def versioned_tables() -> list[tuple[Table, Table]]:
    """Each versioned table with its history table."""
    configure_mappers()  # SQLAlchemy-Continuum adds the history tables when the mappers are configured
    tables = db.metadata.tables
    return [
        (tables[name.removesuffix("_history")], table)
        for name, table in sorted(tables.items())
        if name.endswith("_history") and name.removesuffix("_history") in tables
    ]


DERIVED = {"orders": {"grand_total"}}
"""Versioned columns that a check of their own derives and a fix writes back without a version: that check
reports them (``order_grand_total``), not this one."""


def compared_columns(table: Table, history: Table) -> list[str]:
    """The columns a version keeps of the table's, but those a check of their own derives."""
    return [
        column.name
        for column in history.columns
        if column.name in table.columns
        and column.name not in ("transaction_id", "operation_type")
        and column.name not in DERIVED.get(table.name, ())
    ]


def _per_table(table: Table, history: Table, within: Callable[[ColumnElement, str], list[ColumnElement]]) -> list:
    entity_type, name = NAMES[table.name]
    kind = literal(entity_type, String)
    latest = select(history.c.id, func.max(history.c.transaction_id).label("transaction_id"))
    latest = latest.where(*within(history.c.id, table.name)).group_by(history.c.id).subquery(f"{table.name}_latest")
    version = history.alias(f"{table.name}_version")
    state = state_of(table, history, version)
    live = (
        select(
            table.c.id.label("key"),
            state.label("state"),
            kind.label("entity_type"),
            name(table.c).label("name"),
        )
        .select_from(
            table.outerjoin(latest, latest.c.id == table.c.id).outerjoin(
                version, and_(version.c.id == latest.c.id, version.c.transaction_id == latest.c.transaction_id)
            )
        )
        .where(*within(table.c.id, table.name))
    )
    # A version that is not a deletion, of a row the table no longer has: deleted by a path that kept no version.
    gone = (
        select(
            version.c.id.label("key"),
            literal(DELETED).label("state"),
            kind.label("entity_type"),
            name(version.c).label("name"),
        )
        .select_from(
            latest.join(version, and_(version.c.id == latest.c.id, version.c.transaction_id == latest.c.transaction_id))
        )
        .where(
            version.c.operation_type != int(HistoryOperation.DELETE),
            ~exists().where(table.c.id == version.c.id),
        )
    )
    return [live, gone]


def state_of(table: Table, history: Table, version) -> ColumnElement:
    """A live row's state against ``version`` (an alias of its history table, outer-joined to its latest version):
    empty when its values are that version's, else which columns differ, or that it has no version or a deletion."""
    differing = [
        case(
            (_comparable(table.c[column]).is_distinct_from(_comparable(version.c[column])), literal(f"{column}, ")),
            else_=literal(""),
        )
        for column in compared_columns(table, history)
    ]
    return case(
        (version.c.id.is_(None), literal(NO_VERSION)),
        (version.c.operation_type == int(HistoryOperation.DELETE), literal(DELETED_VERSION)),
        else_=_joined(differing),
    )


def _joined(parts: list[ColumnElement]) -> ColumnElement:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + part
    return joined


@lru_cache(maxsize=32)
def drift_rows(low: int | None = None, high: int | None = None, part: Part | None = None) -> Subquery:
    """Every live row of every versioned table, and every row deleted without a version, each with its state
    (empty: as its latest version says), its entity type and its name; of the ids from ``low`` to ``high``, if
    given, and of a night's ``part`` of each table's (``reconcile.night``), whose latest versions alone are then
    looked for."""
    within = HistoryDrift(low, high, part).within
    selects = [select for table, history in versioned_tables() for select in _per_table(table, history, within)]
    return union_all(*selects).subquery("history_drift")


class HistoryDrift(ChunkedCheck):
    name = "history_drift"
    label = _l("Records against their history")
    description = _l(
        "each versioned record's values = those of its latest history version; a record with no version, "
        "or deleted without one, was written outside the application"
    )
    entity_type = "record"
    by_customer = False
    table = HistoryTransaction.__table__
    """Not read: the rows are those of every versioned table (``source``)."""
    after = ("reading_calculation",)
    """A re-priced reading moves to the customer who held the meter, with a version: read once that is done."""
    fixable = False  # the record or its history was changed by hand: which one is right is for a person to find out

    @cached_property
    def rows(self) -> Subquery:
        return drift_rows(self.low, self.high, self.part)

    @property
    def source(self):
        return self.rows

    @property
    def key(self):
        return self.rows.c.key

    def fields(self):
        return [CheckedField("values", self.rows.c.state, literal(""), scale=0)]

    def details(self):
        return [self.rows.c.entity_type, self.rows.c.name]

    def scope_conditions(self, scope: Scope):
        return []

    def key_bounds(self, scope: Scope):
        """The lowest and highest id of any versioned table or version: each read from its table's index, where the
        rows' own keys would be the whole check's work."""
        ids = union_all(*(select(func.min(c).label("low"), func.max(c).label("high")) for c in self._ids())).subquery(
            "ids"
        )
        return select(func.min(ids.c.low), func.max(ids.c.high))

    def keys(self, scope: Scope):
        ids = union_all(*(select(c.label("key")) for c in self._ids())).subquery("ids")
        return select(ids.c.key)

    def marked(self):
        return {table.name: (table.c.id, history.c.id) for table, history in versioned_tables()}

    def _ids(self) -> list[ColumnElement]:
        return [column for columns in self.marked().values() for column in columns]

    def marked_as(self, entity_type):
        return next((table for table, (named, _name) in NAMES.items() if named == entity_type), None)

    def changed(self, since, after):
        # Every write of a versioned record adds a version, sealed as it is written; a deletion too.
        return {table.name: sealed_since([history.name], since) for table, history in versioned_tables()}

    def in_part(self):
        return []  # each table's rows are read by their part's ids (``drift_rows``)

    def found(self, row) -> Iterator[Found]:
        key, period, state, _expected, entity_type, name = row
        if state in (NO_VERSION, DELETED_VERSION, DELETED):
            field = state
            reason = {
                NO_VERSION: f"{name} has no history version: it was written outside the application",
                DELETED_VERSION: f"{name} exists though its latest history version is its deletion",
                DELETED: f"{name} was deleted outside the application: its history has no version of its deletion",
            }[state]
        else:
            columns = state.removesuffix(", ")
            field = columns if len(columns) <= FIELD_WIDTH else columns[: FIELD_WIDTH - 1] + "…"
            verb = "differs" if ", " not in columns else "differ"
            reason = f"{name}: {columns} {verb} from its latest history version: changed outside the application"
        yield Found(key, period, field, None, None, entity_type=entity_type, reason=reason[:300])


def columns_of(reason: str | None, field: str) -> list[str]:
    """The columns a discrepancy of changed columns names: whole from its reason (:meth:`HistoryDrift.found`), from
    its field (which may be cut) when the reason is not that wording."""
    found = re.search(r"(\w+(?:, \w+)*) differs? from its latest history version", reason or "")
    return found.group(1).split(", ") if found is not None else field.removesuffix("…").split(", ")


def _comparable(column):
    """A column as it compares: a JSON document as its text (PostgreSQL's json has no equality), an SQL NULL as
    JSON's null (which a version may hold for it)."""
    return func.coalesce(cast(column, Text), "null") if isinstance(column.type, JSON) else column
