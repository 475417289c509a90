"""What every list shares: filters read from the query string, columns sorted by a click on their heading, pages
that keep the filters and the sort, and a CSV export of everything the filters select, in the order chosen.

A sort is ``sort=key`` (ascending) or ``sort=-key`` (descending), ``key`` one of the list's columns; anything
else sorts the list its usual way and says so. Filters are a form without CSRF, read from the query string: one
that cannot be read (a date, a month, an amount) says why under its field and selects nothing, with the page
answered as usual (200); its CSV is refused: the page, saying why, answered 422.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from flask import Response, g, request, stream_with_context, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import Select, false, or_, select
from wtforms import StringField
from wtforms.validators import Optional, ValidationError

from backoffice.models import ApprovalKind, Customer
from backoffice.models.types import folded, folded_text
from backoffice.platform import replica
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import CountedPage, counted, counted_up_to, db, page_asked
from backoffice.platform.i18n import named_date
from backoffice.platform.reasons import AdjustmentReason
from backoffice.platform.replica import reading
from backoffice.platform.words import words
from backoffice.services.exports import copied_csv, csv_cell, csv_chunks
from backoffice.services.workbooks import XLSX_MIMETYPE, Workbook, copied_xlsx, xlsx_chunks
from backoffice.web.plumbing.fields import LocalDateField, OptionalMoneyField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.links import query_link

STREAMED_ROWS = 2000
"""Rows fetched at a time by an export."""


class Filters(FlaskForm):
    """Filters read from the query string."""

    class Meta:
        csrf = False


class CustomerFilter(Filters):
    customer = StringField(_l("Customer"), description=_l("Code or name"))

    def customer_conditions(self) -> list:
        """The rows of the customers whose code or name holds what was typed (the query joins ``Customer``)."""
        text = (self.customer.data or "").strip()
        if not text:
            return []
        return [or_(*(folded(column).ilike(folded_text(f"%{text}%")) for column in (Customer.code, Customer.name)))]


class DateRange(Filters):
    """A range of dates, both days included; either end may be left open."""

    since = LocalDateField(_l("From"), validators=[Optional()])
    until = LocalDateField(_l("To"), validators=[Optional()])

    def validate_until(self, field) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(
                _("The range ends before it starts: choose %(date)s or later.", date=named_date(self.since.data))
            )

    def date_conditions(self, column) -> list:
        conditions = []
        if self.since.data:
            conditions.append(column >= self.since.data)
        if self.until.data:
            conditions.append(column <= self.until.data)
        return conditions


class AmountRange(Filters):
    """A range of amounts, both included; either end may be left open."""

    least = OptionalMoneyField(_l("Amount from"))
    most = OptionalMoneyField(_l("Amount to"))

    def validate_most(self, field) -> None:
        if field.data is not None and self.least.data is not None and field.data < self.least.data:
            raise ValidationError(_("The largest amount is below the smallest: swap them or widen the range."))

    def amount_conditions(self, column) -> list:
        conditions = []
        if self.least.data is not None:
            conditions.append(column >= self.least.data)
        if self.most.data is not None:
            conditions.append(column <= self.most.data)
        return conditions


@dataclass(frozen=True)
class Counted:
    """How many rows a list's filters select, and the sum of an amount over them. ``more``: more than ``count`` - 1
    (the bound it was counted up to); the sum is then ``None``, unless the list knows it from what is kept."""

    count: int
    more: bool = False
    total: Decimal | None = None

    @property
    def shown(self) -> int:
        """The count a page says: exact, or the bound it is more than."""
        return self.count - 1 if self.more else self.count


@dataclass(frozen=True)
class Column:
    """A sortable column: its key in the query string, its heading, and the SQL it sorts by; ``nullable``: the SQL
    may be empty (such rows come last either way)."""

    key: str
    label: str
    sort: Any
    numeric: bool = False
    nullable: bool = False
    then: Any = None
    """What orders the rows the column leaves level (always ascending), before the tiebreak."""


class Listing:
    """One request's view of a list: its filters (read and checked), its sort, its page.

    ``conditions`` turns valid filters into SQL conditions; ``default`` is the usual sort (``"-closing"``);
    ``tiebreak`` (the rows' id) makes the order total, so pages and exports list every row once.
    """

    def __init__(
        self,
        filters: FlaskForm,
        columns: Sequence[Column],
        conditions: Callable[[Any], list],
        *,
        default: str,
        tiebreak: Any,
        csv_endpoint: str | None = None,
    ) -> None:
        self.filters = filters
        self.columns = {column.key: column for column in columns}
        self.valid = filters.validate()
        self.conditions = conditions(filters) if self.valid else [false()]
        self.tiebreak = tiebreak
        self.csv_endpoint = csv_endpoint
        asked = request.args.get("sort", "")
        self.sort_error = None
        if _key(asked) in self.columns:
            self.sort = asked
        else:
            self.sort = default
            if asked:
                label = self.columns[_key(default)].label
                self.sort_error = _(
                    "Not a valid choice of column to sort by: the list is sorted by %(column)s.", column=label
                )
        self.explicit = self.sort == asked

    @property
    def key(self) -> str:
        return _key(self.sort)

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def order_by(self) -> list:
        """The chosen order, then the column's own next order, then the tiebreak in the chosen direction."""
        column = self.columns[self.key]
        ordered = column.sort.desc() if self.descending else column.sort.asc()
        if column.nullable:
            ordered = ordered.nulls_last()
        then = [] if column.then is None else [column.then.asc()]
        return [ordered, *then, self.tiebreak.desc() if self.descending else self.tiebreak.asc()]

    def select(self, query: Select) -> Select:
        """``query`` narrowed to what the filters select, in the chosen order."""
        return query.where(*self.conditions).order_by(*self.order_by())

    def page(self, query: Select, per_page: int, *, rows: bool = False, counted: Counted | None = None) -> CountedPage:
        """The page asked for (the first when none or an unreadable one is); ``rows``: of rows, not entities;
        ``counted``: how many the filters select, when the caller counted them already (they are not counted again)."""
        found = counted or self.counted(query, per_page)
        page = (RowPage if rows else CountedPage)(
            select=self.select(query),
            session=db.session,
            page=page_asked(per_page),
            per_page=per_page,
            error_out=False,
            count=False,
        )
        page.counted(found.count, found.more)
        return page

    def counted(self, query: Select, per_page: int, amount: Any = None) -> Counted:
        """How many rows the filters select, counted up to ``COUNTED_UP_TO`` (or to the end of the page after
        the one asked), with the sum of ``amount`` over them when they are no more than that: a count a replica may
        serve (see ``backoffice.platform.replica``)."""
        bound = counted_up_to(page_asked(per_page), per_page)
        with reading():
            count, total = counted(self.select(query), bound, amount)
        more = count > bound
        return Counted(count, more, None if more or amount is None else Decimal(total))

    def args(self, **changes) -> dict:
        """The query string of this list without its page number, with ``changes``."""
        args = {name: value for name, value in request.args.items() if name != "page"}
        args.update(changes)
        return args

    def heading(self, key: str) -> Markup:
        """A column's ``<th>``: a link sorting by it (the other way round when it is the sort), with ``aria-sort``."""
        column = self.columns[key]
        current = key == self.key
        descending = current and self.descending
        target = key if descending or not current else f"-{key}"
        state = ("descending" if descending else "ascending") if current else "none"
        arrow = ("▼" if descending else "▲") if current else ""
        href = self._sorted_by(target)
        classes = ' class="num"' if column.numeric else ""
        return Markup(
            f'<th{classes} aria-sort="{state}"><a class="sort" href="{escape(href)}">{escape(column.label)}'
            f'<span aria-hidden="true">{arrow}</span></a></th>'
        )

    @cached_property
    def _sorted_by(self) -> Callable[[str], str]:
        """The address of this list sorted by a column, built once for its headings."""
        return query_link(request.endpoint, "sort", **dict(request.view_args or {}), **self.args())

    def csv_url(self) -> str:
        return url_for(self.csv_endpoint, format="csv", **self.args())

    def xlsx_url(self) -> str:
        return url_for(self.csv_endpoint, format="xlsx", **self.args())

    def export(
        self,
        name: str,
        header: Sequence[str],
        query: Select,
        row: Callable[[Any], Iterable] | None = None,
        cells: Select | None = None,
        format: str = "csv",
        typed: Callable[[Any], Iterable] | None = None,
    ) -> Response:
        """The :func:`export` of every row ``query`` (or ``cells``) selects under the filters, in the chosen order."""
        chosen = None if cells is None else self.select(cells)
        return export(name, header, self.select(query), row, chosen, format, typed)


def export(
    name: str,
    header: Sequence[str],
    query: Select,
    row: Callable[[Any], Iterable] | None = None,
    cells: Select | None = None,
    format: str = "csv",
    typed: Callable[[Any], Iterable] | None = None,
    title: str | None = None,
) -> Response:
    """The CSV of every row ``query`` selects, streamed: written by the database when ``cells`` selects the row's
    cells as text (see :func:`copied_csv`), or else each row's cells made by ``row`` (without one: the values
    ``typed`` makes of it, or its own, as :func:`csv_cell` writes them). As ``format="xlsx"``, a workbook of the same
    columns, each value as its type: the row ``query`` selects, written by the database (see :func:`copied_xlsx`),
    or what ``typed`` makes of it. Coded cells are in the reader's words (see :func:`cell_words`); the workbook's
    sheet is named ``title``, or after the list (see :func:`xlsx_response`)."""
    said = cell_words()
    if format == "xlsx":
        if typed is None:
            return xlsx_response(name, copied_xlsx(header, query, said), title)
        return xlsx_response(name, xlsx_chunks(header, map(typed, streamed(query)), said), title)
    if cells is not None:
        return csv_response(name, copied_csv(header, cells, said))
    made = row or (lambda found: [csv_cell(value) for value in (typed(found) if typed else found)])
    return csv_response(name, csv_chunks(header, map(made, streamed(query)), said))


class RowPage(CountedPage):
    """A page of rows (an entity with the figures computed beside it) rather than of entities."""

    def _query_items(self) -> list:
        page = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return list(self._query_args["session"].execute(page))


def csv_response(name: str, chunks: Iterable[str | bytes]) -> Response:
    """A CSV download named after the list and today in the installation's time zone (``orders-2026-11-23.csv``),
    streamed a chunk at a time."""
    return csv_download(f"{name}-{local_today().isoformat()}.csv", chunks)


LIST_TITLES = {
    "account-managers": _l("Account managers"),
    "aging": _l("Aging report"),
    "approvals": _l("Approvals"),
    "customers": _l("Customers"),
    "invoices": _l("Invoices"),
    "journal": _l("Journal"),
    "ledger-movements": _l("Ledger movements"),
    "meters": _l("Meters"),
    "orders": _l("Orders"),
    "payments": _l("Payments"),
    "targets": _l("Targets"),
}
"""Each list's title by the name of its downloads: its workbook's sheet is named after it in the reader's language."""


def xlsx_response(name: str, workbook: Workbook, title: str | None = None) -> Response:
    """A workbook download named after the list and today in the installation's time zone (``orders-….xlsx``), its
    sheet named ``title``, or the list's title (see :data:`LIST_TITLES`), or its name."""
    return xlsx_download(f"{name}-{local_today().isoformat()}.xlsx", workbook, title or LIST_TITLES.get(name, name))


def xlsx_download(filename: str, workbook: Workbook, title: str | None = None) -> Response:
    """A workbook download (see :class:`backoffice.services.workbooks.Workbook`), streamed a chunk at a time as it is
    written, its sheet named ``title`` (in the reader's language: a lazy text is said as the workbook is written), or
    as the file is."""
    _reach_the_reads()
    return Response(
        stream_with_context(workbook.named(title or filename.rpartition(".")[0])),
        mimetype=XLSX_MIMETYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _reach_the_reads() -> None:
    """A download's reads reach their database before its answer starts, so that one gone (a read replica that
    stopped) answers as an error page does, never a file cut short with 200."""
    if g.get("backoffice_reading"):
        replica.connection().execute(select(1))


def cell_words() -> dict[str, str] | None:
    """The words a download writes for its coded cells (statuses, kinds, reasons, yes and no) in the reader's
    language; none in English, whose downloads keep the codes that scripts read."""
    locale = get_locale()
    if locale is None or locale.language == "en":
        return None
    return _cell_words(str(locale))


BYTE_ORDER_MARK = "\ufeff"
"""What a CSV starts with, so that a spreadsheet reads it as UTF-8 (its letters: Tiếng Việt, a customer's name)."""


def csv_download(filename: str, chunks: Iterable[str | bytes]) -> Response:
    """A CSV download, UTF-8 with its byte-order mark, streamed a chunk at a time."""
    _reach_the_reads()
    return Response(
        stream_with_context(_marked(chunks)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _marked(chunks: Iterable[str | bytes]) -> Iterator[str | bytes]:
    yield BYTE_ORDER_MARK.encode()
    yield from chunks


def streamed(query: Select) -> Iterator:
    """The rows of ``query``, fetched ``STREAMED_ROWS`` at a time (a server-side cursor)."""
    yield from db.session.execute(query, execution_options={"yield_per": STREAMED_ROWS})


@lru_cache(maxsize=8)
def _cell_words(language: str) -> dict[str, str]:
    """The words' (an approval request's kind said by its label where no word says it), and the reasons' labels."""
    with force_locale(language):
        kinds = {kind.value: str(kind.label) for kind in ApprovalKind}
        reasons = {reason.value: str(reason.label) for reason in AdjustmentReason}
    return kinds | words(language) | reasons


def _key(sort: str) -> str:
    return sort.removeprefix("-")
