"""The jobs of a run split into one job per key range of each check (see ``reconcile.fanout``): its chunks put on
the queue, and the row of the job that started the run ended with it."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime

from sqlalchemy import select, update

from backoffice.evidence import anchors
from backoffice.jobs.durations import _count_duration
from backoffice.jobs.kinds import KINDS
from backoffice.jobs.messages import fact
from backoffice.jobs.queues import callbacks, queue
from backoffice.jobs.titles import english_title
from backoffice.models import JobRecord, JobStatus, ReconciliationChunk, ReconciliationRun, RunStatus
from backoffice.models.types import as_utc, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import label
from backoffice.reconcile.evidence_seals import SWEPT_BY, SWEPT_MS
from backoffice.reconcile.report import summary
from backoffice.reconcile.transitions import move_job

log = logging.getLogger("backoffice.jobs")


def _enqueue_chunks(chunk_ids: list[int]) -> None:
    """Put the chunks on the queue of the job that started their run, each under a job id of its own.

    Their rows are committed with the job ids first, as a job's row is: a chunk whose job did not reach the
    queue is put on it again by the sweep.
    """
    if not chunk_ids:
        return
    # RQ where it is used (see jobs.queues).
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
                **callbacks(),
            )
        )
    try:
        for name, jobs_data in by_queue.items():
            queue(name).enqueue_many(jobs_data)
    except RedisError:
        log.exception("Chunks %s did not reach the queue; the sweep puts them on it", sorted(ids))


def _run_ended(run: ReconciliationRun) -> None:
    """End the job row of a split run with the run, in the transaction that ends it."""
    record = db.session.scalar(select(JobRecord).where(JobRecord.run_id == run.id))
    if record is None:
        return
    job_id, kind, started_at, done = record.id, record.kind, record.started_at, record.result or {}
    values: dict = {"active_key": None}
    if run.status is RunStatus.SUCCEEDED:
        anchor_night(record, run.id)
        ended = utcnow()
        result = run_result(record, run, done.get("recalculations_done", 0), ended)
        values |= {"progress": 100, "message": fact("finished"), "result": result}
    else:
        ended = utcnow()
        values |= {"message": fact("failed"), "error": run.error}
    to = JobStatus.FINISHED if run.status is RunStatus.SUCCEEDED else JobStatus.FAILED
    moved = move_job(job_id, to, from_=(JobStatus.STARTED,), at=ended)
    db.session.execute(update(JobRecord).where(JobRecord.id == job_id).values(**values))
    if moved:
        _count_duration(kind, started_at, ended)


def run_result(record: JobRecord, run: ReconciliationRun, recalculations_done: int, ended: datetime) -> dict:
    """What the row of a job that ends at ``ended`` keeps of its run: the run's summary but its discrepancies, what
    the row kept while the job ran, and the recalculations the job did first. A nightly maintenance's keeps its
    figures too: how long it took, from its start to its end (its anchor written), how many rows its checks verified,
    the seals among them, and the part of the history its sweep verified (``seals_swept``, kept by the sweep): its
    share (one slice of ``BACKOFFICE_SEAL_SWEEP_DAYS``, or 1 when it verified all of it) and its rows, and how long
    they took with the proof and the anchor of the night's stripe of the chains (``seals_swept_ms``)."""
    result = summary(run, limit=0) | (record.result or {}) | {"recalculations_done": recalculations_done}
    del result["discrepancies"]
    result.pop(SWEPT_BY, None)
    if record.kind == "nightly_maintenance":
        result |= {
            "duration_seconds": (ended - as_utc(record.started_at)).total_seconds(),  # float-ok: a duration
            "rows_verified": sum(check["checked"] for check in result["checks"]),
        }
        if swept := result.get("seals_swept"):
            result |= {"swept_share": 1 / swept["slices"], "swept_rows": swept["rows"]}  # float-ok: a share
    return result


def anchor_night(record: JobRecord, run_id: int) -> None:
    """A nightly maintenance that succeeded anchors the heads of the chains its run proved
    (``backoffice.evidence.anchors``), in the transaction that ends its job: a night seen finished is anchored. An
    anchor refused, or a folder that cannot be written, is logged and leaves the night unanchored (the health check
    says so), its run's end kept."""
    if record.kind != "nightly_maintenance":
        return
    day = record.args.get("date")
    timings: dict[str, int] = {}
    try:
        with db.session.begin_nested():
            anchors.anchor(
                db.session.connection(), date.fromisoformat(day) if day else local_today(), run_id, timings=timings
            )
    except (anchors.AnchorRefused, OSError) as error:
        log.error("The night of %s is not anchored: %s", day or local_today(), error)
        return
    if "stripe_ms" in timings:  # the anchors' share of the sweep, with the rest of it (``seals_swept_ms``)
        kept = record.result or {}
        record.result = kept | {SWEPT_MS: kept.get(SWEPT_MS, 0) + timings["stripe_ms"]}
