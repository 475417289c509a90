"""Workbooks written as they are sent: a zip of a few fixed parts and its sheets, deflated as the rows come, every
cell written by the database (from a query's columns, or from values Python shaped), each sheet within what a
spreadsheet loads.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain, islice
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Float,
    Numeric,
    Select,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from backoffice.platform import replica
from backoffice.platform.lines import UNWRITABLE
from backoffice.platform.money import MAX_AMOUNT, unit_places
from backoffice.services.exports import CODED, chunked, copied_lines, headings, said_in

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


MONEY, DAY, MOMENT, BOLD = 1, 2, 3, 4
"""A workbook cell's styles, by their place in the workbook's list: an amount (grouped, two decimals), a date, a
moment, the header's bold."""


SHEET_ROWS = 1_048_576
"""The most rows a spreadsheet loads of a sheet, its header's included: the rows past them go on to another sheet,
under the same header."""


SHEET_NAME = "Sheet1"
"""The name of a workbook's sheets when it is not named after a list (see :func:`sheet_name`)."""


SHEET_NAME_LENGTH = 31
"""The most characters a spreadsheet takes in a sheet's name."""


SHEET_NAME_UNFIT = r"[\[\]:*?/\\]"
"""The characters a spreadsheet refuses in a sheet's name."""


RESERVED_SHEET_NAME = "history"
"""The sheet name Excel keeps for itself, in any case."""


SAMPLED_ROWS = 500
"""The rows a workbook's column widths are measured on: its first ones, held while they are measured (see
:func:`_widths`)."""


USUAL = 0.9
"""The share of a text column's cells whose text its width shows whole (the rest, longer, show their start)."""


TEXT_WIDTH = 50
"""The widest a text column is made, in characters: a longer text shows its start, the cell holds it whole."""


GENERAL = 11
"""The characters a number without a format is given at least: a spreadsheet shows any number in as many (a wider
one in scientific notation)."""


DAY_WIDTH, MOMENT_WIDTH = len("2026-11-23"), len("2026-11-23 08:30:00")
"""The characters of a date and of a moment, as a workbook writes them (``yyyy-mm-dd hh:mm:ss``)."""


PADDING = 2
"""The characters a column is widened by past its widest text: a cell's margins, and a reader's font wider than
the workbook's."""


CELL_TEXT = 32_767
"""The most characters a spreadsheet holds in a cell: a longer text is cut to end in :data:`CUT`."""


CUT = _l("…[cut]")
"""How a text cut to fit its cell ends, within its :data:`CELL_TEXT` characters."""


XML_UNFIT = r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]"
"""The characters XML 1.0 cannot hold (control characters but tab and line ends, unpaired surrogates, U+FFFE and
U+FFFF), left out of a workbook's text: a sheet holding one is refused, or loaded cut short. Written as a regular
expression Python and PostgreSQL read alike (see :func:`_held`)."""


AWKWARD = rf"[&<>\t\r\n]|{XML_UNFIT}|^ | $"
"""Text a workbook cannot hold as it is: with XML's markup, line ends (kept as character references), what XML
cannot hold (see :data:`XML_UNFIT`), a tab, or spaces at an end (kept, said so at an end)."""


class Workbook:
    """A workbook's file, written a chunk at a time as it is iterated (once): its sheet's header row (in bold, frozen),
    then the sheet's rows as they come (each a ``<row>`` of XML), its columns as wide as their header and their
    values (see :func:`_widths`), its sheets named after ``title`` (see :func:`sheet_name`). Past :data:`SHEET_ROWS`
    rows the next go on to another sheet, under the same header. Written as it is sent, so its size costs no
    memory."""

    def __init__(self, header: Sequence[str], rows: Iterable[bytes], title: str = SHEET_NAME) -> None:
        self.header, self.rows, self.title = header, rows, title

    def named(self, title: str) -> Workbook:
        """The same workbook, its sheets named after ``title`` (a list's title, in the reader's language)."""
        return Workbook(self.header, self.rows, title)

    def __iter__(self) -> Iterator[bytes]:
        return _workbook(self.header, self.rows, self.title)


