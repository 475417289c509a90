"""Each key a maker sends with what it asks, whatever the door: a form, a wallet movement, a manual entry."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.types import utcnow
from backoffice.platform.extensions import db


class SentKey(db.Model):
    """A key, claimed by the transaction that writes what it asked: the same key sent again by its maker (from a
    second tab, a retry, the back button, a command run again) finds it, writes nothing and is answered with what the
    first sending wrote; sent by anyone else, it is refused and writes nothing (migration ``0101``)."""

    __tablename__ = "sent_keys"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    maker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """Who sent it; none for a command run without a user, or a client's call (whose key carries the client)."""
    door: Mapped[str | None] = mapped_column(String(100))
    """A form's view (its endpoint); none for a key the posting core keeps."""
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    wrote: Mapped[str | None] = mapped_column(String(40))
    """The table of what the key wrote (``balance_transactions``, ``journal_entries``); none for a form's key."""
    wrote_id: Mapped[int | None]
    url: Mapped[str | None] = mapped_column(String(2000))
    """Where a form's first sending led the clerk (the page it saved on)."""
    said: Mapped[str | None] = mapped_column(Text)
    """What a form's first sending told the clerk it did."""
