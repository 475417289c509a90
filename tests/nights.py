"""What the tests of a nightly's share of a check have in common: nights after a first one on ``FIRST``, stripes of
``STRIPE`` ids swept over ``DAYS`` nights, and what a night's run kept and found of one check."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import CheckResult, Discrepancy, JobRecord, JobStatus
from backoffice.platform.extensions import db
from backoffice.reconcile import evidence_seals

FIRST = date(2026, 11, 1)
DAYS = 3
STRIPE = 2


def striped(app, monkeypatch) -> None:
    """Stripes of ``STRIPE`` ids, swept over ``DAYS`` nights."""
    monkeypatch.setattr(evidence_seals, "STRIPE", STRIPE)
    app.config["SEAL_SWEEP_DAYS"] = DAYS


def nightly(day: date) -> int:
    """The nightly maintenance of ``day``, finished: its run."""
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return record.run_id


def stripes(night: date):
    return evidence_seals.swept(night, DAYS)


def nights() -> list[date]:
    """The ``DAYS`` nights after the first: each stripe is one of theirs."""
    return [FIRST + timedelta(days=n) for n in range(1, DAYS + 1)]


def holding(key: int) -> date:
    """The night after the first whose stripes hold the id."""
    return next(night for night in nights() if stripes(night).contains(key))


def outside_the_stripes(*keys: int) -> date:
    """A night after the first whose stripes hold none of the ids: what reads them is not the sweep."""
    return next(night for night in nights() if not any(stripes(night).contains(key) for key in keys))


def covered(run_id: int, check: str) -> dict:
    return db.session.scalar(
        sa.select(CheckResult.covered).where(CheckResult.run_id == run_id, CheckResult.check == check)
    )


def found(run_id: int, check: str) -> set[int]:
    """The ids of the entities the run found wrong."""
    return set(
        db.session.scalars(
            sa.select(Discrepancy.entity_id).where(Discrepancy.run_id == run_id, Discrepancy.check == check)
        )
    )


def found_months(run_id: int, check: str) -> set[tuple[int, str]]:
    """The entities and months the run found wrong."""
    return set(
        db.session.execute(
            sa.select(Discrepancy.entity_id, Discrepancy.period).where(
                Discrepancy.run_id == run_id, Discrepancy.check == check
            )
        ).all()
    )


def nightly_record(day: date) -> JobRecord:
    """The nightly maintenance of ``day``, finished: its job's record."""
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return record
