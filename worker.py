"""An RQ worker for the back-office: ``python worker.py [--burst] [QUEUE ...]``.

The app is created once per worker process, without its web layer (jobs serve no pages); its jobs
run inside the app context. Queues default to recalc, maintenance and default, served in that
order. Before it starts, the worker marks the jobs of workers that died mid-job as abandoned.
Its log lines, RQ's among them, are written as the web app's (``BACKOFFICE_LOG_FORMAT``,
``BACKOFFICE_LOG_LEVEL``), each line a job writes with the job's id.
"""

from __future__ import annotations

import argparse
import sys

from rq import Worker
from sqlalchemy.exc import DBAPIError

from backoffice import create_app, jobs, logs
from backoffice.extensions import db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queues", nargs="*", default=list(jobs.QUEUES), metavar="QUEUE")
    parser.add_argument("--burst", action="store_true", help="Work until the queues are empty, then exit.")
    options = parser.parse_args(argv)
    unknown = set(options.queues) - set(jobs.QUEUES)
    if unknown:
        parser.error(f"unknown queue(s) {', '.join(sorted(unknown))}; the queues are {', '.join(jobs.QUEUES)}")

    app = create_app(web=False)
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    with app.app_context():
        if not jobs.redis_url():
            parser.error("REDIS_URL is not set: without it jobs run in-process and need no worker")
        try:
            jobs.sweep_abandoned()
        except DBAPIError as error:
            sys.exit(f"worker.py: the database cannot be used ({error.orig}); run: backoffice db upgrade")
        # No connection of the worker's may be left open for its work-horses to inherit: the session's, in the
        # transaction of the sweep's last read, would show them the database as it was before the fork.
        db.session.remove()
        db.engine.dispose()
        worker = Worker([jobs.queue(name) for name in options.queues], connection=jobs.redis_connection())
        worker.work(burst=options.burst, with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
