"""Reports of a run: its summary as JSON-ready data and its discrepancies as CSV lines.

What a clerk or an accountant reads names each entity by its business key and name (:func:`named_entities`, the
one place for every entity type) beside its internal id, each field in a clerk's words beside its code name
(:mod:`backoffice.reconcile.wording`), and each moment in the installation's time zone with its offset.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import distinct, func, select

from backoffice.models import (
    Account,
    AccountManager,
    ApprovalRequest,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Discrepancy,
    Invoice,
    Issuer,
    JournalEntry,
    Meter,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
    ReconciliationRun,
    Target,
    User,
)
from backoffice.models.types import Month, as_utc, local_date_of
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, named_month
from backoffice.reconcile import CHECKS, label
from backoffice.reconcile.engine import discrepancies
from backoffice.reconcile.history_drift import KEYS, versioned_tables
from backoffice.reconcile.history_drift import NAMES as VERSIONED
from backoffice.reconcile.wording import entity_tag, field_label
from backoffice.services.descriptions import account_name
from backoffice.services.exports import CsvLines, headings, worded

CSV_COLUMNS = [
    "run_id",
    "check",
    "entity_type",
    "entity_id",
    "period",
    "field",
    "stored",
    "expected",
    "difference",
    "fixed",
    "fixed_at",
    "reason",
    "entity_key",
    "entity_name",
    "field_label",
]
"""The first twelve columns are those scripts have read since the first report: new ones are added after them."""


def summary(run: ReconciliationRun, limit: int | None = None) -> dict:
    """The run as one JSON document; amounts are decimal strings."""
    query = discrepancies(run.id)
    if limit is not None:
        query = query.limit(limit)
    return {
        "run_id": run.id,
        "mode": run.mode.value,
        "status": run.status.value,
        "scope": run.scope,
        "customers": _customers(run.scope),
        "started_at": local_iso(run.started_at),
        "finished_at": local_iso(run.finished_at),
        "checks": [
            {
                "check": result.check,
                "checked": result.checked,
                "mismatched": result.mismatched,
                "fixed": result.fixed,
                "totals": result.totals,
            }
            # What a nightly read of a check that grows with the journal (``night``); any other run read it all.
            | ({"covered": result.covered} if result.covered is not None else {})
            for result in run.results
        ],
        "labels": {
            result.check: {
                "label": label(result.check),
                "fields": {name: field_label(result.check, name) for name in _field_names(result.check)},
            }
            for result in run.results
        },
        "discrepancies": discrepancy_dicts(db.session.scalars(query).all()),
    }


def _customers(scope: dict | None) -> list[dict]:
    """The customers a run's scope names, by code and name."""
    codes = (scope or {}).get("customers") or []
    if not codes:
        return []
    names = dict(db.session.execute(select(Customer.code, Customer.name).where(Customer.code.in_(codes))).all())
    return [{"code": code, "name": names.get(code)} for code in codes]


def _field_names(check: str) -> list[str]:
    found = CHECKS.get(check)
    return [f.name for f in found.fields()] if found is not None and not found.examines else []


def discrepancy_dicts(found: list[Discrepancy]) -> list[dict]:
    """The discrepancies as JSON-ready data, each entity named once for all of them."""
    named = named_entities({entity_of(d) for d in found})
    return [discrepancy_dict(d, named) for d in found]


def discrepancy_dict(d: Discrepancy, named: dict | None = None) -> dict:
    """A discrepancy as JSON-ready data; ``named``: its entity's name, when looked up with others'."""
    entity = name_of(d, named if named is not None else named_entities({entity_of(d)}))
    return {
        "check": d.check,
        "entity_type": d.entity_type,
        "entity_id": d.entity_id,
        "entity_key": entity.key,
        "entity_name": entity.name,
        "period": d.period,
        "field": d.field,
        "field_label": field_label(d.check, d.field),
        "stored": plain(d.stored),
        "expected": plain(d.expected),
        "difference": plain(d.difference),
        "fixed": d.fixed,
        "fixed_at": local_iso(d.fixed_at),
        "reason": d.reason,
    }


