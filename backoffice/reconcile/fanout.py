"""A run split into one job per key range of each check, done by however many workers listen, on any machine.

Each chunk checks its range, fixes it, and records itself done in one transaction, so a chunk is counted and fixed
once however often it is attempted. A run that writes goes in steps: a check that reads what another fixes
(``Check.after``) is in a later step, and a step starts once every chunk of the one before is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from backoffice.models import (
    ChunkStatus,
    ReconciliationChunk,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    User,
)
from backoffice.models.types import Month, utcnow
from backoffice.platform import databases, replica
from backoffice.platform.databases import advisory_key
from backoffice.platform.extensions import db
from backoffice.platform.sentences import Sentence, said
from backoffice.reconcile import CHECKS, Check, Scope, label, night, resolve
from backoffice.reconcile.engine import (
    KeyRange,
    Tally,
    check_chunk,
    check_result,
    key_ranges,
    new_run,
    selected,
    written,
)
from backoffice.reconcile.locks import claim
from backoffice.reconcile.transitions import end_run

ATTEMPTS = 3
"""A chunk is attempted at most this often: once, and again after its worker died or the database went away."""

LAST_ATTEMPT_STOPPED = Sentence(
    "last_attempt_stopped",
    "The worker stopped during attempt {attempt} (last heartbeat {heartbeat} UTC). No attempt is left.",
    _l("The worker stopped during attempt %(attempt)s (last heartbeat %(heartbeat)s UTC). No attempt is left."),
    moments=("heartbeat",),
)
ATTEMPT_STOPPED = Sentence(
    "attempt_stopped",
    "The worker stopped during attempt {attempt} (last heartbeat {heartbeat} UTC).",
    _l("The worker stopped during attempt %(attempt)s (last heartbeat %(heartbeat)s UTC)."),
    moments=("heartbeat",),
)
"""A chunk's error when the worker of its attempt stopped beating: queued again, or failed with its run."""
CHUNK_FAILED = Sentence(
    "chunk_failed",
    "Chunk {position} of {of} of {check} failed: {error}",
    _l("Chunk %(position)s of %(of)s of %(check)s failed: %(error)s"),
    said_by={"check": label, "error": lambda kept: said(kept, (LAST_ATTEMPT_STOPPED, ATTEMPT_STOPPED))},
)
"""A split run's error when one of its chunks failed for good; its chunk's error within it."""

RunEnded = Callable[[ReconciliationRun], None]
"""Called in the transaction that ends a run (succeeded or failed), with its record."""

chunks = ReconciliationChunk

_RUN_END = advisory_key("fanout:run-end", 4)
"""The first half of the advisory lock key a split run's chunks take to end one at a time; the run's id is the other."""


@dataclass(frozen=True)
class Done:
    """A chunk done: its run, the chunks of the next step it queued (to be put on the queue), and whether it was
    the last and ended the run."""

    run_id: int
    queued: list[int]
    ended: bool = False


def applies(mode: RunMode, scope: Scope) -> bool:
    """Whether a run over ``scope`` is split: when it covers everyone (a customer's run is small), and it is not a
    dry run (which rehearses its rebuild in one transaction, ``engine``)."""
    return not scope.customer_ids and mode is not RunMode.DRY_RUN


def steps(mode: RunMode, checks: list[Check]) -> list[list[Check]]:
    """The checks of a run of ``mode``, in the steps it takes them (registry order within each)."""
    if not checks:
        return []
    if not mode.writes:
        return [checks]
    step: dict[str, int] = {}
    for check in checks:
        step[check.name] = 1 + max((step[name] for name in check.after if name in step), default=-1)
    return [[check for check in checks if step[check.name] == number] for number in range(max(step.values()) + 1)]