def xlsx_chunks(header: Sequence[str], rows: Iterable[Iterable], words: Mapping[str, str] | None = None) -> Workbook:
    """A :class:`Workbook` of the header row (see :func:`headings`) then a row per row of values (coded cells as
    ``words`` say them): amounts as numbers in the currency's format (the spreadsheet writes them as its reader's
    country does), dates as dates, moments as moments, other numbers as numbers, text as text (never a formula). The
    database writes each row's XML as :func:`copied_xlsx` does, from the values sent :data:`GIVEN_ROWS` rows at a
    time, each tagged with its kind."""
    return Workbook(headings(header), _given_rows(header, rows, words))


def copied_xlsx(header: Sequence[str], rows: Select, words: Mapping[str, str] | None = None) -> Workbook:
    """:func:`xlsx_chunks` of the rows ``rows`` selects, its columns the cells, each written as its column's type
    says (text, a date, an amount, a whole number) and coded ones as ``words`` say them: PostgreSQL writes each row
    of the sheet as XML (``COPY … TO STDOUT``), and Python only zips it as it comes."""
    said = [
        said_in(column, words) if words and name in CODED else column
        for name, column in zip(header, rows.selected_columns, strict=True)
    ]
    cells = [_cell(_kind(column), written) for column, written in zip(rows.selected_columns, said, strict=True)]
    sheet = rows.with_only_columns(_row(cells), maintain_column_froms=True)

    def sheet_rows() -> Iterator[bytes]:
        # One column, its text never holding a line end, a \x01 or a \x02: COPY writes it bare, a row a line.
        with copied_lines(sheet, "FORMAT csv, DELIMITER E'\\001', QUOTE E'\\002'") as copy:
            yield from copy

    return Workbook(headings(header), sheet_rows())


def sheet_name(title: str, number: int = 1) -> str:
    """The name of a workbook's sheet ``number`` (from 1), named after ``title``: without what a spreadsheet refuses
    in a sheet's name (see :data:`SHEET_NAME_UNFIT`, :data:`XML_UNFIT`; line ends, an apostrophe at an end), cut to
    fit its :data:`SHEET_NAME_LENGTH` characters with the sheet's number after the first (``Pelanggan (2)``); a
    title left empty, or the name Excel keeps, is :data:`SHEET_NAME`."""
    kept = " ".join(_XML_UNFIT.sub("", _SHEET_NAME_UNFIT.sub("", str(title))).split()).strip("'")
    name = kept if kept and kept.casefold() != RESERVED_SHEET_NAME else SHEET_NAME
    numbered = f" ({number})" if number > 1 else ""
    return name[: SHEET_NAME_LENGTH - len(numbered)].rstrip(" '") + numbered


EXCEL_EPOCH = date(1899, 12, 30)
"""Day 0 of a workbook's dates: a date is its number of days since."""


WORKBOOK_PARTS = {
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    # The cell styles in the order MONEY, DAY, MOMENT, BOLD name them, after the default; the amounts' format (166)
    # has the currency's decimal places (see _styles).
    "xl/styles.xml": (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/>'
        '<numFmt numFmtId="166" formatCode="{money}"/></numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
    ),
}
"""The workbook's parts that are the same in every workbook of an installation (see :func:`_styles`), written before
its sheets."""


SHEETS_PARTS = {
    "xl/workbook.xml": (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        "<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets></workbook>",
        '<sheet name="{name}" sheetId="{number}" r:id="rId{number}"/>',
    ),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{sheets}'
        '<Relationship Id="rIdStyles" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>",
        '<Relationship Id="rId{number}" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet{number}.xml"/>',
    ),
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{sheets}'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>",
        '<Override PartName="/xl/worksheets/sheet{number}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>',
    ),
}
"""The workbook's parts that name its sheets, written after them, when their number is known: each part's text, its
``{sheets}`` the sheets' entries, and the entry of a sheet."""


SHEET_START = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheetViews><sheetView{selected} workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/>'
    "</sheetView></sheetViews>{columns}<sheetData>"
)


SHEET_END = "</sheetData></worksheet>"


_XML_UNFIT = re.compile(XML_UNFIT)


_SHEET_NAME_UNFIT = re.compile(SHEET_NAME_UNFIT)


