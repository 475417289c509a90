"""The jobs nothing will finish: those whose worker stopped, ended by RQ's callbacks, and those RQ cannot know of,
found by the sweep.

Such a job's row is marked abandoned and its run failed; a chunk of a split run is queued again instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from backoffice.jobs.chunks import _enqueue_chunks, _run_ended
from backoffice.jobs.kinds import KINDS
from backoffice.jobs.messages import WORKER_STOPPED, fact
from backoffice.jobs.queues import ON_THE_QUEUE_WITHIN, QUEUES, _not_on_the_queue, _queued, redis_connection, redis_url
from backoffice.models import ChunkStatus, JobRecord, JobStatus, ReconciliationChunk, ReconciliationRun, RunStatus
from backoffice.models.types import as_utc, utcnow
from backoffice.platform import logs
from backoffice.platform.extensions import db
from backoffice.reconcile import fanout
from backoffice.reconcile.transitions import end_run, move_job

if TYPE_CHECKING:
    from redis import Redis
    from rq.job import Job

log = logging.getLogger("backoffice.jobs")

PAST_THE_LIMIT = timedelta(seconds=60)
"""RQ's worker kills a work-horse still running a minute past its job's time limit."""


def on_failure(job: Job, connection: Redis, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback of the jobs and chunks: one RQ found abandoned (``AbandonedJobError``: its worker
    stopped beating) is ended by :func:`worker_stopped`. A job that raised has ended its row itself."""
    # RQ where it is used (see jobs.queues).
    from rq.exceptions import AbandonedJobError

    if exc_type is not None and issubclass(exc_type, AbandonedJobError):
        worker_stopped(job)


def on_stopped(job: Job, connection: Redis) -> None:
    """RQ's stopped callback of the jobs and chunks (a job stopped by RQ's command): ended as if its worker had
    stopped."""
    worker_stopped(job)


def worker_stopped(job: Job) -> None:
    """End what an RQ job left when it stopped short (its worker died, its work-horse was killed, it was stopped): a
    job's row is marked abandoned and its run failed; a split run's chunk is queued again while it has attempts left,
    else it fails, and its run with it. A row or chunk that has ended, or gone on to another attempt, stays as it is."""
    heartbeat = job.last_heartbeat or job.started_at or utcnow()
    try:
        if job.func_name == "backoffice.jobs.execute":
            (job_id,) = job.args
            with logs.job(job_id):
                _abandon(job_id, heartbeat)
        elif job.func_name == "backoffice.jobs.execute_chunk":
            (chunk_id,) = job.args
            _chunk_stopped(chunk_id, job.id, heartbeat)
        elif job.stopped_callback not in (None, on_stopped):
            # Another package's job (an import's) ends itself, by the callback it was queued with.
            job.stopped_callback(job, job.connection)
    except BaseException:
        db.session.rollback()
        raise


def sweep_abandoned() -> list[str]:
    """Mark as abandoned the jobs nothing will finish, and queue again the chunks nothing will do; return the ids of
    the rows the sweep marked (those RQ's callbacks mark are logged).

    RQ's started registries are cleaned first: the jobs whose worker stopped beating are ended by their failure
    callback. Then what RQ cannot know of: the queued rows whose job the queue lost (:func:`release_if_lost`), the
    queued chunks it lost, and the started rows and chunks nothing will end (:func:`_sweep_started`).
    """
    if redis_url():
        _clean_started_registries()
    queued = db.session.scalars(
        select(JobRecord).where(
            JobRecord.status == JobStatus.QUEUED,
            JobRecord.in_process.is_(False),
            JobRecord.enqueued_at < utcnow() - ON_THE_QUEUE_WITHIN,
        )
    ).all()
    released = [record.id for record in queued if release_if_lost(record)] + _sweep_started()
    if redis_url():
        lost = [chunk.id for chunk in fanout.queued_before(utcnow() - ON_THE_QUEUE_WITHIN) if not _queued(chunk.job_id)]
        if lost:
            log.warning("Queueing again %d chunk(s) the queue lost", len(lost))
            _enqueue_chunks(lost)
    return released


def _clean_started_registries() -> None:
    """RQ's cleanup of the queues' started registries, which fails the jobs whose worker stopped beating and calls
    their failure callbacks. Redis out of reach, the next sweep cleans them."""
    # RQ where it is used (see jobs.queues).
    from redis.exceptions import RedisError
    from rq.registry import StartedJobRegistry

    try:
        for name in QUEUES:
            StartedJobRegistry(name, connection=redis_connection(), death_penalty_class=_untimed()).cleanup()
    except RedisError as error:
        log.warning("The started jobs' registries could not be cleaned: %s", error)