def start(
    mode: RunMode,
    *,
    checks: list[str] | None,
    scope: Scope,
    trigger: RunTrigger,
    user: User | None,
    on_start: Callable[[ReconciliationRun], None],
    on_end: RunEnded,
) -> tuple[ReconciliationRun, list[int]]:
    """Record the run and its first step's chunks; return the run and the chunks to put on the queue.

    ``on_start`` is called with the run record once it is committed. Raises :class:`RunRefused`, having done
    nothing, when another run writes a check this one would write, whoever started it: a scheduled run waits by
    being queued again, for a worker waiting here might be the one the other run's chunks wait for.
    """
    checked = selected(checks, scope)
    with claim(written(mode, checked), scope, wait=False):
        record = new_run(mode, checked, scope, trigger, user)
        on_start(record)
        try:
            queued = _next_step(record, 0, on_end)
            db.session.commit()
        except BaseException as error:
            db.session.rollback()
            _fail_run(record.id, f"{type(error).__name__}: {error}", on_end)
            raise
    return record, queued


def _planned(check: Check, scope: Scope) -> list[KeyRange]:
    """The chunks of a check: its key ranges as a run in one process plans them; a check that examines, its pieces,
    which a run in one process examines in one go."""
    if check.examines:
        return list(check.pieces(current_app.config["RECONCILE_CHUNK_SIZE"]))
    return key_ranges(check, scope)


def do(chunk_id: int, *, on_end: RunEnded) -> Done | None:
    """Do one chunk, its fixes, audit rows and its record of itself in one transaction; ``None`` when there was
    nothing to do (the chunk is done or has failed, or its run has ended).

    The attempt is counted first, in a transaction of its own, with when it started: a worker that dies mid-chunk
    has used it.
    """
    attempt = db.session.execute(
        update(chunks)
        .where(chunks.id == chunk_id, chunks.status.in_([ChunkStatus.QUEUED, ChunkStatus.STARTED]))
        .where(chunks.run_id.in_(select(ReconciliationRun.id).where(ReconciliationRun.status == RunStatus.RUNNING)))
        .values(status=ChunkStatus.STARTED, attempts=chunks.attempts + 1, heartbeat_at=utcnow(), error=None)
    )
    db.session.commit()
    if not attempt.rowcount:
        return None
    chunk = db.session.get(chunks, chunk_id)
    record = chunk.run
    started = time.monotonic()
    _side_by_side()
    scope = _scope(record)
    key_range = None if chunk.low is None else (chunk.low, chunk.high)
    share = None if chunk.covered is None else night.Share.of_kept(chunk.covered)
    tally = check_chunk(record, CHECKS[chunk.check].scoped(scope), scope, key_range, commit=False, share=share)
    _gate()
    recorded = db.session.execute(
        update(chunks)
        .where(chunks.id == chunk_id, chunks.status.in_([ChunkStatus.QUEUED, ChunkStatus.STARTED]))
        .values(
            status=ChunkStatus.DONE,
            checked=tally.checked,
            mismatched=tally.mismatched,
            fixed=tally.fixed,
            totals=tally.sums(),
            duration_ms=int((time.monotonic() - started) * 1000),
            error=None,
            covered=None
            if share is None
            else chunk.covered | {"swept": tally.swept, "swept_ms": tally.swept_ms, "carried": tally.carried},
        )
    ).rowcount
    # The run's lock orders the chunks that end at once: one of them sees its step complete, the statements
    # after it reading what the chunks before it committed. An advisory lock, not the run's row: the runtime
    # role may not lock the rows of an append-only table, and their foreign keys hold it KEY SHARE besides.
    db.session.execute(select(func.pg_advisory_xact_lock(_RUN_END, record.id)))
    running = db.session.scalar(
        select(ReconciliationRun.id).where(
            ReconciliationRun.id == record.id, ReconciliationRun.status == RunStatus.RUNNING
        )
    )
    if not recorded or running is None:
        db.session.rollback()
        return None
    left = db.session.scalar(
        select(func.count())
        .select_from(chunks)
        .where(chunks.run_id == record.id, chunks.phase == chunk.phase, chunks.status != ChunkStatus.DONE)
    )
    queued = _next_step(record, chunk.phase + 1, on_end) if left == 0 else []
    db.session.commit()
    return Done(record.id, queued, ended=left == 0 and not queued)