def csv_lines(run_id: int, check: str | None = None, words: Mapping[str, str] | None = None) -> Iterator[str]:
    """The run's discrepancies as CSV text, one line at a time (constant memory); coded cells (``fixed``) as
    ``words`` say them (see :func:`backoffice.services.exports.worded`)."""
    csv = CsvLines()
    yield csv.line(headings(CSV_COLUMNS))
    for values in worded(CSV_COLUMNS, run_rows(run_id, check), words):
        yield csv.line(values)


def run_rows(run_id: int, check: str | None = None, *, typed: bool = False) -> Iterator[list]:
    """The run's discrepancies as rows of :data:`CSV_COLUMNS`, each entity named, read a part at a time (constant
    memory); amounts as plain decimals, or ``typed``, as decimals (a workbook's numbers)."""
    query = discrepancies(run_id, check).execution_options(yield_per=_NAMED_PER)
    for part in db.session.scalars(query).partitions(_NAMED_PER):
        named = named_entities({entity_of(d) for d in part})
        for d in part:
            row = discrepancy_dict(d, named)
            amounts = (
                (d.stored, d.expected, d.difference) if typed else (row["stored"], row["expected"], row["difference"])
            )
            yield [
                run_id,
                *(row[column] for column in CSV_COLUMNS[1:6]),
                *amounts,
                "yes" if d.fixed else "no",
                row["fixed_at"] or "",
                d.reason or "",
                row["entity_key"],
                row["entity_name"],
                row["field_label"],
            ]


_NAMED_PER = 1000
"""Discrepancies read, and their entities named, at a time (constant memory, one lookup per type per part)."""


def csv_filename(run: ReconciliationRun, zone: str, extension: str = "csv") -> str:
    """The run's CSV (or workbook), named with the day it started in the installation's time zone."""
    return f"reconciliation-run-{run.id}-{local_date_of(run.started_at, zone).isoformat()}.{extension}"


def plain(value: Decimal | None) -> str | None:
    """A decimal string without exponent or thousands separators; trailing zeros past cents dropped."""
    if value is None:
        return None
    if value == value.quantize(Decimal("0.01")):
        value = value.quantize(Decimal("0.01"))
    return format(value, "f")


def iso(moment) -> str | None:
    """A moment in UTC, ISO 8601: for monitoring (the health check), whose readers compare moments."""
    return as_utc(moment).isoformat() if moment else None


def local_iso(moment: datetime | None) -> str | None:
    """A moment in the installation's time zone, ISO 8601 with its offset (``2026-11-24T07:06:03+07:00``): what an
    accountant reads beside the screens, which show that time."""
    if not moment:
        return None
    return as_utc(moment).astimezone(ZoneInfo(current_app.config["TIMEZONE"])).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Named:
    """An entity as a clerk names it: its business key (``C0042``, an order's number, an account's code) and its
    name (``C0042 — PT Sinar Jaya Makmur``), with the endpoint and arguments of the page showing it."""

    key: str
    name: str
    endpoint: str | None = None
    values: dict = field(default_factory=dict)
    said_key: str | None = None
    """The business key as a clerk reads it, where it holds a date or a month (named in the reader's language)."""

    @property
    def shown_key(self) -> str:
        return self.said_key or self.key


def entity_of(d: Discrepancy) -> tuple[str, int]:
    """The ``(entity type, id)`` a discrepancy is about: for a row of evidence (the ``evidence_seals`` check), the
    movement, entry, request, run or history version's record it is."""
    if d.entity_type != "evidence":
        return d.entity_type, d.entity_id
    return evidence_entity(d.field, d.entity_id)


def evidence_entity(kind: str, row_id: int) -> tuple[str, int]:
    """The ``(entity type, id)`` a row of evidence of ``kind`` is: a movement, an entry, a request or a run, a
    history version's record, a source row's record; ``evidence`` when it is none of these."""
    if kind in _EVIDENCE:
        return _EVIDENCE[kind], row_id
    table = kind.removesuffix("_history")
    return (VERSIONED[table][0] if table in VERSIONED else "evidence"), row_id


