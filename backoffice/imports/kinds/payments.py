"""The import of payments."""

from __future__ import annotations

from dataclasses import replace

from flask_babel import gettext as _
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
    _billed,
    _both,
    _held_on,
    _holders,
    _invoice_numbers,
    _meter_of_holder,
    _open_month,
    _refer_meters,
    _stored,
    _text,
)
from backoffice.models import (
    Invoice,
    Meter,
    Payment,
    User,
)
from backoffice.platform.extensions import db
from backoffice.platform.roles import Role
from backoffice.posting.rules import Kind
from backoffice.services import meter_payments


def _stored_payments(rows: list[Row]) -> dict[tuple, Row]:
    query = select(Meter.serial.label("meter"), Payment.reference, Payment.amount, Payment.paid_on).join(
        Meter, Meter.id == Payment.meter_id
    )
    return _stored(query, [Meter.serial, Payment.reference], rows, [(r["meter"], r["reference"]) for r in rows])


def _refer_invoices(rows: list[Row]) -> dict[int, tuple[str, str]]:
    wanted = {number for row in rows for number in row.get("invoices") or ()}
    found = dict(_invoice_meters(wanted))
    refused = {}
    for position, row in enumerate(rows):
        row["invoice_ids"] = []
        for number in row.get("invoices") or ():
            if number not in found:
                refused[position] = ("invoices", _("No invoice numbered %(number)s.", number=number))
                break
            invoice_id, serial = found[number]
            if serial != row["meter"]:
                refused[position] = (
                    "invoices",
                    _("Invoice %(number)s is of meter %(serial)s.", number=number, serial=serial),
                )
                break
            row["invoice_ids"].append(invoice_id)
    return refused


def _invoice_meters(numbers: set[str]):
    for number, invoice_id, serial in db.session.execute(
        select(Invoice.number, Invoice.id, Meter.serial)
        .join(Meter, Meter.id == Invoice.meter_id)
        .where(Invoice.number.in_(sorted(numbers)))
    ):
        yield number, (invoice_id, serial)


def _write_payments(rows: list[Row], user: User | None) -> None:
    meter_payments.add_payments(
        [
            meter_payments.NewPayment(
                row["meter_id"], row["amount"], row["paid_on"], row["reference"], row["invoice_ids"]
            )
            for row in rows
        ],
        user=user,
    )


PAYMENTS = ImportKind(
    "payments",
    _l("Payments"),
    (
        replace(METER, required=False),
        HOLDER,
        Field(
            "reference",
            _l("Payment reference"),
            _text(100),
            required=True,
            aliases=(
                "id",
                "name",
                "reference no",
                "reference",
                "ref",
                "memo",
                "payment ref",
                "no referensi",
                "referensi",
                "no bukti",
                "bukti bayar",
                "ma giao dich",
                "so tham chieu",
                "so chung tu",
            ),
        ),
        Field(
            "amount",
            _l("Amount"),
            _billed,
            holds="number",
            required=True,
            total=True,
            aliases=(
                "paid amount",
                "received amount",
                "amount paid",
                "payment amount",
                "jumlah bayar",
                "jumlah dibayar",
                "nilai bayar",
                "nominal",
                "so tien thanh toan",
                "so tien da tra",
            ),
        ),
        Field(
            "paid_on",
            _l("Paid on"),
            read.day,
            holds="date",
            required=True,
            aliases=(
                "posting date",
                "payment date",
                "date",
                "reference date",
                "tgl bayar",
                "tgl pembayaran",
                "tgl",
                "ngay thanh toan",
                "ngay tra",
                "ngay",
            ),
        ),
        Field(
            "invoices",
            _l("Invoices paid"),
            _invoice_numbers,
            aliases=(
                "invoice",
                "invoices",
                "invoice no",
                "reference name",
                "name (payment references)",
                "reference name (payment references)",
                "reconciled invoice ids",
                "no faktur",
                "faktur",
                "hoa don",
            ),
        ),
    ),
    ("meter", "reference"),
    _stored_payments,
    _write_payments,
    resolve=_meter_of_holder("paid_on"),
    role=Role.FINANCE,
    refers=_both(_refer_meters, _refer_invoices, _open_month("paid_on"), _held_on("paid_on")),
    stated=(METER_DUE,),
    customers=_holders,
    by_hand=Kind.PAYMENT.value,
    moved_for="holder_id",
    compared=("amount", "paid_on"),
)