def _workbook(header: Sequence[str], rows: Iterable[bytes], title: str) -> Iterator[bytes]:
    """The workbook's file, a chunk at a time: its fixed parts, then its sheets (each its columns' widths and
    ``header``, then the XML of the next :data:`SHEET_ROWS` rows less the header's, a row an item, as it comes), then
    the parts that name them after ``title``; deflated at the quickest level (a sheet's XML repeats itself: a tenth
    of its size or less)."""
    sink = _Sink()
    heading = (
        replica.connection()
        .execute(select(_row([_text(literal(UNWRITABLE.sub("", str(name))), BOLD) for name in header])))
        .scalar()
    )
    columns, rows = _measured(header, rows)
    start = SHEET_START.replace("{columns}", columns)
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, text in WORKBOOK_PARTS.items():
            book.writestr(name, _styles(text) if name == "xl/styles.xml" else text)
        numbers = []
        for number, sheet_rows in enumerate(_sheets(rows), start=1):
            with book.open(f"xl/worksheets/sheet{number}.xml", "w") as sheet:
                selected = ' tabSelected="1"' if number == 1 else ""
                sheet.write((start.replace("{selected}", selected) + heading).encode())
                for chunk in chunked(sheet_rows, empty=b""):
                    sheet.write(chunk)
                    if sink.parts:
                        yield sink.take()
                sheet.write(SHEET_END.encode())
            numbers.append(number)
        for name, (text, entry) in SHEETS_PARTS.items():
            entries = "".join(
                entry.format(name=escape(sheet_name(title, number), {'"': "&quot;"}), number=number)
                for number in numbers
            )
            book.writestr(name, text.replace("{sheets}", entries))
    yield sink.take()


