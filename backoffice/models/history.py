"""The history of every change to the records people maintain, kept by SQLAlchemy-Continuum.

Each versioned model gets a ``<table>_history`` table: one row per create, edit and delete, and a
``history_transactions`` row saying who made it and when. Versions are only ever inserted; the database refuses any
change to them. What the posting core and the reconciliation recompute is left out, as a history shows what a person
changed. Writes made with SQL Core add their versions with :func:`record`.
"""

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

import click
from blinker import signal
from flask import has_request_context
from sqlalchemy import BigInteger, DateTime, ForeignKey, ForeignKeyConstraint, String, event, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, Session, mapped_column, relationship
from sqlalchemy.sql.naming import conv
from sqlalchemy_continuum import make_versioned, versioning_manager
from sqlalchemy_continuum.operation import Operation
from sqlalchemy_continuum.plugins.base import Plugin
from sqlalchemy_continuum.transaction import TransactionBase
from sqlalchemy_continuum.unit_of_work import UnitOfWork
from sqlalchemy_continuum.utils import is_modified_or_deleted, is_versioned, version_class

from backoffice.models.types import utcnow
from backoffice.platform.extensions import db


class HistoryOperation(enum.IntEnum):
    CREATE = Operation.INSERT
    EDIT = Operation.UPDATE
    DELETE = Operation.DELETE

    @property
    def label(self) -> str:
        return {"CREATE": "created", "EDIT": "edited", "DELETE": "deleted"}[self.name]


_acting: ContextVar[tuple[int | None, str] | None] = ContextVar("acting", default=None)


@contextmanager
def acting(user_id: int | None, actor: str) -> Iterator[None]:
    """The changes made in the block are by ``user_id`` and ``actor`` (an import, as its history says it), whatever
    request, command or job runs it."""
    token = _acting.set((user_id, actor[:120]))
    try:
        yield
    finally:
        _acting.reset(token)


class ActorPlugin(Plugin):
    """Who a transaction's changes are by: the logged-in user of the request; else the command or job that ran."""

    def transaction_args(self, uow, session) -> dict:
        return {"user_id": _request_user_id(), "actor": _actor()}


def _request_user_id() -> int | None:
    if (given := _acting.get()) is not None:
        return given[0]
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user.id if current_user.is_authenticated else None


def _actor() -> str:
    if (given := _acting.get()) is not None:
        return given[1]
    if has_request_context():
        return "web"
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        return f"job {job.func_name.rsplit('.', 1)[-1]}"[:120]
    command = click.get_current_context(silent=True)
    if command is not None:
        return f"command {command.command_path}"[:120]
    return "system"


class ChangedUnitOfWork(UnitOfWork):
    """Continuum's unit of work, asking only the objects a flush writes whether a versioned one changed.

    Continuum asks every object of the session before each flush, and keeps each object it versioned in the session
    until the transaction ends: a transaction writing n records one by one (an import's chunk) asked n² times. An
    object that is neither new, deleted nor dirty has no change to version, so the answer is the same."""

    def is_modified(self, session: Session) -> bool:
        flushed = (*session.new, *session.dirty, *session.deleted)
        return any(is_versioned(obj) and is_modified_or_deleted(obj) for obj in flushed) or any(
            self.manager.plugins.is_session_modified(session)
        )


versioning_manager.uow_class = ChangedUnitOfWork
make_versioned(
    user_cls=None,
    plugins=[ActorPlugin()],
    options={"strategy": "subquery", "table_name": "%s_history", "create_composite_index": True},
)


class HistoryTransaction(TransactionBase, db.Model):
    """One database transaction that changed versioned records: when, and by whom."""

    __tablename__ = "history_transactions"
    __versioning_manager__ = versioning_manager

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120), default="system")
    """``web``, ``command backoffice …``, ``job …`` or ``system``: what made the change, beside the user if any."""

    user = relationship("User")


versioning_manager.transaction_cls = HistoryTransaction


@event.listens_for(Mapper, "after_configured")
def _versions_reference_their_transaction() -> None:
    """Each history table's ``transaction_id`` references ``history_transactions``: a version names a transaction
    that was written, never one still to come (whose versions that transaction would then take for its own)."""
    for version in versioning_manager.version_class_map.values():
        table = version.__table__
        if not table.c.transaction_id.foreign_keys:
            # Named apart from the convention, whose name would pass PostgreSQL's 63 characters.
            name = conv(f"fk_{table.name}_transaction")
            table.append_constraint(ForeignKeyConstraint(["transaction_id"], [HistoryTransaction.id], name=name))


def versions_within_savepoints(session) -> None:
    """Have the versions the session's units of work write joined to each unit's savepoint: Continuum writes them
    through a session of its own on the connection, which within a savepoint would begin one more savepoint that it
    never ends, and the unit's own would then be found ended under it."""

    manager = versioning_manager

    @event.listens_for(session, "after_begin")
    def _joined(begun, _transaction, connection) -> None:
        # ``manager.unit_of_work(begun)``, which would ask the session being begun for its connection.
        if connection not in manager.session_connection_map.values():
            manager.session_connection_map[begun] = connection
        work = manager.units_of_work.setdefault(connection, manager.uow_class(manager))
        if work.version_session is None:
            work.version_session = Session(bind=connection, join_transaction_mode="rollback_only")


versions_written = signal("history-versions-written")
"""Sent with the connection for each table's versions :func:`record` writes (``kind``: the history table, ``keys``:
the id and transaction of each version it inserted, ``own``: written on a connection of its own rather than the
session's); the seals seal those versions and no other (:mod:`backoffice.services.listeners`)."""


def record(connection: Connection, model: type, where, operation: HistoryOperation) -> None:
    """Add a version of each ``model`` row ``where`` selects, for a write made with SQL Core in this transaction.

    Call it after an insert or an update (the version holds the new values) and before a delete (its last values).
    """
    history = version_class(model).__table__
    table = model.__table__
    columns = [column.name for column in history.columns if column.name in table.columns]
    transaction_id, own = _transaction_id(connection)
    written = connection.execute(
        insert(history)
        .from_select(
            [*columns, "transaction_id", "operation_type"],
            select(*(table.c[name] for name in columns), literal(transaction_id), literal(int(operation))).where(where),
        )
        .returning(history.c.id, history.c.transaction_id)
    )
    versions_written.send(connection, kind=history.name, keys=[tuple(key) for key in written], own=own)


def _transaction_id(connection: Connection) -> tuple[int, bool]:
    """The session's history transaction when the write is the session's (its ORM changes share it, and its
    versions are sealed when it commits); else one of the connection's own, made for this write (a check's repair
    runs on a connection of its own), whose versions are sealed at once: ``(id, own)``."""
    session = db.session()
    if session.in_transaction() and session.connection() is connection:
        unit = versioning_manager.unit_of_work(session)
        return (unit.current_transaction or unit.create_transaction(session)).id, False
    transactions = HistoryTransaction.__table__
    return connection.execute(
        insert(transactions)
        .values(issued_at=utcnow(), user_id=_request_user_id(), actor=_actor())
        .returning(transactions.c.id)
    ).scalar_one(), True
