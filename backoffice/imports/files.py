"""A table read from a file as people's files really are: a CSV in the encodings and with the separators Excel and
other programs write, or an Excel workbook; a title or notes above its header row; its columns named in English,
Indonesian or Vietnamese. What an attacker may send is refused before it is read: a file too large, a workbook that
unzips to far more than it holds, a file that is not what its name says. No formula in a cell is ever evaluated: a
workbook gives the values Excel saved with it."""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import charset_normalizer
from flask_babel import gettext as _
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from backoffice.imports.written import AS_THE_INSTALLATION, Written

MAX_BYTES = 50 * 1024 * 1024
HEADER_ROWS = 20
"""The header row is looked for among the first this many rows that are not empty."""
Aliases = dict[str, tuple[str, int]]
"""Each header text, folded, to the column it names and its rank among that column's words (0: its labels)."""
EXACT, STARTS = 2, 1
"""How well a header names a column: as one of its words, or starting with them (``Saldo Akhir 31/10/2026``)."""
LONGEST_REST = 4
"""A header starting with a column's words names it only if at most this many words follow."""
UNZIPPED_PER_BYTE = 20
"""A workbook may unzip to this many times the largest file taken (1 GiB for 50 MB), unless told otherwise."""
MAX_RATIO = 100
"""The most a workbook's part may be compressed: Excel's sheets zip to a tenth or a fiftieth of their size, a zip
bomb's parts to a thousandth."""
RATIO_FROM = 1024 * 1024
"""A part smaller than this unzipped is no danger, whatever its ratio."""
MAX_PARTS = 10_000
WORKBOOK_EXTENSIONS = {".xlsx", ".xlsm", ".xls"}
TEXT_EXTENSIONS = {".csv", ".tsv", ".txt"}
DELIMITERS = ",;\t|"
CHUNK = 1024 * 1024
SAMPLE = 64 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""An Office file from before 2007 (.xls), or an .xlsx saved with a password, which Excel encrypts in that
container."""
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
WESTERN = "cp1252"
"""What Western Windows programs write: chosen whenever it reads the sample as well as the encoding detected (a
short sample reads alike in cp1250 and cp1252, and Indonesian files are Western)."""
TEXT_CONTROLS = "\t\n\r\x0b\x0c\x1a"
EXCEL_EPOCH = date(1899, 12, 30)
LAST_SERIAL = 2_958_465
"""Excel's 9999-12-31."""
SERIAL_TEXT = re.compile(r"\d{5}(\.\d+)?")
"""An Excel serial number written as text: five digits are the dates from 1927 to 2173; six or eight digits are
rather a ``yymmdd`` or ``yyyymmdd`` date, which the caller reads."""
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


class Unreadable(ValueError):
    """A file that cannot be read as a table; ``str()`` is the message, in the reader's language."""


@dataclass(frozen=True)
class Row:
    line: int
    """The line (CSV: the line its record starts on) or the row number (workbook) the user's program shows, from 1."""
    values: dict[str, object]
    """Each recognised column's cell: a ``str`` (stripped, ``""`` for empty) or, from a workbook, a ``date``,
    ``datetime``, ``Decimal``, ``int`` (a whole number) or ``bool``; never a float."""
    cells: tuple = ()
    """Every cell of the row, the columns not kept too (a total row says so in any of them)."""


@dataclass(frozen=True)
class _Layout:
    """How the file's rows are read: a CSV's encoding and delimiter, or a workbook's sheet."""

    path: Path
    encoding: str | None = None
    delimiter: str = ","
    sheet: str | None = None


