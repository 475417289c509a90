"""The journal for an accountant's own tools: CSV (one row per line) and a plain-text journal that hledger and
ledger read (posted entries only, each balanced).

Both are streamed from one query over the lines in date order, so a million lines export in constant memory. The text
journal names the accounts by their stored names, hledger's account names, and writes debits as positive amounts and
credits as negative ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date

from sqlalchemy import Select, String, case, cast, func, literal, select

from backoffice.models import Account, AccountType, EntryStatus, JournalEntry, JournalLine
from backoffice.platform.extensions import db
from backoffice.services.descriptions import account_name, entry_words
from backoffice.services.exports import as_is, copied_csv, guarded, plain

STREAMED_ROWS = 2000
"""Lines fetched at a time."""
CSV_COLUMNS = [
    "entry",
    "date",
    "status",
    "description",
    "source_type",
    "source_id",
    "reverses",
    "account_code",
    "account_name",
    "debit",
    "credit",
    "line_description",
]
HLEDGER_TYPES = {
    AccountType.ASSET: "A",
    AccountType.LIABILITY: "L",
    AccountType.EQUITY: "E",
    AccountType.REVENUE: "R",
    AccountType.EXPENSE: "X",
}


def csv_export(
    conditions: list, order: list | None = None, words: Mapping[str, str] | None = None
) -> Iterator[str | bytes]:
    """The lines of the entries ``conditions`` select (every status), one CSV line each, a chunk at a time; the
    entries in ``order`` (date order when none), each entry's lines in the order they were written; statuses and
    sources as ``words`` say them (see :func:`backoffice.services.exports.worded_cells`)."""
    return copied_csv(CSV_COLUMNS, _cells(conditions, order), words)


def ledger_lines(conditions: list, currency: str, exported_on: date) -> Iterator[str]:
    """The posted entries ``conditions`` select as an hledger/ledger journal, a line (or an entry) at a time."""
    yield f"; The books' journal, exported {exported_on.isoformat()}: posted entries only, amounts in {currency}.\n"
    yield "; A debit is a positive amount, a credit a negative one.\n\n"
    yield f"commodity {currency}\n    format 1000.00 {currency}\n\n"
    for account in db.session.scalars(select(Account).order_by(Account.code)):
        yield f"account {_account(account.code, account.name)}  ; type: {HLEDGER_TYPES[account.type]}\n"
    entry_id = None
    for row in _lines([*conditions, JournalEntry.status == EntryStatus.POSTED]):
        if row.entry_id != entry_id:
            entry_id = row.entry_id
            yield f"\n{row.entry_date.isoformat()} * ({row.number}) {_text(row.words) or row.number}\n"
            source = f"{row.source_type} #{row.source_id}" if row.source_type else "manual entry"
            reverses = f", reverses JE-{row.reverses_id}" if row.reverses_id else ""
            yield f"    ; source: {source}{reverses}\n"
        amount = plain(row.debit if row.debit else -row.credit)
        comment = f"  ; {_text(row.line_description)}" if row.line_description else ""
        yield f"    {_account(row.code, row.name)}  {amount} {currency}{comment}\n"


def lines_query(conditions: list, order: list | None = None) -> Select:
    """The lines of the entries ``conditions`` select, with their entry and account, the entries in ``order``
    (date order when none), each with its entry's facts (``descriptions.entry_words``)."""
    entries, lines, accounts = JournalEntry.__table__, JournalLine.__table__, Account.__table__
    words, _join = entry_words(entries)
    columns = select(
        entries.c.id.label("entry_id"),
        entries.c.number,
        entries.c.entry_date,
        entries.c.status,
        entries.c.description,
        entries.c.source_type,
        entries.c.source_id,
        entries.c.reverses_id,
        accounts.c.code,
        accounts.c.name,
        lines.c.debit,
        lines.c.credit,
        lines.c.description.label("line_description"),
        words,
    )
    return _ordered(columns, _join, conditions, order)


def _cells(conditions: list, order: list | None) -> Select:
    """The CSV's cells as text (see :func:`backoffice.services.exports.copied_csv`): the cells of a line's row of
    :func:`typed_rows`, as :func:`backoffice.services.exports.csv_cell` writes them, the entry's words and the
    account's name said by the database in the reader's language."""
    entries, lines, accounts = JournalEntry.__table__, JournalLine.__table__, Account.__table__
    words, _join = entry_words(entries)
    cells = select(
        as_is(entries.c.number),
        entries.c.entry_date,
        entries.c.status,
        guarded(words),
        func.coalesce(as_is(entries.c.source_type), "manual"),
        func.nullif(entries.c.source_id, 0),
        case((entries.c.reverses_id != 0, literal("JE-") + cast(entries.c.reverses_id, String))),
        as_is(accounts.c.code),
        guarded(account_name(accounts.c.code, accounts.c.name)),
        func.nullif(lines.c.debit, 0),
        func.nullif(lines.c.credit, 0),
        guarded(lines.c.description),
    )
    return _ordered(cells, _join, conditions, order)


def _ordered(columns: Select, join, conditions: list, order: list | None) -> Select:
    entries, lines, accounts = JournalEntry.__table__, JournalLine.__table__, Account.__table__
    return (
        columns.select_from(join(lines.join(entries, entries.c.id == lines.c.entry_id).join(accounts)))
        .where(*conditions)
        .order_by(*(order or (entries.c.entry_date, entries.c.id)), lines.c.id)
    )


def typed_rows(conditions: list, order: list | None = None) -> Iterator[list]:
    """The lines of :func:`csv_export` as a workbook's rows: dates as dates, amounts as numbers."""
    return map(_typed, _lines(conditions, order))


def _typed(row) -> list:
    return [
        row.number,
        row.entry_date,
        row.status,
        row.words,
        row.source_type or "manual",
        row.source_id,
        f"JE-{row.reverses_id}" if row.reverses_id else None,
        row.code,
        account_name(row.code, row.name),
        row.debit or None,
        row.credit or None,
        row.line_description,
    ]


def _lines(conditions: list, order: list | None = None) -> Iterator:
    """The lines, read as the download is sent: the query runs when the first row is asked for, in the response's
    own transaction, not in the view's (which ends before the body is sent, with the cursor it held)."""
    yield from db.session.execute(lines_query(conditions, order), execution_options={"yield_per": STREAMED_ROWS})


def _account(code: str, name: str) -> str:
    """An account as the journal names it, ``1000 Cash``: single spaces (two end a name) and no ``:`` (which
    would make a sub-account)."""
    return _text(f"{code} {name}").replace(":", "-")


def _text(value: str | None) -> str:
    """Text on one line, single-spaced, without ``;`` (which would begin a comment)."""
    return re.sub(r"\s+", " ", (value or "").replace(";", ",")).strip()
