"""One writing run per check at a time.

Two runs fixing the same rows at once both find them wrong, both write them and both record the
fix: the audit trail would count every fix twice. So a run that writes (fix, rebuild) first
claims each check it may write: the check whole for a run over everything; for a run over some
customers, the check shared and each of its customers whole, so that two customers' runs go side
by side while a run over everything excludes both. A claim already taken refuses the run, naming
the run that holds it; a scheduled run, with no one there to read why, waits for it instead.

On PostgreSQL the claims are session advisory locks, on a connection of their own held for the
whole run: the run commits in batches, and a transaction's lock would end with the first. They
end with that connection, so a run that crashes leaves no claim behind.

A run split into one job per key range (see ``fanout``) has no connection of its own for its whole length: its
job claims its checks while it records the run and its first chunks, and from then on the run's row holds them
while the run is ``running``. A claim is then refused (or, for a scheduled run, waits) as long as a split run
that writes one of its checks is running; once its last chunk is done or one fails for good, the run ends, and
so does its hold. The row is read under the claim's locks, after the split run's job committed it.

On SQLite the claims are ``flock`` locks on files beside the database, for the same reason: they
end with the process holding them, so no timeout has to be guessed (a claim row would need one
longer than the longest rebuild and shorter than anyone's patience). SQLite serialises writers
and runs with one worker anyway, so there a run over some customers claims its checks whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from contextlib import contextmanager
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Integer, func, literal, select

from backoffice.models import ReconciliationChunk, ReconciliationRun, RunMode, RunStatus, RunTrigger, User
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

    def __init__(self, message: str, check: str = "", run_id: int | None = None) -> None:
        super().__init__(message)
        self.check, self.run_id = check, run_id


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
    claims = _AdvisoryLocks() if db.engine.dialect.name == "postgresql" else _FileLocks(db.engine.url.database)
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
        self.connection = db.engine.connect()
        self.refused: Check | None = None

    def take(self, checks: list[Check], scope: Scope, *, wait: bool) -> bool:
        """Every check's locks in one statement, in the order of the checks (a lock taken again by a second try is
        held twice, and ends with the connection all the same); whether all were taken, else which check was
        refused."""
        locks = []
        for check in checks:
            whole = literal(_key(check.name, 8), BigInteger)
            if not scope.customer_ids:
                locks.append((check, "pg_advisory_lock", (whole,)))
                continue
            locks.append((check, "pg_advisory_lock_shared", (whole,)))
            name = literal(_key(check.name, 4), Integer)
            locks += [
                (check, "pg_advisory_lock", (name, literal(customer, Integer)))
                for customer in sorted(scope.customer_ids)
            ]
        taken = self.connection.execute(
            select(
                *(
                    getattr(func, name if wait else name.replace("pg_", "pg_try_", 1))(*key)
                    for _check, name, key in locks
                )
            )
        ).one()
        # The locks outlive the transaction; an idle transaction held for hours would not.
        self.connection.commit()
        self.refused = (
            None if wait else next((check for (check, *_), took in zip(locks, taken, strict=True) if not took), None)
        )
        return self.refused is None

    def release(self) -> None:
        # Closing the connection, not returning it to the pool, ends every lock it holds.
        self.connection.invalidate()
        self.connection.close()


class _FileLocks:
    def __init__(self, database: str | None) -> None:
        in_memory = not database or database == ":memory:"
        self.directory = None if in_memory else Path(database).with_name(Path(database).name + ".claims")
        self.files = []
        self.held: set[str] = set()
        self.refused: Check | None = None

    def take(self, checks: list[Check], scope: Scope, *, wait: bool) -> bool:
        """Each check's lock not held yet, in the order of the checks; whether all are held, else which check was
        refused."""
        if self.directory is None:  # one connection, one process: nothing to claim against
            return True
        self.directory.mkdir(exist_ok=True)
        for check in checks:
            if check.name in self.held:
                continue
            handle = open(self.directory / f"{check.name}.lock", "a")  # closed by release, which ends the lock
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                self.refused = check
                return False
            self.files.append(handle)
            self.held.add(check.name)
        self.refused = None
        return True

    def release(self) -> None:
        for handle in self.files:
            handle.close()


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


def _key(name: str, size: int) -> int:
    """A stable signed integer of ``size`` bytes for the check, as PostgreSQL's advisory lock keys are."""
    digest = hashlib.blake2b(f"backoffice.reconcile:{name}".encode(), digest_size=size).digest()
    return int.from_bytes(digest, "big", signed=True)


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
    return RunRefused(said, check.name, holder.id)


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
