"""The "History" panel of every record's page, a record's history on a page of its own, and the deleted orders.

A record's history lists each version SQLAlchemy-Continuum keeps of it (when, who, what operation, each field that
changed from its value before to its value after) and, in the same list, the reconciliation's discrepancies found on
it, each linked to its run. A version is shown in the reader's words: each field under the label its record's edit
form gives it (else one of :data:`LABELS`), each value as the record's own screen writes it, and who made the change
named from what the version stores (a user; else the command or job that ran, :func:`who_did`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from flask import Blueprint, Flask, abort, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Boolean, Numeric, bindparam, false, select
from sqlalchemy.orm import joinedload
from sqlalchemy_continuum.utils import version_class
from wtforms.fields.core import UnboundField

from backoffice.models import (
    AccountManager,
    ApprovalKind,
    ApprovalRequest,
    Customer,
    CustomerPricing,
    Discrepancy,
    HistoryOperation,
    HistoryTransaction,
    Invoice,
    Issuer,
    JobRecord,
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
from backoffice.models.metering import IndexFrom
from backoffice.models.types import Month, as_utc
from backoffice.platform.extensions import db
from backoffice.platform.reasons import AdjustmentReason
from backoffice.platform.words import word
from backoffice.web.plumbing.filters import person, role_name

bp = Blueprint("history", __name__, url_prefix="/history")


@dataclass(frozen=True)
class Kind:
    model: type
    label: str
    entity_type: str | None = None
    """The reconciliation's name for such a record, when a check looks at it."""
    admin_only: bool = False


KINDS = {
    "order": Kind(Order, _l("order"), "order"),
    "target": Kind(Target, _l("target"), "target"),
    "customer": Kind(Customer, _l("customer"), "customer"),
    "manager": Kind(AccountManager, _l("account manager")),
    "meter": Kind(Meter, _l("meter"), "meter"),
    "assignment": Kind(MeterAssignment, _l("meter assignment"), "meter_assignment"),
    "pricing": Kind(CustomerPricing, _l("pricing row"), "customer_pricing"),
    "reading": Kind(MeterReading, _l("meter reading"), "meter_reading"),
    "invoice": Kind(Invoice, _l("invoice"), "invoice"),
    "payment": Kind(Payment, _l("payment"), "payment"),
    "user": Kind(User, _l("user"), "user", admin_only=True),
    "issuer": Kind(Issuer, _l("issuer"), "issuer", admin_only=True),
    "approval": Kind(ApprovalRequest, _l("approval request"), "approval_request"),
}
HIDDEN = {"id", "transaction_id", "operation_type"}


@dataclass(frozen=True)
class Change:
    field: str
    before: object
    after: object
    shown_as: str
    """How the template shows the values: ``money``, ``moment``, ``date``, ``number``, ``yes-no`` or ``text``."""
    places: int = 4
    """A number's decimal places."""


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
    app.add_template_global(who_did)


def history_of(kind: str, record_id: int) -> list[Version | Fix]:
    """The record's versions and reconciliation fixes, newest first."""
    spec = KINDS[kind]
    versions, fixed = _versions(spec.model, record_id, spec.entity_type)
    fixes = _fixes(spec.entity_type, record_id) if fixed else []
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


def _versions(model: type, record_id: int, entity_type: str | None) -> tuple[list[Version], bool]:
    """The record's versions, and whether the reconciliation found anything on it (``entity_type``: its name for
    such a record), read with them: a record's panel reads its fixes only when there are some."""
    history = version_class(model).__table__
    rows = db.session.execute(_versions_read(model, entity_type), {"record_id": record_id}).all()
    columns = [column for column in history.columns if column.name not in HIDDEN]
    labels = labels_of(model)
    found, before = [], {}
    for row in rows:
        values = {column.name: getattr(row, column.name) for column in columns}
        operation = HistoryOperation(row.operation_type)
        version = Version(row.issued_at, _who(row.by_name or row.by_email, row.actor, row.issued_at), operation)
        for column in columns:
            old = before.get(column.name)
            new = values[column.name]
            if operation is HistoryOperation.DELETE:
                old, new = new, None
            elif old == new:
                continue
            if old is None and new is None:
                continue
            label = labels.get(column.name)
            version.changes.append(
                _change(model, column, (str(label) if label is not None else "") or _readable(column.name), old, new)
            )
        found.append(version)
        before = values
    return found, rows[0].found_on if rows else entity_type is not None


