"""A row's canonical text made by PostgreSQL, in the statement that reads the row.

Building a row's canonical text in Python costs many times the HMAC that verifies it, so the statement that reads the
rows makes it, byte for byte as :func:`backoffice.evidence.seals.canonical_text` would. A kind whose text PostgreSQL
cannot make exactly (one with a JSON column) keeps the Python reader.
"""

from __future__ import annotations

import enum
from functools import cache

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Select,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy import Enum as EnumType
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from backoffice.evidence.seals import Evidence, run_found_covered, run_results_covered, version_column
from backoffice.models import CheckResult, Discrepancy, HistoryTransaction, JournalLine, ReconciliationRun

MOMENT = 'YYYY-MM-DD"T"HH24:MI:SS.US'
"""A moment as Python's ``isoformat(timespec="microseconds")`` writes it, whatever the session's DateStyle."""

DAY = "YYYY-MM-DD"

SEPARATOR = b"\x1e"
"""What stands between the canonical text and the previous seal."""


def canonical(evidence: Evidence) -> ColumnElement | None:
    """The row's canonical text without its previous seal, as UTF-8 bytes; None where only Python makes it.

    A column's ``name=value`` is NULL while the value is (``||`` with NULL), and ``concat_ws`` leaves NULLs out, as
    :func:`backoffice.evidence.seals.canonical_text` leaves out the columns whose value is None.
    """
    named = []
    for name in evidence.covered:
        text = _text(evidence.table.c[name])
        if text is None:
            return None
        named.append(_said(f"{name}=") + text)
    details = _details(evidence)
    if details is None:
        return None
    row = func.convert_to(
        func.concat_ws(
            _said("\x1e"),
            _said(evidence.kind),
            cast(evidence.key, Text),
            cast(version_column(evidence), Text),
            func.concat_ws(_said("\x1f"), *named),
        ),
        _said("UTF8"),
        type_=LargeBinary,
    )
    return row if details is NOTHING else _joined(row, details)


def _said(text: str) -> ColumnElement:
    """A constant text written into the statement, not bound: a statement run at every commit binds only its keys."""
    escaped = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or c in "\\'%" else c for c in text)
    return literal_column(f"E'{escaped}'", Text)


def _bytes(value: bytes) -> ColumnElement:
    """Constant bytes written into the statement, as :func:`_said`."""
    return literal_column(f"'\\x{value.hex()}'::bytea", LargeBinary)


NOTHING = _bytes(b"")
RECORD = _bytes(b"\x1e")
UNIT = _bytes(b"\x1f")
ABSENT = _bytes(b"\x00")
"""What a detail's None is in the canonical text (a byte PostgreSQL's text cannot hold: these are bytes)."""


def _details(evidence: Evidence) -> ColumnElement | None:
    """The rows of other tables the seal covers, each after a record separator, as
    :func:`backoffice.evidence.seals.canonical_text` joins them: an entry's lines in id order, a history version's
    transaction (``missing`` when it is gone). None for details only Python makes."""
    if evidence.details is None:
        return NOTHING
    if evidence.kind == "journal_entries":
        lines = JournalLine.__table__
        each = _values([lines.c.id, lines.c.account_id, lines.c.debit, lines.c.credit, lines.c.description])
        if each is None:
            return None
        every = (
            select(func.string_agg(_joined(RECORD, each), aggregate_order_by(NOTHING, lines.c.id), type_=LargeBinary))
            .where(lines.c.entry_id == evidence.key)
            .scalar_subquery()
        )
        return func.coalesce(every, NOTHING, type_=LargeBinary)
    if evidence.version == "transaction_id":
        transactions = HistoryTransaction.__table__
        who = _values([transactions.c.issued_at, transactions.c.user_id, transactions.c.actor])
        if who is None:
            return None
        found = select(who).where(transactions.c.id == evidence.table.c.transaction_id).scalar_subquery()
        return _joined(RECORD, func.coalesce(found, _bytes(b"missing"), type_=LargeBinary))
    return None


