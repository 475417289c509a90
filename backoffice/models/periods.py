"""Closed months: the books are closed through a month, as a ledger's lock date.

Every close and reopen is a row of ``period_actions``, which the database keeps append-only. The
latest row's ``closed_through`` (the last day closed, or none) is the books' state: what the
services and the database's triggers read before a dated row is written.
"""

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH


class PeriodActionKind(enum.StrEnum):
    CLOSE = "close"
    REOPEN = "reopen"


class PeriodAction(db.Model):
    __tablename__ = "period_actions"
    __table_args__ = (CheckConstraint("action = 'reopen' OR closed_through IS NOT NULL", name="close_closes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year_month: Mapped[str] = mapped_column(String(7))
    """The month closed or reopened, ``YYYY-MM``."""
    action: Mapped[PeriodActionKind] = mapped_column(str_enum(PeriodActionKind, "period_action_kind"))
    closed_through: Mapped[date | None] = mapped_column(Date)
    """After this action, every date up to this one is closed; none: nothing is."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    acted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), default="")
    """A close's note, a reopening's reason."""

    user: Mapped[User] = relationship()
