"""job duration buckets: the metrics' job histogram kept as each job ends; indexes the health check reads

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-02 09:00:00.000000

- ``job_duration_buckets`` holds, per kind of job and bucket of the duration histogram, how many attempts ended
  (finished or failed) within it and their microseconds in all. It is filled here from the job records, as the
  metrics counted them until now, so an upgraded installation reports the same histogram; from now on each attempt
  is counted as it ends, and a scrape reads these rows instead of every job record ever.
- ``jobs (kind, status, ended_at)``: the nightly maintenance's last success is one index entry.
- ``recalculation_requests (requested_at) WHERE done_at IS NULL``: the requests waiting are counted without reading
  every request ever done.
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600)
"""The histogram's upper bounds in seconds, as of this revision."""

WAITING = sa.text("done_at IS NULL")

jobs = sa.table(
    "jobs",
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("ended_at", sa.DateTime(timezone=True)),
)


def upgrade():
    buckets = op.create_table(
        "job_duration_buckets",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.Column("microseconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "bucket", name=op.f("pk_job_duration_buckets")),
    )
    op.execute(buckets.insert().from_select(["kind", "bucket", "jobs", "microseconds"], _counted()))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_kind_status_ended_at", ["kind", "status", "ended_at"], unique=False)
    with op.batch_alter_table("recalculation_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recalculation_requests_waiting",
            ["requested_at"],
            unique=False,
            postgresql_where=WAITING,
        )


def downgrade():
    with op.batch_alter_table("recalculation_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_recalculation_requests_waiting", postgresql_where=WAITING)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_kind_status_ended_at")
    op.drop_table("job_duration_buckets")


def _counted():
    """Per kind and bucket, the jobs that finished or failed and their microseconds: the histogram the metrics read
    off the job records until this revision, each duration exact to the microsecond."""
    duration = jobs.c.ended_at - jobs.c.started_at
    within = [duration <= timedelta(seconds=bound) for bound in BUCKETS]
    microseconds = sa.cast(sa.func.round(sa.func.extract("epoch", sa.func.sum(duration)) * 1_000_000), sa.BigInteger)
    bucket = sa.case(*((condition, index) for index, condition in enumerate(within)), else_=len(BUCKETS))
    return (
        sa.select(jobs.c.kind, bucket, sa.func.count(), microseconds)
        .where(
            jobs.c.status.in_(["finished", "failed"]),
            jobs.c.started_at.is_not(None),
            jobs.c.ended_at.is_not(None),
        )
        .group_by(jobs.c.kind, bucket)
    )