@dataclass(frozen=True)
class Table:
    filename: str
    sha256: str
    header_line: int
    columns: dict[str, int]
    """Each recognised column's position in the header row (the first column, A, is 0)."""
    unknown: tuple[str, ...]
    """The header's cells that name no column, as written: the columns not kept."""
    headers: tuple[tuple[str, str | None], ...]
    """Each of the header's cells, as written, beside the column it is read into (None: not kept)."""
    _layout: _Layout = field(repr=False, compare=False)
    alternatives: tuple[tuple[str, str], ...] = ()
    """Where a text file's encoding was guessed from its letters: the guess first, then every other encoding that
    reads the file whole, each with the file's first line beyond ASCII as it reads it."""
    written: Written = AS_THE_INSTALLATION
    """How its cells write amounts and dates (set by the caller, who knows which columns hold them)."""
    updates: tuple[str, ...] = ()
    """The fields its rows fill or change of the records that exist (set by the caller); none: a record that exists
    with other values is a conflict."""

    @property
    def encoding(self) -> str | None:
        """A text file's encoding (None: a workbook)."""
        return self._layout.encoding

    def rows(self) -> Iterator[Row]:
        """The rows below the header that are not empty, read from the file again at each call, one at a time."""
        for line, cells in _records(self._layout, self.filename):
            if line > self.header_line and _filled(cells):
                values = {name: cells[at] if at < len(cells) else "" for name, at in self.columns.items()}
                yield Row(line, values, tuple(cells))


def read_table(
    path: Path,
    filename: str,
    columns: Mapping[str, Iterable[str | tuple[str, int]]],
    *,
    max_bytes: int = MAX_BYTES,
    max_unzipped: int | None = None,
    mapping: Mapping[str, str | None] | None = None,
    encoding: str | None = None,
) -> Table:
    """The table in the file at ``path``, which the user named ``filename``.

    ``columns``: each column's canonical name and the header texts it may be written as (English, Indonesian,
    Vietnamese, a peer's export), matched ignoring case, accents, punctuation, abbreviations (``No.``, ``Tgl``) and the
    ``*`` a template marks a required column with; a header that starts with one and goes on (``Saldo Akhir
    31/10/2026``) is its weaker candidate, and each column goes to its best. ``mapping``: a header's column chosen by
    the user (None: not kept), before any candidate. The header row is, among the first rows, the one naming the most
    columns. ``encoding``: a text file's, as the user chose it; else its byte-order mark's, else UTF-8, else guessed
    (and the table says what else it could be). What the file is comes from its content, its name's extension only
    refusing a mismatch. A workbook unzipping to more than ``max_unzipped`` bytes (by default twenty times
    ``max_bytes``) is refused before it is read.
    Raises :class:`Unreadable`, saying why, for what cannot be read."""
    size = path.stat().st_size
    if size == 0:
        raise Unreadable(_("%(filename)s is empty.", filename=filename))
    if size > max_bytes:
        raise Unreadable(
            _(
                "%(filename)s is larger than %(limit)s MB: split it into smaller files.",
                filename=filename,
                limit=_megabytes(max_bytes),
            )
        )
    with path.open("rb") as file:
        head = file.read(SAMPLE)
    extension = Path(filename).suffix.lower()
    guessed = False
    if head.startswith(OLE_MAGIC):
        raise Unreadable(
            _(
                "%(filename)s is an Excel workbook from before 2007 (.xls) or one saved with a password: save it in "
                "Excel as an .xlsx workbook without a password, or as CSV.",
                filename=filename,
            )
        )
    if head.startswith(ZIP_MAGIC):
        if extension in TEXT_EXTENSIONS:
            raise Unreadable(
                _(
                    "%(filename)s is named as a text file but holds a workbook or another archive: name it .xlsx if "
                    "it is an Excel workbook, or save it from Excel as CSV.",
                    filename=filename,
                )
            )
        _check_workbook(path, filename, max_bytes * UNZIPPED_PER_BYTE if max_unzipped is None else max_unzipped)
        layouts = [_Layout(path, sheet=_first_sheet(path, filename))]
    else:
        if extension in WORKBOOK_EXTENSIONS:
            raise Unreadable(
                _(
                    "%(filename)s is named as an Excel workbook but holds text: name it .csv, or save it from Excel "
                    "as an .xlsx workbook.",
                    filename=filename,
                )
            )
        encoding = _given(path, filename, encoding) if encoding else _encoding(path, filename, head)
        guessed = _guessed(head, encoding)
        layouts = [_Layout(path, encoding, delimiter) for delimiter in _delimiters(path, encoding)]
    aliases = _aliases(columns)
    chosen = {folded(header): name for header, name in (mapping or {}).items()}
    layout, line, header = _header(layouts, filename, aliases, chosen)
    found = _matched(header, aliases, chosen, filename, line)
    headers = tuple((cell, name) for cell, name in zip(header, _names(header, found), strict=True) if cell)
    with path.open("rb") as file:
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    unknown = tuple(cell for cell, name in headers if name is None)
    alternatives = _alternatives(path, layout.encoding) if guessed else ()
    return Table(filename, sha256, line, found, unknown, headers, layout, alternatives)


