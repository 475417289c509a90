"""The write operations. Each one ends its own transaction: it commits, or rolls back and raises."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from flask import current_app
from sqlalchemy.orm.exc import StaleDataError

from backoffice.models.history import versions_within_savepoints
from backoffice.platform.extensions import db
from backoffice.posting.installation import Installation


class ChangedMeanwhile(Exception):
    """A save refused: someone else saved the row since its form was loaded. Nothing was written."""


def expect_version(row, version: int | None) -> None:
    """Refuse to save ``row`` over another version than ``version``, the one its form was loaded at.

    ``None``: nothing to compare (a new row). A save that commits between this check and the
    flush is caught by the flush itself, whose update names the version it replaces.
    """
    if version is not None and row.version != version:
        raise ChangedMeanwhile


def installation() -> Installation:
    """What the posting core is told of this app's installation: built from its settings the first time it is asked,
    then kept with the app."""
    kept = current_app.extensions.get("backoffice.installation")
    if kept is None:
        kept = current_app.extensions["backoffice.installation"] = Installation.of(current_app.config)
    return kept


_within: ContextVar[bool] = ContextVar("within_one_unit", default=False)


@contextmanager
def one_unit():
    """One transaction for every write operation the block calls: they write, and the block commits all of them at
    its end (or rolls all of them back and re-raises). An import writes a chunk of rows so, each row by the same
    operation as its form."""
    token = _within.set(True)
    try:
        with _committed() as session:
            yield session
    finally:
        _within.reset(token)


@contextmanager
def joined():
    """The write operations the block calls write in the caller's transaction, which commits (or rolls back) them with
    its own: an approval records what it approves and its decision at once."""
    token = _within.set(True)
    try:
        yield
    finally:
        _within.reset(token)


@contextmanager
def rehearsal():
    """What the write operations the block calls would do, undone: the block's session works on a connection of its
    own, in one transaction rolled back at the block's end, where each operation's commit ends at a savepoint and its
    rollback returns to it. The session the caller had is its own again afterwards."""
    kept = db.session.registry()
    with db.engine.connect() as connection:
        outer = connection.begin()
        session = db.session.session_factory(bind=connection, join_transaction_mode="create_savepoint")
        versions_within_savepoints(session)
        db.session.registry.set(session)
        try:
            yield
        finally:
            db.session.remove()
            outer.rollback()
            db.session.registry.set(kept)


@contextmanager
def transaction():
    """Commit what the block did, or roll all of it back and re-raise; within :func:`one_unit`, the unit commits."""
    if _within.get():
        yield db.session
        return
    with _committed() as session:
        yield session


@contextmanager
def _committed():
    session = db.session
    try:
        yield session
        session.commit()
    except StaleDataError:
        session.rollback()
        raise ChangedMeanwhile from None
    except BaseException:
        session.rollback()
        raise
