"""The job queue: Redis, RQ's queues on it, and what the queue says of a job."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.platform.sentences import Sentence

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

# RQ and its Redis client are imported where they are used: every web process imports the jobs, and without REDIS_URL
# none touches the queue (a fifth of a second of its start-up).

QUEUES = ("recalc", "maintenance", "default")
"""Served in this order: what a user is waiting for first, the nightly work next."""

REDIS_CONNECT_TIMEOUT, REDIS_TIMEOUT = 2, 10

ON_THE_QUEUE_WITHIN = timedelta(seconds=REDIS_CONNECT_TIMEOUT + REDIS_TIMEOUT + 3)
"""A row is committed before its job is put on the queue, which succeeds or fails within Redis' timeouts: a
younger row whose job the queue does not have may be on its way there, not lost."""

LOST_JOB = Sentence(
    "queue_lost",
    "The queue lost this job (Redis restarted without its data); it was not run.",
    _l("The queue lost this job (Redis restarted without its data); it was not run."),
)
LOST = LOST_JOB.write()
ENDED_EARLY = Sentence(
    "queue_ended",
    "The queue ended this job ({status}) before it ran to its end; it was not run.",
    _l("The queue ended this job (%(status)s) before it ran to its end; it was not run."),
)

ENDED_ON_THE_QUEUE = frozenset({"finished", "failed", "stopped", "canceled"})
"""The states of an RQ job the queue will not run again (RQ's ``JobStatus`` values, which are strings)."""

WORKER_LOOKUP_SECONDS = 5
"""How long the answer of RQ's worker registry is kept: every panel polls every second."""


class QueueUnavailable(RuntimeError):
    """Redis cannot be reached: the job was not started."""


def redis_url() -> str | None:
    return current_app.config.get("REDIS_URL")


def redis_connection() -> Redis:
    """One connection pool per app, made on first use (never at import)."""
    connection = current_app.extensions.get("redis")
    if connection is None:
        from redis import Redis

        connection = Redis.from_url(
            redis_url(), socket_connect_timeout=REDIS_CONNECT_TIMEOUT, socket_timeout=REDIS_TIMEOUT
        )
        current_app.extensions["redis"] = connection
    return connection


def queue(name: str) -> Queue:
    from rq import Queue

    return Queue(name, connection=redis_connection())


def callbacks() -> dict:
    """RQ's callbacks of every job and chunk put on the queue, as ``enqueue``'s arguments: one whose worker stopped
    (RQ found it abandoned), or that was stopped, is ended by them (see ``sweep``)."""
    from rq import Callback

    return {"on_failure": Callback("backoffice.jobs.on_failure"), "on_stopped": Callback("backoffice.jobs.on_stopped")}


def _worker_listens(queue_name: str) -> bool:
    """Whether RQ's worker registry has a live worker on the queue, as it was at most a few seconds ago."""
    seen = current_app.extensions.setdefault("backoffice.listening", {})
    now = time.monotonic()
    if queue_name in seen and seen[queue_name][0] > now:
        return seen[queue_name][1]
    from redis.exceptions import RedisError
    from rq import Worker

    try:
        listens = bool(Worker.all(queue=queue(queue_name)))
    except RedisError:
        listens = True  # the registry cannot be asked: better say nothing than something wrong
    seen[queue_name] = (now + WORKER_LOOKUP_SECONDS, listens)
    return listens


def _queued(job_id: str | None) -> bool:
    """Whether the queue has the job and will run it (or cannot be asked now)."""
    return job_id is not None and _not_on_the_queue(job_id) is None


def _not_on_the_queue(job_id: str) -> str | None:
    """Why the queue will not run the job: it does not have it, or it ended it without running it to its end (it
    failed as it began, the database away, say, or waited its retries out); ``None`` when it will run it, or when
    the queue cannot be asked now."""
    from redis.exceptions import RedisError
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        status = Job.fetch(job_id, connection=redis_connection()).get_status(refresh=False)
    except NoSuchJobError:
        return LOST
    except RedisError:
        return None
    status = getattr(status, "value", status)
    if status in ENDED_ON_THE_QUEUE:
        return ENDED_EARLY.write(status=status)
    return None