def retry_later(chunk_id: int, error: str, *, on_end: RunEnded) -> bool:
    """After the database went away: queue the chunk again if it has attempts left (and say so), else fail it."""
    db.session.rollback()
    again = db.session.execute(
        update(chunks)
        .where(chunks.id == chunk_id, chunks.status == ChunkStatus.STARTED, chunks.attempts < ATTEMPTS)
        .values(status=ChunkStatus.QUEUED, error=error)
    ).rowcount
    db.session.commit()
    if not again:
        fail(chunk_id, error, on_end=on_end)
    return bool(again)


def fail(chunk_id: int, error: str, *, on_end: RunEnded) -> None:
    """The chunk failed for good, and so did its run."""
    db.session.rollback()
    chunk = db.session.get(chunks, chunk_id)
    failed = db.session.execute(
        update(chunks)
        .where(chunks.id == chunk_id, chunks.status.in_([ChunkStatus.QUEUED, ChunkStatus.STARTED]))
        .values(status=ChunkStatus.FAILED, error=error)
    ).rowcount
    if failed:
        of = db.session.scalar(
            select(func.count()).select_from(chunks).where(chunks.run_id == chunk.run_id, chunks.check == chunk.check)
        )
        failed_run = CHUNK_FAILED.write(position=chunk.position, of=of, check=chunk.check, error=error)
        _fail_run(chunk.run_id, failed_run, on_end)
    db.session.commit()


def abandoned(chunk_id: int, job_id: str, heartbeat: datetime, *, on_end: RunEnded) -> bool:
    """The chunk whose attempt by the queue's job ``job_id`` stopped with its worker (last heartbeat ``heartbeat``):
    queued again when it has attempts left (``True``: to be put on the queue), failed with its run when not. A chunk
    whose attempt has ended, that has gone on to another job, or whose run has ended stays as it is."""
    attempts = db.session.scalar(
        select(chunks.attempts)
        .join(ReconciliationRun, ReconciliationRun.id == chunks.run_id)
        .where(
            chunks.id == chunk_id,
            chunks.job_id == job_id,
            chunks.status == ChunkStatus.STARTED,
            ReconciliationRun.status == RunStatus.RUNNING,
        )
    )
    if attempts is None:
        db.session.commit()
        return False
    facts = {"attempt": attempts, "heartbeat": f"{heartbeat:%Y-%m-%d %H:%M:%S}"}
    if attempts >= ATTEMPTS:
        fail(chunk_id, LAST_ATTEMPT_STOPPED.write(**facts), on_end=on_end)
        return False
    error = ATTEMPT_STOPPED.write(**facts)
    # Only if it is still as found: its attempt may have ended meanwhile.
    requeued = db.session.execute(
        update(chunks)
        .where(chunks.id == chunk_id, chunks.job_id == job_id, chunks.status == ChunkStatus.STARTED)
        .values(status=ChunkStatus.QUEUED, error=error)
    ).rowcount
    db.session.commit()
    return bool(requeued)


def is_split(run_id: int) -> bool:
    """Whether the run was split into chunks."""
    return db.session.scalar(select(chunks.id).where(chunks.run_id == run_id).limit(1)) is not None


def queued_before(moment) -> list[ReconciliationChunk]:
    """The queued chunks of running runs put on the queue (or recorded, to be put on it) before ``moment``."""
    return list(
        db.session.scalars(
            select(chunks)
            .join(ReconciliationRun, ReconciliationRun.id == chunks.run_id)
            .where(
                ReconciliationRun.status == RunStatus.RUNNING,
                chunks.status == ChunkStatus.QUEUED,
                chunks.enqueued_at < moment,
            )
        )
    )


