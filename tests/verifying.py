"""What ``reconcile verify`` finds, as a test asks it after writing (or forging) rows."""

from __future__ import annotations

from backoffice.models import RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run


def found(check: str) -> int:
    """What ``reconcile verify --check <check>`` finds."""
    db.session.rollback()
    return run(RunMode.VERIFY, checks=[check]).mismatched


def clean() -> bool:
    """Whether a verify of every check finds nothing."""
    return run(RunMode.VERIFY).mismatched == 0