@cache
def _versions_read(model: type, entity_type: str | None):
    """:func:`_versions`' statement for such records, built once: every record's page shows its history."""
    history = version_class(model).__table__
    transactions = HistoryTransaction.__table__
    users = User.__table__
    discrepancies = Discrepancy.__table__
    record_id = bindparam("record_id")
    found_on = (
        select(discrepancies.c.id)
        .where(discrepancies.c.entity_type == entity_type, discrepancies.c.entity_id == record_id)
        .exists()
        if entity_type
        else false()
    )
    return (
        select(
            history,
            transactions.c.issued_at,
            transactions.c.actor,
            users.c.name.label("by_name"),
            users.c.email.label("by_email"),
            found_on.label("found_on"),
        )
        .join(transactions, transactions.c.id == history.c.transaction_id)
        .outerjoin(users, users.c.id == transactions.c.user_id)
        .where(history.c.id == record_id)
        .order_by(history.c.transaction_id)
    )


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


def _readable(name: str) -> str:
    """A column no form or :data:`LABELS` names, by its name: never reached for a record's history as it stands
    (``tests/web/test_history.py`` holds every column labelled), only for a column an upgrade adds before its
    label."""
    return name.removesuffix("_id").replace("_", " ").capitalize()


def _change(model: type, column, label: str, old, new) -> Change:
    """A field's values before and after, as the record's screen writes them: a record it refers to by name, a
    code name (a status, a kind, a role) in words, a month as a month, amounts, numbers and days in the reader's
    notation."""
    if (referred := _referred(model, column.name)) is not None:
        return Change(label, _name(referred, old), _name(referred, new), "text")
    if (say := CODES.get((model, column.name))) is not None:
        return Change(label, _said(say, old), _said(say, new), "text")
    if (model, column.name) in MONTHS:
        return Change(label, _month(old), _month(new), "text")
    if isinstance(column.type, Boolean):
        return Change(label, old, new, "yes-no")
    if isinstance(column.type, Numeric) and column.type.scale == 2:
        return Change(label, old, new, "money")
    if any(isinstance(value, datetime) for value in (old, new)):
        return Change(label, old, new, "moment")
    if any(isinstance(value, date) for value in (old, new)):
        return Change(label, old, new, "date")
    if isinstance(column.type, Numeric):
        return Change(label, old, new, "number", column.type.scale or 0)
    return Change(label, old, new, "text")


def _said(say, value) -> str | None:
    return None if value is None else str(say(value))


def _month(value: date | None) -> str | None:
    return None if value is None else str(Month.of(value))


CODES = {
    (Meter, "status"): word,
    (Customer, "tax_status"): word,
    (ApprovalRequest, "status"): word,
    (ApprovalRequest, "kind"): lambda code: ApprovalKind(code).label,
    (ApprovalRequest, "adjustment_reason"): lambda code: AdjustmentReason(code).label,
    (User, "role"): role_name,
    (MeterReading, "index_from"): lambda code: IndexFrom(code).label,
}
"""The columns that keep a code name, each with how its screen says it."""

MONTHS = {(Target, "period_start")}
"""The dates that stand for their month: shown as the month, as the record's screen shows it."""

LABELS = {
    "created_at": _l("Created"),
    "created_by_id": _l("Created by"),
    "use_realtime_calculation": _l("Calculated in real time"),
    "closed_at": _l("Closed"),
    "closed_by_id": _l("Closed by"),
    "grand_total": _l("Grand total"),
    "status": _l("Status"),
    "retired_on": _l("Retired on"),
    "retired_by_id": _l("Retired by"),
    "active": _l("Active"),
    "is_active": _l("Active"),
    "customer_id": _l("Customer"),
    "meter_id": _l("Meter"),
    "started_on": _l("From"),
    "ended_on": _l("Until"),
    "withdrawn_at": _l("Withdrawn"),
    "withdrawn_by_id": _l("Withdrawn by"),
    "withdrawal_reason": _l("Why it was withdrawn"),
    "withdrawal_entry_id": _l("Journal entry of the withdrawal"),
    "entry_id": _l("Journal entry"),
    "kind": _l("Kind"),
    "amount": _l("Amount"),
    "vat": _l("VAT"),
    "vat_rate": _l("VAT rate"),
    "vat_included": _l("Amount given with its VAT in it"),
    "settled_before": _l("Settled in the system before"),
    "authority_number": _l("Tax office number"),
    "authority_signature": _l("Tax office signature"),
    "authority_recorded_at": _l("Tax office number recorded"),
    "nitku": _l("NITKU (place of business)"),
    "einvoice_template": _l("E-invoice template symbol"),
    "einvoice_series": _l("E-invoice series"),
    "etims_branch": _l("eTIMS branch"),
    "etims_device": _l("eTIMS device serial"),
    "logo_type": _l("Logo's kind of image"),
    "logo_sha256": _l("Logo's fingerprint (SHA-256)"),
    "signed_amount": _l("Amount with its sign"),
    "movement_id": _l("Wallet movement"),
    "adjustment_reason": _l("Reason"),
    "description": _l("Description"),
    "value_date": _l("Value date"),
    "reason": _l("Why"),
    "idempotency_key": _l("Request key"),
    "entry_seal": _l("Seal of the journal entry"),
    "correction": _l("Correction"),
    "requested_by_id": _l("Requested by"),
    "requested_at": _l("Requested"),
    "decided_by_id": _l("Decided by"),
    "decided_at": _l("Decided"),
    "rejection_reason": _l("Why it was rejected"),
    "result_movement_id": _l("Resulting wallet movement"),
    "result_entry_id": _l("Resulting journal entry"),
    "first_approved_by_id": _l("First approved by"),
    "first_approved_at": _l("First approved"),
    "index_from": _l("Counted from"),
    "counted_from": _l("Index counted from"),
}
"""The labels of the fields no edit form of their record has (what the application keeps by itself)."""