def progress(run_id: int) -> tuple[int, str, dict[str, int]]:
    """How far a split run is: in percent (each step an equal share), and as the facts of its job's message (see
    ``jobs.messages``): the chunks done of those queued, and the step of the steps when there are several."""
    record = db.session.get(ReconciliationRun, run_id)
    rows = db.session.execute(
        select(chunks.phase, func.count(), func.count().filter(chunks.status == ChunkStatus.DONE))
        .where(chunks.run_id == run_id)
        .group_by(chunks.phase)
        .order_by(chunks.phase)
    ).all()
    if not rows:
        return 0, "no_chunk", {}
    total_steps = len(steps(record.mode, resolve(record.checks)))
    step, total, done = rows[-1]
    percent = int((step + done / total) / total_steps * 100)
    counted = {"done": sum(r[2] for r in rows), "total": sum(r[1] for r in rows)}
    if total_steps > 1:
        return percent, "chunks_in_steps", counted | {"step": step + 1, "steps": total_steps}
    return percent, "chunks", counted


def _next_step(record: ReconciliationRun, step: int, on_end: RunEnded) -> list[int]:
    """Plan and queue the chunks of the first step from ``step`` on that has any; complete the run when none has."""
    scope = _scope(record)
    planned = steps(record.mode, resolve(record.checks))
    for number in range(step, len(planned)):
        rows = []
        for check in planned[number]:
            with replica.reading():
                share = night.share_of(record.id, check, scope)
            rows += [
                chunks(
                    run_id=record.id,
                    phase=number,
                    check=check.name,
                    position=position,
                    low=None if key_range is None else key_range[0],
                    high=None if key_range is None else key_range[1],
                    status=ChunkStatus.QUEUED,
                    covered=None if share is None else share.kept(),
                )
                for position, key_range in enumerate(_planned(check.scoped(scope), scope), start=1)
            ]
        if rows:
            db.session.add_all(rows)
            db.session.flush()
            return [row.id for row in rows]
    _complete(record, on_end)
    return []


def _complete(record: ReconciliationRun, on_end: RunEnded) -> None:
    """Each check's counts and sums from its chunks, and the run succeeded."""
    done = db.session.scalars(select(chunks).where(chunks.run_id == record.id).order_by(chunks.id)).all()
    for check in resolve(record.checks):
        tally, duration_ms, share = Tally.of(check), 0, None
        for chunk in done:
            if chunk.check == check.name:
                tally.add(Tally.kept(chunk.checked, chunk.mismatched, chunk.fixed, chunk.totals, chunk.covered))
                duration_ms += chunk.duration_ms
                share = None if chunk.covered is None else night.Share.of_kept(chunk.covered)
        db.session.add(check_result(record, check, tally, duration_ms, share))
        if share is not None:
            share.said(check.name, tally)
    db.session.flush()  # before the run is finished, after which its rows take no new ones
    end_run(record.id, RunStatus.SUCCEEDED)
    db.session.expire(record, ["results"])
    on_end(record)


def _fail_run(run_id: int, error: str, on_end: RunEnded) -> None:
    if end_run(run_id, RunStatus.FAILED, error) is not None:
        record = db.session.get(ReconciliationRun, run_id)
        db.session.refresh(record)
        on_end(record)
    db.session.commit()


def _scope(record: ReconciliationRun) -> Scope:
    month = record.scope.get("from_month")
    return Scope(from_month=Month.parse(month).first_day if month else None)


def _side_by_side() -> None:
    """The chunk's statements, on the primary and on the replica that serves its reads, planned with at most
    ``CHUNK_PARALLEL_WORKERS`` of PostgreSQL's parallel workers: the chunks of a run are its parallelism, one a job
    worker, as many workers as cores (on two cores, the nightly at 2 million movements took 24.6 s where its
    statements' parallel plans made it 28.8 s)."""
    workers = current_app.config["CHUNK_PARALLEL_WORKERS"]
    databases.parallel_workers(db.session.connection(), workers)
    with replica.reading():
        if replica.connection() is not db.session.connection():
            databases.parallel_workers(replica.connection(), workers)


def _gate() -> None:
    """Wait, when ``RECONCILE_CHUNK_GATE`` is set, for that advisory lock, taken shared just before a chunk records
    itself done: whoever holds it holds every chunk there, its fixes and audit rows written and not committed."""
    key = current_app.config["RECONCILE_CHUNK_GATE"]
    if key is not None:
        db.session.execute(select(func.pg_advisory_xact_lock_shared(key)))
