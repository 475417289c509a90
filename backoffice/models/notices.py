"""What a user is told happened while they were elsewhere: one row per notice, unread until they open it.

A notice keeps what happened as facts (its kind and, as JSON, what the sentence names), never as text: it is said in
the reader's language when it is read. It is written in the transaction of what it tells, so it exists exactly when
that happened.
"""

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.models.types import str_enum, utcnow
from backoffice.platform.extensions import db


class NoticeKind(enum.StrEnum):
    REQUEST_WAITING = "request_waiting"
    """An approval request waits for a decision the reader (an admin, not the requester) may take."""
    REQUEST_APPROVED = "request_approved"
    """The reader's request was approved."""
    REQUEST_REJECTED = "request_rejected"
    """The reader's request was rejected, with the reason."""
    JOB_FINISHED = "job_finished"
    """A job the reader started finished."""
    JOB_FAILED = "job_failed"
    """A job the reader started failed, or was stopped with its worker (``status``: failed or abandoned)."""


class Notice(db.Model):
    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_user_id_read_at", "user_id", "read_at"),  # the header's count of the unread
        Index("ix_notices_user_id_id", "user_id", "id"),  # a reader's notices, newest first, a page at a time
        # the unread notices of a request waiting, marked read once it is decided
        Index("ix_notices_unread_target", "target", postgresql_where=text("read_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    """Who is told: only they see it and mark it read."""
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind, "notice_kind"))
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    """What the sentence names (a request's id, kind, amount, customer, who decided and why; a job's id and status)."""
    target: Mapped[str] = mapped_column(String(300))
    """The application's path the notice opens (``/approvals/mine#request-7``, ``/jobs/<id>``)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
