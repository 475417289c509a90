"""A list's filters a person saved under a name of their own ("Overdue Jakarta"), to apply again in one click."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.types import utcnow
from backoffice.platform.extensions import db


class SavedFilter(db.Model):
    __tablename__ = "saved_filters"
    __table_args__ = (
        # A person's filters of a list are read by the first two: the constraint is their index.
        UniqueConstraint("user_id", "list_name", "name", name="uq_saved_filters_user_id_list_name_name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    """Whose they are: only they see, apply and delete them."""
    list_name: Mapped[str] = mapped_column(String(40))
    """The list, as its page names it (``invoices``, ``aging``)."""
    name: Mapped[str] = mapped_column(String(60))
    query_string: Mapped[str] = mapped_column(String(2000))
    """The list's own filters and its sort, as its address carries them (``status=overdue&customer=Jakarta``); read
    by the list as any address is, whenever it is applied."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    """When the filters were saved under the name (saved again: the moment they replaced the others)."""
