"""The job duration histogram: each attempt of a job that ends, counted in its kind's bucket."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam

from backoffice.models import JobDurationBucket, duration_bucket
from backoffice.models.types import as_utc, upsert
from backoffice.platform.extensions import db

buckets = JobDurationBucket.__table__
_counted = upsert(buckets).values(
    kind=bindparam("kind"), bucket=bindparam("bucket"), jobs=1, microseconds=bindparam("microseconds")
)
_COUNTING = _counted.on_conflict_do_update(
    index_elements=[buckets.c.kind, buckets.c.bucket],
    set_={"jobs": buckets.c.jobs + 1, "microseconds": buckets.c.microseconds + _counted.excluded.microseconds},
)
"""``INSERT … ON CONFLICT (kind, bucket) DO UPDATE``: one more job in the bucket, and its microseconds."""


def _count_duration(kind: str, started_at: datetime | None, ended_at: datetime) -> None:
    """Count an attempt of a job that ended in its kind's duration histogram, in the transaction recording its end.

    Each attempt counts: one the database failed counts as failed, and again as it ends when RQ runs it again.
    """
    if started_at is None:
        return
    ran = ended_at - as_utc(started_at)
    db.session.execute(
        _COUNTING,
        {"kind": kind, "bucket": duration_bucket(ran), "microseconds": ran // timedelta(microseconds=1)},
    )
