"""Reports of a run: its summary as JSON-ready data and its discrepancies as CSV lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from backoffice.extensions import db
from backoffice.models import Discrepancy, ReconciliationRun
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
