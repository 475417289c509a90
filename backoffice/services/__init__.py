"""The write operations. Each one ends its own transaction: it commits, or rolls back and raises."""

from __future__ import annotations

from contextlib import contextmanager

from backoffice.extensions import db


@contextmanager
def transaction():
    """Commit what the block did, or roll all of it back and re-raise.

    On SQLite, a session that has only read so far ends that read and begins the write with
    ``BEGIN IMMEDIATE``: a transaction that read first could not take the write lock once
    another writer had committed, and would fail with "database is locked". A session with
    changes pending keeps them, and takes the write lock at its flush instead.
    """
    session = db.session
    if session.get_bind().dialect.name == "sqlite" and not (session.new or session.dirty or session.deleted):
        session.rollback()
        session.connection(execution_options={"sqlite_begin_immediate": True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
