"""The "History" panel of every record's page, a record's history on a page of its own, and the deleted orders.

A record's history lists each version SQLAlchemy-Continuum keeps of it (when, who, what operation, each field that
changed from its value before to its value after) and, in the same list, the reconciliation's discrepancies found on
it, each linked to its run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from flask import Blueprint, Flask, abort, render_template
from flask_login import current_user
from sqlalchemy import Numeric, select
from sqlalchemy.orm import joinedload
from sqlalchemy_continuum.utils import version_class

from backoffice.extensions import db
from backoffice.models import (
    AccountManager,
    ApprovalRequest,
    Customer,
    CustomerPricing,
    Discrepancy,
    HistoryOperation,
    HistoryTransaction,
    Invoice,
    Meter,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
    ReconciliationRun,
    Role,
    Target,
    User,
)
from backoffice.models.types import as_utc

bp = Blueprint("history", __name__, url_prefix="/history")


@dataclass(frozen=True)
class Kind:
    model: type
    label: str
    entity_type: str | None = None
    """The reconciliation's name for such a record, when a check looks at it."""
    admin_only: bool = False


KINDS = {
    "order": Kind(Order, "Order", "order"),
    "target": Kind(Target, "Target", "target"),
    "customer": Kind(Customer, "Customer", "customer"),
    "manager": Kind(AccountManager, "Account manager"),
    "meter": Kind(Meter, "Meter", "meter"),
    "assignment": Kind(MeterAssignment, "Meter assignment", "meter_assignment"),
    "pricing": Kind(CustomerPricing, "Pricing", "customer_pricing"),
    "reading": Kind(MeterReading, "Meter reading", "meter_reading"),
    "invoice": Kind(Invoice, "Invoice", "invoice"),
    "payment": Kind(Payment, "Payment", "payment"),
    "user": Kind(User, "User", "user", admin_only=True),
    "approval": Kind(ApprovalRequest, "Approval request", "approval_request"),
}
HIDDEN = {"id", "transaction_id", "operation_type"}


@dataclass(frozen=True)
class Change:
    field: str
    before: object
    after: object
    shown_as: str
    """How the template shows the values: ``money``, ``moment``, ``date`` or ``text``."""


@dataclass
class Version:
    when: datetime
    who: str
    operation: HistoryOperation
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class Fix:
    """A reconciliation discrepancy on the record, found (and fixed, or not) by a run."""

    when: datetime
    discrepancy: Discrepancy


def init_app(app: Flask) -> None:
    app.add_template_global(history_of)


def history_of(kind: str, record_id: int) -> list[Version | Fix]:
    """The record's versions and reconciliation fixes, newest first."""
    spec = KINDS[kind]
    versions = _versions(spec.model, record_id)
    fixes = _fixes(spec.entity_type, record_id) if spec.entity_type else []
    return sorted([*versions, *fixes], key=lambda item: as_utc(item.when), reverse=True)


@bp.get("/<kind>/<int:record_id>")
def show(kind: str, record_id: int):
    spec = KINDS.get(kind)
    if spec is None:
        abort(404)
    if spec.admin_only and not current_user.has_role(Role.ADMIN):
        abort(403)
    entries = history_of(kind, record_id)
    if not entries:
        abort(404)
    return render_template("history/show.html", kind=kind, spec=spec, record_id=record_id, entries=entries)


def deleted_orders(page: int | None = None):
    """The orders deleted, newest first: each one's last values and who deleted it, when."""
    versions = version_class(Order)
    return db.paginate(
        select(versions)
        .options(joinedload(versions.transaction).joinedload(HistoryTransaction.user))
        .where(versions.operation_type == HistoryOperation.DELETE)
        .order_by(versions.transaction_id.desc()),
        page=page,
        per_page=50,
        error_out=False,
    )


def _versions(model: type, record_id: int) -> list[Version]:
    history = version_class(model).__table__
    transactions = HistoryTransaction.__table__
    rows = db.session.execute(
        select(
            history,
            transactions.c.issued_at,
            transactions.c.actor,
            User.name.label("by_name"),
            User.email.label("by_email"),
        )
        .join(transactions, transactions.c.id == history.c.transaction_id)
        .outerjoin(User, User.id == transactions.c.user_id)
        .where(history.c.id == record_id)
        .order_by(history.c.transaction_id)
    ).all()
    columns = [column for column in history.columns if column.name not in HIDDEN]
    found, before = [], {}
    for row in rows:
        values = {column.name: getattr(row, column.name) for column in columns}
        operation = HistoryOperation(row.operation_type)
        version = Version(row.issued_at, row.by_name or row.by_email or row.actor, operation)
        for column in columns:
            old = before.get(column.name)
            new = values[column.name]
            if operation is HistoryOperation.DELETE:
                old, new = new, None
            elif old == new:
                continue
            if old is None and new is None:
                continue
            shown_as = _shown_as(column, old, new)
            if (referred := _referred(model, column.name)) is not None:
                old, new, shown_as = _name(referred, old), _name(referred, new), "text"
            version.changes.append(Change(_label(column.name), old, new, shown_as))
        found.append(version)
        before = values
    return found


def _fixes(entity_type: str, record_id: int) -> list[Fix]:
    rows = db.session.execute(
        select(Discrepancy, ReconciliationRun.started_at)
        .join(ReconciliationRun, ReconciliationRun.id == Discrepancy.run_id)
        .where(Discrepancy.entity_type == entity_type, Discrepancy.entity_id == record_id)
        .order_by(Discrepancy.id)
    ).all()
    return [Fix(found.fixed_at or started_at, found) for found, started_at in rows]


REFERRED = {"customers": Customer, "account_managers": AccountManager, "meters": Meter, "users": User}
"""The records a field may refer to that are shown by name rather than by id."""


def _referred(model: type, name: str) -> type | None:
    column = model.__table__.columns.get(name)
    if column is None:
        return None
    return next((REFERRED.get(key.column.table.name) for key in column.foreign_keys), None)


def _name(model: type, record_id: int | None) -> str | None:
    if record_id is None:
        return None
    record = db.session.get(model, record_id)
    if record is None:
        return f"#{record_id}"
    return record.email if model is User else str(record)


def _label(name: str) -> str:
    return name.removesuffix("_id").replace("_", " ").capitalize()


def _shown_as(column, *values) -> str:
    if isinstance(column.type, Numeric) and column.type.scale == 2:
        return "money"
    if any(isinstance(value, datetime) for value in values):
        return "moment"
    if any(isinstance(value, date) for value in values):
        return "date"
    if any(isinstance(value, Decimal) for value in values):
        return "number"
    return "text"
