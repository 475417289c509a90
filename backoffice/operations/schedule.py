"""The schedule, read by RQ's cron scheduler: ``rq cron backoffice.operations.schedule`` (``make scheduler``).

Cron fields are read in the scheduler's local time: ``make scheduler`` sets ``TZ`` to
``BACKOFFICE_TIMEZONE``. Each entry enqueues a small job; the worker that runs it enqueues
the real job under an id derived from the date, so two schedulers still run each night once.
The cron scheduler does not catch up a slot it missed: the hourly ``catch_up`` does. The settings are read, every
one, when the scheduler loads this file: an invalid one stops it.
"""

from rq import cron

from backoffice import jobs
from backoffice.platform import config

_settings = config.read()
NIGHTLY_HOUR, NIGHTLY_MINUTE = _settings.nightly_at
MONTHLY_HOUR, MONTHLY_MINUTE = _settings.monthly_rebuild_at

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
