"""One writing run per check at a time, so that no fix is written, or counted, twice.

A run that fixes or rebuilds first claims each check it may write; a run over some customers claims only theirs, so
two customers' runs go side by side. A claim already taken refuses the run, or makes a scheduled run wait. Claims are
transaction-level advisory locks on a connection of the run's own (a pooler in transaction mode would hand session
locks to another client); a run split into jobs (``fanout``) holds them by its row while it is ``running``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.models import (
    JobRecord,
    ReconciliationChunk,
    ReconciliationRun,
    RunMode,
    RunStatus,
    RunTrigger,
    User,
)
from backoffice.platform.databases import advisory_key
from backoffice.platform.extensions import db
from backoffice.reconcile.base import Check, Scope

MOMENT = 1.0
"""Seconds a refused claim is tried again, and a refusal looks for the holder's run: a claim taken only
to ask whether a run would be refused is held for moments, and a run commits its row just after
claiming."""

_STARTED = {
    RunTrigger.CLI: _l("from the command line"),
    RunTrigger.API: _l("through the API"),
    RunTrigger.SCHEDULE: _l("by the schedule"),
    RunTrigger.USER: _l("by a user"),
    RunTrigger.WRITE_PATH: _l("by a write"),
}
_MODES = {"verify": _l("verify"), "fix": _l("fix"), "rebuild": _l("rebuild"), "dry-run": _l("dry run")}


class RunRefused(RuntimeError):
    """Another run is writing a check this one would write; nothing was done. Besides its message, the facts a
    job waiting for it keeps: the check, and the run writing it when one was found."""

    def __init__(self, message: str, check: str = "", run_id: int | None = None, job_id: str | None = None) -> None:
        super().__init__(message)
        self.check, self.run_id, self.job_id = check, run_id, job_id


def waits(trigger: RunTrigger) -> bool:
    """A scheduled run waits for the run ahead of it; anyone else is told and refused."""
    return trigger is RunTrigger.SCHEDULE


@contextmanager
def claim(checks: list[Check], scope: Scope, *, wait: bool):
    """Hold ``checks`` over ``scope`` for a run that writes them, while the block runs.

    Raises :class:`RunRefused` when another run holds one of them and ``wait`` is false.
    """
    if not checks:
        yield
        return
    claims = _AdvisoryLocks()
    try:
        if not _within_a_moment(lambda: claims.take(checks, scope, wait=wait)):
            raise _refusal(claims.refused)
        while (held := _held_by_a_split_run(checks)) is not None:
            if not wait:
                raise _refusal(held)
            time.sleep(MOMENT)
        yield
    finally:
        claims.release()


class _AdvisoryLocks:
    def __init__(self) -> None:
        self.connection = db.engine.raw_connection()
        self.refused: Check | None = None

    def take(self, checks: list[Check], scope: Scope, *, wait: bool) -> bool:
        """Every check's locks in one statement, in the order of the checks, in the connection's transaction; whether
        all were taken, else which check was refused (and the transaction ends, letting go of those taken)."""
        locks = []
        for check in checks:
            whole = f"CAST({advisory_key(check.name, 8)} AS bigint)"
            if not scope.customer_ids:
                locks.append((check, "pg_advisory_xact_lock", whole))
                continue
            locks.append((check, "pg_advisory_xact_lock_shared", whole))
            per_customer = f"CAST({advisory_key(check.name, 4)} AS integer)"
            locks += [
                (check, "pg_advisory_xact_lock", f"{per_customer}, {int(customer)}")
                for customer in sorted(scope.customer_ids)
            ]
        calls = ", ".join(
            f"{name if wait else name.replace('pg_', 'pg_try_', 1)}({key})" for _check, name, key in locks
        )
        # The keys are written into the statement and psycopg is told not to prepare it: a statement without
        # parameters goes by PostgreSQL's simple protocol, whose portal, with its snapshot, ends with the statement
        # (the extended protocol's would be kept while the transaction waits, holding vacuum back).
        _timeout_off, *taken = self.connection.driver_connection.execute(
            f"SELECT set_config('idle_in_transaction_session_timeout', '0', true), {calls}", prepare=False
        ).fetchone()
        self.refused = (
            None if wait else next((check for (check, *_), took in zip(locks, taken, strict=True) if not took), None)
        )
        if self.refused is not None:
            self.connection.rollback()
        return self.refused is None

    def release(self) -> None:
        # Returned to the pool rolled back: the transaction ends, and every lock with it.
        self.connection.close()


def _held_by_a_split_run(checks: list[Check]) -> Check | None:
    """The first of the checks that a running split run writes, if any."""
    runs = ReconciliationRun
    split = select(ReconciliationChunk.id).where(ReconciliationChunk.run_id == runs.id).exists()
    with db.engine.connect() as connection:
        held = connection.execute(
            select(runs.checks).where(
                runs.status == RunStatus.RUNNING, runs.mode.in_([RunMode.FIX, RunMode.REBUILD]), split
            )
        ).scalars()
        names = {name for checks_of_run in held for name in checks_of_run}
    return next((check for check in checks if check.name in names), None)


def _within_a_moment(attempt):
    """``attempt()`` until it is true or a :data:`MOMENT` has passed; whether it was."""
    deadline = time.monotonic() + MOMENT
    while not (done := attempt()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return done


def _refusal(check: Check) -> RunRefused:
    label = check.name.replace("_", " ")
    holder = None

    def holder_found() -> bool:
        nonlocal holder
        holder = _writing_run(check)
        return holder is not None

    _within_a_moment(holder_found)
    if holder is None:
        return RunRefused(
            _("Another run is already writing %(check)s; try again when it ends.", check=label), check.name, None
        )
    started = _("by %(email)s", email=holder.email) if holder.email else _STARTED[holder.trigger]
    said = _(
        "A %(mode)s of %(check)s is already running (run #%(id)s, started %(started)s); try again when it ends.",
        mode=_MODES.get(holder.mode.value, holder.mode.value),
        check=label,
        id=holder.id,
        started=started,
    )
    return RunRefused(said, check.name, holder.id, _job_of(holder.id))


def _job_of(run_id: int) -> str | None:
    """The job whose run it is, if a job runs it (a run from a page's button in a request has none)."""
    with db.engine.connect() as connection:
        return connection.scalar(select(JobRecord.id).where(JobRecord.run_id == run_id).limit(1))


def _writing_run(check: Check):
    runs = ReconciliationRun
    # A connection of its own: the caller's transaction may predate the holder's run row.
    with db.engine.connect() as connection:
        writing = connection.execute(
            select(runs.id, runs.mode, runs.trigger, runs.checks, User.email)
            .outerjoin(User, User.id == runs.user_id)
            .where(runs.status == RunStatus.RUNNING, runs.mode.in_([RunMode.FIX, RunMode.REBUILD]))
            .order_by(runs.id.desc())
        ).all()
    return next((run for run in writing if check.name in run.checks), None)
