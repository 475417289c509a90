"""Every money rule, at every door: a table of rules × doors (a form, the clients' API, a CSV import, an XLSX import,
a command, a job, SQL run on the database), each cell a test that the door refuses what the rule refuses, in the
reader's words, and writes nothing; or the reason the door cannot take what the rule is about. A rule or a door
added without its cells fails the suite."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

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
from backoffice.platform.money import keep_unit
from backoffice.services import api_clients, meter_invoices, meter_payments
from tests.factories import CustomerFactory, MeterFactory, UserFactory, metered_customer
from tests.pages import ENGLISH, opened, payment_form

DOORS = ("form", "api", "csv", "xlsx", "command", "job", "database")


@pytest.fixture
def door(app, client, admin):
    """The installation as each door finds it: HOTEL holding meter M-1 with invoice INV-1 and a payment TRF-1, a
    token of the clients' API; ``door.<name>(…)`` goes through that door."""
    since = local_today().replace(day=1) - timedelta(days=60)
    customer, meter = metered_customer("HOTEL", since, Decimal("1000"), serial="M-1", prepaid=Decimal("500000"))
    invoice = meter_invoices.add_invoice(meter, "INV-1", Decimal("300000"), since, since + timedelta(days=30))
    meter_payments.add_payment(meter, Decimal("1000"), since + timedelta(days=1), "TRF-1")
    meter_payments.add_payment(meter, Decimal("500"), since + timedelta(days=2), "")
    CustomerFactory(code="OTHER")
    token = api_clients.issue("portal", by=UserFactory(email="issuer@example.com", role="admin"))[1]
    db.session.commit()
    return Door(app, client, token, since, invoice.id)


class Door:
    def __init__(self, app, client, token, since, invoice_id):
        self.app, self.client, self.token, self.since, self.invoice_id = app, client, token, since, invoice_id

    def form(self, url: str, data: dict) -> str:
        response = self.client.post(url, data=data, headers=ENGLISH)
        assert response.status_code == 422, response.status_code
        return response.get_data(as_text=True)

    def api(self, body: dict, expected: int = 422) -> dict:
        response = self.app.test_client().post(
            "/api/v1/customers/HOTEL/charges",
            json={"service_type": "parking_fee", "reference": 7} | body,
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": "k-1"} | ENGLISH,
        )
        assert response.status_code == expected, response.get_json()
        return response.get_json()

    def imported(self, kind: str, name: str, content: bytes) -> str:
        """The file checked on the Imports page: what its preview says of the rejected row."""
        response = self.client.post(
            "/imports",
            data={"kind": kind, "file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
            headers=ENGLISH,
        )
        page = self.client.get(response.headers["Location"], headers=ENGLISH).get_data(as_text=True)
        record = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
        assert record.rows_rejected == 1 and record.rows_good == 0, page
        return page

    def csv(self, kind: str, header: str, row: str) -> str:
        return self.imported(kind, f"{kind}.csv", f"{header}\n{row}\n".encode())

    def xlsx(self, kind: str, header: list, row: list) -> str:
        book = openpyxl.Workbook()
        book.active.append(header)
        book.active.append(row)
        out = io.BytesIO()
        book.save(out)
        return self.imported(kind, f"{kind}.xlsx", out.getvalue())

    def command(self, *args: str) -> str:
        result = self.app.test_cli_runner().invoke(args=list(args), env={"BACKOFFICE_LANGUAGE": "en"})
        assert result.exit_code != 0, result.output
        return result.output

    def job(self, kind: str, header: str, row: str) -> str:
        """The import's job, as a worker runs it, of a file whose row became refusable after it was checked (the
        installation's unit changed meanwhile): it reads each cell again by the same readers, and stops."""
        from backoffice.imports import running, said

        path = Path(self.app.config["ANCHORS_FOLDER"]).parent / f"{kind}.csv"
        path.write_text(f"{header}\n{row}\n", encoding="utf-8")
        places = self.app.config["CURRENCY_PLACES"]
        self.app.config["CURRENCY_PLACES"] = 2
        try:
            spec = said.kind_of(kind)
            checked = running.check(spec, running.open_table(spec, path, "file.csv"))
            record = running.started(spec, "file.csv", path, checked, None, False)
        finally:
            self.app.config["CURRENCY_PLACES"] = places
        running.run_import(record.id)
        db.session.rollback()
        record = db.session.get(Import, record.id)
        assert record.status == ImportStatus.FAILED
        return record.error

    def database(self, statement: str) -> str:
        with pytest.raises(sa.exc.IntegrityError) as refused:
            with db.engine.begin() as connection:
                connection.exec_driver_sql(statement)
        return str(refused.value.orig)


def counts() -> tuple:
    db.session.rollback()
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (BalanceTransaction, Invoice, Payment)
    )