def _measured(header: Sequence[str], rows: Iterable[bytes]) -> tuple[str, Iterator[bytes]]:
    """The sheets' columns (``<cols>``, see :func:`_widths`), measured on the first :data:`SAMPLED_ROWS` of
    ``rows``, and ``rows`` whole again."""
    rows = iter(rows)
    sampled = list(islice(rows, SAMPLED_ROWS))
    widths = enumerate(_widths(header, sampled), start=1)
    columns = "".join(f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>' for n, width in widths)
    return f"<cols>{columns}</cols>", chain(sampled, rows)


def _widths(header: Sequence[str], rows: Sequence[bytes]) -> list[int]:
    """Each column's width, in characters (of the workbook's digits): as wide as its header, as what ``rows`` (the
    XML of the first rows) hold that must show whole (a spreadsheet shows a number too wide for its column as
    ``###``: numbers, dates, and amounts as wide as the largest amount at least, see :func:`_shown`), and as the
    usual length of their text (:data:`USUAL` of the cells, :data:`TEXT_WIDTH` at most); a column empty in them is as
    wide as the largest amount, whatever comes after; and :data:`PADDING` more."""
    places = unit_places()
    shown: list[list[tuple[bool, int]]] = [[] for _heading in header]
    for row in rows:
        for index, cell in enumerate(ElementTree.fromstring(bytes(row))):
            if (found := _shown(cell, places)) is not None:
                shown[index].append(found)
    return [_width(heading, found, places) for heading, found in zip(header, shown, strict=True)]


def _width(heading: str, shown: list[tuple[bool, int]], places: int) -> int:
    whole = [length for entire, length in shown if entire]
    texts = sorted(length for entire, length in shown if not entire)
    usual = min(texts[math.ceil(USUAL * len(texts)) - 1], TEXT_WIDTH) if texts else 0
    fit = max(whole, default=0 if texts else _amount_length(-MAX_AMOUNT, places))
    return max(len(heading), fit, usual) + PADDING


def _shown(cell: ElementTree.Element, places: int) -> tuple[bool, int] | None:
    """Whether a cell (its XML, see :func:`_cell`) must show whole, and in how many characters; None when empty."""
    value, style = cell.findtext("v"), cell.get("s")
    if cell.get("t") == "inlineStr":
        return False, max(map(len, "".join(cell.itertext()).splitlines()), default=0)
    if value is None:
        return None
    if style == str(MONEY):
        return True, max(_amount_length(Decimal(value), places), _amount_length(-MAX_AMOUNT, places))
    return True, {str(DAY): DAY_WIDTH, str(MOMENT): MOMENT_WIDTH}.get(style, max(len(value), GENERAL))


def _amount_length(amount: Decimal, places: int) -> int:
    """The characters of an amount in the workbook's format (grouped, with the currency's decimal places)."""
    return len(f"{amount:,.{places}f}")


def _sheets(rows: Iterable[bytes]) -> Iterator[Iterator[bytes]]:
    """``rows`` a sheet's at a time (the header's row aside), each taken before the next is asked for: one sheet,
    even without rows, and another for each :data:`SHEET_ROWS` rows less the header's past it."""
    rows = iter(rows)
    while True:
        yield islice(rows, SHEET_ROWS - 1)
        following = next(rows, None)
        if following is None:
            return
        rows = chain([following], rows)


def _styles(text: str) -> str:
    """The styles' part with the amounts' format of the installation's currency: ``#,##0.00``, or ``#,##0`` for a
    currency without minor units (the dong), so that a reader's spreadsheet shows an amount as the pages do."""
    places = unit_places()
    return text.replace("{money}", "#,##0" + ("." + "0" * places if places else ""))


class _Sink:
    """Where the zip is written: what it holds is taken a chunk at a time (it cannot seek, so the zip says each
    part's size after the part)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        taken, self.parts = b"".join(self.parts), []
        return taken


GIVEN_ROWS = 2000
"""The rows of values :func:`xlsx_chunks` sends the database at a time, to be written as a sheet's rows."""


_KINDS = {"m": Decimal, "d": date, "t": datetime, "n": float}
"""A given value's kind by the tag it is sent with (text's, ``s``, aside): what it is written as (:func:`_cell`)."""


_CASTS = {Decimal: Numeric(), date: Date(), datetime: DateTime(), float: Numeric()}
"""What a given value's text is cast to, by its kind."""


def _given_rows(header: Sequence[str], rows: Iterable[Iterable], words: Mapping[str, str] | None) -> Iterator[bytes]:
    """The XML of each row of values, written by the database (as :func:`_cell` writes a query's columns) from the
    values sent :data:`GIVEN_ROWS` rows at a time, a column as an array of texts, cast to the column's kind where all
    its values are of one kind (:data:`_KINDS`), else each written as the kind it is tagged with (a second array)."""
    coded = {index for index, name in enumerate(header) if name in CODED} if words else set()
    sheets: dict[tuple, Select] = {}
    rows = iter(rows)
    while chunk := list(islice(rows, GIVEN_ROWS)):
        tagged = [[_tagged(value) for value in row] for row in chunk]
        values, kinds = {}, []
        for index in range(len(header)):
            tags = [row[index][0] if row[index] else None for row in tagged]
            found = set(tags) - {None}
            kinds.append(found.pop() if len(found) == 1 else None)
            values[f"v{index}"] = [row[index][1] if row[index] else None for row in tagged]
            if kinds[-1] is None:
                values[f"k{index}"] = tags
        signature = tuple(kinds)
        if signature not in sheets:
            sheets[signature] = _given_sheet(signature, coded, words)
        yield from (xml.encode() for xml in replica.connection().execute(sheets[signature], values).scalars())


def _given_sheet(kinds: tuple, coded: set[int], words: Mapping[str, str] | None) -> Select:
    """The select of :func:`_given_rows` for columns of these ``kinds`` (their tag; None: tagged value by value)."""
    names = [
        name for index, kind in enumerate(kinds) for name in ([f"v{index}"] + ([f"k{index}"] if kind is None else []))
    ]
    arrays = [bindparam(name, type_=ARRAY(Text)) for name in names]
    given = func.unnest(*arrays).table_valued(*names, with_ordinality="n").render_derived("given")

    def written(key: str, text):
        if key in _KINDS:
            return _cell(_KINDS[key], cast(text, _CASTS[_KINDS[key]]))
        return _cell(str, text)

    cells = []
    for index, kind in enumerate(kinds):
        text = given.c[f"v{index}"]
        said = said_in(text, words) if index in coded else text
        if kind is not None:
            cells.append(written(kind, said))
            continue
        tag = given.c[f"k{index}"]
        cells.append(case(*[(tag == literal(key), written(key, text)) for key in _KINDS], else_=written("s", said)))
    return select(_row(cells)).select_from(given).order_by(given.c.n)


def _tagged(value) -> tuple[str, str] | None:
    """A value as :func:`_given_rows` sends it: ``[tag, text]`` (see :data:`_KINDS`), or None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return "m", format(value, "f")
    if isinstance(value, datetime):
        return "t", value.replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return "d", value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "n", repr(value)
    return "s", UNWRITABLE.sub("", str(value))  # what no text holds, which a workbook leaves out too


def _row(cells: list[ColumnElement]) -> ColumnElement:
    """A sheet row's XML, in SQL, of its cells' XML."""
    row = literal("<row>", Text)
    for cell in cells:
        row = row + cell
    return row + literal("</row>", Text)


def _cell(kind: type, written) -> ColumnElement:
    """A cell's XML, ``kind`` (a Python type) saying what the cell is: an amount as a number in the currency's
    format, a date and a moment as their serial numbers in their formats, another number bare, text as an inline
    string (see :func:`_text`); ``<c/>`` when empty."""
    if kind is Decimal:
        cell = _number(cast(written, Text), MONEY)
    elif kind is datetime:
        since = cast(written, DateTime()) - literal(datetime.combine(EXCEL_EPOCH, time.min), DateTime())
        cell = _number(cast(cast(func.extract("epoch", since) / 86400, Float(53)), Text), MOMENT)
    elif kind is date:
        cell = _number(cast(written - literal(EXCEL_EPOCH, Date), Text), DAY)
    elif kind in (int, float):
        cell = _number(cast(written, Text))
    else:
        cell = _text(func.nullif(cast(written, Text), ""))
    return func.coalesce(cell, literal("<c/>", Text))


def _kind(column) -> type:
    """What a query's column holds, as :func:`_cell` takes it."""
    try:
        return column.type.python_type
    except NotImplementedError:
        return str


def _number(text, style: int = 0) -> ColumnElement:
    styled = f' s="{style}"' if style else ""
    return literal(f"<c{styled}><v>", Text) + text + literal("</v></c>", Text)


def _text(text, style: int = 0) -> ColumnElement:
    """Text as an inline string, never a formula (see :func:`_held`), spaces at its ends kept; the awkward text's way
    (markup escaped, line ends kept as character references) taken only by text that is (most text is not), or that
    may be too long for a cell (its bytes, which PostgreSQL knows without counting, are as many as its characters or
    more)."""
    held = _held(text)
    styled = f' s="{style}"' if style else ""
    escaped = func.replace(func.replace(func.replace(held, "&", "&amp;"), "<", "&lt;"), ">", "&gt;")
    escaped = func.replace(func.replace(escaped, "\r", "&#13;"), "\n", "&#10;")
    kept = case(
        (func.btrim(held, " \t\r\n") == held, literal(f'<c t="inlineStr"{styled}><is><t>', Text)),
        else_=literal(f'<c t="inlineStr"{styled}><is><t xml:space="preserve">', Text),
    )
    end = literal("</t></is></c>", Text)
    plain = literal(f'<c t="inlineStr"{styled}><is><t>', Text) + text + end
    awkward = or_(text.regexp_match(AWKWARD), func.octet_length(text) > CELL_TEXT)
    return case((awkward, kept + escaped + end), else_=plain)


def _held(text) -> ColumnElement:
    """Text as a workbook's cell holds it: without the characters XML 1.0 cannot hold (see :data:`XML_UNFIT`,
    which PostgreSQL reads as Python does), and cut to :data:`CELL_TEXT` characters ending in :data:`CUT` when
    longer (characters, not bytes, counted)."""
    held = func.regexp_replace(text, XML_UNFIT, "", "g", type_=Text)
    cut = str(CUT)
    shortened = func.left(held, CELL_TEXT - len(cut), type_=Text) + literal(cut, Text)
    return case((func.length(held) > CELL_TEXT, shortened), else_=held)
