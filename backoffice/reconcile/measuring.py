"""The statements that measure a check: what its stored fields add up to, and which of its rows are wrong."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ARRAY, ColumnElement, any_, func, literal, select, text, true

from backoffice.platform import replica
from backoffice.platform.extensions import db
from backoffice.reconcile import Check
from backoffice.reconcile.base import at_scale, differs


def measured(check: Check, fields, conditions, with_sums: bool) -> tuple[int, list[Decimal]]:
    """How many entities the chunk holds and, when asked, the sum of each stored field that adds (else zeros)."""
    sums = stored_totals(fields, [f.stored for f in fields], with_sums)
    summing = any(with_sums and f.adds for f in fields)
    source = check.table if check.counted_on_table and not summing else source_of(check)
    count, *totals = db.session.execute(select(func.count(), *sums).select_from(source).where(*conditions)).one()
    return count, summed(fields, totals)


def stored_totals(fields, stored: list[ColumnElement], with_sums: bool) -> list[ColumnElement]:
    """The chunk's totals, ``total_0``…: when asked, the sum of each field's ``stored`` column that adds, else 0."""
    return [
        (func.sum(column) if with_sums and f.adds else literal(0)).label(f"total_{i}")
        for i, (f, column) in enumerate(zip(fields, stored, strict=True))
    ]


def wrong_rows(check: Check, fields, conditions) -> list[tuple]:
    """``(key, period, stored…, expected…)`` of every entity whose stored value differs from the expected one."""
    reader = replica.connection()
    # The planner takes a mismatch to be the rule and the answer to be the whole table, so it
    # scans alone rather than pay to ship rows from parallel workers; in truth few rows differ.
    reader.execute(text("SET LOCAL parallel_tuple_cost = 0"))
    return list(
        reader.execute(
            select(*compared_columns(check, fields)).select_from(source_of(check)).where(*conditions, differs(fields))
        )
    )


def measured_and_collected(check: Check, fields, conditions, with_sums: bool) -> tuple[int, list[Decimal], list[tuple]]:
    """:func:`measured` and :func:`wrong_rows` of a check read from its table alone, in one scan of it.

    The scan counts the rows in scope (and sums what is asked) and collects the wrong ones' keys with ``keys_of``
    (migration 0047), which PostgreSQL 15 runs in its parallel workers as it does the count; the wrong rows are then
    read again by their keys, in the same statement and so the same snapshot: a second scan of the table only to
    count it cost 15–18 % of a raw count of the wrong rows. A row is kept, as the scan kept its key, only if wrong;
    it is read by its key alone (the scan kept only keys in scope): given the scope's conditions again, the planner
    may read every row in scope by them, each compared anew, when the scan found none wrong.
    """
    width = len(fields)
    wrong = differs(fields)
    found = (
        select(
            func.count().label("checked"),
            *stored_totals(fields, [f.stored for f in fields], with_sums),
            func.keys_of(check.key, type_=ARRAY(check.key.type)).filter(wrong).label("keys"),
        )
        .select_from(check.table)
        .where(*conditions)
        .subquery("found")
    )
    compared = (
        select(*compared_columns(check, fields))
        .select_from(check.table)
        .where(check.key == any_(found.c["keys"]), wrong)
        .lateral("compared")
    )
    rows = (
        replica.connection()
        .execute(
            select(found.c.checked, *list(found.c)[1 : 1 + width], *compared.c).select_from(
                found.outerjoin(compared, true())
            )
        )
        .all()
    )
    count, *totals = rows[0][: 1 + width]
    wrong_rows = [tuple(row[1 + width :]) for row in rows if row[1 + width] is not None]
    return count, summed(fields, totals), wrong_rows


def still_wrong(check: Check, fields, conditions, candidates: list[tuple]) -> list[tuple]:
    """Of the entities the replica found wrong, those the primary finds wrong, as the primary has them: a fix
    records and heals what is wrong now, never what the replica, some seconds behind, still shows."""
    keys = sorted({row[0] for row in candidates})
    wrong = wrong_rows(check, fields, [*conditions, check.key.in_(keys)])
    wrong.sort(key=lambda row: (row[0], row[1] or ""))
    return wrong


def measured_and_found(check: Check, fields, conditions, with_sums: bool) -> tuple[int, list[Decimal], list[tuple]]:
    """:func:`measured` and :func:`wrong_rows` in one statement: the source is computed once.

    The compared rows are kept aside (a CTE); one row of counts is joined to the wrong ones, so
    the answer has a row even when nothing is wrong.
    """
    width = len(fields)
    compared = (
        select(*compared_columns(check, fields), differs(fields).label("wrong"))
        .select_from(source_of(check))
        .where(*conditions)
        .cte("compared")
    )
    columns = list(compared.c)
    stored = columns[2 : 2 + width]
    measure = select(func.count().label("checked"), *stored_totals(fields, stored, with_sums))
    measure = measure.select_from(compared).subquery("measure")
    rows = db.session.execute(
        select(*measure.c, *columns[:-1]).select_from(measure.outerjoin(compared, compared.c.wrong))
    ).all()
    count, *totals = rows[0][: 1 + width]
    wrong = [tuple(row[1 + width :]) for row in rows if row[1 + width] is not None]
    return count, summed(fields, totals), wrong


def summed(fields, totals) -> list[Decimal]:
    """Each field's total as a Decimal of the field's scale, whatever the sum came as: an integer, a numeric of
    its column's scale, or nothing for a chunk without rows."""
    return [at_scale(total or 0, field.scale) for field, total in zip(fields, totals, strict=True)]


def compared_columns(check: Check, fields) -> list:
    """``key, period, stored…, expected…, details…``"""
    return [
        check.key.label("key"),
        (check.period if check.period is not None else literal(None)).label("period"),
        *(f.stored.label(f"stored_{i}") for i, f in enumerate(fields)),
        *(f.expected.label(f"expected_{i}") for i, f in enumerate(fields)),
        *(column.label(f"detail_{i}") for i, column in enumerate(check.details())),
    ]


def source_of(check: Check):
    return check.source if check.source is not None else check.table
