"""The mirror of every background job: the UI's history, kept after Redis forgets the job."""

import enum
from datetime import datetime, timedelta

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.reconciliation import ReconciliationRun
from backoffice.models.types import as_utc, str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.STARTED)


class JobRecord(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_kind_enqueued_at", "kind", "enqueued_at"),
        Index("ix_jobs_ended_at", "ended_at"),  # the jobs that failed lately
        Index("ix_jobs_kind_status_ended_at", "kind", "status", "ended_at"),  # the nightly's last success
        Index("ix_jobs_run_id", "run_id"),  # a split run's job, found by each chunk that ends
        Index("ix_jobs_enqueued_at", "enqueued_at"),  # the jobs' list, newest first
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    queue: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus, "job_status"), default=JobStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(200), default="")
    result: Mapped[dict | None] = mapped_column(JSON)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))
    error: Mapped[str | None] = mapped_column(Text)
    in_process: Mapped[bool] = mapped_column(default=False)
    # Set while the job is queued or running, for kinds that must not run twice at once.
    active_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    seal: Mapped[str | None] = mapped_column(String(64))
    """The application's seal of what the job was made for (``seals.job_seal``): a row without it holds nothing."""
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User | None] = relationship()
    run: Mapped[ReconciliationRun | None] = relationship()

    @property
    def duration_seconds(self) -> float | None:  # float-ok: a duration
        if self.started_at is None:
            return None
        end = as_utc(self.ended_at) or utcnow()
        return (end - as_utc(self.started_at)).total_seconds()  # float-ok: a duration


DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600)
"""Upper bounds in seconds of the job duration histogram: a customer's recalculation takes seconds, the monthly
rebuild hours."""


class JobDurationBucket(db.Model):
    """One bucket of a kind's job duration histogram: how many attempts of its jobs ended (finished or failed) having
    run longer than the bound before and at most its own, and how long they ran in all.

    An attempt is counted in the transaction that records its end (see ``jobs``): the metrics read these rows, not
    every job record ever, and a count never goes down, as Prometheus' counters must not.
    """

    __tablename__ = "job_duration_buckets"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    """The index of the first of :data:`DURATION_BUCKETS` the duration is within; past the last, their number."""
    jobs: Mapped[int] = mapped_column(BigInteger)
    microseconds: Mapped[int] = mapped_column(BigInteger)
    """The durations' sum."""


def duration_bucket(ran: timedelta) -> int:
    """The bucket of a job that ran this long."""
    return next(
        (index for index, bound in enumerate(DURATION_BUCKETS) if ran <= timedelta(seconds=bound)),
        len(DURATION_BUCKETS),
    )
