"""An RQ worker for the back-office: ``python worker.py [--burst] [QUEUE ...]``.

The app is created once per worker process, with its web layer's templates and filters (a month-end run draws its
documents from the pages customers are printed); its jobs run inside the app context. Queues default to recalc,
maintenance and default, served in that order. While a job runs, the worker beats for it in Redis every
``BACKOFFICE_JOB_HEARTBEAT_SECONDS`` (RQ's job monitoring). Before it starts, and every
``BACKOFFICE_WORKER_SWEEP_SECONDS`` while it runs (between jobs, and when idle), the worker runs RQ's maintenance, whose
cleanup of the started registries ends the jobs of workers that died (their failure callbacks mark the rows abandoned
and queue again the chunks of a split run), and sweeps what RQ cannot know of (``jobs.sweep_abandoned``): so such a run
goes on within a minute or two, whether a scheduler runs or not. Its log lines, RQ's among them, are written as the web
app's (``BACKOFFICE_LOG_FORMAT``, ``BACKOFFICE_LOG_LEVEL``), each line a job writes with the job's id.
"""

from __future__ import annotations

import argparse
import math
import sys

from rq import Worker
from rq.job import Job
from sqlalchemy.exc import DBAPIError

from backoffice import create_app, jobs
from backoffice.platform import logs
from backoffice.platform.config import ConfigError
from backoffice.platform.extensions import db
from backoffice.platform.switchover import said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queues", nargs="*", default=list(jobs.QUEUES), metavar="QUEUE")
    parser.add_argument("--burst", action="store_true", help="Work until the queues are empty, then exit.")
    options = parser.parse_args(argv)
    unknown = set(options.queues) - set(jobs.QUEUES)
    if unknown:
        parser.error(f"unknown queue(s) {', '.join(sorted(unknown))}; the queues are {', '.join(jobs.QUEUES)}")

    try:
        app = create_app()
    except ConfigError as error:
        sys.exit(f"worker.py: {error}")
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    with app.app_context():
        if not jobs.redis_url():
            parser.error("REDIS_URL is not set: without it jobs run in-process and need no worker")
        try:
            jobs.sweep_abandoned()
        except DBAPIError as error:
            sys.exit(f"worker.py: the database cannot be used ({said(error.orig)}); run: backoffice db upgrade")
        _release_the_database()
        every = max(1, round(app.config["WORKER_SWEEP_SECONDS"]))
        worker = SweepingWorker(
            [jobs.queue(name) for name in options.queues],
            connection=jobs.redis_connection(),
            maintenance_interval=every,
            # An idle worker waits this long for a job before it beats (and sweeps, when it is time) again.
            worker_ttl=every + 15,
            # RQ times the beats with an alarm signal, in whole seconds.
            job_monitoring_interval=max(1, math.ceil(app.config["JOB_HEARTBEAT_SECONDS"])),
        )
        worker.work(burst=options.burst, with_scheduler=True)
    return 0


class SweepingWorker(Worker):
    """RQ's worker, whose periodic maintenance sweeps abandoned jobs and chunks as well as RQ's registries, and which
    ends the job of a work-horse killed mid-job as RQ's cleanup ends that of a worker that died."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long a running job's entry in its started registry lives after a beat: two beats (RQ's own: a beat and
        a minute), so that the next cleanup after two beats missed finds the job of a worker that died."""
        return 2 * self.job_monitoring_interval

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        try:
            jobs.worker_stopped(job)
        except DBAPIError:
            self.log.exception("Job %s: the database could not be reached to end it; the sweep ends it", job.id)
        finally:
            _release_the_database()

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            jobs.sweep_abandoned()
        except DBAPIError:
            self.log.exception("The sweep could not reach the database; the next maintenance tries again")
        finally:
            _release_the_database()


def _release_the_database() -> None:
    """No connection of the worker's may be left open for its work-horses to inherit: the session's, in the
    transaction of the sweep's last read, would show them the database as it was before the fork."""
    db.session.remove()
    db.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
