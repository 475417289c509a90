"""Settlements: what the system before said was paid of an invoice before the move-in, recorded as a payment on its
meter posted against opening balance equity, never cash (:func:`settle_before`); a payment of that system imported
after it, which takes its place (:func:`take_the_place_of_settlements`); and whether a payment's money was received or
settled there, as its own posted entry says (:func:`paid_kind`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import insert, select, update

from backoffice.evidence import verifying
from backoffice.models import AllocationHow, CutOver, Invoice, JournalEntry, Payment, User
from backoffice.models.formulas import invoice_outstanding_sql
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import local_date_of, one_of, utcnow
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.rules import Kind
from backoffice.services import allocations, billing, installation, transaction

invoices = Invoice.__table__
payments = Payment.__table__
entries = JournalEntry.__table__


def take_the_place_of_settlements(connection, meter: allocations.MeterState, payment_id: int, invoice_ids, user):
    """A payment paying invoices whose part paid before the move-in was recorded as settled there takes that
    settlement's place as far as it is that part, so that nothing is paid twice: a payment of the system before
    (dated on or before the cut-over, else before the day the settlement was recorded), imported after its invoices,
    first of all; one dated since, only what it brings beyond what the invoice asks. Each settlement is reduced by
    what the payment takes of its place, its difference posted, and withdrawn once nothing is left of it."""
    found = connection.execute(
        select(payments.c.id, payments.c.amount, entries.c.id.label("entry_id"), entries.c.created_at)
        .join(entries, _posted_as(Kind.SETTLEMENT))
        .where(payments.c.meter_id == meter.id, payments.c.withdrawn_at.is_(None))
    ).all()
    unvouched = verifying.untrusted(connection, "journal_entries", entries.c.id.in_([row.entry_id for row in found]))
    settlements = {
        row.id: {"amount": row.amount, "recorded_on": local_date_of(row.created_at, installation().timezone)}
        for row in found
        if row.entry_id not in unvouched
    }
    if not settlements:
        return
    paid_on = meter.payments[payment_id].on
    took_over = connection.scalar(select(CutOver.day))
    left = meter.free(payment_id)
    for invoice_id in dict.fromkeys(invoice_ids):
        if left <= 0 or invoice_id not in meter.invoices:
            return
        settled = [live for live in meter.live if live.invoice_id == invoice_id and live.payment_id in settlements]
        if not settled:
            continue
        stood_for = sum((live.amount for live in settled), Decimal(0))
        asks = meter.outstanding(invoice_id)
        brings = min(left, asks + stood_for)
        left -= brings
        if took_over is not None:
            before = paid_on <= took_over
        else:
            before = any(paid_on < settlements[live.payment_id]["recorded_on"] for live in settled)
        replaces = min(brings, stood_for) if before else max(brings - asks, Decimal(0))
        for live in settled:
            if replaces <= 0:
                break
            taken = min(replaces, live.amount)
            replaces -= taken
            allocations.reverse(connection, meter, live)
            if live.amount > taken:
                allocations.allocate(connection, meter, live.payment_id, invoice_id, live.amount - taken, live.how)
            settlements[live.payment_id]["amount"] -= taken
            _reduce_settlement(connection, meter, live.payment_id, settlements[live.payment_id]["amount"], user)


def _reduce_settlement(connection, meter: allocations.MeterState, settlement_id: int, amount: Decimal, user) -> None:
    current = connection.execute(select(payments).where(payments.c.id == settlement_id)).one()
    if amount > 0:
        billing.post_difference(connection, Kind.SETTLEMENT, current, current.paid_on, amount, user)
        values = {"amount": amount}
        meter.payments[settlement_id].amount = amount
    else:
        movement = Movement(
            kind=Kind.SETTLEMENT,
            amount=-current.amount,
            customer_id=billing.holder_on(meter.id, current.paid_on).customer_id,
            value_date=current.paid_on,
            reference=Reference(Kind.SETTLEMENT.value, settlement_id),
            user=user,
        )
        values = {
            "withdrawn_at": utcnow(),
            "withdrawn_by_id": user.id if user else None,
            "withdrawal_reason": REPLACED_BY_A_PAYMENT,
            "withdrawal_entry_id": post(installation(), connection, movement).entry_id,
        }
        meter.payments[settlement_id].withdrawn = True
    connection.execute(
        update(payments).where(payments.c.id == settlement_id).values(**values, version=payments.c.version + 1)
    )
    record(connection, Payment, payments.c.id == settlement_id, HistoryOperation.EDIT)


REPLACED_BY_A_PAYMENT = "paid by a payment imported"
"""Why a settlement was withdrawn: a payment of the system before, imported, paid what it stood for."""


def settle_before(settled: Sequence[tuple[int, Decimal]], *, user: User | None = None) -> list[int]:
    """Record what the system before said was paid of each invoice, ``(invoice_id, amount)``, before the move-in: a
    settlement on the invoice's meter dated its issue date, its reference the invoice's number (once on the meter, as
    any reference), applied to it, and posted against opening balance equity, never cash. Returns their ids."""
    if not settled:
        return []
    with transaction() as session:
        connection = session.connection()
        meter_ids = set(
            connection.execute(
                select(invoices.c.meter_id).where(invoices.c.id.in_([invoice_id for invoice_id, _amount in settled]))
            ).scalars()
        )
        holding = allocations.lock(connection, meter_ids)
        ids = settle(connection, settled, user)
        allocations.store(connection, meter_ids)
        billing.store_balances(connection, meter_ids, holding)
    return ids


def settle(
    connection, settled: Sequence[tuple[int, Decimal]], user: User | None, *, leaving: bool = False
) -> list[int]:
    """:func:`settle_before`'s settlements, their meters locked by the caller, who stores their figures. ``leaving``:
    each amount is what the invoice is to ask once settled, and what it asks beyond is settled (nothing, where it
    asks no more)."""
    wanted = [invoice_id for invoice_id, _amount in settled]
    # What each asks, from its amount and its allocations (never its stored figure, which SQL could have raised).
    found = {
        row.id: row
        for row in connection.execute(
            select(invoices, invoice_outstanding_sql().label("asks")).where(one_of(invoices.c.id, wanted))
        )
    }
    asks = {invoice_id: row.asks for invoice_id, row in found.items()}
    if leaving:
        settled = [(invoice_id, asks[invoice_id] - left) for invoice_id, left in settled if asks[invoice_id] > left]
    if not settled:
        return []
    new = [(found[invoice_id], billing.positive_amount(amount)) for invoice_id, amount in settled]
    if beyond := [invoice.number for invoice, amount in new if amount > asks[invoice.id]]:
        raise billing.BillingError(
            _("Invoice %(number)s asks less than what is said settled of it before.", number=beyond[0])
        )
    billing.refuse_references_taken(connection, [(invoice.meter_id, invoice.number) for invoice, _amount in new])
    holders = billing.holders_on(connection, [(invoice.meter_id, invoice.issued_on, None) for invoice, _amount in new])
    dated = [(invoice.issued_on, holder, amount) for (invoice, amount), holder in zip(new, holders, strict=True)]
    posted = billing.posted_sources(connection, Kind.SETTLEMENT, dated, user)
    connection.execute(
        insert(payments),
        [
            {
                "id": entry.source_id,
                "meter_id": invoice.meter_id,
                "amount": amount,
                "paid_on": invoice.issued_on,
                "reference": invoice.number,
                "settled_before": True,
                "entry_id": entry.entry_id,
            }
            for (invoice, amount), entry in zip(new, posted, strict=True)
        ],
    )
    ids = [entry.source_id for entry in posted]
    record(connection, Payment, one_of(payments.c.id, ids), HistoryOperation.CREATE)
    # Each applied whole to its invoice, which asks at least as much (read under the meters' locks): one statement.
    allocations.append_many(
        connection,
        [
            allocations.Given(invoice.meter_id, payment_id, invoice.id, amount, holder)
            for (invoice, amount), payment_id, holder in zip(new, ids, holders, strict=True)
        ],
        AllocationHow.CHOSEN,
        user.id if user else None,
    )
    return ids


def _posted_as(kind: Kind):
    """A payment's own entry, posted as ``kind``: what the payment is, as the sealed journal says it (never its
    ``settled_before`` flag alone, which SQL could set on any row)."""
    return (
        (entries.c.id == payments.c.entry_id)
        & (entries.c.source_id == payments.c.id)
        & (entries.c.source_type == kind.value)
    )


def paid_kind(connection, payment_id: int) -> Kind:
    """How a payment's money moved, as its own posted entry says: received, or settled in the system before."""
    settled = select(payments.c.id).join(entries, _posted_as(Kind.SETTLEMENT)).where(payments.c.id == payment_id)
    return Kind.SETTLEMENT if connection.scalar(settled) is not None else Kind.PAYMENT