def excel_date(value: object) -> date | None:
    """The date a workbook's or a CSV's cell carries: a date or datetime cell, or an Excel serial number (1900 date
    system: 45292 is 2024-01-01) as a number or as a text of five digits; None for anything else (a text date, which
    the caller reads)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        if not SERIAL_TEXT.fullmatch(value.strip()):
            return None
        value = Decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if (isinstance(value, Decimal) and not value.is_finite()) or not 1 <= value < LAST_SERIAL + 1:
        return None
    serial = int(value)
    if serial == 60:
        return None
    # Excel counts a 29 February 1900 that never was (serial 60): the days before it are one day earlier.
    return EXCEL_EPOCH + timedelta(days=serial if serial > 60 else serial + 1)


def _header(
    layouts: list[_Layout], filename: str, aliases: Aliases, chosen: dict[str, str | None]
) -> tuple[_Layout, int, list[str]]:
    """The layout (of those tried, in order) and the header row it reads best, among the first rows that are not
    empty: the row naming the most columns (at least one)."""
    best: tuple[int, _Layout, int, list[str]] | None = None
    seen: list[str] = []
    for layout in layouts:
        first = islice(((line, cells) for line, cells in _records(layout, filename) if _filled(cells)), HEADER_ROWS)
        for line, cells in first:
            texts = [cell if isinstance(cell, str) else str(cell) for cell in cells]
            seen = seen or [text for text in texts if text]
            named = sum(1 for text in texts if text and _candidate(folded(text), aliases, chosen) is not None)
            if named and (best is None or named > best[0]):
                best = named, layout, line, texts
    if best is None and not seen:
        raise Unreadable(_("%(filename)s is empty.", filename=filename))
    if best is None:
        raise Unreadable(
            _(
                "No header row in the first %(count)s rows of %(filename)s names a column this import knows (its "
                "first row: %(found)s). Name the columns as the import's template does, or map them to its fields.",
                count=HEADER_ROWS,
                filename=filename,
                found=", ".join(seen[:12]),
            )
        )
    return best[1:]


def _candidate(folded: str, aliases: Aliases, chosen: dict[str, str | None]) -> tuple[tuple[int, int, int], str] | None:
    """The column a folded header names and how well, best highest: chosen by the user, else as one of its words
    (:data:`EXACT`), else starting with them (:data:`STARTS`); then by the words' rank and length. None: no column, or
    chosen not kept."""
    if folded in chosen:
        return None if chosen[folded] is None else ((EXACT + 1, 0, 0), chosen[folded])
    if folded in aliases:
        name, rank = aliases[folded]
        return (EXACT, -rank, len(folded)), name
    words = folded.split()
    for taken in range(len(words) - 1, max(0, len(words) - 1 - LONGEST_REST), -1):
        start = " ".join(words[:taken])
        if start in aliases:
            name, rank = aliases[start]
            return (STARTS, -rank, len(start)), name
    return None


def _matched(
    header: list[str], aliases: Aliases, chosen: dict[str, str | None], filename: str, line: int
) -> dict[str, int]:
    """Each column's position in the header: given to the cell that names it best; two cells naming it equally well
    (``Name`` and ``Nama``, words of the same rank) refused, as the file does not say which."""
    best: dict[str, tuple[tuple[int, int, int], int]] = {}
    for position, cell in enumerate(header):
        found = _candidate(folded(cell), aliases, chosen) if cell else None
        if found is None:
            continue
        how, name = found
        if name in best and best[name][0][:2] == how[:2] and how[0] == EXACT:
            raise Unreadable(
                _(
                    "The header of %(filename)s (line %(line)s) names one column twice: %(first)s and %(second)s. "
                    "Map one of them to another field, or leave it not kept.",
                    filename=filename,
                    line=line,
                    first=header[best[name][1]],
                    second=cell,
                )
            )
        if name not in best or how > best[name][0]:
            best[name] = how, position
    return {name: position for name, (_how, position) in best.items()}


def _names(header: list[str], found: dict[str, int]) -> list[str | None]:
    """The column each cell of the header is read into, None for a cell not kept."""
    by_position = {position: name for name, position in found.items()}
    return [by_position.get(position) for position in range(len(header))]


def _records(layout: _Layout, filename: str) -> Iterator[tuple[int, list[object]]]:
    """Every row of the file, empty ones too, with its line or row number."""
    return _sheet_rows(layout, filename) if layout.sheet is not None else _csv_rows(layout, filename)


def _csv_rows(layout: _Layout, filename: str) -> Iterator[tuple[int, list[object]]]:
    with layout.path.open(encoding=layout.encoding, newline="") as file:
        reader = csv.reader(file, delimiter=layout.delimiter)
        line = 0
        try:
            for cells in reader:
                yield line + 1, [cell.strip() for cell in cells]
                line = reader.line_num
        except (csv.Error, UnicodeDecodeError):
            raise Unreadable(
                _(
                    "Line %(line)s of %(filename)s cannot be read: a cell is longer than %(limit)s characters, or a "
                    "quote opened in it is never closed.",
                    line=line + 1,
                    filename=filename,
                    limit=csv.field_size_limit(),
                )
            ) from None


def _sheet_rows(layout: _Layout, filename: str) -> Iterator[tuple[int, list[object]]]:
    try:
        with CalamineWorkbook.from_path(layout.path) as book:
            sheet = book.get_sheet_by_name(layout.sheet)
            if sheet.start is None:
                return
            # python-calamine yields the rows from the sheet's first, but the columns from its first column used.
            before = [""] * sheet.start[1]
            for index, cells in enumerate(sheet.iter_rows()):
                yield index + 1, before + [_cell(cell) for cell in cells]
    except (CalamineError, OSError):
        raise _damaged(filename) from None


def _cell(value: object) -> object:
    """A workbook's cell as a row carries it: text stripped, a number as ``int`` or ``Decimal``."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        return int(value) if value.is_integer() else Decimal(str(value))
    if isinstance(value, bool | int | date):
        return value
    return str(value)


