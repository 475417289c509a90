"""The latest state of each check, for the dashboard, the health API and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, select

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
    """
    whole = select(ReconciliationRun.id).where(_full())
    newest = (
        select(CheckResult.check, func.max(CheckResult.id).label("id"))
        .where(CheckResult.run_id.in_(whole))
        .group_by(CheckResult.check)
        .subquery()
    )
    rows = db.session.execute(
        select(CheckResult, ReconciliationRun.finished_at, ReconciliationRun.mode)
        .join(newest, CheckResult.id == newest.c.id)
        .join(ReconciliationRun, ReconciliationRun.id == CheckResult.run_id)
    ).all()
    found = {result.check: (result, finished_at, mode) for result, finished_at, mode in rows}
    succeeded = dict(
        db.session.execute(
            select(CheckResult.check, func.max(ReconciliationRun.finished_at))
            .join(ReconciliationRun, ReconciliationRun.id == CheckResult.run_id)
            .where(_full(), ReconciliationRun.status == RunStatus.SUCCEEDED, ReconciliationRun.mode != RunMode.DRY_RUN)
            .group_by(CheckResult.check)
        ).all()
    )
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


def _full():
    return cast(ReconciliationRun.scope, String) == "{}"
