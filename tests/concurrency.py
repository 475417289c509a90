"""Two writers at once, each in its own thread, app context, session and connection.

The first holds what it wrote, uncommitted and locked, for ``PAUSE`` seconds: after its
session's flush (the hooks have recomputed by then) or, for writers that use a connection
of their own, just before its commit. The second starts once the first holds, so it has
to wait for the first's row locks and must then
compute from what the first committed. Or, for writers that must not wait for each other, the
first holds until the second has finished (``independent``).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import event

from backoffice.platform.extensions import db

PAUSE = 0.6
PATIENCE = 10
"""Seconds an ``independent`` first writer holds, at most, for the second to finish."""


def race(app, first, second, *, hold_after: str = "flush", independent: bool = False) -> None:
    """Run ``first`` and ``second`` (callables) at once; re-raise what either raised.

    ``hold_after`` is ``"flush"`` (an ``after_flush_postexec`` listener on the first's session
    only) or ``"commit"`` (the engine's ``commit`` event, in the first's thread only).
    ``independent``: the first holds until the second has finished, and :class:`AssertionError`
    says so if the second was still waiting for the first after ``PATIENCE`` seconds.
    """
    holding = threading.Event()
    second_done = threading.Event()
    waited: list[bool] = []
    errors: list[BaseException] = []
    first_thread = threading.current_thread()

    def hold(*_args) -> None:
        if threading.current_thread() is first_thread and not holding.is_set():
            holding.set()
            if not independent:
                time.sleep(PAUSE)
            elif not second_done.wait(timeout=PATIENCE):
                waited.append(True)

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
