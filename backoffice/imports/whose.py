"""Whose an import is: the user who uploaded it acts on it (changes its columns, runs or resumes it, reads its rows
and its report), and an admin; no one else, whatever kinds their role imports."""

from __future__ import annotations

from sqlalchemy import ColumnElement, true

from backoffice.models import Import, User
from backoffice.platform.roles import Role


def acts_on(record: Import, user: User) -> bool:
    """Whether ``user`` may act on the import: its maker, or an admin (an import the command made is an admin's)."""
    return user.role is Role.ADMIN or (record.created_by_id is not None and record.created_by_id == user.id)


def seen_by(user: User) -> ColumnElement[bool]:
    """The imports ``user`` may act on, as a condition on ``Import``."""
    return true() if user.role is Role.ADMIN else Import.created_by_id == user.id
