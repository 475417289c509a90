"""Starting a job (``enqueue``), and what the job rows tell: the job already started with the same arguments or id,
the latest success of a kind (a sealed run's), whether a worker will take a queued job."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, bindparam, false, func, select
from sqlalchemy.exc import IntegrityError

from backoffice.evidence import seals, verifying
from backoffice.jobs.kinds import KINDS, _active_key, _plan, _refuse_in_request, _validate
from backoffice.jobs.messages import fact
from backoffice.jobs.queues import QueueUnavailable, _queued, _worker_listens, callbacks, queue, redis_url
from backoffice.jobs.running import execute
from backoffice.jobs.sweep import release_if_lost
from backoffice.jobs.titles import english_title
from backoffice.models import JobRecord, JobStatus, ReconciliationRun, RunStatus, RunTrigger, User
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.databases import advisory_key
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import refuse_if_busy
from backoffice.reconcile.evidence_seals import READ_AS_A_NIGHT
from backoffice.reconcile.locks import RunRefused, waits

log = logging.getLogger("backoffice.jobs")

NO_WORKER_NOTICE_AFTER = timedelta(seconds=10)
"""A listening worker takes a job within a second; a job queued longer tells whether any worker listens."""


def enqueue(
    kind: str,
    args: dict | None = None,
    *,
    user: User | None = None,
    trigger: RunTrigger = RunTrigger.USER,
    job_id: str | None = None,
    again_after_failure: bool = False,
) -> tuple[JobRecord, bool]:
    """Start a job; return its row and whether this call created it.

    An exclusive kind already queued or running with the same arguments, or a ``job_id``
    already used, gives back the existing row instead of a second job (unless that row was abandoned, or
    failed and ``again_after_failure``: a new attempt is numbered after it). Raises
    :class:`QueueUnavailable` when Redis cannot be reached, and :class:`RunRefused` when another
    run writes what the job would (unless it is scheduled: it will wait); nothing is left behind then.
    """
    spec = KINDS[kind]
    args = args or {}
    _validate(spec, args)
    if not redis_url():
        _refuse_in_request(spec, args)
    active_key = _active_key(spec, args)
    job_id, holder = _key_holder(job_id, active_key, again_after_failure=again_after_failure)
    if holder is not None:
        return holder, False
    mode = spec.mode(args) if spec.mode else None
    if mode is not None and mode.writes:
        # Two jobs that write, asked at once, are queued one after the other: the second sees the first's row.
        db.session.execute(select(func.pg_advisory_xact_lock(advisory_key("jobs that write", 8))))
        if not waits(trigger):
            # The maintenance or auto-heal first, by its job (queued or running): once it runs, its run also holds
            # the checks' locks, and the locks alone would name the run, not the job that holds the place.
            _refuse_while_maintained()
            checks, scope = _plan(spec, args)
            refuse_if_busy(mode, checks=checks, scope=scope)
    row_id = job_id or uuid.uuid4().hex
    args = args | {"trigger": trigger.value}
    enqueued_at = utcnow()
    record = JobRecord(
        id=row_id,
        kind=kind,
        args=args,
        enqueued_at=enqueued_at,
        seal=seals.job_seal(row_id, kind, args, user.id if user else None, enqueued_at),
        queue=spec.queue,
        user_id=user.id if user else None,
        status=JobStatus.QUEUED,
        progress=0,
        message=fact("waiting_for_worker") if redis_url() else fact("in_process"),
        in_process=not redis_url(),
        active_key=active_key,
        attempts=0,
    )
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _existing(record.id, record.active_key), False
    if record.in_process:
        try:
            with force_locale("en"):  # what the job records and logs is English, as a worker's is
                execute(record.id)
        except Exception:
            log.exception("In-process job %s failed", record.id)
        db.session.refresh(record)
        return record, True
    # RQ where it is used (see jobs.queues).
    from redis.exceptions import RedisError
    from rq.exceptions import DuplicateJobError

    description = english_title(record)
    try:
        queue(spec.queue).enqueue(
            "backoffice.jobs.execute",
            record.id,
            job_id=record.id,
            unique=job_id is not None,
            job_timeout=spec.timeout,
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
            description=description,
            **callbacks(),
        )
    except DuplicateJobError:
        return record, False
    except RedisError as error:
        db.session.delete(record)
        db.session.commit()
        raise QueueUnavailable(
            _(
                "The job queue (Redis at %(url)s) cannot be reached, so the job was not started: %(error)s. Nothing "
                "was changed; try again once it is back.",
                url=redis_url(),
                error=error,
            )
        ) from None
    log.info("Queued job %s on %s: %s", record.id, spec.queue, description)
    return record, True


def _key_holder(
    job_id: str | None, active_key: str | None, *, again_after_failure: bool = False
) -> tuple[str | None, JobRecord | None]:
    """The id a new row takes and the row already holding the job's key, if any.

    A scheduled job's id is its key (``nightly-2026-11-22``): once that row is abandoned (or failed, with
    ``again_after_failure``), the next attempt takes the id numbered after it (``nightly-2026-11-22_2``), so two
    schedulers still make one row. An exclusive kind's key is its arguments, held while the job is queued or running.
    """
    if job_id is None:
        return None, _active(active_key)
    attempt, candidate = 1, job_id
    while (holder := db.session.get(JobRecord, candidate)) is not None:
        ended = holder.status is JobStatus.ABANDONED or (again_after_failure and _failed_for_good(holder))
        if not ended and not release_if_lost(holder) and made_here(holder) and _did_its_work(holder):
            return candidate, holder
        attempt += 1
        candidate = f"{job_id}_{attempt}"
    return candidate, None


def made_here(record: JobRecord) -> bool:
    """Whether the application made the job's row (its seal holds); one it did not make holds nothing, and is logged."""
    made = record.seal is not None and seals.same(
        record.seal, seals.job_seal(record.id, record.kind, record.args, record.user_id, record.enqueued_at)
    )
    if not made:
        log.error(
            "The job row %s (%s, %s) was not made by the application: its seal does not hold. It is ignored; the job "
            "takes the next attempt's id.",
            record.id,
            record.kind,
            record.status.value,
        )
    return made