def name_of(d: Discrepancy, named: dict[tuple[str, int], Named]) -> Named:
    """The discrepancy's entity as :func:`named_entities` found it; by type and id when it is no longer there."""
    kind, entity_id = entity_of(d)
    return named.get((kind, entity_id)) or Named("", entity_tag(kind, "", entity_id))


def named_entities(entities: set[tuple[str, int]]) -> dict[tuple[str, int], Named]:
    """What each ``(entity type, id)`` is, as a clerk names it: the one naming of every entity a report shows. An
    entity no longer there is left out."""
    ids: dict[str, list[int]] = {}
    for kind, entity_id in entities:
        ids.setdefault(kind, []).append(entity_id)
    named = {}
    for kind, wanted in ids.items():
        if kind in _ALONE:
            named |= {(kind, entity_id): _ALONE[kind]() for entity_id in wanted}
        elif kind in _NAMING:
            statement, name = _NAMING[kind]
            for row in db.session.execute(statement.where(statement.selected_columns[0].in_(wanted))):
                named[kind, row[0]] = name(row)
    gone = {(kind, entity_id) for kind, entity_id in entities if (kind, entity_id) not in named}
    return named | _named_by_history(gone)


def _named_by_history(entities: set[tuple[str, int]]) -> dict[tuple[str, int], Named]:
    """Records no longer there (deleted outside the application, as ``history_drift`` finds them), named as their
    latest history version keys them: their type in the reader's words and their business key, as the live record's."""
    named = {}
    for table, history in versioned_tables():
        kind = VERSIONED[table.name][0] if table.name in VERSIONED else None
        wanted = [entity_id for entity_kind, entity_id in entities if entity_kind == kind]
        if not wanted:
            continue
        latest = (
            select(history.c.id, func.max(history.c.transaction_id).label("transaction_id"))
            .where(history.c.id.in_(wanted))
            .group_by(history.c.id)
            .subquery()
        )
        version = select(history.c.id, KEYS[table.name](history.c).label("key")).join(
            latest, (latest.c.id == history.c.id) & (latest.c.transaction_id == history.c.transaction_id)
        )
        for row in db.session.execute(version):
            record = entity_tag(kind, row.key, row.id)
            named[kind, row.id] = Named(row.key, _("%(record)s (deleted)", record=record))
    return named


_EVIDENCE = {
    "balance_transactions": "balance_transaction",
    "journal_entries": "journal_entry",
    "approval_requests": "approval_request",
    "approval_decisions": "approval_request",
    "approval_first_approvals": "approval_request",
    "reconciliation_runs": "reconciliation_run",
}
"""Per kind of evidence but the history versions (named after their record's type), the entity type of its rows."""

_ALONE = {"balance_sheet": lambda: Named("balance sheet", _("the balance sheet"), "books.balance_sheet")}
"""Entities of which there is one."""