def _filled(cells: list[object]) -> bool:
    return any(cell != "" for cell in cells)


def _aliases(columns: Mapping[str, Iterable[str | tuple[str, int]]]) -> dict[str, tuple[str, int]]:
    """Each header text, folded, to its column's canonical name and its rank (a text alone: 0, the first)."""
    aliases: dict[str, tuple[str, int]] = {}
    for name, texts in columns.items():
        for given in texts:
            text, rank = (given, 0) if isinstance(given, str) else given
            other = aliases.setdefault(folded(text), (name, rank))
            if other[0] != name:
                raise ValueError(f"{text!r} names both {other[0]!r} and {name!r}")
            aliases[folded(text)] = (name, min(rank, other[1]))
    return aliases


ABBREVIATIONS = {"nr": "no", "num": "no", "nbr": "no", "number": "no", "nomor": "no", "tanggal": "tgl", "kd": "kode"}
"""Words headers shorten, each folded to one spelling: ``No.``, ``Nr`` and ``Number``; ``Tgl`` and ``Tanggal``."""


def folded(text: str) -> str:
    """A header text as it is compared: without case, accents, punctuation, a template's ``*`` or repeated spaces,
    its abbreviations written one way."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d").replace("#", " no "))
    bare = "".join(char if char.isalnum() else " " for char in decomposed if not unicodedata.combining(char))
    return " ".join(ABBREVIATIONS.get(word, word) for word in bare.split())


def _encoding(path: Path, filename: str, head: bytes) -> str:
    """The encoding that reads the whole file: its byte-order mark's, else UTF-8, else the one charset-normalizer
    tells from a sample, Windows-1252 first where it reads the sample as well."""
    marked = next((encoding for bom, encoding in BOMS if head.startswith(bom)), None)
    if marked is None and _holds_nul(path):
        raise _not_text(filename)
    if marked is not None:
        encoding = marked if _undecodable(path, marked) is None else None
    else:
        failed = _undecodable(path, "utf-8")
        encoding = "utf-8" if failed is None else None if _utf8_before(path, failed) else _detected(path, head, failed)
    if encoding is None:
        raise Unreadable(
            _(
                "%(filename)s mixes characters of more than one encoding, or is in one that is not recognised: save "
                'it from Excel as "CSV UTF-8".',
                filename=filename,
            )
        )
    if _binary(codecs.getincrementaldecoder(encoding)("replace").decode(head)):
        raise _not_text(filename)
    return encoding


ALTERNATIVES = ("cp1252", "cp1258", "cp1250", "iso8859_15", "cp437", "utf-8")
"""The encodings a file whose encoding was guessed may be read in instead: Western and Vietnamese Windows, Central
European Windows, Latin-9, the old DOS one, UTF-8."""


def _guessed(head: bytes, encoding: str) -> bool:
    """Whether the encoding was guessed from the file's letters: neither its byte-order mark's nor UTF-8 (which no
    other text reads as valid), and the file not plain ASCII."""
    marked = any(head.startswith(bom) for bom, _encoding in BOMS)
    return not marked and codecs.lookup(encoding).name != "utf-8"


def _alternatives(path: Path, guess: str) -> tuple[tuple[str, str], ...]:
    """The guess, then the other encodings that read the whole file, each with the first line beyond ASCII as it
    reads it; none where every one reads that line alike."""
    with path.open("rb") as file:
        line = next((line for line in file if not line.isascii()), b"")
    if not line:
        return ()
    read: dict[str, str] = {}
    for encoding in (guess, *ALTERNATIVES):
        name = codecs.lookup(encoding).name
        if name not in read and _undecodable(path, encoding) is None:
            read[name] = line.decode(encoding).strip()
    return tuple(read.items()) if len(set(read.values())) > 1 else ()


def _given(path: Path, filename: str, encoding: str) -> str:
    """The encoding the user chose, if it is one and reads the whole file."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise Unreadable(_("%(encoding)s is not an encoding.", encoding=encoding)) from None
    failed = _undecodable(path, name)
    if failed is not None:
        raise Unreadable(
            _(
                "%(filename)s is not text in %(encoding)s: its byte %(offset)s is not. Choose another encoding.",
                filename=filename,
                encoding=name,
                offset=failed + 1,
            )
        )
    return name


