"""Reports of a run: its summary as JSON-ready data and its discrepancies as CSV lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import distinct, func, select

from backoffice.extensions import db
from backoffice.models import (
    Account,
    AccountManager,
    BalanceTransaction,
    Customer,
    Discrepancy,
    JournalEntry,
    Meter,
    MeterReading,
    Order,
    ReconciliationRun,
    Target,
)
from backoffice.models.types import as_utc
from backoffice.reconcile.engine import discrepancies

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
]


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
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "checks": [
            {
                "check": result.check,
                "checked": result.checked,
                "mismatched": result.mismatched,
                "fixed": result.fixed,
                "totals": result.totals,
            }
            for result in run.results
        ],
        "discrepancies": [discrepancy_dict(d) for d in db.session.scalars(query)],
    }


def discrepancy_dict(d: Discrepancy) -> dict:
    return {
        "check": d.check,
        "entity_type": d.entity_type,
        "entity_id": d.entity_id,
        "period": d.period,
        "field": d.field,
        "stored": plain(d.stored),
        "expected": plain(d.expected),
        "difference": plain(d.difference),
        "fixed": d.fixed,
        "fixed_at": iso(d.fixed_at),
        "reason": d.reason,
    }


def csv_lines(run_id: int, check: str | None = None) -> Iterator[str]:
    """The run's discrepancies as CSV text, one line at a time (constant memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CSV_COLUMNS)
    query = discrepancies(run_id, check).execution_options(yield_per=1000)
    for d in db.session.scalars(query):
        row = discrepancy_dict(d)
        yield line(
            [
                run_id,
                *(row[column] for column in CSV_COLUMNS[1:-3]),
                "yes" if d.fixed else "no",
                row["fixed_at"] or "",
                d.reason or "",
            ]
        )


def csv_filename(run: ReconciliationRun) -> str:
    return f"reconciliation-run-{run.id}-{run.started_at:%Y-%m-%d}.csv"


def plain(value: Decimal | None) -> str | None:
    """A decimal string without exponent or thousands separators; trailing zeros past cents dropped."""
    if value is None:
        return None
    if value == value.quantize(Decimal("0.01")):
        value = value.quantize(Decimal("0.01"))
    return format(value, "f")


def iso(moment) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def named_entities(entities: set[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str | None, dict]]:
    """What each ``(entity type, id)`` is, as a clerk names it ("C0001 — PT Sinar Jaya Makmur"), with the endpoint
    and arguments of the page showing it (``None``: no page of its own). An entity no longer there is left out."""
    ids: dict[str, list[int]] = {}
    for kind, entity_id in entities:
        ids.setdefault(kind, []).append(entity_id)
    named = {}
    for kind, wanted in ids.items():
        if kind in _NAMING:
            statement, name = _NAMING[kind]
            for row in db.session.execute(statement.where(statement.selected_columns[0].in_(wanted))):
                named[kind, row[0]] = name(row)
    return named


_NAMING = {
    "customer": (
        select(Customer.id, Customer.code, Customer.name),
        lambda r: (f"{r.code} — {r.name}", "customers.show", {"code": r.code}),
    ),
    "order": (
        select(Order.id, Order.number, Customer.code, Customer.name).join(Customer, Customer.id == Order.customer_id),
        lambda r: (f"order {r.number} of {r.code} — {r.name}", "orders.edit", {"order_id": r.id}),
    ),
    "account_manager": (
        select(AccountManager.id, AccountManager.name),
        lambda r: (f"account manager {r.name}", "managers.edit", {"manager_id": r.id}),
    ),
    "target": (
        select(Target.id, Target.period_start, AccountManager.name).join(
            AccountManager, AccountManager.id == Target.account_manager_id
        ),
        lambda r: (f"target of {r.name} for {r.period_start:%Y-%m}", "targets.edit", {"target_id": r.id}),
    ),
    "meter": (select(Meter.id, Meter.serial), lambda r: (f"meter {r.serial}", None, {})),
    "meter_reading": (
        select(MeterReading.id, MeterReading.reading_date, Meter.serial, Customer.code)
        .join(Meter, Meter.id == MeterReading.meter_id)
        .join(Customer, Customer.id == MeterReading.customer_id),
        lambda r: (
            f"reading of meter {r.serial} on {r.reading_date:%Y-%m-%d} ({r.code})",
            "metering.reading",
            {"code": r.code, "reading_id": r.id},
        ),
    ),
    "balance_transaction": (
        select(BalanceTransaction.id, Customer.code, Customer.name).join(
            Customer, Customer.id == BalanceTransaction.customer_id
        ),
        lambda r: (
            f"movement #{r.id} of {r.code} — {r.name}",
            "ledger.movement",
            {"code": r.code, "movement_id": r.id},
        ),
    ),
    "account": (select(Account.id, Account.code, Account.name), lambda r: (f"account {r.code} {r.name}", None, {})),
    "journal_entry": (
        select(JournalEntry.id, JournalEntry.number),
        lambda r: (f"entry {r.number}", "books.entry", {"entry_id": r.id}),
    ),
}
"""Per entity type: a select whose first column is the id, and a row's name and page."""


@dataclass(frozen=True)
class PostpaidStanding:
    """Where a run that covered customers' postpaid totals left the customers in its scope."""

    due: int
    overpaid: int
    clear: int
    changed: int

    def describe(self, writes: bool) -> str:
        changed = f"{self.changed} changed" if writes else f"{self.changed} would change"
        return (
            f"Postpaid customers: {self.due} with a balance due, {self.overpaid} with an overpayment, "
            f"{self.clear} clear; {changed}."
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
    )
    if codes := run.scope.get("customers"):
        standing = standing.where(Customer.code.in_(codes))
    changed = select(func.count(distinct(Discrepancy.entity_id))).where(
        Discrepancy.run_id == run.id, Discrepancy.check == "customer_meter_totals"
    )
    if run.mode.writes:
        changed = changed.where(Discrepancy.fixed)
    due, overpaid, clear = db.session.execute(standing).one()
    return PostpaidStanding(due, overpaid, clear, db.session.scalar(changed))


def scope_text(scope: dict | None) -> str:
    """A run's scope as a clerk reads it."""
    if not scope:
        return "everything"
    parts = []
    if customers := scope.get("customers"):
        parts.append("customers " + ", ".join(customers))
    if month := scope.get("from_month"):
        parts.append(f"from {month}")
    return "; ".join(parts)
