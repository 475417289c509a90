"""The rows the old code wrote its own words on, before the system stored facts (migration 0052)."""

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.platform.extensions import db


class WordsWrittenBefore(db.Model):
    """For a table whose descriptions the old code wrote (``balance_transactions``, ``journal_entries``), the
    highest id present when the facts began to be stored: a row up to it may carry the old English words, a row after
    it a clerk's text only (``backoffice.services.descriptions``). Written once by the upgrade; the database refuses
    any change."""

    __tablename__ = "words_written_before"

    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    through_id: Mapped[int] = mapped_column(BigInteger)
    """0 for a table that was empty."""