def _utf8_before(path: Path, failed: int) -> bool:
    """Whether UTF-8's letters beyond ASCII come before the byte at ``failed`` that UTF-8 does not decode: a UTF-8
    file with text of another encoding pasted in, which no single encoding reads right."""
    with path.open("rb") as file:
        while failed > 0 and (chunk := file.read(min(CHUNK, failed))):
            if not chunk.isascii():
                return True
            failed -= len(chunk)
    return False


def _holds_nul(path: Path) -> bool:
    """Whether a byte is 0, as in a binary file and never in text but UTF-16's."""
    with path.open("rb") as file:
        return any(b"\x00" in chunk for chunk in iter(lambda: file.read(CHUNK), b""))


def _binary(sample: str) -> bool:
    """Whether more than one character in a hundred is a control character no text holds."""
    controls = sum(1 for char in sample if unicodedata.category(char) == "Cc" and char not in TEXT_CONTROLS)
    return controls * 100 > len(sample)


def _detected(path: Path, head: bytes, failed: int) -> str | None:
    with path.open("rb") as file:
        file.seek(max(failed - SAMPLE // 2, len(head)))
        sample = head + file.read(SAMPLE)
    matches = charset_normalizer.from_bytes(sample)
    western = any(WESTERN in match.could_be_from_charset for match in matches)
    for encoding in ([WESTERN] if western else []) + [match.encoding for match in matches]:
        if _undecodable(path, encoding) is None:
            return encoding
    return None


def _undecodable(path: Path, encoding: str) -> int | None:
    """Where the file stops being text in ``encoding`` (a byte it does not decode, or a NUL character), or None if
    it is text throughout."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            try:
                if "\x00" in decoder.decode(chunk):
                    return offset
            except UnicodeDecodeError as error:
                return offset + max(error.start, 0)
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def _delimiters(path: Path, encoding: str) -> list[str]:
    """The delimiters to try, the likeliest first: csv.Sniffer's guess on the first lines, then the others by how
    often they appear there; those that never appear are left out (a one-column file takes a comma)."""
    with path.open(encoding=encoding, newline="") as file:
        lines = [line for line in islice(file, 4 * HEADER_ROWS) if line.strip()][: 2 * HEADER_ROWS]
    sample = "".join(lines)
    counted = sorted((delimiter for delimiter in DELIMITERS if delimiter in sample), key=sample.count, reverse=True)
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return counted or [","]
    return [sniffed] + [delimiter for delimiter in counted if delimiter != sniffed]


def _check_workbook(path: Path, filename: str, max_unzipped: int) -> None:
    """Refuse a zip that is not an Excel workbook, or that unzips to more than ``max_unzipped`` bytes or at a ratio
    no spreadsheet has, from what its directory declares and then from what each part really unzips to, before
    calamine reads it."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError):
        raise _damaged(filename) from None
    if not any(part.filename == "xl/workbook.xml" for part in parts):
        raise Unreadable(
            _(
                "%(filename)s is a zip archive but not an Excel workbook: save it in Excel as an .xlsx workbook, or "
                "as CSV.",
                filename=filename,
            )
        )
    if sum(part.file_size for part in parts) > max_unzipped:
        raise Unreadable(
            _(
                "%(filename)s unzips to more than %(limit)s MB: split it into smaller workbooks.",
                filename=filename,
                limit=_megabytes(max_unzipped),
            )
        )
    if len(parts) > MAX_PARTS or any(
        part.file_size > RATIO_FROM and part.file_size > MAX_RATIO * part.compress_size for part in parts
    ):
        raise _compressed(filename)
    try:
        with path.open("rb") as file:
            for part in parts:
                _check_part(file, part, filename)
    except OSError:
        raise _damaged(filename) from None


def _check_part(file: BinaryIO, part: zipfile.ZipInfo, filename: str) -> None:
    """Unzip one part as a stream, refusing it the moment it unzips to more than its declared size: what the
    directory declares is the attacker's to write, what the part holds is what calamine would unzip."""
    file.seek(part.header_offset)
    header = file.read(LOCAL_HEADER.size)
    if len(header) < LOCAL_HEADER.size or part.flag_bits & 1:
        raise _damaged(filename)
    signature, *_fields, name_length, extra_length = LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04" or part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _damaged(filename)
    file.seek(name_length + extra_length, 1)
    unzip = zlib.decompressobj(-zlib.MAX_WBITS) if part.compress_type == zipfile.ZIP_DEFLATED else None
    size = 0
    try:
        for out in _unzipped(file, part.compress_size, unzip, filename):
            size += len(out)
            if size > part.file_size:
                raise _compressed(filename)
    except zlib.error:
        raise _damaged(filename) from None
    if size != part.file_size or (unzip is not None and not unzip.eof):
        raise _damaged(filename)


def _unzipped(file: BinaryIO, length: int, unzip, filename: str) -> Iterator[bytes]:
    """The ``length`` bytes at the file's position, unzipped by ``unzip`` (None: stored as they are), a piece at a
    time."""
    while length:
        data = file.read(min(CHUNK, length))
        if not data:
            raise _damaged(filename)
        length -= len(data)
        while unzip is not None and data:
            yield unzip.decompress(data, CHUNK)
            data = unzip.unconsumed_tail
        if unzip is None:
            yield data
    while unzip is not None and not unzip.eof and (out := unzip.decompress(b"", CHUNK)):
        yield out


def _first_sheet(path: Path, filename: str) -> str:
    """The workbook's first visible worksheet (else its first sheet)."""
    try:
        with CalamineWorkbook.from_path(path) as book:
            sheets = book.sheets_metadata
    except (CalamineError, OSError):
        raise _damaged(filename) from None
    shown = [
        sheet.name
        for sheet in sheets
        if sheet.typ == SheetTypeEnum.WorkSheet and sheet.visible == SheetVisibleEnum.Visible
    ]
    if not shown and not sheets:
        raise Unreadable(_("%(filename)s is empty.", filename=filename))
    return (shown or [sheets[0].name])[0]


def _not_text(filename: str) -> Unreadable:
    return Unreadable(_("%(filename)s is neither a text (CSV) file nor an Excel workbook (.xlsx).", filename=filename))


def _damaged(filename: str) -> Unreadable:
    return Unreadable(_("%(filename)s is a damaged workbook: save it again from Excel.", filename=filename))


def _compressed(filename: str) -> Unreadable:
    return Unreadable(
        _(
            "%(filename)s is refused: it unzips to far more than a spreadsheet of its size holds. Save it again "
            "from Excel.",
            filename=filename,
        )
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"
