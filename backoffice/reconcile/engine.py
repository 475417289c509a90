"""The engine: verify, fix, rebuild or dry-run checks over a scope, recording everything.

Each check is processed in key-range chunks; each chunk is one transaction of a few
set-based statements (totals, mismatches, and for a writing mode the fix and its audit
rows). Nothing loops over entities in Python but the rows that are actually wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, insert, or_, select

from backoffice.extensions import db
from backoffice.models import (
    CheckResult,
    Customer,
    Discrepancy,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    User,
)
from backoffice.models.types import utcnow
from backoffice.reconcile import Check, Scope, resolve

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(check_name, chunks_done, chunks_total)``."""

_ID_BATCH = 500


class UnknownCustomer(ValueError):
    def __init__(self, codes: list[str]) -> None:
        super().__init__(f"Unknown customer code{'s' if len(codes) > 1 else ''}: {', '.join(codes)}.")


def scope_for(customer_codes=(), from_month=None) -> Scope:
    """A scope from what a user typed; raises :class:`UnknownCustomer`."""
    codes = tuple(dict.fromkeys(customer_codes))
    ids: tuple[int, ...] = ()
    if codes:
        found = dict(db.session.execute(select(Customer.code, Customer.id).where(Customer.code.in_(codes))).all())
        missing = [code for code in codes if code not in found]
        if missing:
            raise UnknownCustomer(missing)
        ids = tuple(found[code] for code in codes)
    return Scope(customer_ids=ids, customer_codes=codes, from_month=from_month)


def run(
    mode: RunMode,
    *,
    checks: list[str] | tuple[str, ...] | None = None,
    scope: Scope = Scope(),
    trigger: RunTrigger = RunTrigger.CLI,
    user: User | None = None,
    progress: ProgressCallback | None = None,
) -> ReconciliationRun:
    """Run the named checks (all by default) and return the finished run record."""
    selected = resolve(checks)
    record = ReconciliationRun(
        mode=mode,
        trigger=trigger,
        user_id=user.id if user else None,
        scope=scope.describe(),
        checks=[check.name for check in selected],
    )
    db.session.add(record)
    db.session.commit()
    try:
        for check in selected:
            _run_check(record, check, scope, progress)
        record.status = RunStatus.SUCCEEDED
    except BaseException as error:
        db.session.rollback()
        record.status = RunStatus.FAILED
        record.error = f"{type(error).__name__}: {error}"
        raise
    finally:
        record.finished_at = utcnow()
        db.session.commit()
    return record


def discrepancies(run_id: int, check: str | None = None):
    """The run's discrepancies, largest difference first."""
    query = select(Discrepancy).where(Discrepancy.run_id == run_id)
    if check:
        query = query.where(Discrepancy.check == check)
    return query.order_by(func.abs(Discrepancy.difference).desc(), Discrepancy.id)


@dataclass
class _Totals:
    stored: dict[str, Decimal]
    correction: dict[str, Decimal]

    def as_json(self) -> dict:
        return {
            name: {"before": str(value), "after": str(value + self.correction[name])}
            for name, value in self.stored.items()
        }


def _run_check(record: ReconciliationRun, check: Check, scope: Scope, progress: ProgressCallback | None) -> None:
    started = time.monotonic()
    result = CheckResult(run_id=record.id, check=check.name, checked=0, mismatched=0, fixed=0)
    fields = check.fields()
    totals = _Totals({f.name: Decimal(0) for f in fields}, {f.name: Decimal(0) for f in fields})
    ranges = _key_ranges(check, scope)
    writes = record.mode.writes and check.fixable
    for done, (low, high) in enumerate(ranges, start=1):
        in_chunk = [*check.scope_conditions(scope), check.key >= low, check.key <= high]
        count, *sums = db.session.execute(
            select(func.count(), *(func.coalesce(func.sum(f.stored), 0) for f in fields)).select_from(check.table).where(*in_chunk)
        ).one()
        result.checked += count
        for f, total in zip(fields, sums, strict=True):
            totals.stored[f.name] += Decimal(total)
        wrong = db.session.execute(
            select(check.key, *(f.stored for f in fields), *(f.expected for f in fields))
            .where(*in_chunk, or_(*(f.stored.is_distinct_from(f.expected) for f in fields)))
            .order_by(check.key)
        ).all()
        rows = _discrepancy_rows(record, check, fields, wrong, totals)
        ids = sorted({row["entity_id"] for row in rows})
        result.mismatched += len(ids)
        if writes and ids:
            for start in range(0, len(ids), _ID_BATCH):
                check.write(db.session.connection(), ids[start : start + _ID_BATCH])
            fixed_at = utcnow()
            for row in rows:
                row.update(fixed=True, fixed_at=fixed_at)
            result.fixed += len(ids)
        if rows:
            db.session.execute(insert(Discrepancy), rows)
        db.session.commit()
        if progress:
            progress(check.name, done, len(ranges))
    result.totals = totals.as_json()
    result.duration_ms = int((time.monotonic() - started) * 1000)
    db.session.add(result)
    db.session.commit()


def _key_ranges(check: Check, scope: Scope) -> list[tuple[int, int]]:
    low, high = db.session.execute(
        select(func.min(check.key), func.max(check.key)).where(*check.scope_conditions(scope))
    ).one()
    if low is None:
        return []
    size = current_app.config["RECONCILE_CHUNK_SIZE"]
    return [(start, min(start + size - 1, high)) for start in range(low, high + 1, size)]


def _discrepancy_rows(record, check: Check, fields, wrong, totals: _Totals) -> list[dict]:
    rows = []
    width = len(fields)
    for row in wrong:
        entity_id, stored_values, expected_values = row[0], row[1 : 1 + width], row[1 + width :]
        for f, stored, expected in zip(fields, stored_values, expected_values, strict=True):
            stored_d = _decimal(stored, f.scale)
            expected_d = _decimal(expected, f.scale)
            if stored_d == expected_d:
                continue
            difference = (expected_d or Decimal(0)) - (stored_d or Decimal(0))
            totals.correction[f.name] += difference
            rows.append(
                {
                    "run_id": record.id,
                    "check": check.name,
                    "entity_type": check.entity_type,
                    "entity_id": entity_id,
                    "field": f.name,
                    "stored": stored_d,
                    "expected": expected_d,
                    "difference": difference,
                    "fixed": False,
                    "fixed_at": None,
                }
            )
    return rows


def _decimal(value, scale: int) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(1).scaleb(-scale))
