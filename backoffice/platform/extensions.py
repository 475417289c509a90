"""The database extension, unbound (``create_app`` binds it), and how the databases are made to behave.

The web layer's extensions (CSRF, log-ins, rate limits) are in ``backoffice.web.extensions``: what does not serve
requests does not import them.
"""

import sqlite3

from flask import abort, request
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Session

from backoffice.platform import replica

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


LARGEST_ROW_NUMBER = 2**63 - 1
"""Ids and offsets are 64-bit integers in both databases."""


class Database(SQLAlchemy):
    def paginate(self, select, *, page=None, per_page=None, **kwargs):
        """A page beyond any offset the database can take is not there (404), rather than a failed query."""
        return super().paginate(select, page=page_asked(per_page, page), per_page=per_page, **kwargs)


def page_asked(per_page: int | None, page: int | None = None) -> int | None:
    """The page the request asks for (``page``), or 404 when it lies beyond any offset the database can take."""
    if page is None and request:
        page = request.args.get("page", 1, type=int)
    if page is not None and per_page and page > LARGEST_ROW_NUMBER // per_page:
        abort(404)
    return page


class ReadingSession(FlaskSession):
    """Flask-SQLAlchemy's session, whose ``SELECT`` statements go to the read replica within
    :func:`backoffice.platform.replica.reading` while it serves; all else goes to the primary. A session made bound
    to a connection (``bind=``) works on it alone (Flask-SQLAlchemy's would take the app's engine)."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and clause is not None and clause.is_select and (engine := replica.serving_engine()):
            return engine
        return super().get_bind(mapper, clause, bind if bind is not None else self.bind, **kwargs)


db = Database(model_class=Base, session_options={"class_": ReadingSession})


def psycopg_connect(dbapi_connection, _record) -> None:
    if type(dbapi_connection).__module__.startswith("psycopg"):
        from psycopg import RawServerCursor

        dbapi_connection.server_cursor_factory = RawServerCursor


def sqlite_connect(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        if cursor.execute("PRAGMA database_list").fetchone()[2]:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()


def sqlite_begin(connection) -> None:
    if connection.dialect.name == "sqlite":
        immediate = connection.get_execution_options().get("sqlite_begin_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        connection.info[_WRITER] = bool(immediate)
        connection.info[_CHANGES_AT_BEGIN] = connection.connection.driver_connection.total_changes


_WRITER, _CHANGES_AT_BEGIN = "backoffice.sqlite_writer", "backoffice.sqlite_changes_at_begin"


def sqlite_write_lock(session: Session, _context, _instances) -> None:
    """Before a session's first write on SQLite, take the write lock: begin again, ``IMMEDIATE``.

    A transaction begun to read (a form's row loaded, then edited) could not take the write
    lock once another writer had committed since ("database is locked"), and the hooks would
    recompute from its old snapshot. Nothing has been written yet, so ending it loses nothing;
    the rows it loaded are kept, and their version columns refuse a save over a newer one.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    if not session.in_transaction():
        session.connection(execution_options={"sqlite_begin_immediate": True})
        return
    connection = session.connection()
    if connection.info.get(_WRITER) or session.in_nested_transaction():
        return
    if connection.connection.driver_connection.total_changes == connection.info[_CHANGES_AT_BEGIN]:
        connection.exec_driver_sql("COMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    connection.info[_WRITER] = True  # what it wrote already holds the lock


def has_written(session: Session) -> bool:
    """Whether the session's SQLite transaction has written anything yet (flushed, or by SQL)."""
    if not session.in_transaction():
        return False
    connection = session.connection()
    begun = connection.info.get(_CHANGES_AT_BEGIN)
    return begun is not None and connection.connection.driver_connection.total_changes != begun
