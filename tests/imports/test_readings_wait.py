"""A readings import keeps the route sheet's rules: a rollover or a volume far from the usual waits for a clerk's
confirmation (the import writes the rest and names the rows that wait; a clerk confirms or corrects each on its
page), and a row giving both the meter's index and its use is checked one against the other."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Import, ImportStatus, Meter, MeterReading
from backoffice.platform.extensions import db
from tests.factories import metered_customer
from tests.imports.test_moving_in import imported
from tests.workers import run_worker

D = Decimal
HISTORY = (
    "Meter serial;Reading date;The meter's index;The start index\n"
    "M-9;2026-08-01;1000;0\nM-9;2026-09-01;1158;\nM-9;2026-10-01;1316;\n"
    "M-8;2026-08-01;500;0\nM-8;2026-09-01;600;\nM-8;2026-10-01;700;\n"
    "M-7;2026-08-01;99700;0\nM-7;2026-09-01;99800;\nM-7;2026-10-01;99900;\n"
)
ROUTE_BOOK = (
    "No. Seri Meter;Tanggal pencatatan;Stand meter;Pemakaian m3\n"
    "M-9;01/11/2026;2896;1580\n"  # ten times the usual
    "M-8;01/11/2026;800;100\n"
    "M-7;01/11/2026;58;\n"  # rolled over past 99999
)


def meters(app):
    for code, serial in (("PLG-9", "M-9"), ("PLG-8", "M-8"), ("PLG-7", "M-7")):
        metered_customer(code, date(2026, 1, 1), D("5500"), serial=serial, prepaid=D("100000000"))


def readings() -> dict:
    query = sa.select(Meter.serial, MeterReading.reading_date, MeterReading.volume_flow_meter).join(
        Meter, Meter.id == MeterReading.meter_id
    )
    return {(serial, on): volume for serial, on, volume in db.session.execute(query)}


@pytest.mark.production_path("real workers")
def test_a_misread_and_a_rollover_wait_the_rest_is_written_and_a_clerk_confirms_on_the_page(
    app, runner, tmp_path, client, finance, redis_url
):
    meters(app)
    assert imported(runner, tmp_path, "readings", "history.csv", HISTORY.encode()).exit_code == 0
    sent = client.post(
        "/imports",
        data={"kind": "readings", "file": (io.BytesIO(ROUTE_BOOK.encode("cp1252")), "rute-november.csv")},
        content_type="multipart/form-data",
    )
    page = sent.headers["Location"]
    run_worker(app, redis_url)  # the check
    record = db.session.scalar(sa.select(Import).order_by(Import.id.desc()))
    preview = record.report["preview"]
    assert (preview["good"], preview["rejected"], len(preview["waiting"])) == (1, 0, 2)
    assert client.post(page + "/run").status_code == 302
    run_worker(app, redis_url)
    db.session.expire_all()
    record = db.session.get(Import, record.id)
    assert record.status == ImportStatus.DONE, record.error
    november = {serial: volume for (serial, on), volume in readings().items() if on == date(2026, 11, 1)}
    assert november == {"M-8": D("100")}  # the misread charged nothing, nor became M-9's usual
    shown = client.get(page).get_data(as_text=True)
    assert "Readings waiting for your confirmation" in shown
    assert "1.580,0000 m³, where" in shown and "did the meter roll over?" in shown
    waits = {held["meter"]: held for held in record.report["waiting"]}
    assert waits["M-7"]["waits"]["digits"] == 5 and waits["M-9"]["waits"]["why"] == "far"

    stale = client.post(page + "/waiting/4", data={"version": str(record.version - 1), "action": "confirm"})
    assert stale.status_code == 302 and (D("58") not in readings().values())
    confirmed = client.post(
        page + "/waiting/4", data={"version": str(record.version), "action": "confirm", "digits": "5"}
    )
    assert confirmed.status_code == 302
    assert readings()[("M-7", date(2026, 11, 1))] == D("158")  # 99.900 → 100.000 → 58
    db.session.expire_all()
    record = db.session.get(Import, record.id)
    again = client.post(page + "/waiting/4", data={"version": str(record.version), "action": "confirm", "digits": "5"})
    assert again.status_code == 302 and len([k for k in readings() if k[0] == "M-7"]) == 4
    corrected = client.post(
        page + "/waiting/2", data={"version": str(record.version), "action": "correct", "index": "1474"}
    )
    assert corrected.status_code == 302
    assert readings()[("M-9", date(2026, 11, 1))] == D("158")
    db.session.expire_all()
    record = db.session.get(Import, record.id)
    assert [held["done"] for held in record.report["waiting"]] == ["corrected", "confirmed"]
    assert "Readings waiting for your confirmation" not in client.get(page).get_data(as_text=True)


def test_an_index_and_a_use_that_disagree_are_named_and_nothing_written(app, runner, tmp_path):
    meters(app)
    assert imported(runner, tmp_path, "readings", "history.csv", HISTORY.encode()).exit_code == 0
    book = "No. Seri Meter;Tanggal pencatatan;Stand meter;Pemakaian m3\nM-8;01/11/2026;800;90\n"
    result = imported(runner, tmp_path, "readings", "rute.csv", book.encode())
    assert result.exit_code == 1
    assert "The index 800,0000 gives a use of 100,0000 m³ since the reading before; the file says 90,0000 m³." in (
        result.stderr
    )
    assert ("M-8", date(2026, 11, 1)) not in readings()


def test_the_command_names_the_readings_that_wait(app, runner, tmp_path):
    meters(app)
    assert imported(runner, tmp_path, "readings", "history.csv", HISTORY.encode()).exit_code == 0
    result = imported(runner, tmp_path, "readings", "rute.csv", ROUTE_BOOK.encode())
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 readings wait for a clerk's confirmation on the import's page" in result.output
    assert "Line 2: M-9, " in result.output and "Line 4: M-7, " in result.output
