"""Each sending of a form that writes money, by the key drawn into the form when it was shown."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.types import utcnow
from backoffice.platform.extensions import db


class FormSubmission(db.Model):
    """A form's key, claimed by the transaction that writes what the form asked: the same form sent again (from a
    second tab, a retry, the back button) finds it, writes nothing and is shown what the first sending did."""

    __tablename__ = "form_submissions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    endpoint: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    url: Mapped[str | None] = mapped_column(String(2000))
    """Where the first sending led the clerk (the page it saved on)."""
    said: Mapped[str | None] = mapped_column(Text)
    """What the first sending told the clerk it did."""
