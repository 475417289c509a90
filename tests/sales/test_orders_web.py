"""The orders screens: list, form, and the live grand total."""

from datetime import UTC, date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Order
from backoffice.platform.extensions import db
from tests.factories import AccountManagerFactory, CustomerFactory, OrderFactory

BAD_AMOUNTS = [
    ("", "Enter an amount"),
    ("abc", "Not an amount"),
    ("NaN", "Not an amount"),
    ("1e9999", "Not an amount"),
    ("-5", "must not be negative"),
    ("1,005", "at most 2 decimal places"),
    ("12345678901234", "too large"),
    ("1,234.5", "separators"),
]
AMOUNT_FIELDS = ["total_price", "additions", "promo", "reductions"]


def order_form(customer, **overrides) -> dict:
    data = {
        "number": "",
        "customer_id": customer.code,
        "account_manager_id": customer.account_manager.email,
        "closing_date": "2026-11-10",
        "total_price": "10.000.000",
        "additions": "500.000",
        "promo": "1.000.000",
        "reductions": "200.000",
    }
    data.update(overrides)
    return data


def table_snapshot():
    return db.session.execute(sa.text("SELECT * FROM orders ORDER BY id")).all()


def test_creating_an_order_persists_the_computed_grand_total(client, finance):
    customer = CustomerFactory()
    response = client.post("/orders/new", data=order_form(customer, grand_total="1"))
    assert response.status_code == 302
    order = db.session.scalar(sa.select(Order))
    assert order.grand_total == Decimal("9300000.00")
    assert order.number == f"SO-{order.id:06d}"
    assert order.created_by_id == finance.id and order.updated_by_id == finance.id
    listing = client.get(response.headers["Location"]).get_data(as_text=True)
    assert order.number in listing and "Rp9.300.000,00" in listing


def test_editing_an_order_recomputes_its_grand_total(client, finance):
    order = OrderFactory()
    page = client.get(f"/orders/{order.id}/edit").get_data(as_text=True)
    assert 'value="10.000.000,00"' in page and "Rp9.300.000,00" in page
    form = order_form(
        order.customer,
        number=order.number,
        total_price="50.000.000",
        additions="2.000.000",
        promo="5.000.000",
        reductions="1.000.000",
    )
    assert client.post(f"/orders/{order.id}/edit", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Order, order.id).grand_total == Decimal("46000000.00")


def test_deleting_an_order_removes_it(client, finance):
    order = OrderFactory()
    assert client.post(f"/orders/{order.id}/delete").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0


@pytest.mark.parametrize("field", AMOUNT_FIELDS)
@pytest.mark.parametrize(("value", "message"), BAD_AMOUNTS)
def test_bad_amount_on_save_shows_the_error_and_writes_nothing(client, finance, field, value, message):
    order = OrderFactory()
    before = table_snapshot()
    response = client.post(
        f"/orders/{order.id}/edit", data=order_form(order.customer, number=order.number, **{field: value})
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert table_snapshot() == before


def test_bad_amount_on_create_writes_nothing(client, finance):
    response = client.post("/orders/new", data=order_form(CustomerFactory(), total_price="1.5"))
    assert response.status_code == 422
    assert table_snapshot() == []


def test_discounts_beyond_the_gross_are_refused_with_a_message_naming_them(client, finance):
    response = client.post("/orders/new", data=order_form(CustomerFactory(), promo="9.000.000", reductions="2.000.000"))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Promo and reductions (Rp11.000.000,00) exceed total price plus additions (Rp10.500.000,00)" in body
    assert table_snapshot() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"customer_id": ""}, "Choose a customer"),
        ({"customer_id": "999999"}, "No customer with code 999999."),
        ({"account_manager_id": "x"}, "No account manager with email x."),
        ({"closing_date": ""}, "Enter the closing date"),
        ({"closing_date": "31-12-2026"}, "Not a valid date"),
        ({"number": "X" * 33}, "Field cannot be longer than 32 characters"),
    ],
)
def test_bad_other_fields_are_refused(client, finance, overrides, message):
    response = client.post("/orders/new", data=order_form(CustomerFactory(), **overrides))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert table_snapshot() == []


def test_a_number_already_used_is_refused(client, finance):
    existing = OrderFactory(number="SO-CUSTOM")
    response = client.post("/orders/new", data=order_form(existing.customer, number="SO-CUSTOM"))
    assert response.status_code == 422
    assert "Order number SO-CUSTOM is already used" in response.get_data(as_text=True)
    assert len(table_snapshot()) == 1


def test_automatic_numbers_step_over_numbers_typed_by_hand(client, finance):
    OrderFactory(number="SO-000002")
    client.post("/orders/new", data=order_form(CustomerFactory()))
    assert db.session.scalars(sa.select(Order.number).order_by(Order.id)).all() == ["SO-000002", "SO-000003"]


