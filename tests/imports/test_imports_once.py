"""The same file imported twice at once writes each row once: two real processes of the command, two real workers
as the runtime role, and a clerk beside an import; the database keys each money source once, whoever writes it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.imports.kinds import KINDS
from backoffice.models import (
    BalanceTransaction,
    Customer,
    Import,
    ImportStatus,
    Invoice,
    Meter,
    MeterAssignment,
    Payment,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.rules import Kind
from backoffice.services import billing, meter_payments
from tests.checkout import ROOT
from tests.factories import metered_customer
from tests.pages import payment_form
from tests.workers import listening_workers, run_worker, serving_url

ROWS = 1200
"""More rows than a chunk, so that two imports of the file interleave their chunks."""


@pytest.fixture
def meters(app):
    since = local_today().replace(day=1) - timedelta(days=90)
    found = [metered_customer(f"P{n}", since, Decimal("1000"), serial=f"M-{n}")[1] for n in range(3)]
    db.session.commit()
    return found


def _payments(since) -> bytes:
    rows = "".join(f"M-{n % 3};TRF-{n:05};{1000 + n};{since.isoformat()}\n" for n in range(ROWS))
    return ("Meter serial;Payment reference;Amount;Paid on\n" + rows).encode()


def _invoices(since) -> bytes:
    due = since + timedelta(days=30)
    rows = "".join(f"INV-{n:05};M-{n % 3};{1000 + n};{since.isoformat()};{due.isoformat()}\n" for n in range(ROWS))
    return ("Invoice number;Meter serial;Amount;Issued on;Due on\n" + rows).encode()


def _customers(_since) -> bytes:
    return ("Customer code;Name\n" + "".join(f"N{n:05};Pelanggan {n}\n" for n in range(ROWS))).encode()


def _balances(since) -> bytes:
    rows = "".join(f"P{n};1.000.000;{since.isoformat()}\n" for n in range(3))
    return ("Customer code;Opening balance;Cut-over date\n" + rows).encode()


FILES = {"payments": _payments, "invoices": _invoices, "customers": _customers, "balances": _balances}


def _count(kind: str) -> int:
    db.session.rollback()
    query = {
        "payments": sa.select(sa.func.count(sa.distinct(Payment.reference)), sa.func.count()).select_from(Payment),
        "invoices": sa.select(sa.func.count(sa.distinct(Invoice.number)), sa.func.count()).select_from(Invoice),
        "customers": sa.select(sa.func.count(sa.distinct(Customer.code)), sa.func.count())
        .select_from(Customer)
        .where(Customer.code.like("N%")),
        "balances": sa.select(sa.func.count(sa.distinct(BalanceTransaction.customer_id)), sa.func.count())
        .select_from(BalanceTransaction)
        .where(BalanceTransaction.kind == Kind.OPENING.value),
    }[kind]
    distinct, rows = db.session.execute(query).one()
    assert distinct == rows, f"{rows - distinct} {kind} written twice"
    return rows


@pytest.mark.parametrize("kind", FILES)
def test_two_commands_importing_one_file_at_once_write_each_row_once(app, meters, tmp_path, kind):
    since = local_today().replace(day=1) - timedelta(days=60)
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(FILES[kind](since))
    db.session.commit()
    env = os.environ | {
        "DATABASE_URL": serving_url(app.config["SQLALCHEMY_DATABASE_URI"]),
        "SECRET_KEY": "test",
        "BACKOFFICE_ANCHORS_FOLDER": app.config["ANCHORS_FOLDER"],
        "BACKOFFICE_LANGUAGE": "en",
    }
    command = [sys.executable, "-c", "from backoffice.command import main; main()", "import", kind, str(path)]
    both = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    said = [process.communicate(timeout=300)[0] for process in both]
    assert [process.returncode for process in both] == [0, 0], said
    expected = 3 if kind == "balances" else ROWS
    assert _count(kind) == expected
    written = db.session.scalars(sa.select(Import.rows_written).where(Import.kind == kind)).all()
    assert sorted(written) == [0, expected] or sum(written) == expected, said
    if kind == "balances":
        assert db.session.scalar(sa.select(sa.func.sum(Customer.balance)).where(Customer.code.like("P%"))) == Decimal(
            "3000000.00"
        )


def test_an_import_rehearses_a_meters_moves_as_the_runtime_role(app, meters, tmp_path):
    """The check writes the assignments as the write would, as the role that serves, and undoes it: the move dated
    before its holder had the meter is refused in the write's words, the other one is to be written, nothing is."""
    path = tmp_path / "assignments.csv"
    today = local_today().isoformat()
    path.write_text(f"Meter serial;Customer code;Started on\nM-0;P1;2020-01-01\nM-1;P2;{today}\n")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(MeterAssignment))
    env = os.environ | {
        "DATABASE_URL": serving_url(app.config["SQLALCHEMY_DATABASE_URI"]),
        "SECRET_KEY": "test",
        "BACKOFFICE_ANCHORS_FOLDER": app.config["ANCHORS_FOLDER"],
        "BACKOFFICE_LANGUAGE": "en",
    }
    command = [sys.executable, "-c", "from backoffice.command import main; main()", "import", "assignments", str(path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "2 rows: 1 to write, 0 unchanged, 1 rejected." in done.stdout, done.stdout + done.stderr
    assert "Line 2: Meter M-0 has been at P0 since" in done.stderr and "a move must be dated after that" in done.stderr
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeterAssignment)) == before


