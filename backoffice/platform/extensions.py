"""The database extension, unbound (``create_app`` binds it), and how the databases are made to behave.

The web layer's extensions (CSRF, log-ins, rate limits) are in ``backoffice.web.plumbing.extensions``: what does not
serve requests does not import them.
"""

from flask import abort, request
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.pagination import SelectPagination
from flask_sqlalchemy.session import Session as FlaskSession
from psycopg import RawServerCursor
from sqlalchemy import MetaData, Select, func, literal_column, select
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


COUNTED_UP_TO = 1_000
"""A list counts what it selects up to this many rows (or to the end of the page after the one asked, when that is
further): past it, it says "more than" that many, as mail and code hosts do, so that a page costs the same at any
size of the installation."""


class CountedPage(SelectPagination):
    """A page of a list whose count is exact up to :attr:`counted_up_to` rows; ``more``: there are more than that,
    and ``total`` is that bound plus one (so that the next page is offered)."""

    more: bool = False

    @property
    def counted_up_to(self) -> int:
        return counted_up_to(self.page, self.per_page)

    def _query_count(self) -> int:
        count, _sum = counted(self._query_args["select"], self.counted_up_to, session=self._query_args["session"])
        self.more = count > self.counted_up_to
        return count

    def counted(self, count: int, more: bool) -> None:
        """Take the count from the caller, who counted the rows: ``more``, past the bound it counted up to."""
        self.total, self.more = count, more


def counted_up_to(page: int | None, per_page: int) -> int:
    """What a list counts up to for ``page``: :data:`COUNTED_UP_TO`, or the end of the page after it."""
    return max(COUNTED_UP_TO, max(page or 1, 1) * per_page)


def counted(query: Select, bound: int, amount=None, *, session=None) -> tuple[int, object]:
    """How many rows ``query`` selects, up to ``bound`` + 1, and the sum of ``amount`` over them (``None`` without
    one): both read at most ``bound`` + 1 rows, whatever the size of the table."""
    chosen = query.order_by(None).with_only_columns(
        literal_column("1") if amount is None else amount.label("amount"), maintain_column_froms=True
    )
    limited = chosen.limit(bound + 1).subquery()
    summed = func.coalesce(func.sum(limited.c.amount), 0) if amount is not None else literal_column("NULL")
    count, total = (session or db.session).execute(select(func.count(), summed).select_from(limited)).one()
    return count, total


class Database(SQLAlchemy):
    def paginate(self, select, *, page=None, per_page=None, error_out=True, count=True, **kwargs):
        """A page of ``select`` counted up to a bound (:class:`CountedPage`); a page beyond any offset the database
        can take is not there (404), rather than a failed query."""
        return CountedPage(
            select=select,
            session=self.session(),
            page=page_asked(per_page, page),
            per_page=per_page,
            error_out=error_out,
            count=count,
            **kwargs,
        )


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
