from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.models import AccountManager, Target
from backoffice.models.types import Month, month_start
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_month
from backoffice.platform.money import MoneyError, check_amount
from backoffice.posting.locking import lock_where
from backoffice.services import expect_version, transaction


class DuplicateTarget(ValueError):
    def __init__(self, period_start: date) -> None:
        super().__init__(_("This account manager already has a target for %(month)s.", month=named_month(period_start)))


def save_target(target: Target, *, version: int | None = None) -> Target:
    """Insert or update a target; the hooks compute its achieved amount from the orders.

    ``version``: the one the target's form was loaded at; raises ``ChangedMeanwhile`` if it is not the target's now.
    """
    period_start = target.period_start
    manager_id, target_id = target.account_manager_id, target.id
    try:
        with transaction() as session:
            expect_version(target, version)
            if _duplicate(manager_id, period_start, target_id):
                raise DuplicateTarget(period_start)
            session.add(target)
    except IntegrityError:
        if _duplicate(manager_id, period_start, target_id):
            raise DuplicateTarget(period_start) from None
        raise
    return target


def delete_target(target: Target) -> None:
    """Delete the target in a unit of work of its own."""
    with transaction() as session:
        session.delete(target)


class TargetError(ValueError):
    """Targets that cannot be generated as asked; nothing was written. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Generated:
    """What generating a month's targets did, manager by manager."""

    month: Month
    created: list[Target]
    kept: list[str]
    """The managers who had a target for the month already: it is left as it was."""
    without_source: list[str]
    """The managers who had no target the previous month, when no amount was given besides."""

    def describe(self) -> str:
        """What was done, in the reader's language (English outside a request: the commands)."""
        parts = [_("Targets for %(month)s: %(count)s set", month=named_month(self.month), count=len(self.created))]
        if self.kept:
            parts.append(_("%(count)s kept as they were (%(names)s)", count=len(self.kept), names=", ".join(self.kept)))
        if self.without_source:
            names = ", ".join(self.without_source)
            parts.append(
                _(
                    "%(count)s not set, with no previous target and no amount (%(names)s)",
                    count=len(self.without_source),
                    names=names,
                )
            )
        return "; ".join(parts) + "."


def generate_targets(month: Month, *, amount: Decimal | None = None, from_previous: bool = False) -> Generated:
    """Give every active account manager without a target for ``month`` one: their previous month's target amount
    (``from_previous``), else ``amount``. The hooks compute each new target's achieved amount from the orders."""
    if amount is None and not from_previous:
        raise TargetError(_("Give an amount, or take each manager's target of the previous month."), "amount")
    if amount is not None:
        try:
            amount = check_amount(amount)
        except MoneyError as error:
            raise TargetError(str(error), "amount") from None
    previous = _previous(month) if from_previous else None
    try:
        with transaction() as session:
            # Locked as the hooks lock them: a target saved meanwhile for one of them waits, or is seen. The active
            # flag is read under the lock: a manager deactivated meanwhile is left out once their deactivation commits.
            locked = lock_where(session.connection(), AccountManager.__table__, AccountManager.active)
            managers = session.scalars(
                select(AccountManager)
                .where(AccountManager.id.in_(locked))
                .order_by(AccountManager.name, AccountManager.id)
                .execution_options(populate_existing=True)
            ).all()
            amounts = _amounts_of(month.first_day)
            earlier = _amounts_of(previous) if previous is not None else {}
            created, kept, without_source = [], [], []
            for manager in managers:
                if manager.id in amounts:
                    kept.append(manager.name)
                elif (target_amount := earlier.get(manager.id, amount)) is None:
                    without_source.append(manager.name)
                else:
                    created.append(
                        Target(account_manager=manager, period_start=month.first_day, target_amount=target_amount)
                    )
            session.add_all(created)
    except IntegrityError:
        raise TargetError(
            _(
                "Someone set a target for %(month)s meanwhile; nothing was generated. Generate them again.",
                month=named_month(month),
            ),
            "month",
        ) from None
    return Generated(month, created, kept, without_source)


def _previous(month: Month) -> date | None:
    try:
        return month_start(month.first_day - timedelta(days=1))
    except OverflowError:
        return None


def _amounts_of(period_start: date) -> dict[int, Decimal]:
    return dict(
        db.session.execute(
            select(Target.account_manager_id, Target.target_amount).where(Target.period_start == period_start)
        ).all()
    )


def _duplicate(manager_id: int, period_start, target_id: int | None) -> bool:
    query = select(Target.id).where(Target.account_manager_id == manager_id, Target.period_start == period_start)
    if target_id is not None:
        query = query.where(Target.id != target_id)
    with db.session.no_autoflush:
        return db.session.scalar(query) is not None
