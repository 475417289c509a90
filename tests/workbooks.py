"""A downloaded workbook read as a strict reader reads it, and as openpyxl does.

openpyxl is lenient where Excel is not: a strict XML parser (the standard library's expat) refuses any character
XML 1.0 cannot hold, and a spreadsheet that meets one loads the sheet cut short or not at all. So every part of the
zip is parsed strictly, and each sheet must hold as many rows for it as for openpyxl."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

import openpyxl

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def strictly_read(data: bytes) -> list[tuple[str, int]]:
    """Each sheet's name and number of rows, in the workbook's order, once every part of the zip parsed strictly
    (a :class:`xml.etree.ElementTree.ParseError` otherwise)."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        parts = {name: ElementTree.fromstring(book.read(name)) for name in book.namelist()}
    targets = {
        relationship.get("Id"): relationship.get("Target")
        for relationship in parts["xl/_rels/workbook.xml.rels"].iter(f"{RELATIONSHIPS}Relationship")
    }
    return [
        (sheet.get("name"), len(list(parts["xl/" + targets[sheet.get(RELATIONSHIP_ID)]].iter(f"{MAIN}row"))))
        for sheet in parts["xl/workbook.xml"].iter(f"{MAIN}sheet")
    ]


def sheets(data: bytes) -> list[list[tuple]]:
    """Each sheet's rows (their values), as openpyxl reads them, once a strict reader read as many
    (:func:`strictly_read`)."""
    counted = strictly_read(data)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    read = [list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets]
    assert [(sheet.title, len(rows)) for sheet, rows in zip(book.worksheets, read, strict=True)] == counted
    return read


def opened(data: bytes) -> openpyxl.Workbook:
    """The workbook as openpyxl opens it to read its cells' styles, once a strict reader read it
    (:func:`strictly_read`)."""
    strictly_read(data)
    return openpyxl.load_workbook(io.BytesIO(data))
