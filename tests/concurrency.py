"""Two writers at once, each in its own thread, app context, session and connection.

The first holds what it wrote, uncommitted and locked, for ``PAUSE`` seconds: after its
session's flush (the hooks have recomputed by then) or, for writers that use a connection
of their own, just before its commit. The second starts once the first holds, so it has
to wait for the first's locks (PostgreSQL's row locks, SQLite's write lock) and must then
compute from what the first committed.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import event

from backoffice.extensions import db

PAUSE = 0.6


def race(app, first, second, *, hold_after: str = "flush") -> None:
    """Run ``first`` and ``second`` (callables) at once; re-raise what either raised.

    ``hold_after`` is ``"flush"`` (an ``after_flush_postexec`` listener on the first's session
    only) or ``"commit"`` (the engine's ``commit`` event, in the first's thread only).
    """
    holding = threading.Event()
    errors: list[BaseException] = []
    first_thread = threading.current_thread()

    def hold(*_args) -> None:
        if threading.current_thread() is first_thread and not holding.is_set():
            holding.set()
            time.sleep(PAUSE)

    def run_first() -> None:
        with app.app_context():
            if hold_after == "flush":
                event.listen(db.session(), "after_flush_postexec", hold)
            first()

    def run_second() -> None:
        if not holding.wait(timeout=10):
            raise AssertionError("The first writer never got to hold its locks.")
        with app.app_context():
            second()

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
