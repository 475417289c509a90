"""Meters: the list with where each meter is, adding a meter on screen or by command, the only
ways a meter comes to exist, and retiring one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Meter, MeterAssignment, MeterReading, MeterStatus
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle, metering, wallet
from tests.factories import CustomerFactory, MeterFactory, UserFactory

D = Decimal


def serials() -> list[str]:
    db.session.rollback()
    return db.session.scalars(sa.select(Meter.serial).order_by(Meter.serial)).all()


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_the_meters_screen_lists_where_each_meter_is_and_adds_a_meter(client, auth, role):
    auth.login(role)
    hotel = CustomerFactory(code="HOTEL", name="Hotel Indah")
    meter_lifecycle.assign_meter(MeterFactory(serial="M-1"), hotel, date(2026, 11, 1))
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


def meter(serial: str) -> Meter:
    db.session.rollback()
    return db.session.scalar(sa.select(Meter).where(Meter.serial == serial))


@pytest.fixture
def held(auth):
    """An admin logged in; meter M-1 at HOTEL's since 2026-10-01."""
    admin = auth.login("admin")
    hotel = CustomerFactory(code="HOTEL", name="Hotel Indah")
    assignment = meter_lifecycle.assign_meter(MeterFactory(serial="M-1"), hotel, date(2026, 10, 1))
    return admin, hotel, assignment.id


def test_retiring_asks_first_saying_where_the_meter_is_then_ends_its_assignment(client, held):
    admin, _hotel, assignment_id = held
    meter_id = meter("M-1").id
    page = client.get(f"/meters/{meter_id}/retire").get_data(as_text=True)
    assert "It is at <strong>HOTEL — Hotel Indah</strong>" in page and "takes no new reading" in page
    assert meter("M-1").status is MeterStatus.ACTIVE
    data = {"retired_on": "2026-11-15", "confirm_from": str(assignment_id)}
    response = client.post(f"/meters/{meter_id}/retire", data=data)
    assert response.status_code == 302
    retired = meter("M-1")
    assert (retired.status, retired.retired_on, retired.retired_by_id) == (
        MeterStatus.RETIRED,
        date(2026, 11, 15),
        admin.id,
    )
    assignment = db.session.get(MeterAssignment, assignment_id)
    assert (assignment.is_active, assignment.ended_on) == (False, date(2026, 11, 15))
    listed = client.get("/meters?status=retired").get_data(as_text=True)
    assert "Meter M-1 retired on 15 Nov 2026." in listed and "retired 15 Nov 2026" in listed
    assert "M-1" not in client.get("/meters?status=active").get_data(as_text=True)


def test_a_meter_at_nobodys_is_retired_too(client, auth):
    auth.login("admin")
    meter_id = MeterFactory(serial="M-9").id
    assert "It is at nobody" in client.get(f"/meters/{meter_id}/retire").get_data(as_text=True)
    assert client.post(f"/meters/{meter_id}/retire", data={"retired_on": "2026-11-15"}).status_code == 302
    assert meter("M-9").retired


