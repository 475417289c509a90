"""Log lines, one handler for them all: the web app's (a line per request), the jobs' (a line per step), and, under
gunicorn, the server's own (``gunicorn.conf.py``).

Every line written while a request is answered carries its request id, and every line a job writes carries the
job's id, as fields of their own: a request's line, its error and the job it ran in-process can be found together.
``BACKOFFICE_LOG_FORMAT=json`` writes a JSON object per line (python-json-logger), for a log collector; ``text``,
the default, a line for people. ``BACKOFFICE_LOG_LEVEL`` is the least level written (INFO).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s%(context)s: %(message)s"
JSON_FIELDS = ("levelname", "name", "process", "message")
JSON_NAMES = {"levelname": "level", "name": "logger"}

_job_id: ContextVar[str | None] = ContextVar("backoffice_job_id", default=None)


def configure(level: str, log_format: str) -> None:
    """Write the lines of ``level`` and above to standard error, in ``log_format`` (``text`` or ``json``).

    Called again (another app in the same process), it replaces its handler rather than adding a second.
    """
    root = logging.getLogger()
    for earlier in [h for h in root.handlers if getattr(h, "backoffice", False)]:
        root.removeHandler(earlier)
    root.addHandler(handler(log_format))
    root.setLevel(level)


def handler(log_format: str = "text") -> logging.Handler:
    """The handler every line goes through, stamping each with its request id and job id."""
    made = _StandardError()
    made.setFormatter(_json_formatter() if log_format == "json" else _TextFormatter(TEXT_FORMAT))
    made.addFilter(_stamp)
    made.backoffice = True
    return made


def gunicorn_config(level: str, log_format: str) -> dict:
    """gunicorn's ``logconfig_dict``: its error and access lines go through the app's handler, in its format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"backoffice": {"()": "backoffice.platform.logs.handler", "log_format": log_format}},
        "root": {"level": level, "handlers": ["backoffice"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": level, "handlers": [], "propagate": True},
        },
    }


@contextmanager
def job(job_id: str) -> Iterator[None]:
    """Stamp ``job_id`` on every line written inside the block."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def current_job_id() -> str | None:
    """The job being run: one of ours (see :func:`job`), else, in a worker, the RQ job (a scheduled function)."""
    job_id = _job_id.get()
    rq_job = sys.modules.get("rq.job")  # no RQ job runs in a process that never imported RQ
    if job_id is None and rq_job is not None and (running := rq_job.get_current_job()) is not None:
        job_id = running.id
    return job_id


def _stamp(record: logging.LogRecord) -> bool:
    """Add ``request_id`` and ``job_id`` to a line written under them (unless it brought its own)."""
    if not hasattr(record, "request_id") and has_request_context() and (request_id := g.get("request_id")):
        record.request_id = request_id
    if not hasattr(record, "job_id") and (job_id := current_job_id()):
        record.job_id = job_id
    return True


class _StandardError(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment: a test that captures it gets the lines."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


class _TextFormatter(logging.Formatter):
    """``… INFO [pid] logger [request 1f0c…] [job nightly-2026-11-22]: message``."""

    def format(self, record: logging.LogRecord) -> str:
        tags = []
        if request_id := getattr(record, "request_id", None):
            tags.append(f"request {request_id}")
        if job_id := getattr(record, "job_id", None):
            tags.append(f"job {job_id}")
        record.context = "".join(f" [{tag}]" for tag in tags)
        return super().format(record)


def _json_formatter() -> logging.Formatter:
    # The time in ISO 8601, UTC; the fields a line was written with (a request's method, path, status…) follow.
    return JsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, timestamp="time")
