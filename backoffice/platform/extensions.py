"""The database extension, unbound (``create_app`` binds it), and how the databases are made to behave.

The web layer's extensions (CSRF, log-ins, rate limits) are in ``backoffice.web.extensions``: what does not serve
requests does not import them.
"""

from flask import abort, request
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from psycopg import RawServerCursor
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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
"""Ids and offsets are 64-bit integers."""


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
    dbapi_connection.server_cursor_factory = RawServerCursor
