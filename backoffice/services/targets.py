from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from backoffice.models import Target
from backoffice.services import expect_version, transaction


class DuplicateTarget(ValueError):
    def __init__(self, period: str) -> None:
        super().__init__(f"This account manager already has a target for {period}.")


def save_target(target: Target, *, version: int | None = None) -> Target:
    """Insert or update a target; the hooks compute its achieved amount from the orders.

    ``version``: the one the target's form was loaded at; raises ``ChangedMeanwhile`` if it is not the target's now.
    """
    period, period_start = target.period, target.period_start
    manager_id, target_id = target.account_manager_id, target.id
    try:
        with transaction() as session:
            expect_version(target, version)
            if _duplicate(manager_id, period_start, target_id):
                raise DuplicateTarget(period)
            session.add(target)
    except IntegrityError:
        if _duplicate(manager_id, period_start, target_id):
            raise DuplicateTarget(period) from None
        raise
    return target


def delete_target(target: Target) -> None:
    with transaction() as session:
        session.delete(target)


def _duplicate(manager_id: int, period_start, target_id: int | None) -> bool:
    query = select(Target.id).where(Target.account_manager_id == manager_id, Target.period_start == period_start)
    if target_id is not None:
        query = query.where(Target.id != target_id)
    with db.session.no_autoflush:
        return db.session.scalar(query) is not None
