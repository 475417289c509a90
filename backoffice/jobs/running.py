"""Running a job, by a worker or in-process: RQ's entry points (``execute``, and ``execute_chunk`` for a chunk of a
split run), and the job's progress and outcome on its row. The worker beats for the job in Redis while it runs (see
``sweep``)."""

from __future__ import annotations

import logging
import os
import time
from datetime import date, datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from backoffice.jobs.chunks import _enqueue_chunks, _run_ended, anchor_night, run_result
from backoffice.jobs.durations import _count_duration
from backoffice.jobs.kinds import KINDS, Kind, _plan, _trigger
from backoffice.jobs.messages import english, fact
from backoffice.jobs.titles import english_title
from backoffice.models import JobRecord, JobStatus, ReconciliationRun, RunStatus
from backoffice.models.types import Month, utcnow
from backoffice.platform import logs
from backoffice.platform.extensions import db
from backoffice.reconcile import fanout, resolve
from backoffice.reconcile.engine import run as run_checks
from backoffice.reconcile.engine import scope_for
from backoffice.reconcile.locks import RunRefused, waits
from backoffice.reconcile.transitions import move_job
from backoffice.services import month_end
from backoffice.services.metering import left_quarantined, process_recalculations, reprice_tariff

log = logging.getLogger("backoffice.jobs")

TRANSIENT_RETRY = {"max": 3, "interval": [10, 60, 300]}
"""RQ's retries of a job the database failed (``Retry``'s arguments)."""

WAITING_RETRY = {"max": 24 * 60, "interval": 60}
"""A scheduled run split into jobs that meets another run writing its checks is tried again every minute, for a
day at most (``Retry``'s arguments): a worker waiting for it could be the one the other run's chunks wait for."""


def execute(job_id: str):
    """Run the job a row describes, mirroring its progress and outcome on the row (the RQ entry point); every line
    it logs carries its id."""
    with logs.job(job_id):
        return _execute(job_id)