def test_a_retired_meter_takes_no_new_assignment_or_reading(client, held):
    _admin, hotel, assignment_id = held
    metering.set_pricing(hotel.id, date(2026, 10, 1), D("1000"), D("1"))
    meter_lifecycle.retire_meter(meter("M-1"), date(2026, 11, 15), confirm_from=assignment_id)
    response = client.post("/customers/HOTEL/meters", data={"assign-serial": "M-1", "assign-started_on": "2026-11-20"})
    assert response.status_code == 422
    assert "Meter M-1 was retired on 15 Nov 2026: it takes no new assignment." in response.get_data(as_text=True)
    reading = {"reading-meter_id": "M-1", "reading-reading_date": "2026-11-01", "reading-volume_flow_meter": "1"}
    response = client.post("/customers/HOTEL/readings", data=reading)
    assert response.status_code == 422
    assert "Meter M-1 was retired on 15 Nov 2026: it takes no new reading." in response.get_data(as_text=True)
    preview = client.post("/customers/HOTEL/readings/preview", data=reading).get_data(as_text=True)
    assert "it takes no new reading" in preview
    assert db.session.scalar(sa.select(sa.func.count(MeterAssignment.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0


@pytest.mark.parametrize(
    ("retired_on", "message"),
    [
        ("2026-09-30", "has been at HOTEL since 1 Oct 2026: it cannot be retired before that"),
        ("2026-11-05", "has 1 reading(s) dated on or after 5 Nov 2026 at HOTEL"),
        ("9999-12-31", "A retirement cannot be dated after today"),
        ("", "Enter the day the meter is taken out of service."),
    ],
)
def test_a_retirement_that_cannot_be_made_says_why_under_the_date_and_writes_nothing(client, held, retired_on, message):
    _admin, hotel, assignment_id = held
    metering.set_pricing(hotel.id, date(2026, 10, 1), D("1000"), D("1"))
    wallet.recharge(hotel.id, D("100000"))
    metering.record_reading(meter("M-1").id, date(2026, 11, 10), D("1"))
    response = client.post(
        f"/meters/{meter('M-1').id}/retire", data={"retired_on": retired_on, "confirm_from": str(assignment_id)}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page.split('id="error-retired_on">', 1)[1].split("</div>", 1)[0]
    assert not meter("M-1").retired
    assert db.session.get(MeterAssignment, assignment_id).is_active


def test_a_meter_moved_since_the_page_opened_is_not_retired_and_the_page_asks_again(client, held):
    _admin, _hotel, assignment_id = held
    moved = meter_lifecycle.assign_meter(
        meter("M-1"), CustomerFactory(code="SPA"), date(2026, 11, 1), confirm_move_from=assignment_id
    )
    response = client.post(
        f"/meters/{meter('M-1').id}/retire", data={"retired_on": "2026-11-15", "confirm_from": str(assignment_id)}
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Meter M-1 is now at SPA" in page and "confirm its retirement again" in page
    assert f'name="confirm_from" type="hidden" value="{moved.id}"' in page
    assert not meter("M-1").retired


def test_retiring_twice_says_so(client, held):
    _admin, _hotel, assignment_id = held
    meter_lifecycle.retire_meter(meter("M-1"), date(2026, 11, 15), confirm_from=assignment_id)
    response = client.get(f"/meters/{meter('M-1').id}/retire", follow_redirects=True)
    assert "Meter M-1 is retired already." in response.get_data(as_text=True)


def test_a_clerk_adds_meters_but_does_not_retire_them(client, auth):
    auth.login("finance")
    meter_id = MeterFactory(serial="M-1").id
    assert "Retire…" not in client.get("/meters").get_data(as_text=True)
    assert client.post(f"/meters/{meter_id}/retire", data={"retired_on": "2026-11-15"}).status_code == 403
    assert not meter("M-1").retired


def test_meters_list_shows_where_each_meter_is(runner):
    hotel = CustomerFactory(code="HOTEL", name="Hotel Indah")
    meter_lifecycle.assign_meter(MeterFactory(serial="M-1"), hotel, date(2026, 10, 1))
    MeterFactory(serial="M-2")
    result = runner.invoke(args=["meters", "list"])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "M-1 in service HOTEL — Hotel Indah 2026-10-01" in lines
    assert "M-2 in service nobody" in lines


def test_meters_retire_asks_first_and_retires_as_the_admin(runner):
    admin = UserFactory(email="boss@example.com", role="admin")
    hotel = CustomerFactory(code="HOTEL")
    meter_lifecycle.assign_meter(MeterFactory(serial="M-1"), hotel, date(2026, 10, 1))
    args = ["meters", "retire", "m-1", "--on", "2026-11-15", "--user", "boss@example.com"]
    declined = runner.invoke(args=args, input="n\n")
    assert declined.exit_code == 1 and "Aborted!" in declined.output
    assert "Meter M-1 is at HOTEL — " in declined.output and "that assignment ends on 15 Nov 2026" in declined.output
    assert not meter("M-1").retired
    result = runner.invoke(args=args, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Retired meter M-1 on 15 Nov 2026." in result.output
    retired = meter("M-1")
    assert retired.retired and retired.retired_by_id == admin.id


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["M-404", "--user", "boss@example.com"], 2, "Meter M-404 does not exist"),
        (["M-1", "--user", "nobody@example.com"], 2, "No active user nobody@example.com."),
        (["M-1", "--user", "clerk@example.com"], 1, "only an admin retires a meter"),
        (["M-1", "--user", "boss@example.com", "--on", "2026-09-01"], 1, "cannot be retired before that"),
        (["M-1", "--user", "boss@example.com", "--on", "15-11-2026"], 2, "Invalid value for '--on'"),
    ],
)
def test_meters_retire_refuses_with_a_message_and_writes_nothing(runner, args, code, message):
    UserFactory(email="boss@example.com", role="admin")
    UserFactory(email="clerk@example.com")
    meter_lifecycle.assign_meter(MeterFactory(serial="M-1"), CustomerFactory(code="HOTEL"), date(2026, 10, 1))
    result = runner.invoke(args=["meters", "retire", *args, "--yes"])
    assert result.exit_code == code
    assert message in result.output
    assert not meter("M-1").retired
