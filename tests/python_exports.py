"""The downloads the database writes, written by Python instead: what a test compares the database's files with.

Python writes a CSV's cells with :func:`backoffice.services.exports.csv_cell`, of the values of each row as its
workbook holds them (the row's own, or what the list makes of it for its workbook), and a workbook's rows with
:func:`backoffice.services.workbooks.xlsx_chunks`. :func:`python_writes` has Python write them for the rest of a
test."""

from __future__ import annotations

from backoffice.services import journal_export
from backoffice.services.exports import csv_cell, csv_chunks
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.plumbing import lists


def python_writes(monkeypatch) -> None:
    """Has Python write the lists' downloads and the journal's CSV, for the rest of the test."""
    monkeypatch.setattr(lists.Listing, "export", listing_export)
    monkeypatch.setattr(journal_export, "csv_export", journal_csv)


def csv_cells(values) -> list:
    """A row's values as the cells of a CSV."""
    return [csv_cell(value) for value in values]


def listing_export(listing, name, header, query, row=None, cells=None, format="csv", typed=None):
    """:meth:`backoffice.web.plumbing.lists.Listing.export` with every file written by Python: the rows ``query``
    selects under the list's filters, in its order (or what ``typed`` makes of each), as the workbook's rows; as the
    CSV's, their :func:`csv_cells` where the database writes the CSV (``cells``), what ``row`` makes of them where it
    does not."""
    said = lists.cell_words()
    found = lists.streamed(listing.select(query))
    values = map(typed, found) if typed else found
    if format == "xlsx":
        return lists.xlsx_response(name, xlsx_chunks(header, values, said))
    rows = map(csv_cells, values) if cells is not None else map(row, found)
    return lists.csv_response(name, csv_chunks(header, rows, said))


def journal_csv(conditions, order=None, words=None):
    """:func:`backoffice.services.journal_export.csv_export` written by Python: the :func:`csv_cells` of each of
    :func:`backoffice.services.journal_export.typed_rows`."""
    rows = map(csv_cells, journal_export.typed_rows(conditions, order))
    return csv_chunks(journal_export.CSV_COLUMNS, rows, words)


TYPED = ["=SUM(A1:A9)", "+62 811", "-5", "@home", "\tTab", "\rReturn", "a, b", 'say "hi"', "two\nlines", "mid\rway"]
TYPED += ["Café — 日本", " spaced ", "\\.", "100%", "it's"]
"""Text a clerk may type that a CSV writer treats with care."""