@cache
def _untimed() -> type:
    """A death penalty of RQ's that sets no time limit, for the callbacks the sweep's cleanup calls. The sweep runs in
    a web server's thread, where no alarm signal can be set, and in a job (the hourly tick), whose own alarm bounds it
    and must not be reset; RQ's timer would change the message of every job timeout in the process."""
    # RQ where it is used (see jobs.queues).
    from rq.timeouts import BaseDeathPenalty

    class Untimed(BaseDeathPenalty):
        def setup_death_penalty(self) -> None:
            pass

        def cancel_death_penalty(self) -> None:
            pass

    return Untimed


def _sweep_started() -> list[str]:
    """Mark abandoned the started rows, and queue again the started chunks, that RQ will not end: a job run in-process
    whose process died, one whose job the queue lost (Redis restarted without its data), and one whose callback could
    not reach the database as RQ ended it. Nothing beats for them, so each is taken only when no worker can be running
    it any more: its kind's time limit, and the minute RQ grants beyond it, passed since its attempt started."""
    now = utcnow()
    started = db.session.execute(
        select(JobRecord.id, JobRecord.kind, JobRecord.in_process, JobRecord.started_at, JobRecord.heartbeat_at).where(
            JobRecord.status == JobStatus.STARTED
        )
    ).all()
    abandoned = []
    for job_id, kind, in_process, started_at, heartbeat_at in started:
        if not _past_the_limit(kind, started_at, now):
            continue
        if not in_process and redis_url() and _not_on_the_queue(job_id) is None:
            continue  # RQ has it, and ends it
        with logs.job(job_id):
            if _abandon(job_id, heartbeat_at or started_at or now):
                abandoned.append(job_id)
    if not redis_url():
        return abandoned
    chunks = db.session.execute(
        select(ReconciliationChunk.id, ReconciliationChunk.job_id, ReconciliationChunk.heartbeat_at, JobRecord.kind)
        .join(JobRecord, JobRecord.run_id == ReconciliationChunk.run_id)
        .join(ReconciliationRun, ReconciliationRun.id == ReconciliationChunk.run_id)
        .where(ReconciliationRun.status == RunStatus.RUNNING, ReconciliationChunk.status == ChunkStatus.STARTED)
    ).all()
    for chunk_id, job_id, started_at, kind in chunks:
        if _past_the_limit(kind, started_at, now) and _not_on_the_queue(job_id) is not None:
            _chunk_stopped(chunk_id, job_id, started_at)
    return abandoned


def _past_the_limit(kind: str, started_at: datetime | None, now: datetime) -> bool:
    return started_at is None or as_utc(started_at) < now - timedelta(seconds=KINDS[kind].timeout) - PAST_THE_LIMIT


def _abandon(job_id: str, heartbeat: datetime) -> bool:
    """Mark the job's started row abandoned, its worker stopped after its last heartbeat, and its run failed; return
    whether it was. A split run's row is left to its chunks, which end it with their run."""
    run_id = db.session.scalar(select(JobRecord.run_id).where(JobRecord.id == job_id))
    split = run_id is not None and fanout.is_split(run_id)
    if split or not move_job(job_id, JobStatus.ABANDONED, from_=(JobStatus.STARTED,)):
        db.session.commit()
        return False
    error = WORKER_STOPPED.write(heartbeat=f"{heartbeat:%Y-%m-%d %H:%M:%S}")
    db.session.execute(
        update(JobRecord).where(JobRecord.id == job_id).values(active_key=None, error=error, message=fact("abandoned"))
    )
    if run_id is not None:
        end_run(run_id, RunStatus.FAILED, error)
    db.session.commit()
    log.warning("Marked abandoned: %s", error)
    return True


def _chunk_stopped(chunk_id: int, job_id: str, heartbeat: datetime) -> None:
    """Queue the chunk again, or fail it, when the queue's job ``job_id`` stopped during its attempt."""
    if fanout.abandoned(chunk_id, job_id, heartbeat, on_end=_run_ended):
        log.warning("Chunk %d: its worker stopped during its attempt; queued again", chunk_id)
        _enqueue_chunks([chunk_id])


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
