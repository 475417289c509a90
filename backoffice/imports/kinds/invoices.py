"""The import of invoices."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.imports import values as read
from backoffice.imports.kinds.base import (
    HOLDER,
    METER,
    METER_DUE,
    Field,
    ImportKind,
    Row,
    Stated,
    _any_day,
    _billed,
    _both,
    _held_on,
    _holders,
    _meter_of_holder,
    _open_month,
    _refer_meters,
    _stored,
    _text,
)
from backoffice.models import (
    Invoice,
    Meter,
    User,
)
from backoffice.platform.extensions import db
from backoffice.services import billing


def _stored_invoices(rows: list[Row]) -> dict[tuple, Row]:
    net = Invoice.net.label("amount")
    query = select(Invoice.number, Meter.serial.label("meter"), net, Invoice.issued_on, Invoice.due_on).join(
        Meter, Meter.id == Invoice.meter_id
    )
    return _stored(query, [Invoice.number], rows, [(row["number"],) for row in rows])


def _invoices_outstanding(numbers: list[str]) -> dict[str, Decimal]:
    query = select(Invoice.number, Invoice.outstanding).where(Invoice.number.in_(numbers))
    return dict(db.session.execute(query).all())


def _write_invoices(rows: list[Row], user: User | None) -> None:
    billing.add_invoices(
        [
            billing.NewInvoice(row["meter_id"], row["number"], row["amount"], row["issued_on"], row["due_on"])
            for row in rows
        ],
        user=user,
    )


INVOICES = ImportKind(
    "invoices",
    _l("Invoices"),
    (
        Field(
            "number",
            _l("Invoice number"),
            _text(40),
            required=True,
            aliases=(
                "invoice no",
                "invoice",
                "id",
                "name",
                "no faktur",
                "faktur",
                "no invoice",
                "no tagihan",
                "so hoa don",
                "ma hoa don",
                "hoa don",
            ),
        ),
        replace(METER, required=False),
        HOLDER,
        Field(
            "amount",
            _l("Amount"),
            _billed,
            holds="number",
            required=True,
            total=True,
            aliases=(
                "grand total",
                "amount total",
                "amount_total",
                "total",
                "invoice amount",
                "amount billed",
                "jumlah tagihan",
                "nilai faktur",
                "total tagihan",
                "nilai",
                "tong tien",
                "tong cong",
                "thanh tien",
            ),
        ),
        Field(
            "issued_on",
            _l("Issued on"),
            read.day,
            holds="date",
            required=True,
            aliases=(
                "posting date",
                "invoice date",
                "invoice_date",
                "invoice bill date",
                "date",
                "tgl faktur",
                "tgl invoice",
                "tgl tagihan",
                "tgl",
                "ngay hoa don",
                "ngay lap",
                "ngay",
            ),
        ),
        Field(
            "due_on",
            _l("Due on"),
            _any_day,
            holds="date",
            required=True,
            aliases=(
                "due date",
                "payment due date",
                "invoice_date_due",
                "date due",
                "tgl jatuh tempo",
                "jatuh tempo",
                "han thanh toan",
                "ngay den han",
            ),
        ),
    ),
    ("number",),
    _stored_invoices,
    _write_invoices,
    resolve=_meter_of_holder("issued_on"),
    refers=_both(_refer_meters, _open_month("issued_on"), _held_on("issued_on")),
    stated=(
        Stated(
            Field(
                "outstanding",
                _l("Outstanding amount"),
                read.amount,
                holds="number",
                aliases=(
                    "outstanding",
                    "amount_residual",
                    "amount due",
                    "residual",
                    "balance due",
                    "sisa tagihan",
                    "sisa",
                    "terutang",
                    "belum dibayar",
                    "con no",
                    "so tien con lai",
                ),
            ),
            "number",
            _invoices_outstanding,
        ),
        METER_DUE,
    ),
    customers=_holders,
    compared=("meter", "amount", "issued_on", "due_on"),
)
