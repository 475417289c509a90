from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import CheckConstraint, Date, ForeignKey, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from backoffice.models.customers import AccountManager
from backoffice.models.types import Balance, Money, Month
from backoffice.platform.extensions import db
from backoffice.platform.money import ZERO, check_amount


class Target(db.Model):
    """An account manager's sales target for one month, with the achieved amount kept by the hooks."""

    __tablename__ = "targets"
    __versioned__ = {"exclude": ["achieved_amount", "version"]}
    __table_args__ = (
        UniqueConstraint("account_manager_id", "period_start", name="uq_targets_manager_period"),
        CheckConstraint("target_amount >= 0", name="target_amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_manager_id: Mapped[int] = mapped_column(ForeignKey("account_managers.id"))
    period_start: Mapped[date] = mapped_column(Date)
    target_amount: Mapped[Decimal] = mapped_column(Money)
    achieved_amount: Mapped[Decimal] = mapped_column(Balance, default=ZERO, server_default=text("0"))
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every save of the target; recomputing the achieved amount does not move it."""

    account_manager: Mapped[AccountManager] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @validates("target_amount")
    def _check_amount(self, _key: str, value: Decimal) -> Decimal:
        return check_amount(value)

    @validates("period_start")
    def _check_period(self, _key: str, value: date) -> date:
        if value.day != 1:
            raise ValueError(_("A target's period starts on the first day of a month."))
        return value

    @property
    def period(self) -> str:
        return str(Month.of(self.period_start))

    @property
    def progress(self) -> Decimal:
        """Achieved as a percentage of the target (0 when the target is 0)."""
        if not self.target_amount:
            return Decimal(0)
        return (self.achieved_amount * 100 / self.target_amount).quantize(Decimal("0.1"))
