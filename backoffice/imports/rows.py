"""A file's rows read as a kind's records, a batch at a time: each cell by its column as the file writes it, a
record's further lines kept with it, the file's own total rows set aside, what the keys need looked up; and a record
compared with what is stored under its key. What the check, the write and the report read the file by."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _

from backoffice.imports.checked import BATCH, Checked, Rejection
from backoffice.imports.files import Row as FileRow
from backoffice.imports.files import Table, folded
from backoffice.imports.kinds import ImportKind, Row
from backoffice.imports.kinds.base import LINES, REFUSED_LINE
from backoffice.imports.values import Refused
from backoffice.imports.written import reading
from backoffice.platform.i18n import named_date, number_locale
from backoffice.platform.money import format_plain


@dataclass
class Batch:
    read: list[tuple[int, FileRow, Row]] = field(default_factory=list)
    """Each row read: its ordinal among the rows read, the file's row, and its values."""


def batches(kind: ImportKind, table: Table, checked: Checked, size: int | None = None) -> Iterator[Batch]:
    """The table's rows read a batch of ``size`` (:data:`BATCH`) records at a time, each batch resolved."""
    size = size or BATCH
    batch = Batch()
    ordinal = 0
    after_a_record, last = False, None
    for row in table.rows():
        if a_total(kind, row):
            checked.controls.append(row)
            continue
        if kind.lined and after_a_record and _a_further_line(kind, row):
            checked.lines += 1  # a further line of the record above (Odoo's, ERPNext's)
            if last is not None:
                _add_line(kind, last, row, checked)
            continue
        if len(batch.read) >= size:  # full, its records' further lines read: a record's lines stay with it
            yield resolved(kind, batch, checked)
            batch = Batch()
        after_a_record = True
        checked.rows += 1
        last = record = read_row(kind, row, checked)
        if record is None:
            continue
        if kind.lined:
            first = {name: record.pop(name) for name in kind.lined}
            record[LINES] = [{**first, "line": row.line}] if any(v is not None for v in first.values()) else []
        batch.read.append((ordinal, row, record))
        ordinal += 1
    if batch.read:
        yield resolved(kind, batch, checked)


def _a_further_line(kind: ImportKind, row: FileRow) -> bool:
    """Whether the row, below a record's, is a further line of it: its record's columns all empty."""
    return not any(value not in (None, "") for name, value in row.values.items() if name not in kind.lined)


def _add_line(kind: ImportKind, record: Row, row: FileRow, checked: Checked) -> None:
    """The row's line, read by its columns, added to the record's lines; a cell that cannot be read refuses the
    record, naming the row (the kind's :attr:`~ImportKind.resolve` says it)."""
    line: Row = {"line": row.line}
    with reading(checked.table.written):
        for name in kind.lined:
            raw = row.values.get(name)
            try:
                line[name] = None if raw in (None, "") else kind.field(name).read(raw)
            except Refused as refusal:
                record.setdefault(REFUSED_LINE, (name, row.line, str(refusal)))
                line[name] = None
    if any(line[name] is not None for name in kind.lined):
        record[LINES].append(line)


TOTAL_WORDS = {
    "total",
    "totals",
    "grand total",
    "sum",
    "jumlah",
    "total keseluruhan",
    "jumlah total",
    "grand jumlah",
    "tong",
    "tong cong",
    "tong so",
    "cong",
}
"""What a file's own total row says where its key would be (folded: "TOTAL", "Jumlah", "Tổng cộng")."""


def a_total(kind: ImportKind, row: FileRow) -> bool:
    """Whether the row is the file's own total: a cell saying so, and no key of its own but such a cell (the key,
    cheaper to read, read first)."""
    if not all(row.values.get(name) in (None, "") or folded(str(row.values[name])) in TOTAL_WORDS for name in kind.key):
        return False
    return any(isinstance(cell, str) and folded(cell) in TOTAL_WORDS for cell in row.cells)


def resolved(kind: ImportKind, batch: Batch, checked: Checked) -> Batch:
    """The batch with what its rows' keys need looked up (:attr:`ImportKind.resolve`); the rows that cannot be,
    refused."""
    refused = kind.resolve([record for _ordinal, _row, record in batch.read])
    for position, (column, message) in refused.items():
        ordinal, row, _record = batch.read[position]
        reject(checked, row, column, message, ordinal)
    return Batch([entry for position, entry in enumerate(batch.read) if position not in refused]) if refused else batch


def read_row(kind: ImportKind, row: FileRow, checked: Checked) -> Row | None:
    """The row's values, each read by its column as the file writes it; ``None`` and the row refused when a cell
    cannot be read."""
    with reading(checked.table.written):
        return _values(kind, row, checked)


def _values(kind: ImportKind, row: FileRow, checked: Checked) -> Row | None:
    record: Row = {}
    for spec in (*kind.fields, *(stated.field for stated in kind.stated)):
        raw = row.values.get(spec.name)
        if raw is None or raw == "":
            if required(kind, checked.table, spec.name):
                reject(checked, row, spec.name, _("%(column)s is required.", column=spec.label))
                return None
            # Where the import updates what exists, an empty cell states nothing, not its default.
            record[spec.name] = None if checked.table.updates else spec.default
            continue
        try:
            record[spec.name] = spec.read(raw)
        except Refused as refusal:
            reject(checked, row, spec.name, str(refusal))
            return None
    return record


def required(kind: ImportKind, table: Table, name: str) -> bool:
    """Whether a field's cell must be given: a required field's, but where the import updates what exists, its
    key's alone (a new record's required fields are asked for once it is known new)."""
    return name in kind.required and (not table.updates or name in kind.key)


CHANGES = "changes"
"""What a row that updates a record changes of it: each field, as stored and as the file gives it."""


def changes_of(checked: Checked) -> list[dict]:
    """What the import changes of the records that exist, as its report and preview keep it."""
    return [
        {
            "line": line,
            "key": " ".join(str(part) for part in key),
            "field": name,
            "stored": _kept(old),
            "given": _kept(new),
        }
        for line, key, name, old, new in checked.changes
    ]


def _kept(value) -> str | None:
    return None if value in (None, "") else str(value)


def different(kind: ImportKind, record: Row, found: Row) -> list[str]:
    """The columns the file states (an empty cell states nothing) whose values differ from the stored record's."""
    return [name for name in kind.compared if record.get(name) is not None and _differs(record[name], found.get(name))]


def _differs(given, stored) -> bool:
    if isinstance(given, Decimal) and isinstance(stored, Decimal):
        return given != stored
    return (given if given not in ("", None) else None) != (stored if stored not in ("", None) else None)


def shown_value(value) -> str:
    """A stored or given value as a conflict says it: an amount and a date as the reader writes them."""
    if value in (None, ""):
        return repr("")
    if isinstance(value, Decimal):
        return format_plain(value, number_locale())
    if isinstance(value, date):
        return named_date(value)
    return str(value)


def reject(checked: Checked, row: FileRow, column: str | None, message: str, ordinal: int | None = None) -> None:
    checked.rejected.append(Rejection(row.line, column, message, row))
    if ordinal is not None:
        checked.refused_ordinals.add(ordinal)