def _did_its_work(record: JobRecord) -> bool:
    """Whether a scheduled job's row that says finished did its work: its run succeeded, carries a valid seal and
    started after the row was made. The runtime role can move a row to finished (``move_job``) and point it at any
    run; such a row holds nothing, and is logged."""
    if record.status is not JobStatus.FINISHED:
        return True
    run = db.session.get(ReconciliationRun, record.run_id) if record.run_id is not None else None
    done = (
        run is not None
        and run.status is RunStatus.SUCCEEDED
        and as_utc(run.started_at) >= as_utc(record.enqueued_at)
        and not unsealed_runs({run.id})
    )
    if not done:
        log.error(
            "The job row %s says finished, but no sealed run of its own succeeded: it is ignored; the job takes the "
            "next attempt's id.",
            record.id,
        )
    return done


def _active(active_key: str | None) -> JobRecord | None:
    holder = db.session.scalar(select(JobRecord).where(JobRecord.active_key == active_key)) if active_key else None
    return None if holder is None or release_if_lost(holder) else holder


def _refuse_while_maintained() -> None:
    """Refuse (:class:`RunRefused`) a run that writes while a maintenance or an auto-heal is queued or running: its
    run writes every check, and would refuse this one, or be refused by it, once a worker takes it."""
    active = db.session.execute(
        select(JobRecord.id, JobRecord.run_id)
        .where(JobRecord.kind.in_(READ_AS_A_NIGHT), JobRecord.status.in_((JobStatus.QUEUED, JobStatus.STARTED)))
        .order_by(JobRecord.enqueued_at)
        .limit(1)
    ).first()
    if active is not None:
        raise maintaining(active.id, active.run_id)


def maintaining(job_id: str, run_id: int | None) -> RunRefused:
    return RunRefused(
        _("A maintenance is already queued or running (job %(id)s); try again when it ends.", id=job_id),
        run_id=run_id,
        job_id=job_id,
    )


