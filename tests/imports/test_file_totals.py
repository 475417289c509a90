"""A file's own total row (an accountant's TOTAL at the end) is read as such and compared with the rows it totals,
never rejected as a row without a key; the command writes the valid rows alone when told, as the page does."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from backoffice.imports import said
from backoffice.models import Customer, Import
from backoffice.platform.extensions import db
from tests.factories import CustomerFactory
from tests.imports.test_moving_in import imported

LEDGER = (
    "SALDO AWAL PELANGGAN PER 31 OKTOBER 2026;;;\n"
    "No;Kode Pelanggan;Nama Pelanggan;Saldo Awal;Tanggal Peralihan\n"
    "1;PLG-0001;Toko Satu;Rp 3.700.000;31/10/2026\n"
    "2;PLG-0002;Toko Dua;Rp 1.250.000;31/10/2026\n"
    ";TOTAL;;Rp 4.950.000;\n"
)


def customers():
    CustomerFactory(code="PLG-0001", name="Toko Satu")
    CustomerFactory(code="PLG-0002", name="Toko Dua")


def test_a_total_row_is_compared_with_the_rows_it_totals_not_rejected(app, runner, tmp_path):
    customers()
    result = imported(runner, tmp_path, "balances", "saldo.csv", LEDGER.encode("cp1252"))
    assert result.exit_code == 0, result.output + result.stderr
    assert "Line 5 is the file's total row: compared with its rows once imported, not imported." in result.output
    assert "2 rows: 2 to write" in result.output
    balances = dict(db.session.execute(sa.select(Customer.code, Customer.balance)).all())
    assert balances == {"PLG-0001": Decimal("3700000"), "PLG-0002": Decimal("1250000")}
    report = db.session.scalar(sa.select(Import)).report
    assert report["controls"] == [{"line": 5, "column": "amount", "file": "4950000.00", "rows": "4950000.00"}]
    assert "The file's total row (line 5), Opening balance: 4.950.000,00, the sum of its rows: agrees." in (
        said.report_lines(report)
    )


def test_a_total_row_its_rows_do_not_make_says_by_how_much(app, runner, tmp_path):
    customers()
    wrong = LEDGER.replace("Rp 4.950.000", "Rp 5.000.000")
    result = imported(runner, tmp_path, "balances", "saldo.csv", wrong.encode("cp1252"))
    assert result.exit_code == 0, result.output + result.stderr
    assert (
        "The file's total row (line 5), Opening balance: 5.000.000,00, but its rows sum to 4.950.000,00: differs by "
        "-50.000,00." in result.output
    )
    header, table = said.report_table(db.session.scalar(sa.select(Import)).report)
    assert [
        "The file's total row (line 5): Opening balance",
        "",
        Decimal("5000000"),
        Decimal("4950000"),
        Decimal("-50000"),
    ] in table


def test_the_command_writes_the_valid_rows_alone_when_told(app, runner, tmp_path):
    customers()
    data = LEDGER.replace("2;PLG-0002", "2;PLG-9999")
    refused = imported(runner, tmp_path, "balances", "saldo.csv", data.encode("cp1252"))
    assert refused.exit_code == 1 and "No customer with code PLG-9999." in refused.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Import)) == 0
    result = imported(runner, tmp_path, "balances", "saldo.csv", data.encode("cp1252"), "--valid-only")
    assert result.exit_code == 0, result.output + result.stderr
    assert "No customer with code PLG-9999." in result.stderr
    balances = dict(db.session.execute(sa.select(Customer.code, Customer.balance)).all())
    assert balances == {"PLG-0001": Decimal("3700000"), "PLG-0002": Decimal("0")}
    assert db.session.scalar(sa.select(Import)).valid_only