@pytest.mark.production_path("real workers")
def test_two_admins_pressing_import_with_two_workers_write_each_payment_once(app, client, admin, meters, redis_url):
    since = local_today().replace(day=1) - timedelta(days=60)
    pages = []
    for _ in range(2):
        sent = client.post(
            "/imports",
            data={"kind": "payments", "file": (io.BytesIO(_payments(since)), "payments.csv")},
            content_type="multipart/form-data",
        )
        pages.append(sent.headers["Location"])
    run_worker(app, redis_url)  # the checks
    for page in pages:
        assert client.post(page + "/run").status_code == 302
    with listening_workers(app, redis_url, 2):
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            db.session.rollback()
            statuses = set(db.session.scalars(sa.select(Import.status)).all())
            if statuses <= {ImportStatus.DONE, ImportStatus.FAILED}:
                break
            time.sleep(0.2)
    records = db.session.scalars(sa.select(Import)).all()
    assert [record.status for record in records] == [ImportStatus.DONE] * 2, [r.error for r in records]
    assert _count("payments") == ROWS
    assert sum(record.rows_written for record in records) == ROWS


def test_a_payment_reference_is_recorded_once_per_meter_by_form_service_and_database(app, client, admin, meters):
    meter = meters[0]
    day = local_today() - timedelta(days=1)
    meter_payments.add_payment(meter, Decimal("5000"), day, "TRF-1")
    with pytest.raises(billing.BillingError, match="TRF-1 is already recorded"):
        meter_payments.add_payment(meter, Decimal("7000"), day, "TRF-1")
    with pytest.raises(billing.BillingError, match="TRF-2 is already recorded"):
        meter_payments.add_payments(
            [meter_payments.NewPayment(meter.id, Decimal("1"), day, r) for r in ("TRF-2", "TRF-2")]
        )
    meter_payments.add_payment(meters[1], Decimal("7000"), day, "TRF-1")  # another meter's own reference
    meter_payments.add_payment(meter, Decimal("10"), day, "")
    meter_payments.add_payment(meter, Decimal("10"), day, "")  # a payment without a reference is not keyed
    customer = db.session.get(Customer, _holder(meter))
    url, form = payment_form(client, customer.code, meter.serial, "9.000", day, "TRF-1")
    page = client.post(url, data=form, headers={"Accept-Language": "en"})
    assert "TRF-1 is already recorded on this meter" in page.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).where(Payment.reference == "TRF-1")) == 2
    with pytest.raises(sa.exc.IntegrityError, match="uq_payments_meter_reference"):
        with db.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE payments SET reference = 'TRF-1' WHERE meter_id = :meter AND reference = ''"),
                {"meter": meter.id},
            )


def test_a_customers_opening_balance_is_set_once_by_the_database(app, meters, tmp_path, runner):
    since = local_today().replace(day=1) - timedelta(days=60)
    path = tmp_path / "saldo.csv"
    path.write_bytes(_balances(since))
    assert runner.invoke(args=["import", "balances", str(path)]).exit_code == 0
    with pytest.raises(sa.exc.IntegrityError, match="uq_balance_transactions_opening"):
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TEMPORARY TABLE twin ON COMMIT DROP AS"
                " SELECT * FROM balance_transactions WHERE kind = 'opening' LIMIT 1;"
                "UPDATE twin SET id = nextval(pg_get_serial_sequence('balance_transactions', 'id')),"
                " entry_id = id + 1000000, idempotency_key = NULL;"
                "INSERT INTO balance_transactions SELECT * FROM twin"
            )


def _holder(meter: Meter) -> int:
    return billing.active_assignment(meter.id).customer_id


def test_a_customer_written_meanwhile_stops_the_import_in_one_sentence(app, meters, runner, tmp_path, monkeypatch):
    """The loser of a race on a customer's code says so, never a database's traceback."""
    path = tmp_path / "customers.csv"
    path.write_bytes(b"Customer code;Name\nRACE;Pelanggan\n")
    kind = KINDS["customers"]

    def meanwhile(rows, user):
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TEMPORARY TABLE twin ON COMMIT DROP AS SELECT * FROM customers WHERE code = 'P0';"
                "UPDATE twin SET id = nextval(pg_get_serial_sequence('customers', 'id')), code = 'RACE';"
                "INSERT INTO customers SELECT * FROM twin"
            )
        kind.write(rows, user)

    monkeypatch.setitem(KINDS, "customers", replace(kind, write=meanwhile))
    result = runner.invoke(args=["import", "customers", str(path)], env={"BACKOFFICE_LANGUAGE": "en"})
    assert result.exit_code != 0
    assert "Customer code RACE is already used" in result.output, result.output
    assert "IntegrityError" not in result.output
    record = db.session.scalar(sa.select(Import))
    assert record.status == ImportStatus.FAILED and "IntegrityError" not in record.error


def test_a_payment_past_the_services_check_is_refused_by_the_database_in_a_sentence(
    app, client, admin, meters, monkeypatch
):
    """Two clerks recording one transfer on a meter at once: the second's check ran before the first committed. The
    database refuses it, and the clerk reads why, never a server error."""
    meter = meters[0]
    day = local_today() - timedelta(days=1)
    meter_payments.add_payment(meter, Decimal("5000"), day, "TRF-1")
    monkeypatch.setattr(billing, "refuse_references_taken", lambda *args, **kwargs: None)
    customer = db.session.get(Customer, _holder(meter))
    url, form = payment_form(client, customer.code, meter.serial, "9.000", day, "TRF-1")
    answer = client.post(url, data=form, headers={"Accept-Language": "en"})
    assert answer.status_code == 409
    assert "A payment with that reference is already recorded on the meter. Nothing was written." in answer.get_data(
        as_text=True
    )
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).where(Payment.reference == "TRF-1")) == 1
