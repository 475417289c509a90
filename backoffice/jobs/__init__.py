"""Background jobs on RQ, each mirrored by a ``jobs`` row that outlives Redis.

``enqueue`` is the one way to start a job; without ``REDIS_URL`` the job runs at once, in the calling process. Every
job is safe to run again. The work is done in this package's modules, but everything is used from here, and RQ finds
the jobs and their callbacks by the names defined here (``backoffice.jobs.execute``, ``backoffice.jobs.catch_up``,
``backoffice.jobs.on_failure``), which the queue and the cron scheduler keep in Redis.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from backoffice.jobs.enqueueing import (
    NO_WORKER_NOTICE_AFTER,
    active_job,
    active_job_held,
    enqueue,
    last_sealed_run,
    last_success,
    maintaining,
    sealed_run,
    successes,
    unsealed_runs,
    waiting_notice,
)
from backoffice.jobs.kinds import KINDS, Kind
from backoffice.jobs.queues import (
    ENDED_ON_THE_QUEUE,
    LOST,
    ON_THE_QUEUE_WITHIN,
    QUEUES,
    REDIS_CONNECT_TIMEOUT,
    REDIS_TIMEOUT,
    WORKER_LOOKUP_SECONDS,
    QueueUnavailable,
    queue,
    redis_connection,
    redis_url,
)
from backoffice.jobs.running import TRANSIENT_RETRY, WAITING_RETRY, execute, execute_chunk
from backoffice.jobs.sweep import on_failure, on_stopped, release_if_lost, sweep_abandoned, worker_stopped
from backoffice.jobs.titles import english_title, title
from backoffice.models import JobRecord, RunTrigger, User
from backoffice.models.types import Month, utcnow
from backoffice.platform.clock import local_today

__all__ = [
    "ENDED_ON_THE_QUEUE",
    "KINDS",
    "LOST",
    "NO_WORKER_NOTICE_AFTER",
    "ON_THE_QUEUE_WITHIN",
    "QUEUES",
    "REDIS_CONNECT_TIMEOUT",
    "REDIS_TIMEOUT",
    "TRANSIENT_RETRY",
    "WAITING_RETRY",
    "WORKER_LOOKUP_SECONDS",
    "Kind",
    "QueueUnavailable",
    "active_job",
    "active_job_held",
    "catch_up",
    "english_title",
    "enqueue",
    "enqueue_maintenance",
    "enqueue_monthly_rebuild",
    "enqueue_nightly",
    "execute",
    "execute_chunk",
    "last_sealed_run",
    "last_success",
    "maintaining",
    "local_today",
    "on_failure",
    "on_stopped",
    "queue",
    "redis_connection",
    "redis_url",
    "release_if_lost",
    "sealed_run",
    "successes",
    "sweep_abandoned",
    "title",
    "unsealed_runs",
    "waiting_notice",
    "worker_stopped",
]


def enqueue_nightly(
    day: date | None = None,
    *,
    again_after_failure: bool = False,
    user: User | None = None,
    trigger: RunTrigger = RunTrigger.SCHEDULE,
) -> tuple[JobRecord, bool]:
    """Enqueue the nightly verify-and-fix of ``day`` (today in the installation's time zone), once; while a
    maintenance of that day started otherwise (:func:`enqueue_maintenance`) is queued or running, that one is given.

    ``again_after_failure``: an attempt that failed is followed by a new one too, as an abandoned one always is.
    ``user`` and ``trigger``: who asked, when it is not the schedule (an admin from the home page).
    """
    day = day or local_today()
    sweep_abandoned()
    return enqueue(
        "nightly_maintenance",
        {"date": day.isoformat()},
        user=user,
        trigger=trigger,
        job_id=f"nightly-{day}",
        again_after_failure=again_after_failure,
    )


def enqueue_maintenance(*, user: User | None = None) -> tuple[JobRecord, bool]:
    """A nightly maintenance of today, started now however many ran today (the operations API's: a monitor may ask
    for one every few hours), as :func:`enqueue` returns it. Refused (:class:`RunRefused`) while one of today's is
    queued or running, and while another run writes its checks."""
    day = local_today()
    sweep_abandoned()
    record, created = enqueue(
        "nightly_maintenance",
        {"date": day.isoformat()},
        user=user,
        trigger=RunTrigger.API,
        job_id=f"nightly-{day}-{uuid.uuid4().hex[:8]}",
    )
    if not created:
        raise maintaining(record.id, record.run_id)
    return record, created


def enqueue_monthly_rebuild(day: date | None = None) -> tuple[JobRecord, bool]:
    month = str(Month.of(day or local_today()))
    return enqueue("monthly_rebuild", {"month": month}, trigger=RunTrigger.SCHEDULE, job_id=f"monthly-rebuild-{month}")


def catch_up() -> JobRecord | None:
    """The hourly tick: sweep abandoned jobs; enqueue today's nightly if none succeeded in 24 hours, unless today's
    latest attempt is queued, running or finished (one that failed or was abandoned is attempted again, once a
    tick: the new attempt is queued until a worker ends it)."""
    sweep_abandoned()
    succeeded = last_success("nightly_maintenance")
    if succeeded is not None and succeeded >= utcnow() - timedelta(hours=24):
        return None
    record, created = enqueue_nightly(again_after_failure=True)
    return record if created else None