@pytest.mark.parametrize(
    ("amounts", "shown"),
    [
        (("10.000.000", "500.000", "1.000.000", "200.000"), "Rp9.300.000,00"),
        (("50.000.000", "2.000.000", "5.000.000", "1.000.000"), "Rp46.000.000,00"),
        (("0,10", "0,20", "0", "0"), "Rp0,30"),
    ],
)
def test_live_grand_total_shows_the_formatted_total(client, finance, amounts, shown):
    data = dict(zip(AMOUNT_FIELDS, amounts, strict=True))
    response = client.post("/orders/grand-total", data=data)
    assert response.status_code == 200
    assert shown in response.get_data(as_text=True)


@pytest.mark.parametrize("field", AMOUNT_FIELDS)
@pytest.mark.parametrize(("value", "message"), BAD_AMOUNTS)
def test_live_grand_total_flags_a_bad_amount_in_its_field(client, finance, field, value, message):
    OrderFactory()
    before = table_snapshot()
    data = {name: "0" for name in AMOUNT_FIELDS} | {field: value}
    body = client.post("/orders/grand-total", data=data).get_data(as_text=True)
    error = body.split(f'id="error-{field}"', 1)[1].split("</div>", 1)[0]
    assert message in error
    assert "—" in body.split("</output>", 1)[0]
    assert table_snapshot() == before


def test_live_grand_total_explains_a_negative_total(client, finance):
    data = {"total_price": "1.000", "additions": "0", "promo": "2.000", "reductions": "0"}
    body = client.post("/orders/grand-total", data=data).get_data(as_text=True)
    assert "the grand total cannot be negative" in body


def test_list_shows_filtered_orders_and_their_sum(client, finance):
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    hotel = CustomerFactory(code="H001", name="Hotel Cempaka", account_manager=dewi)
    bakery = CustomerFactory(code="B001", name="CV Roti Enak", account_manager=budi)
    OrderFactory(number="SO-1", customer=hotel, closing_date=date(2026, 10, 5))
    OrderFactory(number="SO-2", customer=hotel, closing_date=date(2026, 11, 5), total_price=Decimal("20000000"))
    OrderFactory(number="SO-3", customer=bakery, closing_date=date(2026, 11, 6))

    def listed(**params):
        body = client.get("/orders", query_string=params).get_data(as_text=True)
        numbers = {n for n in ("SO-1", "SO-2", "SO-3") if f">{n}<" in body}
        total = body.split('id="orders-total">', 1)[1].split("<", 1)[0]
        return numbers, total

    assert listed() == ({"SO-1", "SO-2", "SO-3"}, "Rp37.900.000,00")
    assert listed(q="so-2") == ({"SO-2"}, "Rp19.300.000,00")
    assert listed(q="cempaka") == ({"SO-1", "SO-2"}, "Rp28.600.000,00")
    assert listed(q="B001") == ({"SO-3"}, "Rp9.300.000,00")
    assert listed(manager=budi.email) == ({"SO-3"}, "Rp9.300.000,00")
    assert listed(month="2026-11") == ({"SO-2", "SO-3"}, "Rp28.600.000,00")
    assert listed(manager=dewi.email, month="2026-11") == ({"SO-2"}, "Rp19.300.000,00")
    assert listed(month="2026-12") == (set(), "Rp0,00")


@pytest.mark.parametrize(
    ("params", "message"), [({"month": "11/2026"}, "YYYY-MM"), ({"manager": "x"}, "No account manager with email x.")]
)
def test_list_with_a_bad_filter_says_so(client, finance, params, message):
    OrderFactory()
    response = client.get("/orders", query_string=params)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_list_is_paginated_and_the_sum_covers_every_page(client, finance):
    customer = CustomerFactory()
    for n in range(7):
        OrderFactory(number=f"P-{n}", customer=customer, closing_date=date(2026, 11, n + 1))
    first = client.get("/orders").get_data(as_text=True)
    second = client.get("/orders?page=2").get_data(as_text=True)
    assert sum(f">P-{n}<" in first for n in range(7)) == 5
    assert sum(f">P-{n}<" in second for n in range(7)) == 2
    assert "Rp65.100.000,00" in first and "Rp65.100.000,00" in second


def test_when_an_order_was_created_is_its_day_in_the_installation_s_time_zone(app, client, auth):
    from datetime import datetime

    order = OrderFactory()
    # 20:30 UTC on the 21st is 03:30 on the 22nd in Jakarta (UTC+7).
    created = datetime(2026, 11, 21, 20, 30, tzinfo=UTC)
    db.session.execute(sa.update(Order).where(Order.id == order.id).values(created_at=created))
    db.session.commit()
    auth.login("finance")
    page = client.get(f"/orders/{order.id}/edit").get_data(as_text=True)
    assert "Created 22 Nov 2026" in page
