"""Two writers at once, each in its own thread, app context, session and connection.

The first holds what it wrote, uncommitted and locked, after its session's flush (the hooks
have recomputed by then) or, for writers that use a connection of their own, just before its
commit: until the second waits for one of its locks, or has finished, and for ``PAUSE``
seconds at most (the whole ``PAUSE`` for a test that measures the wait). The second starts once
the first holds, so it has to wait for the first's row locks and must then
compute from what the first committed. Or, for writers that must not wait for each other, the
first holds until the second has finished (``independent``).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import event

from backoffice.platform.extensions import db

PAUSE = 0.6
WAITING = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
"""Sessions of the test's database waiting for a lock (``pg_stat_activity`` shows every database's)."""
PATIENCE = 10
"""Seconds an ``independent`` first writer holds, at most, for the second to finish."""


def race(
    app, first, second, *, hold_after: str = "flush", independent: bool = False, whole_pause: bool = False
) -> None:
    """Run ``first`` and ``second`` (callables) at once; re-raise what either raised.

    ``hold_after`` is ``"flush"`` (an ``after_flush_postexec`` listener on the first's session
    only) or ``"commit"`` (the engine's ``commit`` event, in the first's thread only).
    ``independent``: the first holds until the second has finished, and :class:`AssertionError`
    says so if the second was still waiting for the first after ``PATIENCE`` seconds.
    ``whole_pause``: the first holds for ``PAUSE`` seconds, even once the second waits.
    """
    holding = threading.Event()
    second_done = threading.Event()
    waited: list[bool] = []
    errors: list[BaseException] = []
    first_thread = threading.current_thread()

    def hold(*_args) -> None:
        if threading.current_thread() is first_thread and not holding.is_set():
            holding.set()
            if independent:
                if not second_done.wait(timeout=PATIENCE):
                    waited.append(True)
            elif whole_pause:
                time.sleep(PAUSE)
            else:
                until_the_second_waits(second_done)

    def run_first() -> None:
        with app.app_context():
            if hold_after == "flush":
                event.listen(db.session(), "after_flush_postexec", hold)
            first()

    def run_second() -> None:
        if not holding.wait(timeout=10):
            raise AssertionError("The first writer never got to hold its locks.")
        try:
            with app.app_context():
                second()
        finally:
            second_done.set()

    def guarded(work):
        def body() -> None:
            try:
                work()
            except BaseException as error:  # reported by the test's thread
                errors.append(error)
                holding.set()

        return body

    db.session.remove()  # the test's own session holds nothing while the writers run
    threads = [threading.Thread(target=guarded(run_first)), threading.Thread(target=guarded(run_second))]
    first_thread = threads[0]
    listening = hold_after == "commit"
    if listening:
        event.listen(db.engine, "commit", hold)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        if listening:
            event.remove(db.engine, "commit", hold)
    if errors:
        raise errors[0]
    if waited:
        raise AssertionError(f"The second writer was still waiting after the first had held for {PATIENCE} s.")


def until_the_second_waits(second_done: threading.Event) -> None:
    """Until a session of the test's database waits for a lock (the second writer, for the first's: nothing else
    writes meanwhile) or the second has finished; ``PAUSE`` seconds at most."""
    deadline = time.monotonic() + PAUSE
    with db.engine.connect() as connection:
        while time.monotonic() < deadline and not second_done.is_set():
            connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")  # the sessions as they are now
            if connection.exec_driver_sql(WAITING).scalar():
                return
            time.sleep(0.01)
