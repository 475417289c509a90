"""What a job says of where it is ("1,234 of 5,000 customers re-priced"), kept as facts, a code and its numbers, on
its row (``jobs.message``) and in RQ's meta, and said when it is read: in the reader's language on the pages and in
the API, in English in the log.

A row written before its messages were facts keeps the English sentence it was written with, and is shown as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from backoffice.jobs.queues import ENDED_EARLY, LOST_JOB
from backoffice.platform import sentences
from backoffice.platform.i18n import count_text
from backoffice.platform.sentences import Sentence
from backoffice.reconcile import fanout, label

MESSAGES = {
    "waiting_for_worker": _l("Waiting for a worker"),
    "in_process": _l("Running in-process"),
    "started": _l("Started"),
    "recalculating": _l("Doing pending recalculations"),
    "repricing": _l("Re-pricing"),
    "repriced": _l("%(done)s of %(total)s customers re-priced"),
    "documents": _l("%(done)s of %(total)s documents written"),
    "chunk": _l("%(check)s: chunk %(done)s of %(total)s"),
    "chunks": _l("%(done)s of %(total)s chunks done"),
    "chunks_in_steps": _l("%(done)s of %(total)s chunks done (step %(step)s of %(steps)s)"),
    "no_chunk": _l("No chunk queued"),
    "waiting_for_run": _l("Waiting for run #%(run)s, which writes %(check)s, to end"),
    "waiting_for_check": _l("Waiting for the run that writes %(check)s to end"),
    "finished": _l("Finished"),
    "failed": _l("Failed"),
    "abandoned": _l("Abandoned"),
}
"""Each code's words; its numbers are the message's ``%(…)s`` (a check by its code name)."""

WORKER_STOPPED = Sentence(
    "worker_stopped",
    "The worker stopped while the job ran (last heartbeat {heartbeat} UTC).",
    _l("The worker stopped while the job ran (last heartbeat %(heartbeat)s UTC)."),
    moments=("heartbeat",),
)
"""A job's (and its run's) error when its worker stopped beating; the queue's own are beside it (jobs.queues)."""

COUNTS = ("done", "total")
"""The numbers written grouped (``1.234`` in Indonesian); the others are steps and a run's number."""


def fact(code: str, **numbers: int | str) -> str:
    """A message as its row keeps it: ``{"code":"repriced","done":1234,"total":5000}``."""
    if code not in MESSAGES:
        raise KeyError(f"No job message {code!r}.")
    return json.dumps({"code": code, **numbers}, separators=(",", ":"))


def facts(stored: str | None) -> dict | None:
    """The code and numbers of a stored message; ``None`` for an English sentence kept from before (or nothing)."""
    if not stored or not stored.startswith("{"):
        return None
    try:
        found = json.loads(stored)
    except ValueError:
        return None
    return found if isinstance(found, dict) and found.get("code") in MESSAGES else None


def said(stored: str | None) -> str:
    """The message in the language spoken now, its counts in the reader's notation and a check by its name."""
    found = facts(stored)
    if found is None:
        return stored or ""
    return _words(found, count=count_text, check=label)


def error_said(stored: str | None) -> str:
    """A job's or a run's error in the reader's words when the system wrote it (the worker stopped, the queue lost
    or ended the job); an exception's own text as it is kept."""
    return sentences.said(stored, (WORKER_STOPPED, LOST_JOB, ENDED_EARLY, fanout.CHUNK_FAILED))


def english(stored: str | None) -> str:
    """The message as the log says it: in English, a check by its code name (``order_grand_total: chunk 3 of 7``)."""
    found = facts(stored)
    if found is None:
        return stored or ""
    with force_locale("en"):
        return _words(found, count="{:,}".format, check=str)


def _words(found: dict, *, count: Callable[[int], str], check: Callable[[str], str]) -> str:
    values = {name: value for name, value in found.items() if name != "code"}
    for name in COUNTS:
        if name in values:
            values[name] = count(values[name])
    if "check" in values:
        values["check"] = check(values["check"])
    return str(MESSAGES[found["code"]]) % values
