"""A row's canonical text made by PostgreSQL, in the statement that reads the row.

Verifying a seal costs an HMAC of some hundred bytes, about a microsecond; building those bytes in Python from a
row's values (a Decimal's text, a moment's ISO form) costs many times that. On PostgreSQL the statement that reads
the rows therefore also makes each row's canonical text, byte for byte the text
:func:`backoffice.evidence.seals.canonical_text` makes from the same values (the previous seal left for the reader to
append), and the reader only computes and compares the HMACs. A kind whose text PostgreSQL cannot make exactly (a
JSON column, whose text is Python's ``json.dumps``; rows of other tables the seal covers) keeps the Python reader, as
SQLite does for every kind.
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
    Numeric,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    null,
)
from sqlalchemy import Enum as EnumType

from backoffice.evidence.seals import Evidence, version_column

MOMENT = 'YYYY-MM-DD"T"HH24:MI:SS.US'
"""A moment as Python's ``isoformat(timespec="microseconds")`` writes it, whatever the session's DateStyle."""

DAY = "YYYY-MM-DD"


def canonical(evidence: Evidence) -> ColumnElement | None:
    """The row's canonical text without its previous seal, as UTF-8 bytes; None where only Python makes it.

    A column's ``name=value`` is NULL while the value is (``||`` with NULL), and ``concat_ws`` leaves NULLs out, as
    :func:`backoffice.evidence.seals.canonical_text` leaves out the columns whose value is None.
    """
    if evidence.details is not None:
        return None
    named = []
    for name in evidence.covered:
        text = _text(evidence.table.c[name])
        if text is None:
            return None
        named.append(literal(f"{name}=", Text) + text)
    return func.convert_to(
        func.concat_ws(
            "\x1e",
            evidence.kind,
            cast(evidence.key, Text),
            cast(version_column(evidence), Text),
            func.concat_ws("\x1f", *named),
        ),
        "UTF8",
    )


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