def _existing(job_id: str, active_key: str | None) -> JobRecord:
    existing = db.session.get(JobRecord, job_id)
    if existing is None and active_key:
        existing = db.session.scalar(select(JobRecord).where(JobRecord.active_key == active_key))
    if existing is None:
        raise RuntimeError("A job with the same id or arguments was just started and has already gone.")
    return existing


def _failed_for_good(record: JobRecord) -> bool:
    """Whether the row failed and nothing will run its job again: a failure the database caused leaves it failed
    while RQ still holds the job for a later retry."""
    if record.status is not JobStatus.FAILED:
        return False
    return record.in_process or not redis_url() or not _queued(record.id)


def active_job(kind: str, args: dict) -> JobRecord | None:
    """The job of this kind and arguments queued or running, if any (one the queue lost is released)."""
    return _active(_active_key(KINDS[kind], args))


def active_job_held(kind: str, args: dict[str, ColumnElement]) -> ColumnElement[bool]:
    """Whether a job of this kind and arguments holds its place as queued or running, in SQL: a page asks it with
    other questions in one statement, and calls :func:`active_job` only when one does. The arguments are columns of
    that statement (the id of the customer it reads), so that the statement is built once."""
    active_key = _active_key(KINDS[kind], args)
    if active_key is None:
        return false()
    return select(JobRecord.id).where(JobRecord.active_key == active_key).exists()


def last_success(kind: str) -> datetime | None:
    """When the latest run of a job of this kind that finished did, among the jobs whose run succeeded and carries a
    valid seal: a job's row says "finished" for whoever may write it, a sealed run only for the application."""
    latest = last_sealed_run(kind)
    return latest[1] if latest else None


def last_sealed_run(kind: str) -> tuple[int, datetime] | None:
    """The run of :func:`last_success`, and when it finished."""
    found = successes(kind)
    return sealed_run(found, unsealed_runs({run_id for run_id, _ended in found}))


def successes(kind: str) -> list[tuple[int, datetime]]:
    """The latest runs of the jobs of this kind that succeeded, the newest first, with when each finished; their
    seals not yet verified (:func:`sealed_run`)."""
    return db.session.execute(_LAST_SUCCESS, {"kind": kind}).all()


def sealed_run(found: list[tuple[int, datetime]], unsealed: list) -> tuple[int, datetime] | None:
    """The newest of the ``found`` runs whose seal holds, and when it finished, given the ``unsealed`` ones'
    findings."""
    forged = {finding.row_id for finding in unsealed}
    return next(((run_id, as_utc(ended)) for run_id, ended in found if run_id not in forged), None)


def unsealed_runs(run_ids: set[int]) -> list:
    """The findings on the runs whose seal does not hold, among ``run_ids``: verified in one statement, whichever
    runs ask for it (the health check verifies the nightly's and the checks' latest runs together)."""
    if not run_ids:
        return []
    runs = seals.kinds()["reconciliation_runs"]
    return verifying.verify(db.session.connection(), runs, where=runs.key.in_(sorted(run_ids))).findings


LAST_SUCCESSES_READ = 5
"""The latest successes :func:`last_success` reads, the newest whose run's seal holds answering."""


_jobs, _runs = JobRecord.__table__, ReconciliationRun.__table__
_LAST_SUCCESS = (
    select(_runs.c.id, _runs.c.finished_at)
    .join(_jobs, _jobs.c.run_id == _runs.c.id)
    .where(
        _jobs.c.kind == bindparam("kind"),
        _jobs.c.status == JobStatus.FINISHED,
        _runs.c.status == RunStatus.SUCCEEDED,
        _runs.c.finished_at.is_not(None),
    )
    .order_by(_runs.c.finished_at.desc())
    .limit(LAST_SUCCESSES_READ)
)
""":func:`successes`' statement: the health check reads it at every poll."""


def waiting_notice(record: JobRecord) -> str | None:
    """What someone waiting on a job queued for a while should know: that no worker serves its queue."""
    if record.status is not JobStatus.QUEUED or record.in_process or not redis_url():
        return None
    if as_utc(record.enqueued_at) > utcnow() - NO_WORKER_NOTICE_AFTER or _worker_listens(record.queue):
        return None
    return _("No worker is listening on the queue '%(queue)s'; the job will run when one starts.", queue=record.queue)