# --- An amount finer than the currency's unit: the đồng has no cents --------------------------------------------


@pytest.fixture
def dong(app):
    app.config.update(CURRENCY="VND", CURRENCY_PLACES=0)


PAYMENTS = "Meter serial;Payment reference;Amount;Paid on"
NO_PLACES = "Amounts have no decimal places here"


def unit_form(door: Door):
    assert NO_PLACES in door.form("/customers/HOTEL/recharge", {"recharge-amount": "1.000,5"})


def unit_api(door: Door):
    said = door.api({"amount": "1000.50"})
    assert said["field"] == "amount" and NO_PLACES in said["message"]


def unit_csv(door: Door):
    assert NO_PLACES in door.csv("payments", PAYMENTS, f"M-1;TRF-9;1.000,5;{door.since.isoformat()}")


def unit_xlsx(door: Door):
    header = ["Meter serial", "Payment reference", "Amount", "Paid on"]
    assert NO_PLACES in door.xlsx("payments", header, ["M-1", "TRF-9", 1000.5, door.since])


def unit_command(door: Door):
    assert NO_PLACES in door.command("ledger", "recharge", "HOTEL", "1.000,5")


def unit_job(door: Door):
    assert NO_PLACES in door.job("payments", PAYMENTS, f"M-1;TRF-9;1.000,5;{door.since.isoformat()}")


def unit_database(door: Door):
    """The database holds the installation's unit (``currency_places_v1()``, as ``grant-runtime`` writes it)."""
    with pytest.raises(sa.exc.IntegrityError) as refused:
        with db.engine.begin() as connection:
            keep_unit(connection, 0)
            connection.exec_driver_sql("UPDATE payments SET amount = 1000.5")
    assert "ck_payments_amount_in_unit" in str(refused.value.orig)


# --- An amount written with more places than the unit, whatever its value ----------------------------------------

AMBIGUOUS = "Ambiguous"


def places_form(door: Door):
    assert AMBIGUOUS in door.form("/customers/HOTEL/recharge", {"recharge-amount": "125,000"})


def places_api(door: Door):
    said = door.api({"amount": "125.000"})
    assert said["field"] == "amount" and "Use at most 2 decimal places." in said["message"]


def places_csv(door: Door):
    assert AMBIGUOUS in door.csv("payments", PAYMENTS, f"M-1;TRF-9;125,000;{door.since.isoformat()}")


def places_command(door: Door):
    assert AMBIGUOUS in door.command("ledger", "recharge", "HOTEL", "125,000")


# --- One line: a number, a reference, a code or a name holds no control character, no lone surrogate --------------

ONE_LINE = "must be one line of text"
INVOICES = "Invoice number;Meter serial;Amount;Issued on;Due on"


def line_form(door: Door):

    url = f"/customers/HOTEL/invoices/{door.invoice_id}/edit"
    page = door.form(url, opened(door.client, url, url) | {"number": "INV-1\r\nBcc: someone@example.com"})
    assert ONE_LINE in page


def line_api(door: Door):
    said = door.api({"amount": "1000", "description": "Parking \ud800"}, expected=400)
    assert said["field"] == "description" and "lone surrogate" in said["message"]