def details(connection: Connection, evidence: Evidence, rows: list) -> dict[tuple[int, int], list | bytes]:
    """What the seals of ``rows`` of ``evidence`` cover beyond their own columns: a run's results and discrepancies
    as the bytes of their canonical text (:func:`run_details`), which Python read back and wrote out one value at a
    time in twice the time; else as ``evidence.details`` reads them."""
    if evidence.table is ReconciliationRun.__table__:
        return run_details(connection, {row.row_id for row in rows})
    return evidence.details(connection, rows)


def run_details(connection: Connection, ids: set[int]) -> dict[tuple[int, int], bytes]:
    """Each run's results then discrepancies, by id, as :func:`backoffice.evidence.seals.canonical_text` joins them
    after the run's named values: each row after a record separator, in one statement."""
    read = connection.execute(_run_details(), {"runs": sorted(ids)})
    return {(run_id, 0): made for run_id, made in read}


# Built when a run's seal is first verified, not at import: every command that reads the database imports this module.
@cache
def _run_details() -> Select:
    """The statement of :func:`run_details`, built once: it is as long to build as to run."""
    runs = bindparam("runs", type_=ARRAY(Integer))
    parts = []
    covered = ((CheckResult.__table__, run_results_covered()), (Discrepancy.__table__, run_found_covered()))
    for table, columns in covered:
        each = _values(columns)
        if each is None:
            raise TypeError(f"PostgreSQL cannot make the text of every column of {table.name}")
        parts.append(
            select(
                table.c.run_id,
                func.string_agg(
                    _joined(RECORD, each), aggregate_order_by(NOTHING, table.c.id), type_=LargeBinary
                ).label("text"),
            )
            .where(table.c.run_id == any_(runs))
            .group_by(table.c.run_id)
            .subquery()
        )
    of_results, of_found = parts
    text = _joined(
        func.coalesce(of_results.c.text, NOTHING, type_=LargeBinary),
        func.coalesce(of_found.c.text, NOTHING, type_=LargeBinary),
    )
    joined = of_results.join(of_found, of_results.c.run_id == of_found.c.run_id, full=True)
    return select(func.coalesce(of_results.c.run_id, of_found.c.run_id), text).select_from(joined)


def _values(columns: list[ColumnElement]) -> ColumnElement | None:
    """A detail's values as :func:`backoffice.evidence.seals._canonical` joins them, a None as a zero byte."""
    texts = [_text(column) for column in columns]
    if any(text is None for text in texts):
        return None
    parts = [
        func.coalesce(func.convert_to(text, _said("UTF8"), type_=LargeBinary), ABSENT, type_=LargeBinary)
        for text in texts
    ]
    return _joined(*[piece for part in parts for piece in (UNIT, part)][1:])


def _joined(*parts: ColumnElement) -> ColumnElement:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||", return_type=LargeBinary)(part)
    return joined


def _text(column: ColumnElement) -> ColumnElement | None:
    """A column's value as :func:`backoffice.evidence.seals._text` writes it; None for a type it cannot match."""
    kind = column.type
    if isinstance(kind, Boolean):
        return case((column.is_(None), null()), (column, _said("1")), else_=_said("0"))
    if isinstance(kind, Integer):
        return cast(column, Text)
    if isinstance(kind, Float) or not isinstance(kind, Numeric | DateTime | Date | String) or isinstance(kind, JSON):
        return None
    if isinstance(kind, Numeric):
        return cast(func.trim_scale(column), Text)
    if isinstance(kind, DateTime):
        return func.to_char(func.timezone(_said("UTC"), column) if kind.timezone else column, _said(MOMENT))
    if isinstance(kind, Date):
        return func.to_char(column, _said(DAY))
    if isinstance(kind, EnumType) and not _stored_by_value(kind):
        return None
    return cast(column, Text)


def _stored_by_value(kind: EnumType) -> bool:
    """An enum column keeps its members' values (which the canonical text names), not their names."""
    members = kind.enum_class
    if members is None or not issubclass(members, enum.Enum):
        return True
    return list(kind.enums) == [str(member.value) for member in members]
