"""The latest state of each check, for the dashboard, the health API and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import String, cast, select

from backoffice.extensions import db
from backoffice.models import CheckResult, ReconciliationRun, RunMode, RunStatus
from backoffice.models.types import as_utc
from backoffice.reconcile import CHECKS


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

    @property
    def healthy(self) -> bool | None:
        """True when the latest run left nothing mismatched; None when the check never ran."""
        return None if self.run_id is None else self.left == 0


def latest() -> list[CheckStatus]:
    """Each registered check's latest result over everything, and its latest full run that succeeded.

    A run scoped to some customers or months says nothing of the rest: a clean result of one
    customer must not hide what the last full run left, nor keep a check from going stale.

    Each figure is the first match walking back from the newest result (or the latest finished run), one
    subquery per check: what is walked is what ran since the check's last full run, not the whole history,
    which runs over some customers add to by the thousand.
    """
    names = list(CHECKS)
    newest, succeeded = _queries()
    found = {result.check: (result, finished_at, mode) for result, finished_at, mode in db.session.execute(newest)}
    succeeded = dict(zip(names, db.session.execute(succeeded).one(), strict=True))
    statuses = []
    for name, check in CHECKS.items():
        result, finished_at, mode = found.get(name, (None, None, None))
        statuses.append(
            CheckStatus(
                check=name,
                description=check.description,
                run_id=result.run_id if result else None,
                last_run_at=as_utc(finished_at),
                checked=result.checked if result else 0,
                mismatched=result.mismatched if result else 0,
                left=result.left if result else 0,
                duration_seconds=result.duration_ms / 1000 if result else None,
                mode=mode,
                last_success_at=as_utc(succeeded.get(name)),
            )
        )
    return statuses


@cache
def _queries():
    """The statements :func:`latest` runs, built once (they name every registered check): each check's newest
    result of a full run with that run's end and mode, and one row of each check's latest success."""
    newest = [
        select(CheckResult.id)
        .join(ReconciliationRun, ReconciliationRun.id == CheckResult.run_id)
        .where(CheckResult.check == name, _full())
        .order_by(CheckResult.id.desc())
        .limit(1)
        .scalar_subquery()
        for name in CHECKS
    ]
    results = (
        select(CheckResult, ReconciliationRun.finished_at, ReconciliationRun.mode)
        .join(ReconciliationRun, ReconciliationRun.id == CheckResult.run_id)
        .where(CheckResult.id.in_(newest))
    )
    return results, select(*(_last_success(name).label(f"c{i}") for i, name in enumerate(CHECKS)))


def _last_success(check: str):
    """When the latest full run of ``check`` that succeeded (a verify, fix or rebuild) finished: a scalar subquery."""
    ran = select(CheckResult.id).where(CheckResult.run_id == ReconciliationRun.id, CheckResult.check == check)
    return (
        select(ReconciliationRun.finished_at)
        .where(
            _full(),
            ReconciliationRun.status == RunStatus.SUCCEEDED,
            ReconciliationRun.mode != RunMode.DRY_RUN,
            ReconciliationRun.finished_at.is_not(None),
            ran.exists(),
        )
        .order_by(ReconciliationRun.finished_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _full():
    return cast(ReconciliationRun.scope, String) == "{}"
