"""The day the installation took over: set once (by the first opening balances, or an admin), and a reading dated on
or before it is history, recorded (its index continues, its volume counts in its month) but never charged beside the
opening balance that holds it already; the nightly's checks agree."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import BalanceTransaction, Customer, CutOver, Import, ImportStatus, MeterReading, RunMode
from backoffice.models.metering import READING
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from tests.factories import metered_customer
from tests.imports.test_moving_in import imported
from tests.workers import run_worker

D = Decimal
OPENINGS = "Kode Pelanggan;Saldo Awal;Tanggal Peralihan\nPLG-0001;3.700.000;31/10/2026\nPLG-0002;1.000.000;31/10/2026\n"
OCTOBER = "No. Seri Meter;Tanggal pencatatan;Stand meter;Stand awal\nM-1;05/10/2026;1207;1000\nM-2;05/10/2026;507;500\n"
NOVEMBER = "No. Seri Meter;Tanggal pencatatan;Stand meter\nM-1;05/11/2026;1414\nM-2;05/11/2026;514\n"
CHECKS = ["reading_calculation", "customer_wallet", "monthly_balance", "wallet_ledger_agreement", "customer_status"]


def customers(app):
    metered_customer("PLG-0001", date(2026, 1, 1), D("5500"), serial="M-1")
    metered_customer("PLG-0002", date(2026, 1, 1), D("5500"), serial="M-2")


def balances() -> dict:
    return dict(db.session.execute(sa.select(Customer.code, Customer.balance)).all())


def test_history_before_the_openings_is_recorded_never_charged_again(app, runner, tmp_path):
    customers(app)
    assert imported(runner, tmp_path, "balances", "saldo.csv", OPENINGS.encode()).exit_code == 0
    assert db.session.scalar(sa.select(CutOver.day)) == date(2026, 10, 31)
    october = imported(runner, tmp_path, "readings", "rute-oktober.csv", OCTOBER.encode("cp1252"))
    assert october.exit_code == 0, october.output + october.stderr
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeterReading)) == 2
    assert balances() == {"PLG-0001": D("3700000"), "PLG-0002": D("1000000")}  # the openings hold October
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0
    november = imported(runner, tmp_path, "readings", "rute-november.csv", NOVEMBER.encode())
    assert november.exit_code == 0, november.output + november.stderr
    # 207 m³ since October's index at Rp5.500 (the index continues), 7 m³ for M-2
    assert balances() == {"PLG-0001": D("3700000") - D("1138500"), "PLG-0002": D("1000000") - D("38500")}
    charged = db.session.scalar(
        sa.select(sa.func.count()).select_from(BalanceTransaction).where(BalanceTransaction.reference_type == READING)
    )
    assert charged == 2
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


def test_the_cut_over_is_set_once_and_shown(app, runner):
    assert runner.invoke(args=["cut-over"]).output.strip() == "Not set: nothing is history yet."
    assert runner.invoke(args=["cut-over", "2026-10-31"]).exit_code == 0
    again = runner.invoke(args=["cut-over", "2026-10-31"])
    assert again.exit_code == 0 and "Already so" in again.output
    other = runner.invoke(args=["cut-over", "2026-09-30"])
    assert other.exit_code == 2 and "set once" in other.stderr
    assert runner.invoke(args=["cut-over", "2099-01-01"]).exit_code == 2
    assert runner.invoke(args=["cut-over", "31/10"]).exit_code == 2
    assert db.session.scalar(sa.select(CutOver.day)) == date(2026, 10, 31)
    with db.engine.begin() as connection:
        try:
            connection.exec_driver_sql("UPDATE cut_over SET day = '2026-01-01'")
        except sa.exc.DBAPIError:
            changed = False
        else:
            changed = True
    assert not changed and db.session.scalar(sa.select(CutOver.day)) == date(2026, 10, 31)


@pytest.mark.production_path("real workers")
def test_openings_then_a_history_route_book_through_the_page_and_a_real_worker_as_the_runtime_role(
    app, client, admin, redis_url
):
    customers(app)
    for kind, name, content in (
        ("balances", "saldo.csv", OPENINGS.encode()),
        ("readings", "rute-oktober.csv", OCTOBER.encode("cp1252")),
    ):
        sent = client.post(
            "/imports", data={"kind": kind, "file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
        )
        run_worker(app, redis_url)  # the check
        assert client.post(sent.headers["Location"] + "/run").status_code == 302
        run_worker(app, redis_url)
        record = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
        db.session.refresh(record)
        assert record.status == ImportStatus.DONE, record.error
    assert db.session.scalar(sa.select(CutOver.day)) == date(2026, 10, 31)  # set by the openings, as the runtime role
    assert "took over on" in client.get("/imports").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeterReading)) == 2
    assert balances() == {"PLG-0001": D("3700000"), "PLG-0002": D("1000000")}
    assert run(RunMode.VERIFY, checks=CHECKS).mismatched == 0


def test_the_check_says_how_many_rows_are_history(app, runner, tmp_path):
    customers(app)
    assert runner.invoke(args=["cut-over", "2026-10-31"]).exit_code == 0
    book = OCTOBER + "M-1;05/11/2026;1414;\n"
    result = imported(runner, tmp_path, "readings", "rute.csv", book.encode(), "--dry-run")
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 rows are dated on or before the cut-over (" in result.output and "charged nothing" in result.output