@cache
def labels_of(model: type) -> dict[str, str]:
    """Per column of ``model``'s history, the label of the field its edit forms give it, else of :data:`LABELS`."""
    labels = dict(LABELS)
    for form in reversed(EDIT_FORMS.get(model, ())):
        for name in dir(form):
            unbound = getattr(form, name)
            if isinstance(unbound, UnboundField) and (label := _form_label(unbound)) is not None:
                labels[name] = label
    return labels


def _form_label(unbound: UnboundField):
    return unbound.args[0] if unbound.args else unbound.kwargs.get("label")


EDIT_FORMS: dict[type, tuple[type, ...]] = {}
"""Per record, the forms a clerk writes it with, the edit form first: their labels are the history's. Given by the
app as it registers the screens (:func:`label_with`): the screens that define them show histories with this module."""


def label_with(forms: dict[type, tuple[type, ...]]) -> None:
    """Label the histories of these records with the fields of their forms (see :data:`EDIT_FORMS`)."""
    EDIT_FORMS.update(forms)
    labels_of.cache_clear()


def who_did(transaction: HistoryTransaction) -> str:
    """Who made a history transaction's changes, in the reader's words."""
    return _who(person(transaction.user), transaction.actor, transaction.issued_at)


def _who(user: str | None, actor: str, when: datetime) -> str:
    """A user by name (else email), and the import that wrote it (its number, file and digest); else what
    :class:`~backoffice.models.history.ActorPlugin` stored: a command by what it does, a job by the job that was
    running then, the screens or the system."""
    if actor.startswith("import #") and actor.count(" ") >= 3:
        number, digest, filename = actor.removeprefix("import #").split(" ", 2)
        made = _("import #%(id)s of %(file)s (SHA-256 %(digest)s…)", id=number, file=filename, digest=digest)
        return _("%(user)s, by %(source)s", user=user, source=made) if user else made
    if user:
        return user
    if actor.startswith("command "):
        command = actor.removeprefix("command ")
        done = COMMANDS.get(command.split(" ", 1)[-1])
        return str(done) if done is not None else _("a command: %(name)s", name=command)
    if actor.startswith("job "):
        return str(JOBS.get(_job_running(when), _l("a background job")))
    if actor == "web":
        return _("a web request without a login")
    return _("the system")


COMMANDS = {"demo-data": _l("demo data")}
"""The commands named by what they do rather than by how they are typed."""

JOBS = {
    "nightly_maintenance": _l("nightly maintenance"),
    "monthly_rebuild": _l("the monthly rebuild"),
    "auto_heal": _l("an auto-heal"),
    "recalculate_customer": _l("a customer's recalculation"),
    "verify": _l("a reconciliation run"),
    "rebuild": _l("a rebuild"),
    "tariff_change": _l("a tariff change"),
}
"""What each kind of job is called when it made a change."""


def _job_running(when: datetime) -> str | None:
    """The kind of the job that was running at ``when``, when only one was: the version names its job no further
    (``job execute``), and of jobs running side by side none can be told apart."""
    running = db.session.scalars(
        select(JobRecord.kind)
        .where(JobRecord.started_at <= when, (JobRecord.ended_at >= when) | JobRecord.ended_at.is_(None))
        .limit(2)
    ).all()
    return running[0] if len(running) == 1 else None
