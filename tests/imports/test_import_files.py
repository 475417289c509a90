"""Reading an import's file as people's files really are, and refusing what an attacker sends: each file is made
here, small."""

from __future__ import annotations

import hashlib
import inspect
import io
import struct
import tracemalloc
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from backoffice.imports.files import Row, Unreadable, excel_date, read_table

COLUMNS = {
    "code": {"Customer code", "Kode pelanggan", "Mã khách hàng"},
    "name": ["Name", "Nama", "Tên"],
    "amount": ["Amount", "Jumlah", "Số tiền"],
    "date": ["Date", "Tanggal", "Ngày"],
}


def file_named(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def table(tmp_path, name, data: bytes, **limits):
    return read_table(file_named(tmp_path, name, data), name, COLUMNS, **limits)


def values(found):
    return [(row.line, row.values) for row in found.rows()]


def refusal(tmp_path, name, data: bytes, **limits) -> str:
    with pytest.raises(Unreadable) as refused:
        table(tmp_path, name, data, **limits)
    assert name in str(refused.value)
    return str(refused.value)


def workbook(rows, *, title="Data", before=()) -> bytes:
    """An .xlsx as Excel saves one: ``before`` are the sheets in front of the data's (name, hidden)."""
    book = openpyxl.Workbook()
    first = book.active
    for name, hidden in before:
        sheet = book.create_sheet(name)
        sheet.append(["Kode pelanggan", "Nama"])
        sheet.append(["WRONG", "sheet"])
        sheet.sheet_state = "hidden" if hidden else "visible"
    book.move_sheet(first, offset=len(before))
    first.title = title
    for row in rows:
        first.append(list(row))
    saved = io.BytesIO()
    book.save(saved)
    return saved.getvalue()


def zipped(parts: dict[str, bytes]) -> bytes:
    saved = io.BytesIO()
    with zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return saved.getvalue()


# Text files


def test_utf8_with_commas_reads_each_row_with_its_line(tmp_path):
    found = table(tmp_path, "customers.csv", b'Customer code,Name,Amount\nC1,Ann,10.5\nC2,"Lee, Bo",7\n')
    assert found.header_line == 1
    assert found.columns == {"code": 0, "name": 1, "amount": 2}
    assert found.unknown == ()
    assert values(found) == [
        (2, {"code": "C1", "name": "Ann", "amount": "10.5"}),
        (3, {"code": "C2", "name": "Lee, Bo", "amount": "7"}),
    ]


def test_utf8_with_a_byte_order_mark_reads_its_first_header(tmp_path):
    found = table(tmp_path, "bom.csv", "\ufeffCustomer code,Name\nC1,Zoë\n".encode())
    assert found.columns == {"code": 0, "name": 1}
    assert values(found) == [(2, {"code": "C1", "name": "Zoë"})]


def test_excel_unicode_text_utf16_with_tabs(tmp_path):
    text = "Mã khách hàng\tTên\tSố tiền\nKH1\tNguyễn Văn A\t100\n"
    for data in (text.encode("utf-16"), codecs_utf16_be(text)):
        found = table(tmp_path, "unicode.txt", data)
        assert found.columns == {"code": 0, "name": 1, "amount": 2}
        assert values(found) == [(2, {"code": "KH1", "name": "Nguyễn Văn A", "amount": "100"})]


def codecs_utf16_be(text: str) -> bytes:
    return b"\xfe\xff" + text.encode("utf-16-be")


def test_windows_1252_reads_accents_and_the_euro(tmp_path):
    data = "Customer code;Name;Amount\nC1;Café Müller;12 €\nC2;Crème brûlée;5\n".encode("cp1252")
    found = table(tmp_path, "western.csv", data)
    assert values(found) == [
        (2, {"code": "C1", "name": "Café Müller", "amount": "12 €"}),
        (3, {"code": "C2", "name": "Crème brûlée", "amount": "5"}),
    ]


def test_windows_1252_past_a_long_plain_beginning_is_still_found(tmp_path):
    plain = "".join(f"C{n},Name {n}\n" for n in range(20_000))
    data = ("Customer code,Name\n" + plain + "C-last,Señor Zoë\n").encode("cp1252")
    found = table(tmp_path, "late.csv", data)
    assert list(found.rows())[-1].values == {"code": "C-last", "name": "Señor Zoë"}


def test_utf8_with_text_of_another_encoding_pasted_in_is_refused(tmp_path):
    data = "Mã khách hàng,Tên\nKH1,Nguyễn\n".encode() + "KH2,Café\n".encode("cp1252")
    assert "more than one encoding" in refusal(tmp_path, "mixed.csv", data)


def test_semicolons_with_decimal_commas_as_indonesian_excel_writes(tmp_path):
    data = b"Kode pelanggan;Nama;Jumlah\nC1;Budi;1.000,50\nC2;Sari;2.500,00\nC3;Tono;75,25\n"
    found = table(tmp_path, "id.csv", data)
    assert found.columns == {"code": 0, "name": 1, "amount": 2}
    assert [row.values["amount"] for row in found.rows()] == ["1.000,50", "2.500,00", "75,25"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_found(tmp_path, delimiter):
    data = delimiter.join(["Customer code", "Name", "Amount"]) + "\n" + delimiter.join(["C1", "Ann", "3"]) + "\n"
    assert values(table(tmp_path, "any.csv", data.encode())) == [(2, {"code": "C1", "name": "Ann", "amount": "3"})]


def test_a_title_and_notes_above_the_header_and_empty_rows_are_skipped(tmp_path):
    data = (
        b"Daftar pelanggan PT Air Bersih;;;\n"
        b";;;\n"
        b"Kolom bertanda * wajib diisi;;;\n"
        b"Kode pelanggan*;Nama*;Jumlah;Keterangan\n"
        b"C1;Budi;10;baru\n"
        b";;;\n"
        b"\n"
        b"   ;  ;;\n"
        b"C2;Sari;20;\n"
    )
    found = table(tmp_path, "template.csv", data)
    assert found.header_line == 4
    assert found.unknown == ("Keterangan",)
    assert values(found) == [
        (5, {"code": "C1", "name": "Budi", "amount": "10"}),
        (9, {"code": "C2", "name": "Sari", "amount": "20"}),
    ]


def test_vietnamese_headers_typed_without_accents_and_in_capitals(tmp_path):
    data = b"  MA KHACH HANG ,ten,So  tien,NGAY\nKH1,An,5,45292\n"
    found = table(tmp_path, "vi.csv", data)
    assert found.columns == {"code": 0, "name": 1, "amount": 2, "date": 3}
    assert excel_date(next(found.rows()).values["date"]) == date(2024, 1, 1)


def test_a_short_row_gives_empty_cells_and_a_quoted_cell_may_span_lines(tmp_path):
    data = b'Customer code,Name,Amount\n"C1","two\nlines",4\nC2\n'
    assert values(table(tmp_path, "short.csv", data)) == [
        (2, {"code": "C1", "name": "two\nlines", "amount": "4"}),
        (4, {"code": "C2", "name": "", "amount": ""}),
    ]


def test_the_table_names_its_file_and_its_bytes(tmp_path):
    data = b"Customer code\nC1\n"
    found = table(tmp_path, "named.csv", data)
    assert found.filename == "named.csv"
    assert found.sha256 == hashlib.sha256(data).hexdigest()


# Workbooks


def test_a_workbook_below_a_title_gives_typed_cells_and_its_row_numbers(tmp_path):
    data = workbook(
        [
            ["Customer list"],
            [],
            ["Customer code *", "Name", "Amount", "Date", "Remarks"],
            ["C1", "  Ann  ", 10.5, date(2024, 1, 2), "=1+1"],
            [],
            [1001, "Bo", 3, 45292, True],
            ["C3", None, 1234.56, datetime(2024, 2, 3, 4, 5), None],
        ]
    )
    found = table(tmp_path, "book.xlsx", data)
    assert found.header_line == 3
    assert found.columns == {"code": 0, "name": 1, "amount": 2, "date": 3}
    assert found.unknown == ("Remarks",)
    assert values(found) == [
        (4, {"code": "C1", "name": "Ann", "amount": Decimal("10.5"), "date": date(2024, 1, 2)}),
        (6, {"code": 1001, "name": "Bo", "amount": 3, "date": 45292}),
        (7, {"code": "C3", "name": "", "amount": Decimal("1234.56"), "date": datetime(2024, 2, 3, 4, 5)}),
    ]
    assert not any(isinstance(value, float) for row in found.rows() for value in row.values.values())
    assert excel_date(list(found.rows())[1].values["date"]) == date(2024, 1, 1)


def test_a_workbook_starting_right_of_column_a_keeps_the_columns_positions(tmp_path):
    data = workbook([[None, None, "Kode pelanggan", "Nama"], [None, None, "C1", "Budi"]])
    found = table(tmp_path, "shifted.xlsx", data)
    assert found.columns == {"code": 2, "name": 3}
    assert values(found) == [(2, {"code": "C1", "name": "Budi"})]


def test_a_formula_is_never_evaluated(tmp_path):
    found = table(tmp_path, "formula.xlsx", workbook([["Customer code", "Amount"], ["C1", "=10*10"]]))
    assert values(found) == [(2, {"code": "C1", "amount": ""})]


def test_the_first_visible_sheet_is_read(tmp_path):
    data = workbook([["Kode pelanggan", "Nama"], ["C1", "Budi"]], before=[("Old", True)])
    assert values(table(tmp_path, "hidden.xlsx", data)) == [(2, {"code": "C1", "name": "Budi"})]


def test_the_workbook_is_recognised_by_its_content_whatever_its_name(tmp_path):
    found = table(tmp_path, "upload", workbook([["Customer code"], ["C1"]]))
    assert values(found) == [(2, {"code": "C1"})]


# Dates


@pytest.mark.parametrize(
    ("value", "day"),
    [
        (45292, date(2024, 1, 1)),
        (Decimal("45292.75"), date(2024, 1, 1)),
        ("45292", date(2024, 1, 1)),
        (" 45292.5 ", date(2024, 1, 1)),
        (61, date(1900, 3, 1)),
        (59, date(1900, 2, 28)),
        (1, date(1900, 1, 1)),
        (date(2024, 5, 6), date(2024, 5, 6)),
        (datetime(2024, 5, 6, 7, 8), date(2024, 5, 6)),
    ],
)
def test_excel_dates(value, day):
    assert excel_date(value) == day


@pytest.mark.parametrize("value", ["2024-01-01", "01/02/2024", "20240101", "240101", "", "abc", 0, -5, True, 60, None])
def test_what_is_not_an_excel_date_is_left_to_the_caller(value):
    assert excel_date(value) is None


# Reading again, streaming


def test_rows_are_read_again_at_each_call(tmp_path):
    found = table(tmp_path, "again.csv", b"Customer code\nC1\nC2\n")
    assert values(found) == values(found) == [(2, {"code": "C1"}), (3, {"code": "C2"})]
    book = table(tmp_path, "again.xlsx", workbook([["Customer code"], ["C1"]]))
    assert values(book) == values(book) == [(2, {"code": "C1"})]


def test_rows_stream_without_holding_the_file(tmp_path):
    lines = b"".join(b"C%d,Customer number %d,%d.50\n" % (n, n, n) for n in range(200_000))
    found = table(tmp_path, "large.csv", b"Customer code,Name,Amount\n" + lines)
    assert inspect.isgenerator(found.rows())
    tracemalloc.start()
    try:
        count = 0
        for row in found.rows():
            assert isinstance(row, Row)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < len(lines) // 4, "the rows were held in memory"


# Refused


def test_an_empty_file_is_refused(tmp_path):
    assert "empty" in refusal(tmp_path, "empty.csv", b"")
    assert "empty" in refusal(tmp_path, "blank.csv", b"\xef\xbb\xbf\n;;\n \n")


def test_a_file_over_the_limit_is_refused(tmp_path):
    assert "larger than" in refusal(tmp_path, "big.csv", b"Customer code\n" + b"C1\n" * 100, max_bytes=100)


def test_a_file_without_a_header_row_is_refused(tmp_path):
    assert "No header row in the first 20 rows" in refusal(tmp_path, "nohead.csv", b"Report\nfoo,bar,baz\n1,2,3\n")


def test_a_header_row_below_the_first_twenty_is_not_looked_for(tmp_path):
    data = b"".join(b"note %d\n" % n for n in range(20)) + b"Customer code\nC1\n"
    assert "No header" in refusal(tmp_path, "deep.csv", data)


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    assert "twice: Name and Nama" in refusal(tmp_path, "twice.csv", b"Name,Nama\nA,B\n")


def test_a_binary_file_named_csv_is_refused(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10
    assert "neither a text" in refusal(tmp_path, "photo.csv", png)
    controls = bytes(range(1, 32)) * 50
    assert "neither a text" in refusal(tmp_path, "controls.csv", controls)


def test_text_named_xlsx_is_refused(tmp_path):
    assert "holds text" in refusal(tmp_path, "report.xlsx", b"Customer code,Name\nC1,Ann\n")


def test_a_workbook_named_csv_is_refused(tmp_path):
    assert "named as a text file" in refusal(tmp_path, "book.csv", workbook([["Customer code"], ["C1"]]))


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    data = zipped({"word/document.xml": b"<document/>", "[Content_Types].xml": b"<Types/>"})
    assert "not an Excel workbook" in refusal(tmp_path, "letter.xlsx", data)


def test_an_old_or_password_protected_workbook_is_refused(tmp_path):
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)
    assert "before 2007" in refusal(tmp_path, "old.xls", data)


def test_a_damaged_workbook_is_refused(tmp_path):
    data = workbook([["Customer code"], ["C1"]])
    assert "damaged" in refusal(tmp_path, "cut.xlsx", data[: len(data) // 2] + data[-22:])
    assert "damaged" in refusal(tmp_path, "junk.xlsx", zipped({"xl/workbook.xml": b"<not xml"}))


def test_a_zip_bomb_is_refused_before_it_is_read(tmp_path):
    data = zipped({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": bytes(4 * 1024 * 1024)})
    assert len(data) < 20_000
    assert "unzips to far more" in refusal(tmp_path, "bomb.xlsx", data)


def test_a_workbook_unzipping_past_the_limit_is_refused(tmp_path):
    data = workbook([["Customer code"], ["C1"]])
    assert "unzips to more than" in refusal(tmp_path, "large.xlsx", data, max_unzipped=2_000)


def test_a_workbook_lying_about_its_unzipped_size_is_refused(tmp_path):
    sheet = "".join(f"<row r='{n}'><c><v>{n}</v></c></row>" for n in range(20_000)).encode()
    data = lied(zipped({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": sheet}), 1_000)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 1_000
    assert "unzips to far more" in refusal(tmp_path, "liar.xlsx", data)


def lied(data: bytes, size: int) -> bytes:
    """The zip with its sheet's declared unzipped size (in its local header and in the directory) set to ``size``."""
    name = b"xl/worksheets/sheet1.xml"
    patched = bytearray(data)
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        start = data.index(signature)
        while not data.startswith(name, start + name_at):
            start = data.index(signature, start + 4)
        struct.pack_into("<L", patched, start + size_at, size)
    return bytes(patched)


def test_an_unclosed_quote_is_refused_at_its_line(tmp_path):
    unclosed = b'C0,"Ann\n' + b"x" * 140_000 + b"\n"
    with pytest.raises(Unreadable, match="Line 2 of early.csv"):
        table(tmp_path, "early.csv", b"Customer code,Name\n" + unclosed)
    good = b"".join(b"C%d,Ann\n" % n for n in range(1, 31))
    late = table(tmp_path, "late.csv", b"Customer code,Name\n" + good + unclosed)
    with pytest.raises(Unreadable, match="Line 32 of late.csv"):
        list(late.rows())
