"""A row's canonical text made by PostgreSQL, in the statement that reads the row.

Verifying a seal costs an HMAC of some hundred bytes, about a microsecond; building those bytes in Python from a
row's values (a Decimal's text, a moment's ISO form) costs many times that. On PostgreSQL the statement that reads
the rows therefore also makes each row's canonical text, byte for byte the text
:func:`backoffice.evidence.seals.canonical_text` makes from the same values (the previous seal left for the reader to
append), and the reader only computes and compares the HMACs. A kind whose text PostgreSQL cannot make exactly (a
JSON column, whose text is Python's ``json.dumps``; a run's results) keeps the Python reader, as SQLite does for
every kind.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    null,
    select,
)
from sqlalchemy import Enum as EnumType
from sqlalchemy.dialects.postgresql import aggregate_order_by

from backoffice.evidence.seals import Evidence, version_column
from backoffice.models import HistoryTransaction, JournalLine

MOMENT = 'YYYY-MM-DD"T"HH24:MI:SS.US'
"""A moment as Python's ``isoformat(timespec="microseconds")`` writes it, whatever the session's DateStyle."""

DAY = "YYYY-MM-DD"


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
        named.append(literal(f"{name}=", Text) + text)
    details = _details(evidence)
    if details is None:
        return None
    row = func.convert_to(
        func.concat_ws(
            "\x1e",
            literal(evidence.kind, Text),
            cast(evidence.key, Text),
            cast(version_column(evidence), Text),
            func.concat_ws("\x1f", *named),
        ),
        "UTF8",
        type_=LargeBinary,
    )
    return row if details is NOTHING else _joined(row, details)


NOTHING = literal(b"", LargeBinary)
RECORD = literal(b"\x1e", LargeBinary)
UNIT = literal(b"\x1f", LargeBinary)
ABSENT = literal(b"\x00", LargeBinary)
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
        return _joined(RECORD, func.coalesce(found, literal(b"missing", LargeBinary), type_=LargeBinary))
    return None


def _values(columns: list[ColumnElement]) -> ColumnElement | None:
    """A detail's values as :func:`backoffice.evidence.seals._canonical` joins them, a None as a zero byte."""
    texts = [_text(column) for column in columns]
    if any(text is None for text in texts):
        return None
    parts = [
        func.coalesce(func.convert_to(text, "UTF8", type_=LargeBinary), ABSENT, type_=LargeBinary) for text in texts
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
        return case((column.is_(None), null()), (column, "1"), else_="0")
    if isinstance(kind, Integer):
        return cast(column, Text)
    if isinstance(kind, Float) or not isinstance(kind, Numeric | DateTime | Date | String) or isinstance(kind, JSON):
        return None
    if isinstance(kind, Numeric):
        return cast(func.trim_scale(column), Text)
    if isinstance(kind, DateTime):
        return func.to_char(func.timezone("UTC", column) if kind.timezone else column, MOMENT)
    if isinstance(kind, Date):
        return func.to_char(column, DAY)
    if isinstance(kind, EnumType) and not _stored_by_value(kind):
        return None
    return cast(column, Text)


def _stored_by_value(kind: EnumType) -> bool:
    """An enum column keeps its members' values (which the canonical text names), not their names."""
    members = kind.enum_class
    if members is None or not issubclass(members, enum.Enum):
        return True
    return list(kind.enums) == [str(member.value) for member in members]
