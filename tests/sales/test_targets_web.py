"""The targets screen: create, edit, delete, and the list with achieved and progress."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Target
from backoffice.platform.extensions import db
from tests.factories import AccountManagerFactory, CustomerFactory, OrderFactory, TargetFactory


def snapshot():
    return db.session.execute(sa.text("SELECT * FROM targets ORDER BY id")).all()


def test_a_new_target_starts_with_the_orders_already_closed(client, finance):
    manager = AccountManagerFactory(name="Dewi")
    OrderFactory(customer=CustomerFactory(account_manager=manager), closing_date=date(2026, 11, 3))
    response = client.post(
        "/targets/new",
        data={"account_manager_id": manager.email, "period_start": "2026-11", "target_amount": "18.600.000"},
    )
    assert response.status_code == 302
    target = db.session.scalar(sa.select(Target))
    assert (target.period_start, target.target_amount, target.achieved_amount) == (
        date(2026, 11, 1),
        Decimal("18600000.00"),
        Decimal("9300000.00"),
    )
    listing = client.get("/targets").get_data(as_text=True)
    assert "Rp18.600.000,00" in listing and "Rp9.300.000,00" in listing and "50,0 %" in listing


def test_editing_a_target_moves_it_and_recomputes_achieved(client, finance):
    manager = AccountManagerFactory()
    OrderFactory(customer=CustomerFactory(account_manager=manager), closing_date=date(2026, 12, 3))
    target = TargetFactory(account_manager=manager, period_start=date(2026, 11, 1))
    response = client.post(
        f"/targets/{target.id}/edit",
        data={"account_manager_id": manager.email, "period_start": "2026-12", "target_amount": "1.000"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Target, target.id).achieved_amount == Decimal("9300000.00")


def test_deleting_a_target(client, finance):
    target = TargetFactory()
    assert client.post(f"/targets/{target.id}/delete").status_code == 302
    assert snapshot() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"period_start": ""}, "Enter the month"),
        ({"period_start": "11/2026"}, "Write the month as YYYY-MM"),
        ({"period_start": "2026-13"}, "Write the month as YYYY-MM"),
        ({"target_amount": ""}, "Enter an amount"),
        ({"target_amount": "-1"}, "must not be negative"),
        ({"target_amount": "1.5"}, "separators"),
        ({"target_amount": "NaN"}, "Not an amount"),
        ({"account_manager_id": ""}, "Choose an account manager"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(client, finance, overrides, message):
    existing = TargetFactory()
    before = snapshot()
    data = {"account_manager_id": existing.account_manager.email, "period_start": "2027-01", "target_amount": "1.000"}
    response = client.post("/targets/new", data=data | overrides)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert snapshot() == before


def test_a_second_target_for_the_same_manager_and_month_is_refused(client, finance):
    existing = TargetFactory(period_start=date(2026, 11, 1))
    before = snapshot()
    response = client.post(
        "/targets/new",
        data={"account_manager_id": existing.account_manager.email, "period_start": "2026-11", "target_amount": "1"},
    )
    assert response.status_code == 422
    assert "already has a target for November 2026" in response.get_data(as_text=True)
    assert snapshot() == before


def test_list_filters_by_manager_and_month(client, finance):
    dewi, budi = AccountManagerFactory(name="Dewi"), AccountManagerFactory(name="Budi")
    TargetFactory(account_manager=dewi, period_start=date(2026, 11, 1), target_amount=Decimal("111"))
    TargetFactory(account_manager=budi, period_start=date(2026, 11, 1), target_amount=Decimal("222"))
    TargetFactory(account_manager=dewi, period_start=date(2026, 10, 1), target_amount=Decimal("333"))
    body = client.get("/targets", query_string={"manager": dewi.email, "month": "2026-11"}).get_data(as_text=True)
    assert "Rp111,00" in body and "Rp222,00" not in body and "Rp333,00" not in body
    assert "Write the month" in client.get("/targets?month=nope").get_data(as_text=True)
