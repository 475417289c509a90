"""The route sheet: an account manager's meters one row each, typed as their indexes, each row checked by the
server as a cell is left, a reading far from the usual one confirmed before it is saved, and the sheet saved once as
one batch however often it is sent."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from backoffice.models import AccountManager, BalanceTransaction, Customer, MeterReading
from backoffice.models.metering import IndexFrom
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle, metering
from backoffice.services.metering import MeterIndex
from backoffice.services.metering.route import NO_MANAGER, route_sheet
from tests.chromium import follow, log_in
from tests.factories import AccountManagerFactory, CustomerFactory, MeterFactory, UserFactory, metered_customer
from tests.pages import opened

D = Decimal
OCT = date(2026, 10, 1)
DAY = date(2026, 11, 20)
ACTION = "/readings/sheet"


@pytest.fixture
def route(app) -> dict:
    """Dewi's customers: the hotel (HOTEL) with meters M-1 and M-2, the bakery (BAKERY) with M-3; Budi's mill (MILL)
    with M-4. M-1 was read by index on 2026-10-20 (1.100, from 1.000) and 2026-11-10 (1.310): 10 m³ a day, 100 usual
    on 2026-11-20. M-2 was read as a volume only; M-3 never. Everyone pays Rp1.000 per Sm³ from October."""
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    hotel, m1 = metered_customer("HOTEL", OCT, D("1000.00"), prepaid=D("1000000"), serial="M-1", account_manager=dewi)
    m2 = MeterFactory(serial="M-2")
    meter_lifecycle.assign_meter(m2, db.session.get(Customer, hotel.id), OCT)
    _bakery, m3 = metered_customer("BAKERY", OCT, D("1000.00"), serial="M-3", account_manager=dewi)
    _mill, m4 = metered_customer("MILL", OCT, D("1000.00"), serial="M-4", account_manager=budi)
    metering.record_reading(m1.id, date(2026, 10, 20), None, index=MeterIndex(D("1100"), start_index=D("1000")))
    metering.record_reading(m1.id, date(2026, 11, 10), None, index=MeterIndex(D("1310")))
    metering.record_reading(m2.id, date(2026, 11, 1), D("5"))
    return {"dewi": dewi.id, "budi": budi.id, "hotel": hotel.id, "M-1": m1.id, "M-2": m2.id, "M-3": m3.id}


def sheet_url(route: dict, manager: str = "dewi", on: date = DAY) -> str:
    email = db.session.get(AccountManager, route[manager]).email
    return f"/readings/sheet?manager={email}&on={on.isoformat()}"


def page_text(response) -> str:
    return " ".join(response.get_data(as_text=True).split())


def readings_on(day: date) -> list[MeterReading]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(MeterReading).where(MeterReading.reading_date == day)))


def test_the_sheet_lists_the_manager_s_meters_with_their_last_index_and_usual_use(route):
    rows = route_sheet(DAY, manager_id=route["dewi"])
    assert [(row.serial, row.customer_code) for row in rows] == [("M-3", "BAKERY"), ("M-1", "HOTEL"), ("M-2", "HOTEL")]
    bakery, hotel_1, hotel_2 = rows
    assert (hotel_1.last_index.index, hotel_1.last_index.reading_date, hotel_1.usual) == (
        D("1310"),
        date(2026, 11, 10),
        D("100"),
    )
    assert (hotel_2.last_index, hotel_2.last_read_on, hotel_2.usual) == (None, date(2026, 11, 1), None)
    assert (bakery.last_index, bakery.last_read_on) == (None, None)
    assert [row.serial for row in route_sheet(DAY, manager_id=NO_MANAGER)] == []


def test_the_sheet_page_speaks_the_reader_s_language(client, finance, route):
    shown = page_text(client.get(sheet_url(route), headers={"Accept-Language": "id"}))
    with force_locale("id"):
        said = [_("Route sheet"), _("Reading date"), _("Account manager"), _("Save the sheet"), _("Counted from")]
    assert said[1] != "Reading date"  # the catalogue speaks Indonesian
    for label in said:
        assert label in shown
    assert "M-1" in shown and "1.310,0000" in shown and "100,0000" in shown


def test_a_row_is_checked_as_a_cell_is_left_and_an_unusual_reading_asks_confirmation(client, finance, route):
    meter = route["M-1"]
    check = {"meter": str(meter), "on": DAY.isoformat(), f"meter-{meter}-how": "previous"}
    fine = page_text(client.post("/readings/sheet/check", data=check | {f"meter-{meter}-index": "1400"}))
    assert "90,0000 m³" in fine and "far from" not in fine
    far = page_text(client.post("/readings/sheet/check", data=check | {f"meter-{meter}-index": "2400"}))
    assert "1.090,0000 m³" in far and "far from the usual 100,0000 m³" in far
    assert f'name="meter-{meter}-confirm"' in far
    lower = page_text(client.post("/readings/sheet/check", data=check | {f"meter-{meter}-index": "1200"}))
    assert "The index 1.200 is lower than meter M-1&#39;s previous index, 1.310 on 10 Nov 2026" in lower
    assert readings_on(DAY) == []


def test_the_sheet_is_saved_as_one_batch_once_however_often_it_is_sent(client, finance, route):
    form = opened(client, sheet_url(route), ACTION) | {
        f"meter-{route['M-1']}-index": "1400",
        f"meter-{route['M-3']}-index": "57,5",
        f"meter-{route['M-3']}-start": "50",
        f"meter-{route['M-3']}-note": "new meter",
    }
    assert form[f"meter-{route['M-3']}-how"] == "replaced"  # no index yet: it counts from a start index
    first = client.post(ACTION, data=form)
    assert first.status_code == 302, page_text(first)
    shown = page_text(client.get(first.location))
    assert "2 readings of 20 Nov 2026 recorded: 97,5 m³, Rp97.500,00 charged. 1 row left empty." in shown
    assert "Recorded: #" in shown and "index 1.400,0000, 90,0000 m³" in shown
    recorded = {found.meter_id: found for found in readings_on(DAY)}
    assert (recorded[route["M-1"]].volume_flow_meter, recorded[route["M-1"]].index_from) == (
        D("90"),
        IndexFrom.PREVIOUS,
    )
    assert (recorded[route["M-3"]].volume_flow_meter, recorded[route["M-3"]].note) == (D("7.5"), "new meter")
    movements = db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction))

    again = client.post(ACTION, data=form)
    assert (again.status_code, again.location) == (302, first.location)
    assert "This form had been sent already" in page_text(client.get(again.location))
    assert len(readings_on(DAY)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction)) == movements


def test_a_reading_far_from_usual_is_saved_only_once_confirmed(client, finance, route):
    meter = route["M-1"]
    form = opened(client, sheet_url(route), ACTION) | {f"meter-{meter}-index": "2400"}
    refused = client.post(ACTION, data=form)
    assert refused.status_code == 422
    assert "far from the usual 100,0000 m³" in page_text(refused)
    assert readings_on(DAY) == []
    confirmed = client.post(ACTION, data=form | {f"meter-{meter}-confirm": "y"})
    assert confirmed.status_code == 302
    assert [found.volume_flow_meter for found in readings_on(DAY)] == [D("1090")]


def test_a_rollover_is_saved_only_once_confirmed_saying_the_volume_it_would_mean(client, finance, route):
    meter = route["M-1"]
    rolled = {f"meter-{meter}-index": "40", f"meter-{meter}-how": "rolled_over", f"meter-{meter}-digits": "4"}
    check = {"meter": str(meter), "on": DAY.isoformat()} | rolled
    asked = page_text(client.post("/readings/sheet/check", data=check))
    assert "8.730,0000 m³" in asked and "a rollover" in asked and f'name="meter-{meter}-confirm"' in asked
    form = opened(client, sheet_url(route), ACTION) | rolled
    refused = client.post(ACTION, data=form)
    assert refused.status_code == 422 and "a rollover" in page_text(refused)
    assert readings_on(DAY) == []
    confirmed = client.post(ACTION, data=form | {f"meter-{meter}-confirm": "y"})
    assert confirmed.status_code == 302
    assert [(found.volume_flow_meter, found.index_from) for found in readings_on(DAY)] == [
        (D("8730"), IndexFrom.ROLLED_OVER)
    ]


def test_a_meter_whose_readings_tell_no_usual_is_bounded_by_the_meters_like_it(client, finance, route):
    """M-2 was read as a volume only and M-3 never: both are bounded by M-1, at the same price, 10 m³ a day."""
    rows = {row.serial: row for row in route_sheet(DAY, manager_id=route["dewi"])}
    assert (rows["M-2"].usual, rows["M-2"].typical) == (None, D("190"))  # read on 1 Nov: 19 days
    assert (rows["M-3"].usual, rows["M-3"].typical) == (None, D("500"))  # held since 1 Oct: 50 days
    assert "about 190,0000" in page_text(client.get(sheet_url(route)))
    meter = route["M-3"]
    beyond = {f"meter-{meter}-index": "1600", f"meter-{meter}-how": "replaced", f"meter-{meter}-start": "0"}
    sheet = html.unescape(client.get(sheet_url(route)).get_data(as_text=True))
    assert f'{{"meter": "{meter}", "typical": "500.0000"}}' in sheet  # what the row's check sends
    check = {"meter": str(meter), "on": DAY.isoformat(), "typical": "500.0000"} | beyond
    asked = page_text(client.post("/readings/sheet/check", data=check))
    assert "1.600,0000 m³" in asked and "more than 3 times the 500,0000 m³ meters like it use" in asked
    form = opened(client, sheet_url(route), ACTION) | beyond
    assert client.post(ACTION, data=form).status_code == 422
    assert readings_on(DAY) == []
    low = page_text(client.post("/readings/sheet/check", data=check | {f"meter-{meter}-index": "20"}))
    assert "20,0000 m³" in low and "meters like it" not in low  # a first month's low use is not held
    assert client.post(ACTION, data=form | {f"meter-{meter}-confirm": "y"}).status_code == 302


def test_a_reading_of_a_meter_and_date_read_meanwhile_is_refused_saving_nothing(client, finance, route):
    form = opened(client, sheet_url(route), ACTION) | {
        f"meter-{route['M-1']}-index": "1400",
        f"meter-{route['M-2']}-index": "10",
        f"meter-{route['M-2']}-how": "replaced",
        f"meter-{route['M-2']}-start": "0",
    }
    meanwhile = metering.record_reading(route["M-1"], DAY, D("80"))
    refused = client.post(ACTION, data=form)
    assert refused.status_code == 422
    assert f"Meter M-1 already has a reading on 20 Nov 2026: #{meanwhile}, 80,0000 m³." in page_text(refused)
    assert [found.id for found in readings_on(DAY)] == [meanwhile]


def test_a_route_changed_since_the_sheet_opened_is_shown_again_and_nothing_is_saved(client, finance, route):
    form = opened(client, sheet_url(route), ACTION) | {f"meter-{route['M-1']}-index": "1400"}
    metered_customer(
        "INN", OCT, D("1000.00"), serial="M-9", account_manager=db.session.get(AccountManager, route["dewi"])
    )
    refused = client.post(ACTION, data=form)
    assert refused.status_code == 409
    assert "The route changed since the sheet was opened" in page_text(refused) and "M-9" in page_text(refused)
    assert readings_on(DAY) == []


def test_an_empty_sheet_saves_nothing_and_says_so(client, finance, route):
    refused = client.post(ACTION, data=opened(client, sheet_url(route), ACTION))
    assert refused.status_code == 422
    assert "Nothing to save: every row is empty." in page_text(refused)


@pytest.mark.browser
def test_the_sheet_is_typed_from_the_keyboard_and_checked_as_each_cell_is_left(page, route):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com")
    log_in(page, "clerk@example.com")
    page.goto(sheet_url(route))
    first = page.locator(f"#meter-{route['M-1']}-index")
    first.focus()
    page.keyboard.type("2400")
    page.keyboard.press("Enter")
    expect(page.locator(f"#meter-{route['M-2']}-index")).to_be_focused()
    expect(page.locator(f"#check-{route['M-1']}")).to_contain_text("far from the usual 100,0000 m³")
    page.keyboard.type("7")
    page.keyboard.press("Enter")
    # M-2 has no index yet: its row counts from a start index, which it asks for.
    expect(page.locator(f"#check-{route['M-2']}")).to_contain_text("Enter the start index.")
    expect(page.locator("#save-sheet")).to_be_focused()
    page.check(f"#meter-{route['M-1']}-confirm")
    page.fill(f"#meter-{route['M-2']}-index", "")
    follow(page, "#save-sheet")
    expect(page.locator(".flash-success")).to_contain_text(
        "1 reading of 20 Nov 2026 recorded: 1.090 m³, Rp1.090.000,00 charged. 2 rows left empty."
    )
    expect(page.locator(f"#recorded-{route['M-1']}")).to_contain_text("index 2.400,0000, 1.090,0000 m³")


def test_a_customer_s_route_and_stop_are_kept_from_its_form_its_command_and_its_import(
    app, client, finance, runner, tmp_path
):
    customer = CustomerFactory(code="KOTA", name="Toko Kota")
    sent = client.post(
        "/customers/KOTA/edit", data={"name": "Toko Kota", "route": "Bogor Utara", "route_stop": "7", "version": "1"}
    )
    assert sent.status_code == 302, page_text(sent)
    db.session.expire_all()
    assert (customer.route, customer.route_stop) == ("Bogor Utara", 7)
    assert "route Bogor Utara, stop 7" in page_text(client.get("/customers/KOTA"))
    for change, message in (
        ({"route_stop": "0"}, "A stop is a whole number from 1"),
        ({"route_stop": "x"}, "A stop is a whole number from 1"),
        ({"route": "", "route_stop": "3"}, "A stop is a place on a route"),
    ):
        refused = client.post(
            "/customers/KOTA/edit", data={"name": "Toko Kota", "route": "Bogor Utara", "version": "2"} | change
        )
        assert refused.status_code == 422 and message in page_text(refused), change
    edited = runner.invoke(args=["customers", "edit", "KOTA", "--route", "Bogor Selatan", "--route-stop", "2"])
    assert edited.exit_code == 0, edited.output
    db.session.expire_all()
    assert (customer.route, customer.route_stop) == ("Bogor Selatan", 2)

    path = tmp_path / "rute.csv"
    path.write_bytes(b"Kode;Nama;Rute;Urutan\nR1;Warung Satu;Bogor Utara;2\nR2;Warung Dua;Bogor Utara;1\n")
    written = runner.invoke(args=["import", "customers", str(path)])
    assert written.exit_code == 0, written.output
    kept = dict(db.session.execute(sa.select(Customer.code, Customer.route_stop)).all())
    assert (kept["R1"], kept["R2"]) == (2, 1)


def test_a_route_sheet_is_chosen_by_route_and_lists_its_meters_in_the_order_of_its_stops(client, finance, route):
    for code, stop in (("MILL", 1), ("BAKERY", 2), ("HOTEL", None)):
        db.session.execute(sa.update(Customer).where(Customer.code == code).values(route="Cibinong", route_stop=stop))
    db.session.commit()
    rows = route_sheet(DAY, route="Cibinong")
    assert [row.serial for row in rows] == ["M-4", "M-3", "M-1", "M-2"]  # the hotel has no stop: after them
    page = client.get(f"/readings/sheet?route=Cibinong&on={DAY.isoformat()}")
    shown = page_text(page)
    assert shown.index("M-4") < shown.index("M-3") < shown.index("M-1")
    form = opened(client, f"/readings/sheet?route=Cibinong&on={DAY.isoformat()}", ACTION) | {
        f"meter-{route['M-1']}-index": "1400"
    }
    saved = client.post(ACTION, data=form)
    assert saved.status_code == 302 and "route=Cibinong" in saved.location
    assert [found.volume_flow_meter for found in readings_on(DAY)] == [D("90")]
    both = client.get(f"/readings/sheet?route=Cibinong&manager={db.session.get(AccountManager, route['dewi']).email}")
    assert both.status_code == 200 and "Choose a route or an account manager, not both." in page_text(both)
    assert "No customer is on route Nowhere." in page_text(client.get("/readings/sheet?route=Nowhere&on=2026-11-20"))


def test_the_sheet_of_the_customers_without_a_manager_says_so_in_words(client, finance, route):
    mill = db.session.scalar(sa.select(Customer).where(Customer.code == "MILL"))
    mill.account_manager_id = None
    db.session.commit()
    page = client.get(f"/readings/sheet?manager=none&on={DAY.isoformat()}").get_data(as_text=True)
    assert 'value="Customers with no account manager"' in page and 'value="none"' not in page
    assert "M-4" in page_text(client.get(f"/readings/sheet?manager=none&on={DAY.isoformat()}"))
    form = opened(client, f"/readings/sheet?manager=none&on={DAY.isoformat()}", ACTION)
    assert form["manager"] == "Customers with no account manager"
    words = {"manager": "Customers with no account manager", "on": DAY.isoformat()}
    assert "M-4" in page_text(client.get("/readings/sheet", query_string=words))