def _execute(job_id: str):
    if os.getpid() != current_app.extensions["backoffice.pid"]:
        # A forked work-horse must not share the parent's database connections.
        db.engine.dispose(close=False)
    record = db.session.get(JobRecord, job_id)
    if record is None:
        raise LookupError(f"No job row {job_id}: it was never committed or has been deleted.")
    if record.status is JobStatus.ABANDONED:
        # Released while the queue had lost it, and started again under another row if wanted.
        log.warning("Job %s was released (%s); it is not run.", job_id, record.error)
        return None
    if record.run_id is not None and fanout.is_split(record.run_id):
        # Tried again after its run was recorded (the database went away as its chunks were put on the queue):
        # the run's chunks end the run and this row with it; the sweep queues again those the queue does not have.
        if move_job(job_id, JobStatus.STARTED, from_=(JobStatus.FAILED,), at=utcnow()):
            db.session.execute(
                update(JobRecord).where(JobRecord.id == job_id).values(error=None, message=fact("started"))
            )
        db.session.commit()
        log.info("Its run #%d was started by an earlier attempt; it is not started again.", record.run_id)
        return {"run_id": record.run_id}
    spec = KINDS[record.kind]
    moved = move_job(job_id, JobStatus.STARTED, from_=(JobStatus.QUEUED, JobStatus.FAILED), at=utcnow())
    if not moved and record.status is not JobStatus.STARTED:
        # Ended already: a finished job is not run again, as its row could not say so.
        log.warning("Job %s has %s; it is not run again.", job_id, record.status.value)
        return None
    record.attempts += 1
    record.heartbeat_at, record.error, record.message = utcnow(), None, fact("started")
    db.session.commit()
    log.info("Started (attempt %d): %s", record.attempts, english_title(record))
    # RQ where it is used (see jobs.queues).
    from rq import Retry, get_current_job

    try:
        if spec.mode is None:
            result = WITHOUT_A_RUN[spec.name](record)
        else:
            recalculated = _recalculate(spec, record)
            run, split = _run(spec, record, recalculated)
    except RunRefused as refused:
        if waits(_trigger(record)) and get_current_job() is not None:
            _wait(job_id, refused)
            return Retry(**WAITING_RETRY)
        _finish(job_id, JobStatus.FAILED, error=str(refused))
        raise
    except OperationalError as error:
        # The database went away or timed out: RQ runs the job again later.
        _finish(job_id, JobStatus.FAILED, error=f"{type(error).__name__}: {error} (retried later)")
        if get_current_job() is not None:
            return Retry(**TRANSIENT_RETRY)
        raise
    except Exception as error:
        _finish(job_id, JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
        raise
    if spec.mode is None:
        _finish(job_id, JobStatus.FINISHED, result=result)
        return result
    if split:  # its chunks' jobs end the run, and this row with it
        return {"run_id": run.id, "status": run.status.value}
    anchor_night(record, run.id)
    db.session.commit()
    ended = utcnow()
    _finish(job_id, JobStatus.FINISHED, result=run_result(record, run, recalculated, ended), at=ended)
    return {"run_id": run.id, "status": run.status.value}


def execute_chunk(chunk_id: int):
    """Do one chunk of a run split into jobs, and report the run's progress on its job's row (the RQ entry point of
    a chunk's job). A chunk the database failed is tried again later while it has attempts left; any other error
    fails it, and its run, for good."""
    if os.getpid() != current_app.extensions["backoffice.pid"]:
        db.engine.dispose(close=False)
    try:
        done = fanout.do(chunk_id, on_end=_run_ended)
    except OperationalError as error:
        if fanout.retry_later(chunk_id, f"{type(error).__name__}: {error}", on_end=_run_ended):
            # RQ where it is used (see jobs.queues).
            from rq import Retry

            return Retry(**TRANSIENT_RETRY)
        raise
    except Exception as error:
        fanout.fail(chunk_id, f"{type(error).__name__}: {error}", on_end=_run_ended)
        raise
    if done is None:
        log.info("Chunk %d: nothing to do (done already, or its run has ended)", chunk_id)
        return {"chunk_id": chunk_id, "done": False}
    _enqueue_chunks(done.queued)
    percent, code, numbers = fanout.progress(done.run_id)
    message = fact(code, **numbers)
    db.session.execute(
        update(JobRecord)
        .where(JobRecord.run_id == done.run_id, JobRecord.status == JobStatus.STARTED)
        .values(progress=percent, message=message, heartbeat_at=utcnow())
    )
    db.session.commit()
    log.info("%d%%: %s", percent, english(message))
    if done.ended and (record := db.session.scalar(select(JobRecord).where(JobRecord.run_id == done.run_id))):
        with logs.job(record.id):
            said_finished(record.result)
    if delay := current_app.config["JOB_STEP_DELAY_SECONDS"]:
        time.sleep(delay)
    return {"chunk_id": chunk_id, "done": True}


def _recalculate(spec: Kind, record: JobRecord) -> int:
    """A job that writes first does the pending recalculation requests of its customers (everyone's by default)."""
    if not spec.mode(record.args).writes:
        return 0
    if spec.name == "recalculate_customer":
        customer_ids = [record.args["customer_id"]]
    else:
        customer_ids = list(scope_for(record.args.get("customers") or []).customer_ids) or None
    _report(record.id, 0, "recalculating")
    return process_recalculations(customer_ids, record.user)


def _reprice_tariff(record: JobRecord) -> dict:
    """The re-pricing a tariff change left to the job: its customers' recalculation requests, a batch at a time."""
    job_id = record.id

    def progress(done: int, total: int) -> None:
        _report(job_id, done * 100 // total, "repriced", done=done, total=total)

    _report(job_id, 0, "repricing")
    effective_from = date.fromisoformat(record.args["effective_from"])
    result = {"recalculations_done": reprice_tariff(effective_from, record.user, progress)}
    if held := left_quarantined(from_date=effective_from):
        result["left_quarantined"] = held
    return result


def _month_end(record: JobRecord) -> dict:
    """The month's documents written, and sent when asked (see ``services.month_end``)."""
    job_id, args = record.id, record.args

    def progress(done: int, total: int) -> None:
        _report(job_id, done * 100 // total, "documents", done=done, total=total)

    _report(job_id, 0, "documents", done=0, total=0)
    report = month_end.run(
        Month.parse(args["month"]),
        statements=args.get("statements", True),
        invoices=args.get("invoices", True),
        send=args.get("send", False),
        user=record.user,
        progress=progress,
    )
    return report.as_result()


WITHOUT_A_RUN = {"tariff_change": _reprice_tariff, "month_end": _month_end}
"""The jobs that run no checks: what each does, and the result its row keeps."""


def _run(spec: Kind, record: JobRecord, recalculated: int) -> tuple[ReconciliationRun, bool]:
    """The job's run, and whether it was split into jobs (then it is still running)."""
    args = record.args
    checks, scope = _plan(spec, args)
    names = [check.name for check in resolve(checks)]
    delay = current_app.config["JOB_STEP_DELAY_SECONDS"]
    job_id = record.id

    def progress(check: str, done: int, total: int) -> None:
        share = (names.index(check) + done / max(total, 1)) / len(names)
        _report(job_id, int(share * 100), "chunk", check=check, done=done, total=total)
        if delay:
            time.sleep(delay)

    def on_start(run: ReconciliationRun) -> None:
        db.session.execute(update(JobRecord).where(JobRecord.id == job_id).values(run_id=run.id))
        db.session.commit()

    # RQ where it is used (see jobs.queues).
    from rq import get_current_job

    if get_current_job() is not None and fanout.applies(spec.mode(args), scope):
        # What the job did before its run, kept for the result its last chunk writes.
        db.session.execute(
            update(JobRecord).where(JobRecord.id == job_id).values(result={"recalculations_done": recalculated})
        )
        run, queued = fanout.start(
            spec.mode(args),
            checks=checks,
            scope=scope,
            trigger=_trigger(record),
            user=record.user,
            on_start=on_start,
            on_end=_run_ended,
        )
        _enqueue_chunks(queued)
        if run.status is RunStatus.RUNNING:
            percent, code, numbers = fanout.progress(run.id)
            _report(job_id, percent, code, **numbers)
        return run, True
    run = run_checks(
        spec.mode(args),
        checks=checks,
        scope=scope,
        trigger=_trigger(record),
        user=record.user,
        progress=progress,
        on_start=on_start,
    )
    return run, False


def _wait(job_id: str, refused: RunRefused) -> None:
    """Back to queued, saying why: a scheduled job waits for the run ahead of it."""
    db.session.rollback()
    move_job(job_id, JobStatus.QUEUED, from_=(JobStatus.STARTED,), at=utcnow())
    if refused.run_id is None:
        message = fact("waiting_for_check", check=refused.check)
    else:
        message = fact("waiting_for_run", check=refused.check, run=refused.run_id)
    db.session.execute(update(JobRecord).where(JobRecord.id == job_id).values(message=message))
    db.session.commit()
    log.info("%s (%s)", english(message), refused)


def _report(job_id: str, percent: int, code: str, **numbers: int | str) -> None:
    """Where the job is, as facts (see ``jobs.messages``), on its row and in RQ's meta; in English in the log."""
    message = fact(code, **numbers)
    log.info("%d%%: %s", percent, english(message))
    db.session.execute(
        update(JobRecord).where(JobRecord.id == job_id).values(progress=percent, message=message, heartbeat_at=utcnow())
    )
    db.session.commit()
    # RQ where it is used (see jobs.queues).
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta.update(progress=percent, message={"code": code, **numbers})
        job.save_meta()


def _finish(
    job_id: str, status: JobStatus, *, result: dict | None = None, error: str | None = None, at: datetime | None = None
) -> None:
    """End the job's row ``at`` (now), with its result or its error."""
    db.session.rollback()
    ended = at or utcnow()
    moved = move_job(job_id, status, from_=(JobStatus.STARTED,), at=ended)
    values = {"active_key": None, "error": error}
    if status is JobStatus.FINISHED:
        values |= {"progress": 100, "message": fact("finished"), "result": result}
    else:
        values["message"] = fact("failed")
    row = db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(**values)
        .returning(JobRecord.kind, JobRecord.started_at)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None and moved:
        _count_duration(row.kind, row.started_at, ended)
    db.session.commit()
    if status is JobStatus.FINISHED:
        said_finished(result)
    else:
        log.error("Failed: %s", error)


def said_finished(result: dict, logger: logging.Logger = log) -> None:
    """The line that says a job ended with ``result``, which a run from the command line writes too (to its own
    logger): "Finished: run 7 succeeded: 3 mismatched, 3 fixed; 0 recalculations done"."""
    logger.info("Finished: %s", _outcome(result))


def _outcome(result: dict) -> str:
    """A job's result in a few words: "run 7 succeeded: 3 mismatched, 3 fixed; 0 recalculations done", or a
    month-end's "760 documents produced, 752 sent, 0 refused, 8 without an e-mail address"."""
    if "produced" in result:
        return (
            f"{result['produced']} documents produced, {result['sent']} sent, {len(result['refused'])} refused, "
            f"{len(result['no_address'])} without an e-mail address"
        )
    done = f"{result['recalculations_done']} recalculations done"
    if held := result.get("left_quarantined"):
        done += f" (left waiting, quarantined: {', '.join(held)})"
    if "run_id" not in result:
        return done
    mismatched = sum(check["mismatched"] for check in result["checks"])
    fixed = sum(check["fixed"] for check in result["checks"])
    return f"run {result['run_id']} {result['status']}: {mismatched} mismatched, {fixed} fixed; {done}"
