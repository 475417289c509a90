"""What a person chose to see of a list: the columns they show or hide, kept for them on the server so that the
choice follows them from one browser to another."""

from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.platform.extensions import db


class ListColumns(db.Model):
    __tablename__ = "list_columns"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    """The list, as its page names it (``customers``, ``customer-ledger``)."""
    columns: Mapped[dict] = mapped_column(JSONB)
    """Each column the person chose, by name: ``true`` shown, ``false`` hidden. The columns they did not choose give
    way to the screen's width, the least needed first."""
