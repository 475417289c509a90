"""The latest state of each check, for the dashboard, the health API and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, literal, select, union_all

from backoffice.models import CheckResult, ReconciliationRun, RunMode, RunStatus
from backoffice.models.types import as_utc
from backoffice.platform.extensions import db
from backoffice.reconcile import CHECKS

results, runs = CheckResult.__table__, ReconciliationRun.__table__


@dataclass(frozen=True)
class CheckStatus:
    check: str
    description: str
    run_id: int | None
    last_run_at: datetime | None
    checked: int
    mismatched: int
    left: int
    duration_seconds: float | None  # float-ok: a duration
    mode: RunMode | None
    """The mode of the latest run: whether what it left had been tried to fix."""
    last_success_at: datetime | None
    """When the latest full verify, fix or rebuild that succeeded finished."""


def latest() -> list[CheckStatus]:
    """Each registered check's latest result over everything, and its latest full run that succeeded.

    A run scoped to some customers or months says nothing of the rest: a clean result of one
    customer must not hide what the last full run left, nor keep a check from going stale.

    Each figure is the first match walking back over the full runs alone (``ix_reconciliation_runs_full``, and its
    ends): not the runs over some customers, which a clerk's "recalculate customer" adds by the thousand. One
    statement answers for every check, each walk written once over the list of checks: written once per check,
    planning them took longer than running them.
    """
    found = {row.name: row for row in db.session.execute(_QUERY)}
    statuses = []
    for name, check in CHECKS.items():
        row = found[name]
        ran = row.run_id is not None
        statuses.append(
            CheckStatus(
                check=name,
                description=str(check.description),
                run_id=row.run_id,
                last_run_at=as_utc(row.finished_at),
                checked=row.checked if ran else 0,
                mismatched=row.mismatched if ran else 0,
                left=row.mismatched - row.fixed if ran else 0,
                duration_seconds=row.duration_ms / 1000 if ran else None,
                mode=row.mode,
                last_success_at=as_utc(row.succeeded_at),
            )
        )
    return statuses


def _query():
    """The statement :func:`latest` runs (it names every registered check): per check, its newest result of a full
    run with that run's end and mode, and when its latest full run that succeeded finished."""
    names = union_all(*(select(_constant(name, String(64)).label("name")) for name in CHECKS)).subquery("checks")
    newest = (
        select(results.c.id)
        .join(runs, runs.c.id == results.c.run_id)
        .where(results.c.check == names.c.name, _full(runs))
        .order_by(runs.c.id.desc(), results.c.id.desc())
        .limit(_constant(1))
        .scalar_subquery()
    )
    latest = select(
        names.c.name, newest.label("result_id"), _last_success(names.c.name).label("succeeded_at")
    ).subquery("latest")
    run = runs.alias("run")
    return (
        select(
            latest.c.name,
            results.c.run_id,
            results.c.checked,
            results.c.mismatched,
            results.c.fixed,
            results.c.duration_ms,
            run.c.finished_at,
            run.c.mode,
            latest.c.succeeded_at,
        )
        .select_from(latest)
        .outerjoin(results, results.c.id == latest.c.result_id)
        .outerjoin(run, run.c.id == results.c.run_id)
    )


def _last_success(check):
    """When the latest full run of ``check`` that succeeded (a verify, fix or rebuild) finished: a scalar subquery."""
    ran = select(results.c.id).where(results.c.run_id == runs.c.id, results.c.check == check).correlate_except(results)
    return (
        select(runs.c.finished_at)
        .where(
            _full(runs),
            runs.c.status == _constant(RunStatus.SUCCEEDED, runs.c.status.type),
            runs.c.mode != _constant(RunMode.DRY_RUN, runs.c.mode.type),
            runs.c.finished_at.is_not(None),
            ran.exists(),
        )
        .order_by(runs.c.finished_at.desc())
        .limit(_constant(1))
        .scalar_subquery()
    )


def _full(run):
    return cast(run.c.scope, String) == _constant("{}")


def _constant(value, type_=None):
    """A value written into the statement rather than bound to it: PostgreSQL's plan of a statement prepared again
    and again knows it then (a plan made for any scope, status and limit reads every run and every result)."""
    return literal(value, type_, literal_execute=True)


_QUERY = _query()
