"""The home page: the business figures first, then sales, then the checks."""

from __future__ import annotations

from decimal import Decimal

from backoffice.config import local_today
from backoffice.models.types import Month
from backoffice.services import billing, metering, wallet
from tests.factories import CustomerFactory, MeterFactory

D = Decimal


def tile(page: str, name: str) -> str:
    return page.split(f'id="{name}"', 1)[1].split("</div>" if name in ("receivables-due", "gas-sold") else "</a>", 1)[0]


def test_the_home_page_shows_the_business_figures_before_the_checks(client, auth):
    today, first = local_today(), Month.of(local_today()).first_day
    prepaid = CustomerFactory(code="C0001")
    meter = MeterFactory()
    billing.assign_meter(meter, prepaid, first)
    metering.set_pricing(prepaid.id, first, D("1000.00"), D("1"))
    wallet.recharge(prepaid, D("1000000"))
    metering.record_reading(meter.id, today, D("668.0624"))
    suspended = CustomerFactory(code="C0002", suspend_below=D("100000"))
    wallet.recharge(suspended, D("50000"))
    postpaid = CustomerFactory(code="C0003")
    postpaid_meter = MeterFactory()
    billing.assign_meter(postpaid_meter, postpaid, first)
    billing.add_invoice(postpaid_meter, "INV-1", D("500000"), today, today)
    billing.add_payment(postpaid_meter, D("100000"), today)
    withdrawn = billing.add_invoice(postpaid_meter, "INV-2", D("70000"), today, today)
    billing.withdraw_invoice(withdrawn, "Issued twice")

    auth.login("finance")
    page = client.get("/").get_data(as_text=True)
    assert "Rp381.937,60" in tile(page, "prepaid-total") and "3 customers" in tile(page, "prepaid-total")
    assert "Rp400.000,00" in tile(page, "receivables-due") and "1 customer owing" in tile(page, "receivables-due")
    assert '<span class="value">1</span>' in tile(page, "customers-suspended")
    assert 'href="/customers?status=suspended"' in page
    gas = tile(page, "gas-sold")
    assert "668,0624 Sm³" in gas and "prepaid Rp668.062,40" in gas and "postpaid invoiced Rp500.000,00" in gas
    assert "Rp668,06" not in page
    assert page.index('id="business-figures"') < page.index("Orders closing this month") < page.index("status-panel")


def test_an_empty_installation_shows_zeros(client, auth):
    auth.login("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Rp0,00" in tile(page, "prepaid-total") and "0,0000 Sm³" in tile(page, "gas-sold")
    assert '<span class="value">0</span>' in tile(page, "customers-suspended")
