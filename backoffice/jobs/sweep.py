"""The sweep: the jobs nothing will finish (their worker died, or the queue lost them) marked abandoned, and the
chunks of split runs whose worker died, or that the queue lost, queued again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from backoffice.jobs.chunks import _enqueue_chunks, _run_ended
from backoffice.jobs.messages import WORKER_STOPPED, fact
from backoffice.jobs.queues import ON_THE_QUEUE_WITHIN, _not_on_the_queue, _queued, redis_url
from backoffice.models import JobRecord, JobStatus, ReconciliationChunk, RunStatus
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.extensions import db
from backoffice.reconcile import fanout
from backoffice.reconcile.transitions import end_run, move_job

log = logging.getLogger("backoffice.jobs")


def sweep_abandoned() -> list[str]:
    """Mark as abandoned the jobs nothing will finish: those whose worker stopped beating (their runs fail
    too), and those queued whose job the queue lost. Queue again the chunks of split runs whose worker stopped
    beating (or fail them and their run when they have no attempt left), and those the queue lost."""
    cutoff = utcnow() - timedelta(seconds=3 * current_app.config["JOB_HEARTBEAT_SECONDS"])
    split = select(ReconciliationChunk.id).where(ReconciliationChunk.run_id == JobRecord.run_id).exists()
    stale = db.session.scalars(
        # A split run's job row waits for its chunks, which beat on their own rows.
        select(JobRecord).where(JobRecord.status == JobStatus.STARTED, JobRecord.heartbeat_at < cutoff, ~split)
    ).all()
    for record in stale:
        job_id, run_id = record.id, record.run_id
        error = WORKER_STOPPED.write(heartbeat=f"{record.heartbeat_at:%Y-%m-%d %H:%M:%S}")
        if not move_job(job_id, JobStatus.ABANDONED, from_=(JobStatus.STARTED,)):
            continue
        db.session.execute(
            update(JobRecord)
            .where(JobRecord.id == job_id)
            .values(active_key=None, error=error, message=fact("abandoned"))
        )
        if run_id is not None:
            end_run(run_id, RunStatus.FAILED, error)
    db.session.commit()
    if stale:
        log.warning("Marked %d abandoned job(s): %s", len(stale), ", ".join(r.id for r in stale))
    queued = db.session.scalars(
        select(JobRecord).where(
            JobRecord.status == JobStatus.QUEUED,
            JobRecord.in_process.is_(False),
            JobRecord.enqueued_at < utcnow() - ON_THE_QUEUE_WITHIN,
        )
    ).all()
    released = [record.id for record in stale] + [record.id for record in queued if release_if_lost(record)]
    if redis_url():
        _sweep_chunks(cutoff)
    return released


def _sweep_chunks(cutoff: datetime) -> None:
    """Queue again the chunks whose worker stopped beating before ``cutoff`` and those the queue lost."""
    again = fanout.abandoned(cutoff, on_end=_run_ended)
    lost = [chunk.id for chunk in fanout.queued_before(utcnow() - ON_THE_QUEUE_WITHIN) if not _queued(chunk.job_id)]
    if again or lost:
        log.warning("Queueing again %d chunk(s) whose worker stopped and %d the queue lost", len(again), len(lost))
        _enqueue_chunks(again + lost)


def release_if_lost(record: JobRecord) -> bool:
    """Mark a queued row abandoned when the queue no longer has its job, or ended it without running it to its end
    (a scheduled job that waited its retries out); return whether it was.

    Nothing would ever run such a job, and its row would keep refusing the same job as already queued.
    """
    if record.status is not JobStatus.QUEUED or record.in_process or not redis_url():
        return False
    now = utcnow()
    if now - ON_THE_QUEUE_WITHIN < as_utc(record.enqueued_at) <= now:
        # Queued a moment ago: its job may not be on the queue yet. (One queued "in the future" was written by SQL,
        # to hold a night's nightly off: it is asked about at once.)
        return False
    reason = _not_on_the_queue(record.id)
    if reason is None:
        return False
    released = move_job(record.id, JobStatus.ABANDONED, from_=(JobStatus.QUEUED,))
    if released:
        db.session.execute(
            update(JobRecord)
            .where(JobRecord.id == record.id)
            .values(active_key=None, error=reason, message=fact("abandoned"))
        )
    db.session.commit()
    db.session.refresh(record)
    if released:
        log.warning("Job %s was queued but the queue lost it: marked abandoned.", record.id)
    return bool(released)
