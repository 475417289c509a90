"""Meters: the list with where each meter is, and adding a meter on screen or by command, the only
ways a meter comes to exist."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backoffice.extensions import db
from backoffice.models import Meter
from backoffice.services import billing
from tests.factories import CustomerFactory, MeterFactory


def serials() -> list[str]:
    db.session.rollback()
    return db.session.scalars(sa.select(Meter.serial).order_by(Meter.serial)).all()


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_the_meters_screen_lists_where_each_meter_is_and_adds_a_meter(client, auth, role):
    auth.login(role)
    hotel = CustomerFactory(code="HOTEL", name="Hotel Indah")
    billing.assign_meter(MeterFactory(serial="M-1"), hotel, date(2026, 11, 1))
    MeterFactory(serial="M-2")
    page = client.get("/meters").get_data(as_text=True)
    assert 'href="/meters" aria-current="page">Meters</a>' in page
    assert "HOTEL</a> — Hotel Indah" in page and "not assigned" in page and "Add meter" in page
    response = client.post("/meters", data={"serial": " m-3 "})
    assert response.status_code == 302
    assert serials() == ["M-1", "M-2", "M-3"]
    assert "Meter M-3 added" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(
    ("serial", "message"),
    [
        ("m-1", "Meter M-1 already exists."),
        ("", "Enter the meter&#39;s serial."),
        ("x" * 41, "Use at most 40 characters."),
    ],
)
def test_a_duplicate_or_empty_serial_is_refused_on_the_screen_and_adds_nothing(client, auth, serial, message):
    auth.login("finance")
    MeterFactory(serial="M-1")
    response = client.post("/meters", data={"serial": serial})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert serials() == ["M-1"]


def test_meters_add_creates_a_meter_and_says_so(runner):
    result = runner.invoke(args=["meters", "add", "m-7"])
    assert result.exit_code == 0, result.output
    meter = db.session.scalar(sa.select(Meter))
    assert result.output == f"Added meter M-7 (id {meter.id}), assigned to nobody.\n"


def test_meters_add_refuses_a_duplicate_with_exit_status_2_and_adds_nothing(runner):
    MeterFactory(serial="M-7")
    result = runner.invoke(args=["meters", "add", "M-7"])
    assert result.exit_code == 2
    assert "Meter M-7 already exists." in result.output
    assert serials() == ["M-7"]
