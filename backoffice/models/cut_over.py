"""The day the installation took over from the system before: what is dated on or before it is history."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.types import utcnow
from backoffice.platform.extensions import db


class CutOver(db.Model):
    """One row, set once (the database refuses to change or delete it)."""

    __tablename__ = "cut_over"
    __table_args__ = (CheckConstraint("id", name="one_row"),)

    id: Mapped[bool] = mapped_column(primary_key=True, server_default=text("true"))
    day: Mapped[date] = mapped_column(Date)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