def line_csv(door: Door):
    due = door.since + timedelta(days=30)
    row = f'"INV-9\nX";M-1;1.000;{door.since.isoformat()};{due.isoformat()}'
    assert ONE_LINE in door.csv("invoices", INVOICES, row)


def line_xlsx(door: Door):
    header = ["Invoice number", "Meter serial", "Amount", "Issued on", "Due on"]
    row = ["INV-9\r\nX", "M-1", 1000, door.since, door.since + timedelta(days=30)]
    assert ONE_LINE in door.xlsx("invoices", header, row)


def line_database(door: Door):
    said = door.database("UPDATE invoices SET number = E'INV-1\\nX'")
    assert "ck_invoices_number_one_line" in said


# --- A payment's reference is recorded once on its meter ----------------------------------------------------------

ONCE = "TRF-1 is already recorded on this meter"


def once_form(door: Door):
    assert ONCE in door.form(*payment_form(door.client, "HOTEL", "M-1", "9.000", door.since, "TRF-1"))


def once_csv(door: Door):
    """The same reference with another amount: a conflict, never a second payment."""
    said = door.csv("payments", PAYMENTS, f"M-1;TRF-1;2.000;{door.since.isoformat()}")
    assert "M-1 TRF-1 exists with other values" in said


def once_database(door: Door):
    said = door.database("UPDATE payments SET reference = 'TRF-1' WHERE reference = ''")
    assert "uq_payments_meter_reference" in said


# --- An invoice or a payment of nothing: what the check passes, the write takes -----------------------------------

ZERO = "Enter an amount greater than zero."


def zero_form(door: Door):
    assert ZERO in door.form(*payment_form(door.client, "HOTEL", "M-1", "0", door.since))


def zero_csv(door: Door):
    assert ZERO in door.csv("payments", PAYMENTS, f"M-1;TRF-9;0;{door.since.isoformat()}")


def zero_xlsx(door: Door):
    header = ["Meter serial", "Payment reference", "Amount", "Paid on"]
    assert ZERO in door.xlsx("payments", header, ["M-1", "TRF-9", 0, door.since])


def zero_database(door: Door):
    assert "ck_payments_amount_positive" in door.database("UPDATE payments SET amount = 0")


# --- A meter's move dated before its holder had it: what the check passes, the write takes ----------------------

ASSIGNMENTS = "Meter serial;Customer code;Started on"
MOVE_TOO_EARLY = "a move must be dated after that"


def move_csv(door: Door):
    said = door.csv("assignments", ASSIGNMENTS, "M-1;OTHER;2020-01-01")
    assert MOVE_TOO_EARLY in said


def move_xlsx(door: Door):
    header = ["Meter serial", "Customer code", "Started on"]
    assert MOVE_TOO_EARLY in door.xlsx("assignments", header, ["M-1", "OTHER", date(2020, 1, 1)])


NO_API_PAYMENTS = "the clients' API takes charges and readings, no invoice or payment"
NO_COMMAND_BILLING = "no command adds an invoice or a payment: they come in by the form or an import"
A_JOB_RUNS_WHAT_A_DOOR_CHECKED = "a job reads no one's text: it runs what a form, a file or a command gave"
NUMBER_CELL = "a workbook's number cell has no written places: its value is checked (the unit's row)"
SQL_STORES_VALUES = "SQL stores a value, not what was written: the value's rules are the unit's"

