"""The write operations. Each one ends its own transaction: it commits, or rolls back and raises."""

from __future__ import annotations

from contextlib import contextmanager

from backoffice.extensions import db


@contextmanager
def transaction():
    """Commit what the block did, or roll all of it back and re-raise."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