_NAMING = {
    "customer": (
        select(Customer.id, Customer.code, Customer.name),
        lambda r: Named(r.code, f"{r.code} — {r.name}", "customers.show", {"code": r.code}),
    ),
    "order": (
        select(Order.id, Order.number, Customer.code, Customer.name).join(Customer, Customer.id == Order.customer_id),
        lambda r: Named(
            r.number or f"#{r.id}",
            _("order %(number)s of %(customer)s", number=r.number or f"#{r.id}", customer=f"{r.code} — {r.name}"),
            "orders.edit",
            {"order_id": r.id},
        ),
    ),
    "account_manager": (
        select(AccountManager.id, AccountManager.name, AccountManager.email),
        lambda r: Named(r.email, _("account manager %(name)s", name=r.name), "managers.edit", {"manager_id": r.id}),
    ),
    "target": (
        select(Target.id, Target.period_start, AccountManager.name, AccountManager.email).join(
            AccountManager, AccountManager.id == Target.account_manager_id
        ),
        lambda r: Named(
            f"{r.email} {r.period_start:%Y-%m}",
            _("target of %(manager)s for %(month)s", manager=r.name, month=named_month(r.period_start)),
            "targets.edit",
            {"target_id": r.id},
            f"{r.email} {named_month(r.period_start)}",
        ),
    ),
    "meter": (select(Meter.id, Meter.serial), lambda r: Named(r.serial, _("meter %(serial)s", serial=r.serial))),
    "meter_reading": (
        select(MeterReading.id, MeterReading.reading_date, Meter.serial, Customer.code)
        .join(Meter, Meter.id == MeterReading.meter_id)
        .join(Customer, Customer.id == MeterReading.customer_id),
        lambda r: Named(
            f"{r.serial} {r.reading_date:%Y-%m-%d}",
            _(
                "reading of meter %(serial)s on %(day)s (%(customer)s)",
                serial=r.serial,
                day=named_date(r.reading_date),
                customer=r.code,
            ),
            "metering.reading",
            {"code": r.code, "reading_id": r.id},
            f"{r.serial} {named_date(r.reading_date)}",
        ),
    ),
    "balance_transaction": (
        select(BalanceTransaction.id, Customer.code, Customer.name).join(
            Customer, Customer.id == BalanceTransaction.customer_id
        ),
        lambda r: Named(
            f"{r.code} #{r.id}",
            _("movement #%(id)s of %(customer)s", id=r.id, customer=f"{r.code} — {r.name}"),
            "ledger.movement",
            {"code": r.code, "movement_id": r.id},
        ),
    ),
    "account": (
        select(Account.id, Account.code, Account.name),
        lambda r: Named(r.code, _("account %(code)s %(name)s", code=r.code, name=account_name(r.code, r.name))),
    ),
    "journal_entry": (
        select(JournalEntry.id, JournalEntry.number),
        lambda r: Named(r.number, _("entry %(number)s", number=r.number), "books.entry", {"entry_id": r.id}),
    ),
    "customer_pricing": (
        select(CustomerPricing.id, CustomerPricing.effective_from, Customer.code, Customer.name).join(
            Customer, Customer.id == CustomerPricing.customer_id
        ),
        lambda r: Named(
            f"{r.code} {r.effective_from:%Y-%m-%d}",
            _(
                "pricing of %(customer)s from %(day)s",
                customer=f"{r.code} — {r.name}",
                day=named_date(r.effective_from),
            ),
            "customers.show",
            {"code": r.code, "tab": "metering"},
            f"{r.code} {named_date(r.effective_from)}",
        ),
    ),
    "invoice": (
        select(Invoice.id, Invoice.number, Meter.serial).join(Meter, Meter.id == Invoice.meter_id),
        lambda r: Named(r.number, _("invoice %(number)s on meter %(serial)s", number=r.number, serial=r.serial)),
    ),
    "payment": (
        select(Payment.id, Payment.paid_on, Payment.reference, Meter.serial).join(Meter, Meter.id == Payment.meter_id),
        lambda r: Named(
            f"#{r.id}",
            (
                _(
                    "payment #%(id)s on meter %(serial)s of %(day)s ref %(reference)s",
                    id=r.id,
                    serial=r.serial,
                    day=named_date(r.paid_on),
                    reference=r.reference,
                )
                if r.reference
                else _(
                    "payment #%(id)s on meter %(serial)s of %(day)s",
                    id=r.id,
                    serial=r.serial,
                    day=named_date(r.paid_on),
                )
            ),
        ),
    ),
    "meter_assignment": (
        select(MeterAssignment.id, MeterAssignment.started_on, Meter.serial, Customer.code, Customer.name)
        .join(Meter, Meter.id == MeterAssignment.meter_id)
        .join(Customer, Customer.id == MeterAssignment.customer_id),
        lambda r: Named(
            f"{r.serial} {r.code} {r.started_on:%Y-%m-%d}",
            _(
                "assignment of meter %(serial)s to %(customer)s from %(day)s",
                serial=r.serial,
                customer=f"{r.code} — {r.name}",
                day=named_date(r.started_on),
            ),
            "customers.show",
            {"code": r.code, "tab": "billing"},
            f"{r.serial} {r.code} {named_date(r.started_on)}",
        ),
    ),
    "user": (select(User.id, User.email), lambda r: Named(r.email, _("user %(email)s", email=r.email))),
    "issuer": (
        select(Issuer.id, Issuer.name),
        lambda r: Named(r.name, _("the issuer %(name)s", name=r.name), "issuer.edit", {}),
    ),
    "approval_request": (
        select(ApprovalRequest.id, ApprovalRequest.kind),
        lambda r: Named(
            f"#{r.id}", _("approval request #%(id)s (%(kind)s)", id=r.id, kind=r.kind.value.replace("_", " "))
        ),
    ),
    "reconciliation_run": (
        select(ReconciliationRun.id),
        lambda r: Named(f"#{r.id}", _("reconciliation run #%(id)s", id=r.id), "reconciliation.show", {"run_id": r.id}),
    ),
}
"""Per entity type: a select whose first column is the id, and how a row is named."""


