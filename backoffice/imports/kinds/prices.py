"""The import of customers' prices."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import values as read
from backoffice.imports.kinds.base import (
    CUSTOMER,
    Field,
    ImportKind,
    Row,
    _any_day,
    _correction,
    _refer_customers,
    _stored,
)
from backoffice.models import (
    Customer,
    CustomerPricing,
    User,
)
from backoffice.services.metering import pricing


def _stored_prices(rows: list[Row]) -> dict[tuple, Row]:
    query = select(
        Customer.code.label("customer"),
        CustomerPricing.effective_from,
        CustomerPricing.price_per_sm3,
        CustomerPricing.meter_correction,
    ).join(Customer, Customer.id == CustomerPricing.customer_id)
    return _stored(
        query,
        [Customer.code, CustomerPricing.effective_from],
        rows,
        [(r["customer"], r["effective_from"]) for r in rows],
    )


def _write_prices(rows: list[Row], user: User | None) -> None:
    pricing.set_pricings(
        [(row["customer_id"], row["effective_from"], row["price_per_sm3"], row["meter_correction"]) for row in rows],
        user=user,
    )


PRICES = ImportKind(
    "prices",
    _l("Prices"),
    (
        CUSTOMER,
        Field(
            "effective_from",
            _l("Effective from"),
            _any_day,
            holds="date",
            required=True,
            aliases=(
                "valid from",
                "from",
                "start date",
                "date",
                "berlaku mulai",
                "tgl berlaku",
                "mulai",
                "ngay hieu luc",
                "ap dung tu",
                "ap dung tu ngay",
                "tu ngay",
            ),
        ),
        Field(
            "price_per_sm3",
            _l("Price per Sm³"),
            read.amount,
            holds="number",
            required=True,
            aliases=(
                "price",
                "unit price",
                "rate",
                "tariff",
                "harga",
                "harga per m3",
                "tarif",
                "don gia",
                "gia",
            ),
        ),
        Field(
            "meter_correction",
            _l("Meter correction"),
            _correction,
            holds="number",
            required=True,
            aliases=(
                "correction",
                "correction factor",
                "faktor koreksi",
                "koreksi",
                "he so hieu chinh",
                "he so",
            ),
        ),
    ),
    ("customer", "effective_from"),
    _stored_prices,
    _write_prices,
    refers=_refer_customers,
    compared=("price_per_sm3", "meter_correction"),
)


# Orders.