RULES: dict[str, dict[str, Callable | str]] = {
    "an amount finer than the currency's unit": {
        "form": unit_form,
        "api": unit_api,
        "csv": unit_csv,
        "xlsx": unit_xlsx,
        "command": unit_command,
        "job": unit_job,
        "database": unit_database,
    },
    "an amount written with more places than the unit": {
        "form": places_form,
        "api": places_api,
        "csv": places_csv,
        "xlsx": NUMBER_CELL,
        "command": places_command,
        "job": "a job reads a file's cells as its check did: the CSV's row",
        "database": SQL_STORES_VALUES,
    },
    "one line of text": {
        "form": line_form,
        "api": line_api,
        "csv": line_csv,
        "xlsx": line_xlsx,
        "command": NO_COMMAND_BILLING,
        "job": A_JOB_RUNS_WHAT_A_DOOR_CHECKED,
        "database": line_database,
    },
    "a payment's reference recorded once on its meter": {
        "form": once_form,
        "api": NO_API_PAYMENTS,
        "csv": once_csv,
        "xlsx": "a workbook is read as a CSV is, by the same kind: the CSV's row",
        "command": NO_COMMAND_BILLING,
        "job": "two workers importing one file at once: test_imports_once.py",
        "database": once_database,
    },
    "an invoice or a payment of more than nothing": {
        "form": zero_form,
        "api": NO_API_PAYMENTS,
        "csv": zero_csv,
        "xlsx": zero_xlsx,
        "command": NO_COMMAND_BILLING,
        "job": "a job reads a file's cells as its check did: the CSV's row",
        "database": zero_database,
    },
    "a meter's move dated after its holder had it": {
        "form": "the form asks the clerk to confirm a move first, and its service refuses it (test_meters.py)",
        "api": "the clients' API moves no meter",
        "csv": move_csv,
        "xlsx": move_xlsx,
        "command": "no command moves a meter: it moves on the customer's page or by an import",
        "job": "a job reads a file's cells as its check did: the CSV's row",
        "database": "the database keeps one active assignment a meter; a move's date is the service's rule",
    },
}
"""Each rule's cell at each door: a test, or why the door cannot take what the rule is about."""

CELLS = [
    pytest.param(rule, name, cell, id=f"{rule}-{name}")
    for rule, doors in RULES.items()
    for name, cell in doors.items()
    if callable(cell)
]
CURRENCY_RULES = {"an amount finer than the currency's unit"}


def test_every_rule_has_a_cell_at_every_door():
    assert {rule: tuple(doors) for rule, doors in RULES.items()} == dict.fromkeys(RULES, DOORS)


@pytest.mark.parametrize(("rule", "name", "cell"), CELLS)
def test_the_door_refuses_what_the_rule_refuses_and_writes_nothing(request, door, rule, name, cell):
    if rule in CURRENCY_RULES:
        request.getfixturevalue("dong")
    before = counts()
    cell(door)
    assert counts() == before


def test_a_move_the_write_would_refuse_is_refused_when_checked_and_the_rest_written(door):
    """The check rehearses the write of a meter's assignments: the move dated before its holder had the meter is
    rejected with the write's words, and the row beside it is written, as the check said."""
    MeterFactory(serial="M-2")
    db.session.commit()
    content = f"{ASSIGNMENTS}\nM-1;OTHER;2020-01-01\nM-2;OTHER;{door.since.isoformat()}\n".encode()
    sent = door.client.post(
        "/imports",
        data={"kind": "assignments", "file": (io.BytesIO(content), "assignments.csv")},
        content_type="multipart/form-data",
        headers=ENGLISH,
    )
    assert MOVE_TOO_EARLY in door.client.get(sent.headers["Location"], headers=ENGLISH).get_data(as_text=True)
    record = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
    assert (record.rows_good, record.rows_rejected) == (1, 1)
    door.client.post(sent.headers["Location"] + "/run", data={"valid_only": "1"})
    db.session.rollback()
    record = db.session.get(Import, record.id)
    assert (record.status, record.rows_written) == (ImportStatus.DONE, 1)
    held = dict(
        db.session.execute(
            sa.select(Meter.serial, Customer.code)
            .join(MeterAssignment, MeterAssignment.meter_id == Meter.id)
            .join(Customer, Customer.id == MeterAssignment.customer_id)
            .where(MeterAssignment.is_active)
        ).all()
    )
    assert held == {"M-1": "HOTEL", "M-2": "OTHER"}