@dataclass(frozen=True)
class PostpaidStanding:
    """Where a run that covered customers' postpaid totals left the customers in its scope who hold or held a meter
    (a customer who never held one has nothing postpaid to count)."""

    due: int
    overpaid: int
    clear: int
    changed: int
    due_changed: int = 0
    """Of the customers changed, those whose amount due changed."""
    overpaid_changed: int = 0
    """Of the customers changed, those whose overpayment changed."""

    def describe(self, writes: bool) -> str:
        figures = {"due": self.due, "overpaid": self.overpaid, "clear": self.clear, "changed": self.changed}
        if writes:
            said = _(
                "Postpaid customers: %(due)s with a balance due, %(overpaid)s with an overpayment, %(clear)s clear; "
                "%(changed)s changed.",
                **figures,
            )
        else:
            said = _(
                "Postpaid customers: %(due)s with a balance due, %(overpaid)s with an overpayment, %(clear)s clear; "
                "%(changed)s would change.",
                **figures,
            )
        if not self.changed:
            return said
        return (
            said
            + " "
            + _(
                "Amounts due: %(due)s; overpayments: %(overpaid)s.",
                due=self.due_changed,
                overpaid=self.overpaid_changed,
            )
        )


def postpaid_standing(run: ReconciliationRun) -> PostpaidStanding | None:
    """How many customers in the run's scope owe, are overpaid or are clear, and how many it changed (or would).

    ``None`` when the run did not cover customers' postpaid totals.
    """
    if not any(result.check == "customer_meter_totals" for result in run.results):
        return None
    standing = select(
        func.count().filter(Customer.amount_due > 0),
        func.count().filter(Customer.overpayment > 0),
        func.count().filter(Customer.amount_due == 0, Customer.overpayment == 0),
    ).where(Customer.id.in_(select(MeterAssignment.customer_id)))
    if codes := run.scope.get("customers"):
        standing = standing.where(Customer.code.in_(codes))
    found = [Discrepancy.run_id == run.id, Discrepancy.check == "customer_meter_totals"]
    if run.mode.writes:
        found.append(Discrepancy.fixed)
    entity = distinct(Discrepancy.entity_id)
    changed = select(
        func.count(entity),
        func.count(entity).filter(Discrepancy.field == "amount_due"),
        func.count(entity).filter(Discrepancy.field == "overpayment"),
    ).where(*found)
    due, overpaid, clear = db.session.execute(standing).one()
    return PostpaidStanding(due, overpaid, clear, *db.session.execute(changed).one())


def scope_text(scope: dict | None) -> str:
    """A run's scope as a clerk reads it."""
    if not scope:
        return _("everything")
    parts = []
    if customers := scope.get("customers"):
        parts.append(_("customers %(codes)s", codes=", ".join(customers)))
    if month := scope.get("from_month"):
        parts.append(_("from %(month)s", month=named_month(Month.parse(month))))
    return "; ".join(parts)
