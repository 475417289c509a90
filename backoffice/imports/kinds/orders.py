"""The import of orders."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import values as read
from backoffice.imports.kinds.base import (
    CUSTOMER,
    Field,
    ImportKind,
    Row,
    _any_day,
    _both,
    _email,
    _refer_customers,
    _refer_managers,
    _stored,
    _text,
)
from backoffice.models import (
    AccountManager,
    Customer,
    Order,
    User,
)
from backoffice.services import orders

ORDER_AMOUNTS = ("total_price", "additions", "promo", "reductions")


def _stored_orders(rows: list[Row]) -> dict[tuple, Row]:
    query = (
        select(
            Order.number,
            Customer.code.label("customer"),
            AccountManager.email.label("manager"),
            Order.closing_date,
            *(getattr(Order, name) for name in ORDER_AMOUNTS),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .join(AccountManager, AccountManager.id == Order.account_manager_id)
    )
    return _stored(query, [Order.number], rows, [(row["number"],) for row in rows])


def _write_orders(rows: list[Row], user: User | None) -> None:
    for row in rows:
        orders.save_order(
            Order(
                number=row["number"],
                customer_id=row["customer_id"],
                account_manager_id=row["manager_id"],
                closing_date=row["closing_date"],
                **{name: row.get(name) or Decimal(0) for name in ORDER_AMOUNTS},
            ),
            user=user,
        )


ORDERS = ImportKind(
    "orders",
    _l("Orders"),
    (
        Field(
            "number",
            _l("Order number"),
            _text(32),
            required=True,
            aliases=(
                "order no",
                "order",
                "id",
                "name",
                "so",
                "sales order",
                "no pesanan",
                "no order",
                "no po",
                "pesanan",
                "so don hang",
                "ma don hang",
                "don hang",
            ),
        ),
        CUSTOMER,
        Field(
            "manager",
            _l("Account manager email"),
            _email,
            required=True,
            aliases=(
                "account manager",
                "manager email",
                "manager",
                "sales person email",
                "email manajer",
                "email am",
            ),
        ),
        Field(
            "closing_date",
            _l("Closing date"),
            _any_day,
            holds="date",
            required=True,
            aliases=(
                "close date",
                "closed on",
                "transaction date",
                "date",
                "tgl closing",
                "tgl tutup",
                "tgl",
                "ngay",
            ),
        ),
        Field(
            "total_price",
            _l("Total price"),
            read.amount,
            holds="number",
            required=True,
            total=True,
            aliases=(
                "total",
                "grand total",
                "amount total",
                "order total",
                "harga total",
                "total harga",
                "nilai pesanan",
                "tong gia",
                "tong tien",
            ),
        ),
        Field(
            "additions",
            _l("Additions"),
            read.amount,
            holds="number",
            total=True,
            aliases=(
                "addition",
                "add ons",
                "tambahan",
                "bo sung",
            ),
        ),
        Field(
            "promo",
            _l("Promo"),
            read.amount,
            holds="number",
            total=True,
            aliases=(
                "promotion",
                "discount",
                "diskon",
                "potongan promo",
                "khuyen mai",
                "giam gia",
            ),
        ),
        Field(
            "reductions",
            _l("Reductions"),
            read.amount,
            holds="number",
            total=True,
            aliases=(
                "reduction",
                "deduction",
                "pengurangan",
                "potongan",
                "khau tru",
            ),
        ),
    ),
    ("number",),
    _stored_orders,
    _write_orders,
    refers=_both(_refer_customers, _refer_managers),
    compared=("customer", "manager", "closing_date", *ORDER_AMOUNTS),
)


# Meter readings, recorded as one batch a chunk (``record_readings``): priced and charged by ``post_many``.
