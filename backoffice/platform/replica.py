"""Reads that a read-only replica may serve: downloads, statements, reports, the lists' counts and sums, and the
scans of a verification.

With ``BACKOFFICE_READ_DATABASE_URL`` set, work marked by :func:`reading` or :func:`reads` sends its ``SELECT``
statements to the replica and everything else to the primary; a fix is never marked. The replica serves only while it
is fit (reachable, a standby, at most ``BACKOFFICE_READ_MAX_LAG_SECONDS`` behind); otherwise the reads go to the
primary.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, has_app_context
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

BIND = "replica"
"""The replica's engine among the app's (``SQLALCHEMY_BINDS``)."""

RECHECK_SECONDS = 5.0  # float-ok: seconds
"""How long a process trusts what it last learnt of the replica."""
RECHECK_DOWN_SECONDS = 30.0  # float-ok: seconds
"""How long a process reads the primary before asking a replica that could not be reached again (each time asked,
an unreachable host costs the asker the connection's timeout)."""
CONNECT_TIMEOUT_SECONDS = 2
"""How long connecting to the replica may take before it counts as down."""


class State(enum.StrEnum):
    NONE = "none"
    """No replica is set: everything reads the primary."""
    STREAMING = "streaming"
    """Receiving the primary's changes, within the lag allowed: it serves the reads."""
    LAGGING = "lagging"
    """Receiving, but further behind than allowed."""
    STOPPED = "stopped"
    """Not receiving the primary's changes (its WAL receiver is gone): it falls further behind with every write."""
    DOWN = "down"
    """Cannot be reached, or failed a read."""
    PROMOTED = "not a standby"
    """Answers, but is no standby: promoted, or the primary itself named again. Reading it could read the past."""


@dataclass(frozen=True)
class Replica:
    state: State
    lag_seconds: float | None  # float-ok: seconds
    """How far behind the primary it is (0 when it had replayed all the primary had written when asked); ``None``
    when unknown."""
    max_lag_seconds: float  # float-ok: seconds
    reason: str | None = None
    """What went wrong, in the server's or the driver's words."""

    @property
    def configured(self) -> bool:
        return self.state is not State.NONE

    @property
    def serving(self) -> bool:
        return self.state is State.STREAMING

    @property
    def reads_from(self) -> str:
        """Where the work that only reads goes now: ``replica`` or ``primary``."""
        return "replica" if self.serving else "primary"


_LAG = text(
    "SELECT pg_is_in_recovery(), "
    "(SELECT count(*) FROM pg_stat_wal_receiver WHERE pid IS NOT NULL), "
    "COALESCE(pg_last_wal_replay_lsn() >= CAST(:primary AS pg_lsn), false), "
    "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
)


def assess() -> Replica:
    """The replica as it is now, asked (the health check's answer; :func:`current` is what the reads use)."""
    max_lag = current_app.config["READ_MAX_LAG_SECONDS"]
    engine = _engine()
    if engine is None:
        return Replica(State.NONE, None, max_lag)
    try:
        with _db().engine.connect() as primary:
            written = primary.scalar(text("SELECT pg_current_wal_lsn()"))
    except DBAPIError:
        written = None  # the primary's own trouble is not the replica's: judged by what it says of itself
    try:
        with engine.connect() as connection:
            standby, receiving, caught_up, replay_age = connection.execute(_LAG, {"primary": written or "0/0"}).one()
    except DBAPIError as error:
        return Replica(State.DOWN, None, max_lag, _said(error))
    if not standby:
        return Replica(State.PROMOTED, None, max_lag)
    lag = 0.0 if caught_up and written else float(replay_age) if replay_age is not None else None  # float-ok: s
    if not receiving:
        return Replica(State.STOPPED, lag, max_lag)
    if lag is None or lag > max_lag:
        return Replica(State.LAGGING, lag, max_lag)
    return Replica(State.STREAMING, lag, max_lag)


def current() -> Replica:
    """What this process last learnt of the replica, asked again once it is :data:`RECHECK_SECONDS` old (while
    one thread asks, the others go on with what was known)."""
    app = current_app._get_current_object()
    if app.config.get("READ_DATABASE_URL") is None:
        return Replica(State.NONE, None, app.config["READ_MAX_LAG_SECONDS"])
    known = app.extensions.setdefault("backoffice.replica", _Known())
    if time.monotonic() < known.until or not known.asking.acquire(blocking=False):
        return known.replica
    try:
        known.learn(assess())
    finally:
        known.asking.release()
    return known.replica


class _Known:
    def __init__(self) -> None:
        self.replica = Replica(State.DOWN, None, 0, "not asked yet")
        self.asked = False
        self.until = 0.0  # float-ok: a monotonic clock
        self.asking = threading.Lock()

    def learn(self, replica: Replica) -> None:
        """What the replica was found to be; logged when it is first learnt and whenever it changes (a replica down
        from the start is said once, as one that goes down later)."""
        if not self.asked or replica.state is not self.replica.state:
            level = logging.INFO if replica.serving else logging.WARNING
            log.log(
                level,
                "The read replica is %s (%s): reads go to the %s",
                replica.state,
                replica.reason or "-",
                replica.reads_from,
            )
        self.replica, self.asked = replica, True
        wait = RECHECK_SECONDS if replica.state is not State.DOWN else RECHECK_DOWN_SECONDS
        self.until = time.monotonic() + wait


def lost(context) -> None:
    """A read the replica failed (its server gone, a conflict with what it replays): it is down until asked again, and
    the next reads go to the primary. The failed statement's own error goes on to its caller."""
    if not has_app_context() or context.engine is not _engine():
        return
    known = current_app.extensions.get("backoffice.replica")
    if known is not None and (context.is_disconnect or isinstance(context.sqlalchemy_exception, OperationalError)):
        known.learn(Replica(State.DOWN, None, known.replica.max_lag_seconds, str(context.original_exception)))


def configured() -> bool:
    """Whether a read replica is set (whatever its state)."""
    return current_app.config.get("READ_DATABASE_URL") is not None


def serving_engine() -> Engine | None:
    """The replica's engine while a marked read may go there, else ``None``."""
    if not has_app_context() or not g.get("backoffice_reading"):
        return None
    if current_app.config.get("READ_DATABASE_URL") is None:
        return None
    return _engine() if current().serving else None


@contextmanager
def reading() -> Iterator[None]:
    """The block's ``SELECT`` statements go to the replica while it serves."""
    before = g.get("backoffice_reading", False)
    g.backoffice_reading = True
    try:
        yield
    finally:
        g.backoffice_reading = before


def reads(view):
    """A view that only reads: its request's ``SELECT`` statements, and those of the download it streams after it
    returns, go to the replica while it serves."""

    @wraps(view)
    def marked(*args, **kwargs):
        g.backoffice_reading = True
        return view(*args, **kwargs)

    return marked


def connection() -> Connection:
    """The session's connection for statements that only read: the replica's within :func:`reading` while it
    serves, else the primary's (the one every other statement of the session uses)."""
    session = _db().session
    engine = serving_engine()
    return session.connection(bind_arguments={"bind": engine}) if engine is not None else session.connection()


def _db():
    """The app's database extension (``backoffice.platform.extensions.db``, which routes its reads here)."""
    return current_app.extensions["sqlalchemy"]


def _engine() -> Engine | None:
    if current_app.config.get("READ_DATABASE_URL") is None:
        return None
    return _db().engines[BIND]


def _said(error: DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
