"""The source rows a fix reads, examined before it writes: no fix turns an unexplained source change into money.

Before a fix writes, the source rows its check reads (:attr:`Check.sources`) are compared with their latest sealed
history version. A row that differs, or whose version's seal fails, is recorded as tampered evidence: its customer is
quarantined, and nothing that reads the row is fixed until an admin decides (:func:`vouch`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, Table, and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy_continuum.utils import version_class

from backoffice.evidence import quarantine, seals, verifying
from backoffice.models import (
    CustomerPricing,
    HistoryOperation,
    Invoice,
    MeterAssignment,
    MeterReading,
    Payment,
    TamperedEvidence,
    covers,
)
from backoffice.models.history import record
from backoffice.models.types import utcnow
from backoffice.platform.sentences import Sentence
from backoffice.reconcile.base import Check
from backoffice.reconcile.history_drift import DELETED_VERSION, NAMES, NO_VERSION, state_of

findings = TamperedEvidence.__table__
assignments = MeterAssignment.__table__

MODELS = {model.__tablename__: model for model in (MeterReading, CustomerPricing, MeterAssignment, Invoice, Payment)}
"""The source tables a fix reads, by name: the kinds of the findings this module records."""


def _holder_on(day: str) -> Callable[[Table], ColumnElement]:
    """The customer who held the row's meter on the row's ``day`` (an invoice's issue, a payment's date)."""

    def holder(table: Table) -> ColumnElement:
        held = assignments.alias("held")
        return (
            select(held.c.customer_id)
            .where(held.c.meter_id == table.c.meter_id, covers(held.c, table.c[day]))
            .limit(1)
            .scalar_subquery()
        )

    return holder


CUSTOMER: dict[str, Callable[[Table], ColumnElement]] = {
    "meter_readings": lambda table: table.c.customer_id,
    "customer_pricing": lambda table: table.c.customer_id,
    "meter_assignments": lambda table: table.c.customer_id,
    "invoices": _holder_on("issued_on"),
    "payments": _holder_on("paid_on"),
}
"""Per source table: the customer a row concerns, quarantined while a finding of the row is open."""


def is_source(kind: str) -> bool:
    """Whether a finding's kind is a source row's (this module's), not a sealed row's (``seals.kinds``)."""
    return kind in MODELS


def held(connection: Connection, check: Check, keys: list[int], run_id: int | None) -> dict[int, str]:
    """Which of the check's wrong entities read a source row without a sealed history version, each with why;
    every such row found is recorded as tampered evidence first."""
    reasons: dict[int, str] = {}
    for table, rows in check.sources():
        read = rows(keys).subquery("read")
        _examine(connection, table, select(read.c.row_id), run_id)
        history = version_class(MODELS[table.name]).__table__
        open_ = (
            select(read.c.key, findings.c.what)
            .join(
                findings,
                and_(findings.c.kind.in_([table.name, history.name]), findings.c.row_id == read.c.row_id),
            )
            .where(findings.c.resolution.is_(None))
            .order_by(read.c.key, findings.c.id)
        )
        for key, what in connection.execute(open_):
            reasons.setdefault(key, READS_TAMPERED.write(what=what)[:300])
    return reasons


READS_TAMPERED = Sentence(
    "reads_tampered",
    "left unfixed: it reads tampered evidence, waiting for an admin: {what}",
    _l("left unfixed: it reads tampered evidence, waiting for an admin: %(what)s"),
)
"""Why a fix leaves an entity as it is: it reads a source row without a sealed history version (as its finding says
it)."""


def vouch(connection: Connection, finding: TamperedEvidence) -> str | None:
    """An admin's decision on a source row's finding: the row as it stands becomes its latest history version, in
    the reviewing transaction (sealed with it). Returns the row's seal as reviewed; None when it is gone."""
    model = MODELS[finding.kind]
    table = model.__table__
    if connection.execute(select(table.c.id).where(table.c.id == finding.row_id)).first() is None:
        return None
    operation = HistoryOperation.CREATE if finding.version == 0 else HistoryOperation.EDIT
    record(connection, model, table.c.id == finding.row_id, operation)
    history = version_class(model).__table__
    latest = select(func.max(history.c.transaction_id)).where(history.c.id == finding.row_id)
    return verifying.reviewed_seal(connection, seals.kinds()[history.name], finding.row_id, connection.scalar(latest))


def _examine(connection: Connection, table: Table, row_ids: Select, run_id: int | None) -> None:
    """Record, as tampered evidence, the rows ``row_ids`` selects that differ from their latest history version,
    and the latest versions of them whose seal is not valid."""
    model = MODELS[table.name]
    history = version_class(model).__table__
    customer = CUSTOMER[table.name](table)
    other = history.alias("other")
    latest = select(func.max(other.c.transaction_id)).where(other.c.id == table.c.id).scalar_subquery()
    version = history.alias("latest")
    state = state_of(table, history, version)
    _entity_type, name = NAMES[table.name]
    drifted = connection.execute(
        select(
            table.c.id,
            func.coalesce(version.c.transaction_id, 0),
            state,
            name(table.c),
            customer,
        )
        .select_from(
            table.outerjoin(version, and_(version.c.id == table.c.id, version.c.transaction_id == latest)),
        )
        .where(table.c.id.in_(row_ids), state != "")
    ).all()
    _record(connection, table.name, drifted, run_id)
    in_force = history.c.transaction_id == (
        select(func.max(other.c.transaction_id)).where(other.c.id == history.c.id).scalar_subquery()
    )
    found = verifying.verify(connection, seals.kinds()[history.name], where=and_(history.c.id.in_(row_ids), in_force))
    if found.findings and history.name in ("invoices_history", "payments_history"):
        # Their versions name no customer: the one who held the meter on the row's date is the one quarantined.
        owners = dict(
            connection.execute(
                select(table.c.id, customer).where(table.c.id.in_([f.row_id for f in found.findings]))
            ).all()
        )
        for finding in found.findings:
            finding.customer_id = finding.customer_id or owners.get(finding.row_id)
    quarantine.record(connection, found.findings, run_id)


def _record(connection: Connection, kind: str, drifted: list, run_id: int | None) -> None:
    """Keep each drifted row not open yet as a finding of its source table."""
    if not drifted:
        return
    open_ = set(
        connection.execute(
            select(findings.c.row_id, findings.c.version).where(
                findings.c.kind == kind,
                findings.c.row_id.in_([row[0] for row in drifted]),
                findings.c.resolution.is_(None),
            )
        ).all()
    )
    now = utcnow()
    new = [
        {
            "kind": kind,
            "row_id": row_id,
            "version": version,
            "customer_id": customer_id,
            "entry_id": None,
            "what": _what(name, state)[:300],
            "found_at": now,
            "found_run_id": run_id,
        }
        for row_id, version, state, name, customer_id in drifted
        if (row_id, version) not in open_
    ]
    if new:
        connection.execute(findings.insert(), new)


PROBLEMS = {
    "no_version": "{name} has no history version: it was written outside the application",
    "deleted_version": "{name} exists though its latest history version is its deletion",
    "changed": "{name}: {columns} changed outside the application (not as its latest history version says)",
}
"""Per problem code, what a source row's finding says of it (English, kept as its ``what``); a page says it from
the code (:func:`problem_of`), in the reader's language."""


def problem_of(what: str) -> tuple[str | None, list[str]]:
    """The problem code of a source row's finding kept as its ``what``, with the columns that changed: ``(None,
    [])`` for words no code has (a text cut at its column's length)."""
    for code, english in PROBLEMS.items():
        pattern = re.escape(english).replace(re.escape("{name}"), ".*").replace(re.escape("{columns}"), "(.+?)")
        if (found := re.fullmatch(pattern, what, re.DOTALL)) is not None:
            return code, found.group(1).split(", ") if found.groups() else []
    return None, []


def _what(name: str, state: str) -> str:
    if state == NO_VERSION:
        return PROBLEMS["no_version"].format(name=name)
    if state == DELETED_VERSION:
        return PROBLEMS["deleted_version"].format(name=name)
    return PROBLEMS["changed"].format(name=name, columns=state.removesuffix(", "))
