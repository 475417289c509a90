"""The schedule, read by RQ's cron scheduler: ``rq cron backoffice.operations.schedule`` (``make scheduler``).

Cron fields are read in the scheduler's local time: ``make scheduler`` sets ``TZ`` to
``BACKOFFICE_TIMEZONE``. Each entry enqueues a small job; the worker that runs it enqueues
the real job under an id derived from the date, so two schedulers still run each night once.
The cron scheduler does not catch up a slot it missed: the hourly ``catch_up`` does.
"""

import os

from rq import cron

from backoffice import jobs
from backoffice.platform.config import clock

NIGHTLY_HOUR, NIGHTLY_MINUTE = clock(os.environ, "BACKOFFICE_NIGHTLY_AT", "02:00")
MONTHLY_HOUR, MONTHLY_MINUTE = clock(os.environ, "BACKOFFICE_MONTHLY_REBUILD_AT", "03:00")

cron.register(
    jobs.enqueue_nightly, queue_name="maintenance", cron=f"{NIGHTLY_MINUTE} {NIGHTLY_HOUR} * * *", name="nightly"
)
cron.register(
    jobs.enqueue_monthly_rebuild,
    queue_name="maintenance",
    cron=f"{MONTHLY_MINUTE} {MONTHLY_HOUR} 1 * *",
    name="monthly-rebuild",
)
cron.register(jobs.catch_up, queue_name="maintenance", cron="17 * * * *", name="catch-up")
