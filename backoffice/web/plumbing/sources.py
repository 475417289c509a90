"""What an automatic journal entry records, as links: the customer and the wallet movement (and the reading it
charges for), the invoice or the payment.

An entry names its source by ``source_type`` and ``source_id``; a wallet movement names a reading by
``reference_type`` and ``reference_id``. An invoice or a payment is the money of the customer who held its meter
on its date, and its page is theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.models import BalanceTransaction, Customer, Invoice, MeterAssignment, MeterReading, Payment, covers
from backoffice.models.metering import READING
from backoffice.platform.extensions import db

MOVEMENT, INVOICE, PAYMENT = "balance_transaction", "invoice", "payment"


@dataclass(frozen=True)
class Link:
    text: str
    url: str


def links(sources: Iterable[tuple[str | None, int | None]]) -> dict[tuple[str, int], list[Link]]:
    """For each ``(source_type, source_id)`` of automatic entries, the links to what it records; a few queries for
    all of them (one per kind of source)."""
    wanted: dict[str, set[int]] = {MOVEMENT: set(), INVOICE: set(), PAYMENT: set()}
    for kind, row_id in sources:
        if kind in wanted and row_id is not None:
            wanted[kind].add(row_id)
    found: dict[tuple[str, int], list[Link]] = {}
    if wanted[MOVEMENT]:
        found |= _movements(wanted[MOVEMENT])
    for kind, model, dated, label in (
        (INVOICE, Invoice, Invoice.issued_on, lambda row: _("invoice %(number)s", number=row.number)),
        (PAYMENT, Payment, Payment.paid_on, lambda row: _("payment #%(id)s", id=row.id)),
    ):
        if wanted[kind]:
            found |= _billed(kind, model, dated, wanted[kind], label)
    return found


def _movements(ids: set[int]) -> dict[tuple[str, int], list[Link]]:
    ledger = BalanceTransaction
    rows = db.session.execute(
        select(ledger.id, ledger.reference_type, ledger.reference_id, Customer.code, Customer.name)
        .join(Customer, Customer.id == ledger.customer_id)
        .where(ledger.id.in_(ids))
    ).all()
    read = {row.reference_id for row in rows if row.reference_type == READING}
    readings = set(db.session.scalars(select(MeterReading.id).where(MeterReading.id.in_(read)))) if read else set()
    found = {}
    for row in rows:
        found[(MOVEMENT, row.id)] = [
            _customer(row.code, row.name),
            Link(_("movement #%(id)s", id=row.id), url_for("ledger.movement", code=row.code, movement_id=row.id)),
        ]
        if row.reference_type == READING and row.reference_id in readings:
            url = url_for("metering.reading", code=row.code, reading_id=row.reference_id)
            found[(MOVEMENT, row.id)].append(Link(_("reading #%(id)s", id=row.reference_id), url))
    return found


def _billed(kind: str, model, dated, ids: set[int], label) -> dict[tuple[str, int], list[Link]]:
    rows = db.session.execute(
        select(model, Customer.code, Customer.name)
        .join(MeterAssignment, (MeterAssignment.meter_id == model.meter_id) & covers(MeterAssignment, dated))
        .join(Customer, Customer.id == MeterAssignment.customer_id)
        .where(model.id.in_(ids))
    ).all()
    endpoint, argument = f"billing.edit_{kind}", f"{kind}_id"
    return {
        (kind, row.id): [
            _customer(code, name),
            Link(label(row), url_for(endpoint, code=code, **{argument: row.id})),
        ]
        for row, code, name in rows
    }


def _customer(code: str, name: str) -> Link:
    return Link(f"{code} — {name}", url_for("customers.show", code=code))
