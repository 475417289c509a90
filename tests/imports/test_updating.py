"""An import fills or changes chosen fields of the records that exist (a route book's routes for customers brought
in before), each change previewed and its history naming the import; never a money field, never a key."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Customer, Import, ImportStatus
from backoffice.platform.extensions import db
from tests.factories import CustomerFactory
from tests.imports.test_moving_in import imported
from tests.workers import run_worker

BOOK = "Kode Pelanggan;Rute;Urutan;Kota\nPLG-0595;Bogor Utara;1;Bogor\nPLG-0596;Bogor Utara;2;\n"


def customers():
    CustomerFactory(code="PLG-0595", name="Toko Satu", city="", suspend_below=Decimal("50000"))
    CustomerFactory(code="PLG-0596", name="Toko Dua", city="Depok")


def test_routes_fill_the_customers_that_exist_each_change_said(app, runner, tmp_path, client, admin):
    customers()
    refused = imported(runner, tmp_path, "customers", "rute.csv", BOOK.encode())
    assert refused.exit_code == 2 and "no column Name" in refused.stderr  # without --update: new customers
    result = imported(runner, tmp_path, "customers", "rute.csv", BOOK.encode(), "--update", "route,route_stop,city")
    assert result.exit_code == 0, result.output + result.stderr
    assert "Line 2: PLG-0595, Route: — → Bogor Utara" in result.output
    assert "Line 2: PLG-0595, City: — → Bogor" in result.output
    found = db.session.execute(sa.select(Customer.code, Customer.route, Customer.route_stop, Customer.city)).all()
    assert sorted(tuple(row) for row in found) == [
        ("PLG-0595", "Bogor Utara", 1, "Bogor"),
        ("PLG-0596", "Bogor Utara", 2, "Depok"),  # an empty cell changes nothing
    ]
    record = db.session.scalar(sa.select(Import))
    assert record.updates == ["route", "route_stop", "city"] and record.rows_written == 2
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == "PLG-0595"))
    history = client.get(f"/history/customer/{customer.id}").get_data(as_text=True)
    assert f"import #{record.id} of rute.csv" in history
    again = imported(runner, tmp_path, "customers", "rute.csv", BOOK.encode(), "--update", "route,route_stop,city")
    assert again.exit_code == 0 and "0 to write, 2 unchanged" in again.output


def test_an_amount_or_a_key_is_never_updated_and_other_fields_stay_conflicts(app, runner, tmp_path):
    customers()
    money = "Kode Pelanggan;Batas Saldo Minimum\nPLG-0595;0\n"
    refused = imported(runner, tmp_path, "customers", "m.csv", money.encode(), "--update", "suspend_below")
    assert refused.exit_code == 2 and "does not change suspend_below" in refused.stderr
    other = "Kode Pelanggan;Nama;Rute\nPLG-0595;Nama Lain;Bogor Utara\n"
    conflict = imported(runner, tmp_path, "customers", "o.csv", other.encode(), "--update", "route")
    assert conflict.exit_code == 1
    assert "PLG-0595 exists with other values: Name is Toko Satu, the file says Nama Lain." in conflict.stderr
    new = "Kode Pelanggan;Rute\nPLG-0777;Bogor Utara\n"
    unnamed = imported(runner, tmp_path, "customers", "n.csv", new.encode(), "--update", "route")
    assert unnamed.exit_code == 1 and "Name is required." in unnamed.stderr
    stop_alone = "Kode Pelanggan;Urutan\nPLG-0596;3\n"
    stopped = imported(runner, tmp_path, "customers", "s.csv", stop_alone.encode(), "--update", "route_stop")
    assert stopped.exit_code == 1  # a stop only on a route: checked as the customer's form checks it
    found = db.session.execute(sa.select(Customer.code, Customer.route, Customer.suspend_below)).all()
    assert sorted(tuple(row) for row in found) == [("PLG-0595", None, Decimal("50000")), ("PLG-0596", None, 0)]


@pytest.mark.production_path("real workers")
def test_the_page_asks_which_fields_to_update_and_a_worker_writes_them(app, client, admin, redis_url):
    customers()
    sent = client.post(
        "/imports",
        data={"kind": "customers", "file": (io.BytesIO(BOOK.encode()), "rute.csv")},
        content_type="multipart/form-data",
    )
    page = sent.headers["Location"]
    record = db.session.scalar(sa.select(Import))
    assert record.report["preview"]["missing"] == ["name"]
    assert 'name="update" value="route"' in client.get(page).get_data(as_text=True)
    form = {"version": str(record.version), "columns-form": "1", "update": ["route", "route_stop", "city"]}
    form |= {f"column-{n}": field for n, field in enumerate(("code", "route", "route_stop", "city"))}
    assert client.post(page + "/columns", data=form).status_code == 302
    run_worker(app, redis_url)  # the check
    db.session.expire_all()
    record = db.session.get(Import, record.id)
    assert record.report["preview"]["good"] == 2 and len(record.report["preview"]["changes"]) == 5
    assert "Changes to the records that exist" in client.get(page).get_data(as_text=True)
    forged = form | {"version": str(record.version), "update": ["suspend_below"]}
    assert client.post(page + "/columns", data=forged).status_code == 400
    assert client.post(page + "/run").status_code == 302
    run_worker(app, redis_url)
    db.session.expire_all()
    assert db.session.get(Import, record.id).status == ImportStatus.DONE
    routes = dict(db.session.execute(sa.select(Customer.code, Customer.route)).all())
    assert routes == {"PLG-0595": "Bogor Utara", "PLG-0596": "Bogor Utara"}
