"""The one way a job's status and a run's end move, and a finding of tampered evidence is decided.

The runtime role may not write those columns: it calls the owner's functions of migrations ``0041`` (``move_job``,
``end_reconciliation_run``) and ``0048`` (``decide_tampered_evidence``), which move one row by its id from the states
named (a run's end stamped by the database's clock; a decision made once, by an active admin). The database's
triggers refuse any move that is not a real transition (a job inserted finished, a nightly marked finished without
having started).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, String, bindparam, text

from backoffice.evidence import sealing
from backoffice.models import JobRecord, JobStatus, ReconciliationRun, Resolution, RunStatus, TamperedEvidence
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.extensions import db
from backoffice.services import notices


def move_job(job_id: str, to: JobStatus, *, from_: tuple[JobStatus, ...], at: datetime | None = None) -> bool:
    """Move the job from one of ``from_`` to ``to`` at ``at`` (now: its ``started_at`` when started, its
    ``ended_at`` when ended), in the session's transaction; whether it was in one of ``from_``. A job that ends so
    tells whoever started it, in the same transaction."""
    connection = db.session.connection()
    at = at or utcnow()
    moved = connection.execute(
        text("SELECT move_job(:id, :from_states, :to, :at)").bindparams(bindparam("from_states", type_=ARRAY(String))),
        {"id": job_id, "from_states": [state.value for state in from_], "to": to.value, "at": at},
    ).scalar()
    _forget(JobRecord, job_id)
    if moved and not to.active:
        notices.job_ended(job_id, to)
    return bool(moved)


def end_run(run_id: int, status: RunStatus, error: str | None = None) -> datetime | None:
    """End a running run (succeeded or failed), in the session's transaction, its seal made as it commits; when, or
    ``None`` when it had ended."""
    connection = db.session.connection()
    moved = connection.execute(
        text("SELECT end_reconciliation_run(:id, :to, :error)"), {"id": run_id, "to": status.value, "error": error}
    ).scalar()
    if moved is not None:
        sealing.pending("reconciliation_runs", run_id)
    _forget(ReconciliationRun, run_id)
    return as_utc(moved)


def decide_finding(finding_id: int, resolution: Resolution, reason: str, reviewed_seal: str, user_id: int) -> bool:
    """Decide the open finding, in the session's transaction (its decision sealed as it commits by the caller), stamped
    by the database's clock, so that a decision cannot be dated before the last verification; whether it was open."""
    connection = db.session.connection()
    decided = connection.execute(
        text("SELECT decide_tampered_evidence(:id, :resolution, :reason, :reviewed, :by)"),
        {"id": finding_id, "resolution": resolution.value, "reason": reason, "reviewed": reviewed_seal, "by": user_id},
    ).scalar()
    _forget(TamperedEvidence, finding_id)
    return bool(decided)


def _forget(model, row_id) -> None:
    """The session's copy of the row, if it holds one, is read again when next used."""
    held = db.session.identity_map.get(db.session.identity_key(model, row_id))
    if held is not None:
        db.session.expire(held)
