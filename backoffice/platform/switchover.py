"""The database switching over: its primary lost, a standby promoted in its place.

Until a standby is promoted, what the application asks fails with a cut, refused or read-only connection
(:func:`switching_over` tells these apart). None of them leaves anything half-written, so the screens and the commands
answer with :data:`SWITCHING_OVER` and ask for a retry, and the pool drops its connections to the lost server. A
refusal of what was asked (a duplicate key, say) is never one of these.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

SWITCHING_OVER = _l("The database is switching over, try again.")
RETRY_AFTER_SECONDS = 3
"""What a screen's 503 asks the client to wait before it tries again: about as long as a promotion takes."""

LOST_STATES = {
    "57P01",  # admin_shutdown: the server is shutting down (or the connection was terminated)
    "57P02",  # crash_shutdown: another server process crashed, this one is restarting
    "57P03",  # cannot_connect_now: the server is starting up, or in recovery
    "25006",  # read_only_sql_transaction: the server is a standby
}
"""The SQLSTATEs that say the server is not the primary any more (besides class 08, the connection's own)."""


def switching_over(error: BaseException) -> bool:
    """Whether ``error`` (SQLAlchemy's, or the driver's) says the database was lost or is not the primary: the
    connection cut or refused, the server shutting down, starting up, recovering or read-only."""
    if isinstance(error, (IntegrityError, ProgrammingError)):
        return False
    if _lost(getattr(error, "orig", error)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def end_session(end: Callable[[], None]) -> DBAPIError | None:
    """End the session of a request or a command with ``end`` (its ``remove``, or its ``rollback``). A connection lost
    since the session's last statement fails the rollback that ends it: that is let go, and returned, rather than
    turning what was answered (read, or committed, before) into a failure; the connection is invalidated, and the
    session ended."""
    try:
        end()
    except DBAPIError as error:
        if not switching_over(error):
            raise
        end()
        return error
    return None


def one_line(error: BaseException) -> str:
    """The driver's message on one line, for a log line (psycopg's has a line for each server it tried)."""
    return " ".join(str(error).split())


def said(error: BaseException) -> str:
    """What the database said, on one line: the server's own message when it sent one (without the statement's text
    and the caret psycopg adds), else the driver's (:func:`one_line`)."""
    return getattr(getattr(error, "diag", None), "message_primary", None) or one_line(error)


def drop_the_pool(context) -> None:
    """A server shutting down, starting up, recovering or read-only is as lost as a cut connection: SQLAlchemy is told
    it is a disconnect, so that it invalidates the connection and every other the pool holds from before (psycopg's
    dialect knows a connection closed or broken, not a standby's refusal of a write)."""
    if not context.is_disconnect and _lost(context.original_exception):
        context.is_disconnect = True


def _lost(original: BaseException | None) -> bool:
    """Whether the driver's error says the server was lost or is not the primary: one of :data:`LOST_STATES` or of
    class 08, or psycopg's own failure of the connection, which carries no SQLSTATE (refused, closed unexpectedly,
    timed out)."""
    if original is None or not type(original).__module__.startswith("psycopg"):
        return False
    state = getattr(original, "sqlstate", None)
    if state is None:
        return isinstance(original, psycopg.OperationalError)
    return state in LOST_STATES or state.startswith("08")
