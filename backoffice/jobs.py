"""Background jobs on RQ, each mirrored by a ``jobs`` row that outlives Redis.

``enqueue`` is the one way to start a job. With ``REDIS_URL`` set, it commits the row and
puts the job on its queue; a worker (``worker.py``) runs ``execute``. Without ``REDIS_URL``
the job runs at once, in the calling process, and its row says so.

A job that raises ends ``failed`` on its row and in RQ's failed registry; a transient
database error asks RQ to retry it later. A worker that dies mid-job stops its heartbeat;
the next worker or scheduler tick marks the row ``abandoned`` and its run ``failed``. A
queued row whose job the queue no longer has (Redis restarted without its data) is marked
``abandoned`` too, by that sweep or by the next attempt at the same job, which then starts.
Every job is safe to run again: the engine fixes in batches, each its own transaction.

A verify, fix or rebuild of everything run by a worker on PostgreSQL is split into one job per
key range of each check (see ``reconcile.fanout``): the job records the run and queues its
chunks' jobs (``execute_chunk``), which any worker runs; its row stays ``started``, with the
chunks done as its progress, and ends with the run, in the transaction of its last chunk. A
chunk whose worker died is queued again by the sweep, and one the queue lost is put back on it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from backoffice import logs, seals
from backoffice.config import local_today
from backoffice.extensions import db
from backoffice.models import (
    Customer,
    JobDurationBucket,
    JobRecord,
    JobStatus,
    ReconciliationChunk,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    User,
    duration_bucket,
)
from backoffice.models.types import Month, as_utc, upsert, utcnow
from backoffice.money import shown
from backoffice.reconcile import Scope, fanout, label, resolve
from backoffice.reconcile.engine import refuse_if_busy, scope_for
from backoffice.reconcile.engine import run as run_checks
from backoffice.reconcile.locks import RunRefused, waits
from backoffice.reconcile.report import summary
from backoffice.services.metering import process_recalculations, reprice_tariff

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

# RQ and its Redis client are imported where they are used: every command and web process imports this
# module, and most never touch the queue (a tenth of a second of the command line's start-up).

log = logging.getLogger(__name__)

QUEUES = ("recalc", "maintenance", "default")
"""Served in this order: what a user is waiting for first, the nightly work next."""

TRANSIENT_RETRY = {"max": 3, "interval": [10, 60, 300]}
"""RQ's retries of a job the database failed (``Retry``'s arguments)."""

WAITING_RETRY = {"max": 24 * 60, "interval": 60}
"""A scheduled run split into jobs that meets another run writing its checks is tried again every minute, for a
day at most (``Retry``'s arguments): a worker waiting for it could be the one the other run's chunks wait for."""

REDIS_CONNECT_TIMEOUT, REDIS_TIMEOUT = 2, 10

ON_THE_QUEUE_WITHIN = timedelta(seconds=REDIS_CONNECT_TIMEOUT + REDIS_TIMEOUT + 3)
"""A row is committed before its job is put on the queue, which succeeds or fails within Redis' timeouts: a
younger row whose job the queue does not have may be on its way there, not lost."""

LOST = "The queue lost this job (Redis restarted without its data); it was not run."
ENDED_ON_THE_QUEUE = frozenset({"finished", "failed", "stopped", "canceled"})
"""The states of an RQ job the queue will not run again (RQ's ``JobStatus`` values, which are strings)."""

NO_WORKER_NOTICE_AFTER = timedelta(seconds=10)
"""A listening worker takes a job within a second; a job queued longer tells whether any worker listens."""

WORKER_LOOKUP_SECONDS = 5
"""How long the answer of RQ's worker registry is kept: every panel polls every second."""


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached: the job was not started."""


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    queue: str
    timeout: int
    mode: Callable[[dict], RunMode] | None
    """The mode of the reconciliation run the job makes; ``None``: a job that runs no checks."""
    exclusive: bool = False
    """At most one job of this kind with the same arguments queued or running at a time."""


KINDS = {
    kind.name: kind
    for kind in (
        Kind("recalculate_customer", "Recalculate customer", "recalc", 15 * 60, lambda a: RunMode.FIX, exclusive=True),
        Kind("verify", "Verify", "recalc", 60 * 60, lambda a: RunMode.FIX if a.get("fix") else RunMode.VERIFY),
        Kind(
            "rebuild",
            "Rebuild",
            "maintenance",
            3 * 60 * 60,
            lambda a: RunMode.DRY_RUN if a.get("dry_run") else RunMode.REBUILD,
        ),
        Kind("nightly_maintenance", "Nightly maintenance", "maintenance", 3 * 60 * 60, lambda a: RunMode.FIX),
        Kind("monthly_rebuild", "Monthly rebuild", "maintenance", 6 * 60 * 60, lambda a: RunMode.REBUILD),
        Kind("tariff_change", "Tariff change", "recalc", 3 * 60 * 60, None),
    )
}


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
    active_key = _active_key(spec, args)
    job_id, holder = _key_holder(job_id, active_key, again_after_failure=again_after_failure)
    if holder is not None:
        return holder, False
    mode = spec.mode(args) if spec.mode else None
    if mode is not None and mode.writes and not waits(trigger):
        checks, scope = _plan(spec, args)
        refuse_if_busy(mode, checks=checks, scope=scope)
    record = JobRecord(
        id=job_id or uuid.uuid4().hex,
        kind=kind,
        args=args | {"trigger": trigger.value},
        queue=spec.queue,
        user_id=user.id if user else None,
        status=JobStatus.QUEUED,
        progress=0,
        message="Waiting for a worker" if redis_url() else "Running in-process",
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
        db.session.execute(
            update(JobRecord)
            .where(JobRecord.id == job_id, JobRecord.status == JobStatus.FAILED)
            .values(status=JobStatus.STARTED, ended_at=None, error=None, message="Started")
        )
        db.session.commit()
        log.info("Its run #%d was started by an earlier attempt; it is not started again.", record.run_id)
        return {"run_id": record.run_id}
    spec = KINDS[record.kind]
    record.status, record.started_at, record.ended_at = JobStatus.STARTED, utcnow(), None
    record.attempts += 1
    record.heartbeat_at, record.error, record.message = utcnow(), None, "Started"
    db.session.commit()
    log.info("Started (attempt %d): %s", record.attempts, english_title(record))
    from rq import Retry, get_current_job

    try:
        with _heartbeat(JobRecord, record.id):
            if spec.mode is None:
                repriced = _reprice_tariff(record)
            else:
                recalculated = _recalculate(spec, record)
                run, split = _run(spec, record, recalculated)
    except RunRefused as refused:
        if waits(_trigger(record)) and get_current_job() is not None:
            _wait(job_id, str(refused))
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
        _finish(job_id, JobStatus.FINISHED, result={"recalculations_done": repriced})
        return {"recalculations_done": repriced}
    if split:  # its chunks' jobs end the run, and this row with it
        return {"run_id": run.id, "status": run.status.value}
    result = summary(run, limit=0) | {"recalculations_done": recalculated}
    del result["discrepancies"]
    _finish(job_id, JobStatus.FINISHED, result=result)
    return {"run_id": run.id, "status": run.status.value}


def execute_chunk(chunk_id: int):
    """Do one chunk of a run split into jobs, and report the run's progress on its job's row (the RQ entry point of
    a chunk's job). A chunk the database failed is tried again later while it has attempts left; any other error
    fails it, and its run, for good."""
    if os.getpid() != current_app.extensions["backoffice.pid"]:
        db.engine.dispose(close=False)
    try:
        done = fanout.do(chunk_id, beat=lambda: _heartbeat(ReconciliationChunk, chunk_id), on_end=_run_ended)
    except OperationalError as error:
        if fanout.retry_later(chunk_id, f"{type(error).__name__}: {error}", on_end=_run_ended):
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
    percent, message = fanout.progress(done.run_id)
    db.session.execute(
        update(JobRecord)
        .where(JobRecord.run_id == done.run_id, JobRecord.status == JobStatus.STARTED)
        .values(progress=percent, message=message[:200], heartbeat_at=utcnow())
    )
    db.session.commit()
    log.info("%d%%: %s", percent, message)
    if done.ended and (record := db.session.scalar(select(JobRecord).where(JobRecord.run_id == done.run_id))):
        with logs.job(record.id):
            log.info("Finished: %s", _outcome(record.result))
    if delay := current_app.config["JOB_STEP_DELAY_SECONDS"]:
        time.sleep(delay)
    return {"chunk_id": chunk_id, "done": True}


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
        record.status, record.ended_at, record.active_key = JobStatus.ABANDONED, utcnow(), None
        record.error = (
            f"The worker stopped while the job ran (last heartbeat {record.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)."
        )
        record.message = "Abandoned"
        if record.run_id is not None:
            db.session.execute(
                update(ReconciliationRun)
                .where(ReconciliationRun.id == record.run_id, ReconciliationRun.status == RunStatus.RUNNING)
                .values(status=RunStatus.FAILED, finished_at=utcnow(), error=record.error)
            )
            seals.pending("reconciliation_runs", ReconciliationRun.id == record.run_id)
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
    if as_utc(record.enqueued_at) > utcnow() - ON_THE_QUEUE_WITHIN:
        return False
    reason = _not_on_the_queue(record.id)
    if reason is None:
        return False
    released = db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == record.id, JobRecord.status == JobStatus.QUEUED)
        .values(status=JobStatus.ABANDONED, ended_at=utcnow(), active_key=None, error=reason, message="Abandoned")
    ).rowcount
    db.session.commit()
    db.session.refresh(record)
    if released:
        log.warning("Job %s was queued but the queue lost it: marked abandoned.", record.id)
    return bool(released)


def enqueue_nightly(
    day: date | None = None,
    *,
    again_after_failure: bool = False,
    user: User | None = None,
    trigger: RunTrigger = RunTrigger.SCHEDULE,
) -> tuple[JobRecord, bool]:
    """Enqueue the nightly verify-and-fix of ``day`` (today in the installation's time zone), once.

    ``again_after_failure``: an attempt that failed is followed by a new one too, as an abandoned one always is.
    ``user`` and ``trigger``: who asked, when it is not the schedule (an admin from the home page).
    """
    day = day or local_today()
    sweep_abandoned()
    return enqueue(
        "nightly_maintenance",
        {"date": day.isoformat()},
        user=user,
        trigger=trigger,
        job_id=f"nightly-{day}",
        again_after_failure=again_after_failure,
    )


def enqueue_monthly_rebuild(day: date | None = None) -> tuple[JobRecord, bool]:
    month = str(Month.of(day or local_today()))
    return enqueue("monthly_rebuild", {"month": month}, trigger=RunTrigger.SCHEDULE, job_id=f"monthly-rebuild-{month}")


def catch_up() -> JobRecord | None:
    """The hourly tick: sweep abandoned jobs; enqueue today's nightly if none succeeded in 24 hours, unless today's
    latest attempt is queued, running or finished (one that failed or was abandoned is attempted again, once a
    tick: the new attempt is queued until a worker ends it)."""
    sweep_abandoned()
    succeeded = last_success("nightly_maintenance")
    if succeeded is not None and succeeded >= utcnow() - timedelta(hours=24):
        return None
    record, created = enqueue_nightly(again_after_failure=True)
    return record if created else None


def last_success(kind: str) -> datetime | None:
    """When the latest job of this kind that finished did."""
    return as_utc(db.session.scalar(_last_success(), {"kind": kind}))


@cache
def _last_success():
    """:func:`last_success`'s statement, built once: the health check reads it at every poll."""
    jobs = JobRecord.__table__
    return select(func.max(jobs.c.ended_at)).where(
        jobs.c.kind == bindparam("kind"), jobs.c.status == JobStatus.FINISHED
    )


def active_job(kind: str, args: dict) -> JobRecord | None:
    """The job of this kind and arguments queued or running, if any (one the queue lost is released)."""
    return _active(_active_key(KINDS[kind], args))


def waiting_notice(record: JobRecord) -> str | None:
    """What someone waiting on a job queued for a while should know: that no worker serves its queue."""
    if record.status is not JobStatus.QUEUED or record.in_process or not redis_url():
        return None
    if as_utc(record.enqueued_at) > utcnow() - NO_WORKER_NOTICE_AFTER or _worker_listens(record.queue):
        return None
    return _("No worker is listening on the queue '%(queue)s'; the job will run when one starts.", queue=record.queue)


def title(record: JobRecord) -> str:
    """What the job does, as a sentence a clerk reads in their language: "Verify and fix every check",
    "Recalculate customer C0005 — PT Sinar Jaya Makmur", "Rebuild (dry run) of Monthly balances for C0001 — …,
    from 2026-09"."""
    args = record.args
    if record.kind == "recalculate_customer":
        customer = db.session.get(Customer, args["customer_id"])
        named = _named(customer) if customer else "#" + str(args["customer_id"])
        return _("Recalculate customer %(customer)s", customer=named)
    if record.kind == "nightly_maintenance":
        return _("Nightly verify and fix of %(date)s", date=args["date"])
    if record.kind == "monthly_rebuild":
        return _("Monthly rebuild of %(month)s", month=args["month"])
    if record.kind == "tariff_change":
        price = shown(Decimal(args["price_per_sm3"])) if args.get("price_per_sm3") else None
        correction = args.get("meter_correction")
        values = {"from": args["effective_from"], "price": price, "correction": correction}
        if price and correction:
            return (
                _("Tariff change from %(from)s: price %(price)s per Sm³ and correction factor %(correction)s") % values
            )
        if correction:
            return _("Tariff change from %(from)s: correction factor %(correction)s") % values
        return _("Tariff change from %(from)s: price %(price)s per Sm³") % values
    checks = ", ".join(label(name) for name in args.get("checks") or []) or _("every check")
    if record.kind == "verify":
        doing = _("Verify and fix %(checks)s") if args.get("fix") else _("Verify %(checks)s")
    else:
        doing = _("Rebuild (dry run) of %(checks)s") if args.get("dry_run") else _("Rebuild %(checks)s")
    said = doing % {"checks": checks}
    if codes := args.get("customers"):
        customers = db.session.scalars(select(Customer).where(Customer.code.in_(codes)).order_by(Customer.code))
        said = _("%(job)s for %(customers)s", job=said, customers=", ".join(_named(customer) for customer in customers))
    if month := args.get("from_month"):
        said = _("%(job)s from %(month)s", job=said, month=month)
    return said


def english_title(record: JobRecord) -> str:
    """The job's :func:`title` in English, whoever started it: what the queue and the log say."""
    with force_locale("en"):
        return title(record)


def _named(customer: Customer) -> str:
    return f"{customer.code} — {customer.name}"


def redis_url() -> str | None:
    return current_app.config.get("REDIS_URL")


def redis_connection() -> Redis:
    """One connection pool per app, made on first use (never at import)."""
    connection = current_app.extensions.get("redis")
    if connection is None:
        from redis import Redis

        connection = Redis.from_url(
            redis_url(), socket_connect_timeout=REDIS_CONNECT_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
        current_app.extensions["redis"] = connection
    return connection


def queue(name: str) -> Queue:
    from rq import Queue

    return Queue(name, connection=redis_connection())


def _worker_listens(queue_name: str) -> bool:
    """Whether RQ's worker registry has a live worker on the queue, as it was at most a few seconds ago."""
    seen = current_app.extensions.setdefault("backoffice.listening", {})
    now = time.monotonic()
    if queue_name in seen and seen[queue_name][0] > now:
        return seen[queue_name][1]
    from redis.exceptions import RedisError
    from rq import Worker

    try:
        listens = bool(Worker.all(queue=queue(queue_name)))
    except RedisError:
        listens = True  # the registry cannot be asked: better say nothing than something wrong
    seen[queue_name] = (now + WORKER_LOOKUP_SECONDS, listens)
    return listens


def _recalculate(spec: Kind, record: JobRecord) -> int:
    """A job that writes first does the pending recalculation requests of its customers (everyone's by default)."""
    if not spec.mode(record.args).writes:
        return 0
    if spec.name == "recalculate_customer":
        customer_ids = [record.args["customer_id"]]
    else:
        customer_ids = list(scope_for(record.args.get("customers") or []).customer_ids) or None
    _report(record.id, 0, "Doing pending recalculations")
    return process_recalculations(customer_ids, record.user)


def _reprice_tariff(record: JobRecord) -> int:
    """The re-pricing a tariff change left to the job: its customers' recalculation requests, a batch at a time."""
    job_id = record.id

    def progress(done: int, total: int) -> None:
        _report(job_id, done * 100 // total, f"{done:,} of {total:,} customers re-priced")

    _report(job_id, 0, "Re-pricing")
    return reprice_tariff(date.fromisoformat(record.args["effective_from"]), record.user, progress)


def _plan(spec: Kind, args: dict) -> tuple[list[str] | None, Scope]:
    """The checks (None: all) and the scope the job runs on."""
    customers = args.get("customers") or []
    if spec.name == "recalculate_customer":
        customers = [db.session.get(Customer, args["customer_id"]).code]
    month = args.get("from_month")
    return args.get("checks") or None, scope_for(customers, Month.parse(month).first_day if month else None)


def _run(spec: Kind, record: JobRecord, recalculated: int) -> tuple[ReconciliationRun, bool]:
    """The job's run, and whether it was split into jobs (then it is still running)."""
    args = record.args
    checks, scope = _plan(spec, args)
    names = [check.name for check in resolve(checks)]
    delay = current_app.config["JOB_STEP_DELAY_SECONDS"]
    job_id = record.id

    def progress(check: str, done: int, total: int) -> None:
        share = (names.index(check) + done / max(total, 1)) / len(names)
        _report(job_id, int(share * 100), f"{check}: chunk {done} of {total}")
        if delay:
            time.sleep(delay)

    def on_start(run: ReconciliationRun) -> None:
        db.session.execute(update(JobRecord).where(JobRecord.id == job_id).values(run_id=run.id))
        db.session.commit()

    from rq import get_current_job

    if get_current_job() is not None and fanout.applies(scope):
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
            _report(job_id, *fanout.progress(run.id))
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


def _trigger(record: JobRecord) -> RunTrigger:
    return RunTrigger(record.args.get("trigger", RunTrigger.USER.value))


def _enqueue_chunks(chunk_ids: list[int]) -> None:
    """Put the chunks on the queue of the job that started their run, each under a job id of its own.

    Their rows are committed with the job ids first, as a job's row is: a chunk whose job did not reach the
    queue is put on it again by the sweep.
    """
    if not chunk_ids:
        return
    from redis.exceptions import RedisError
    from rq import Queue

    rows = db.session.execute(
        select(ReconciliationChunk.id, ReconciliationChunk.check, ReconciliationChunk.position, JobRecord)
        .join(JobRecord, JobRecord.run_id == ReconciliationChunk.run_id)
        .where(ReconciliationChunk.id.in_(chunk_ids))
        .order_by(ReconciliationChunk.id)
    ).all()
    ids = {chunk_id: f"{record.id}-{chunk_id}-{uuid.uuid4().hex[:8]}" for chunk_id, _, _, record in rows}
    db.session.execute(
        update(ReconciliationChunk), [{"id": c, "job_id": j, "enqueued_at": utcnow()} for c, j in ids.items()]
    )
    db.session.commit()
    by_queue: dict[str, list] = {}
    for chunk_id, check, position, record in rows:
        by_queue.setdefault(record.queue, []).append(
            Queue.prepare_data(
                "backoffice.jobs.execute_chunk",
                (chunk_id,),
                job_id=ids[chunk_id],
                timeout=KINDS[record.kind].timeout,
                result_ttl=24 * 3600,
                failure_ttl=7 * 24 * 3600,
                description=f"{english_title(record)}: {label(check)}, chunk {position}",
            )
        )
    try:
        for name, jobs_data in by_queue.items():
            queue(name).enqueue_many(jobs_data)
    except RedisError:
        log.exception("Chunks %s did not reach the queue; the sweep puts them on it", sorted(ids))


def _queued(job_id: str | None) -> bool:
    """Whether the queue has the job and will run it (or cannot be asked now)."""
    return job_id is not None and _not_on_the_queue(job_id) is None


def _not_on_the_queue(job_id: str) -> str | None:
    """Why the queue will not run the job: it does not have it, or it ended it without running it to its end (it
    failed as it began, the database away, say, or waited its retries out); ``None`` when it will run it, or when
    the queue cannot be asked now."""
    from redis.exceptions import RedisError
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        status = Job.fetch(job_id, connection=redis_connection()).get_status(refresh=False)
    except NoSuchJobError:
        return LOST
    except RedisError:
        return None
    status = getattr(status, "value", status)
    if status in ENDED_ON_THE_QUEUE:
        return f"The queue ended this job ({status}) before it ran to its end; it was not run."
    return None


def _run_ended(run: ReconciliationRun) -> None:
    """End the job row of a split run with the run, in the transaction that ends it."""
    record = db.session.scalar(select(JobRecord).where(JobRecord.run_id == run.id))
    if record is None:
        return
    ended = utcnow()
    values: dict = {"ended_at": ended, "active_key": None}
    if run.status is RunStatus.SUCCEEDED:
        result = summary(run, limit=0) | {"recalculations_done": (record.result or {}).get("recalculations_done", 0)}
        del result["discrepancies"]
        values |= {"status": JobStatus.FINISHED, "progress": 100, "message": "Finished", "result": result}
    else:
        values |= {"status": JobStatus.FAILED, "message": "Failed", "error": run.error}
    db.session.execute(update(JobRecord).where(JobRecord.id == record.id).values(**values))
    _count_duration(record.kind, record.started_at, ended)


def _wait(job_id: str, reason: str) -> None:
    """Back to queued, saying why: a scheduled job waits for the run ahead of it."""
    db.session.rollback()
    db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(status=JobStatus.QUEUED, message=f"Waiting: {reason}"[:200])
    )
    db.session.commit()


def _report(job_id: str, percent: int, message: str) -> None:
    log.info("%d%%: %s", percent, message)
    db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(progress=percent, message=message[:200], heartbeat_at=utcnow())
    )
    db.session.commit()
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta.update(progress=percent, message=message)
        job.save_meta()


def _finish(job_id: str, status: JobStatus, *, result: dict | None = None, error: str | None = None) -> None:
    db.session.rollback()
    ended = utcnow()
    values = {"status": status, "ended_at": ended, "active_key": None, "error": error}
    if status is JobStatus.FINISHED:
        values |= {"progress": 100, "message": "Finished", "result": result}
    else:
        values["message"] = "Failed"
    row = db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(**values)
        .returning(JobRecord.kind, JobRecord.started_at)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        _count_duration(row.kind, row.started_at, ended)
    db.session.commit()
    if status is JobStatus.FINISHED:
        log.info("Finished: %s", _outcome(result))
    else:
        log.error("Failed: %s", error)


def _count_duration(kind: str, started_at: datetime | None, ended_at: datetime) -> None:
    """Count an attempt of a job that ended in its kind's duration histogram, in the transaction recording its end.

    Each attempt counts: one the database failed counts as failed, and again as it ends when RQ runs it again.
    """
    if started_at is None:
        return
    ran = ended_at - as_utc(started_at)
    db.session.execute(
        _counting(db.session.get_bind().dialect.name),
        {"kind": kind, "bucket": duration_bucket(ran), "microseconds": ran // timedelta(microseconds=1)},
    )


@cache
def _counting(dialect: str):
    """``INSERT … ON CONFLICT (kind, bucket) DO UPDATE``: one more job in the bucket, and its microseconds."""
    buckets = JobDurationBucket.__table__
    new = upsert(dialect, buckets)
    new = new.values(kind=bindparam("kind"), bucket=bindparam("bucket"), jobs=1, microseconds=bindparam("microseconds"))
    return new.on_conflict_do_update(
        index_elements=[buckets.c.kind, buckets.c.bucket],
        set_={"jobs": buckets.c.jobs + 1, "microseconds": buckets.c.microseconds + new.excluded.microseconds},
    )


def _outcome(result: dict) -> str:
    """A job's result in a few words: "run 7 succeeded: 3 mismatched, 3 fixed; 0 recalculations done"."""
    done = f"{result['recalculations_done']} recalculations done"
    if "run_id" not in result:
        return done
    mismatched = sum(check["mismatched"] for check in result["checks"])
    fixed = sum(check["fixed"] for check in result["checks"])
    return f"run {result['run_id']} {result['status']}: {mismatched} mismatched, {fixed} fixed; {done}"


@contextmanager
def _heartbeat(model, row_id):
    """Beat on the row (a job's, a chunk's) from a thread while it runs; a killed worker stops beating."""
    engine = db.engine
    interval = current_app.config["JOB_HEARTBEAT_SECONDS"]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                with engine.begin() as connection:
                    connection.execute(update(model).where(model.id == row_id).values(heartbeat_at=utcnow()))
            except Exception:  # the job itself will meet and report a broken database
                log.exception("Heartbeat of %s %s failed", model.__tablename__, row_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{row_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _validate(spec: Kind, args: dict) -> None:
    """Refuse arguments the job could not run with, before anything is queued."""
    if spec.name == "tariff_change":
        date.fromisoformat(args["effective_from"])
        return
    resolve(args.get("checks"))
    scope_for(args.get("customers") or [], None)
    if spec.name == "recalculate_customer" and db.session.get(Customer, args.get("customer_id")) is None:
        raise LookupError(f"No customer with id {args.get('customer_id')!r}.")


def _active_key(spec: Kind, args: dict) -> str | None:
    if not spec.exclusive:
        return None
    return f"{spec.name}:" + ",".join(f"{k}={args[k]}" for k in sorted(args))


def _active(active_key: str | None) -> JobRecord | None:
    holder = db.session.scalar(select(JobRecord).where(JobRecord.active_key == active_key)) if active_key else None
    return None if holder is None or release_if_lost(holder) else holder


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
        if not ended and not release_if_lost(holder):
            return candidate, holder
        attempt += 1
        candidate = f"{job_id}_{attempt}"
    return candidate, None


def _failed_for_good(record: JobRecord) -> bool:
    """Whether the row failed and nothing will run its job again: a failure the database caused leaves it failed
    while RQ still holds the job for a later retry."""
    if record.status is not JobStatus.FAILED:
        return False
    return record.in_process or not redis_url() or not _queued(record.id)


def _existing(job_id: str, active_key: str | None) -> JobRecord:
    existing = db.session.get(JobRecord, job_id)
    if existing is None and active_key:
        existing = db.session.scalar(select(JobRecord).where(JobRecord.active_key == active_key))
    if existing is None:
        raise RuntimeError("A job with the same id or arguments was just started and has already gone.")
    return existing
