"""What each payment of a meter pays: its allocations to the meter's invoices, kept in step with every billing write.

A payment pays its holder's invoices, first those the clerk chose, then the oldest open ones; what is left is the
meter's credit. Allocations are only ever appended: what no longer holds is reversed, and what is then free applied
again. Everything here runs under the meter's lock (:func:`lock`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import insert, select, union, update

from backoffice.evidence import sealing, verifying
from backoffice.models import AllocationHow, Invoice, Meter, MeterAssignment, Payment, PaymentAllocation, covers
from backoffice.models.formulas import counted_allocation, invoice_outstanding_sql, payment_unapplied_sql
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import one_of, utcnow
from backoffice.platform.money import ZERO
from backoffice.posting.locking import lock_customers, lock_rows

invoices = Invoice.__table__
payments = Payment.__table__
allocations = PaymentAllocation.__table__
assignments = MeterAssignment.__table__
meters = Meter.__table__


@dataclass
class Dated:
    """An invoice or a payment of the meter as the allocations see it."""

    id: int
    amount: Decimal
    on: date
    holder: int | None
    withdrawn: bool
    number: str = ""


@dataclass
class Live:
    """An allocation not reversed."""

    id: int
    payment_id: int
    invoice_id: int
    amount: Decimal
    how: AllocationHow


@dataclass
class MeterState:
    """One meter's invoices, payments and live allocations, read under its lock, and what is written to them."""

    id: int
    invoices: dict[int, Dated]
    payments: dict[int, Dated]
    live: list[Live]
    user_id: int | None = None

    def applied_of_payment(self, payment_id: int) -> Decimal:
        return sum((a.amount for a in self.live if a.payment_id == payment_id), ZERO)

    def applied_to_invoice(self, invoice_id: int) -> Decimal:
        return sum((a.amount for a in self.live if a.invoice_id == invoice_id), ZERO)

    def free(self, payment_id: int) -> Decimal:
        """What of the payment no invoice takes yet."""
        payment = self.payments[payment_id]
        return ZERO if payment.withdrawn else payment.amount - self.applied_of_payment(payment_id)

    def outstanding(self, invoice_id: int) -> Decimal:
        invoice = self.invoices[invoice_id]
        return ZERO if invoice.withdrawn else invoice.amount - self.applied_to_invoice(invoice_id)

    def open_invoices(self, holder: int | None) -> list[Dated]:
        """The holder's invoices that still ask something, oldest first."""
        found = [i for i in self.invoices.values() if i.holder == holder and self.outstanding(i.id) > 0]
        return sorted(found, key=lambda invoice: (invoice.on, invoice.id))


def read(connection, meter_id: int, *, user_id: int | None = None) -> MeterState:
    """The meter's invoices and payments, each with its holder on its date, and its live allocations."""
    return read_many(connection, [meter_id], user_id=user_id)[0]


def read_many(connection, meter_ids: list[int], *, user_id: int | None = None) -> list[MeterState]:
    """:func:`read` of each meter, in the order given, with three statements whatever their number."""

    def dated(table, on, *extra) -> dict[int, dict[int, Dated]]:
        held = assignments.alias("held")
        query = (
            select(table.c.meter_id, table.c.id, table.c.amount, on, held.c.customer_id)
            .add_columns(table.c.withdrawn_at.is_not(None), *extra)
            .outerjoin(held, (held.c.meter_id == table.c.meter_id) & covers(held.c, on))
            .where(one_of(table.c.meter_id, meter_ids))
        )
        found: dict[int, dict[int, Dated]] = defaultdict(dict)
        for meter_id, *row in connection.execute(query):
            found[meter_id][row[0]] = Dated(*row)
        return found

    live = connection.execute(
        select(
            allocations.c.meter_id,
            allocations.c.id,
            allocations.c.payment_id,
            allocations.c.invoice_id,
            allocations.c.amount,
            allocations.c.how,
        )
        .where(one_of(allocations.c.meter_id, meter_ids), _live(), counted_allocation(allocations))
        .order_by(allocations.c.id)
    )
    meter_invoices = dated(invoices, invoices.c.issued_on, invoices.c.number)
    meter_payments = dated(payments, payments.c.paid_on)
    states = {
        meter_id: MeterState(meter_id, meter_invoices[meter_id], meter_payments[meter_id], [], user_id)
        for meter_id in meter_ids
    }
    for row in live:
        state = states[row.meter_id]
        # The database refuses an allocation across meters; one written past its guards is not built on.
        if row.payment_id in state.payments and row.invoice_id in state.invoices:
            state.live.append(Live(row.id, row.payment_id, row.invoice_id, row.amount, AllocationHow(row.how)))
    return [states[meter_id] for meter_id in meter_ids]


def allocate(
    connection, meter: MeterState, payment_id: int, invoice_id: int, amount: Decimal, how: AllocationHow
) -> None:
    """Apply ``amount`` of the payment to the invoice."""
    customer_id = meter.payments[payment_id].holder
    allocation_id = _append(connection, meter, payment_id, invoice_id, amount, how, customer_id=customer_id)
    meter.live.append(Live(allocation_id, payment_id, invoice_id, amount, how))


def reverse(connection, meter: MeterState, live: Live, reason: str | None = None) -> None:
    """Reverse an allocation whole; ``reason`` is the clerk's, none when the meter's own changes undid it."""
    _append(
        connection,
        meter,
        live.payment_id,
        live.invoice_id,
        -live.amount,
        AllocationHow.REVERSAL,
        customer_id=meter.payments[live.payment_id].holder,
        reverses_id=live.id,
        reason=reason,
    )
    meter.live.remove(live)


def lock(connection, meter_ids, *, also=()) -> list[int]:
    """Lock every customer who has held these meters (and the customers ``also`` names), then the meters, in the one
    order (customers, then meters), before anything is read to be written; the customers locked, in id order."""
    holders = select(assignments.c.customer_id).where(one_of(assignments.c.meter_id, meter_ids))
    locked = sorted(set(connection.execute(holders).scalars()) | set(also))
    lock_customers(connection, locked)
    lock_rows(connection, meters, meter_ids)
    return locked


def settle_meters(connection, meter_ids, *, user_id: int | None = None, stored: bool = True) -> None:
    """Bring each meter's allocations in step with its invoices and payments (the meters locked by the caller, see
    :func:`lock`), then store what each invoice still asks and what each payment leaves: reverse what no longer
    holds (and every allocation whose seal fails), apply every payment's free part to the oldest open invoices of
    its holder (payments oldest first), those applications appended at once for all the meters. Not ``stored``: the
    caller, allocating more, stores the meters' figures once (:func:`store`)."""
    ids = sorted(meter_ids)
    untrusted = verifying.untrusted(connection, "payment_allocations", one_of(allocations.c.meter_id, ids))
    applied: list[Given] = []
    states = read_many(connection, billed(connection, ids), user_id=user_id)
    for meter in states:
        for live in [live for live in meter.live if live.id in untrusted]:
            reverse(connection, meter, live)
        _reverse_what_no_longer_holds(connection, meter)
        for payment in sorted(meter.payments.values(), key=lambda payment: (payment.on, payment.id)):
            applied += _oldest_first(meter, payment.id)
    append_many(connection, applied, AllocationHow.OLDEST, user_id)
    if stored:
        store(connection, [meter.id for meter in states])


def billed(connection, meter_ids: list[int]) -> list[int]:
    """The meters with an invoice, a payment or an allocation, in id order: a meter with none has nothing to settle
    (a new installation's meters, assigned by the thousand)."""
    billed = union(
        *(
            select(table.c.meter_id).where(one_of(table.c.meter_id, meter_ids))
            for table in (invoices, payments, allocations)
        )
    ).subquery()
    return list(connection.execute(select(billed.c.meter_id).order_by(billed.c.meter_id)).scalars())


def _oldest_first(meter: MeterState, payment_id: int) -> list[Given]:
    """What is free of the payment, applied to its holder's oldest open invoices: the allocations to append (each
    counted on the meter at once)."""
    found = []
    holder = meter.payments[payment_id].holder
    for invoice in meter.open_invoices(holder):
        free = meter.free(payment_id)
        if free <= 0:
            break
        amount = min(free, meter.outstanding(invoice.id))
        found.append(Given(meter.id, payment_id, invoice.id, amount, holder))
        meter.live.append(Live(0, payment_id, invoice.id, amount, AllocationHow.OLDEST))
    return found


def store(connection, meter_ids) -> None:
    """Each invoice's outstanding and each payment's unapplied part, from the allocations (one statement each)."""
    ids = sorted(meter_ids)
    connection.execute(
        update(invoices).where(one_of(invoices.c.meter_id, ids)).values(outstanding=invoice_outstanding_sql())
    )
    connection.execute(
        update(payments).where(one_of(payments.c.meter_id, ids)).values(unapplied=payment_unapplied_sql())
    )


def _reverse_what_no_longer_holds(connection, meter: MeterState) -> None:
    """Reverse the allocations of a withdrawn payment or invoice or across holders; then, newest first, those
    that give a payment more than it paid or an invoice more than it asks, applying again what a reversal
    took beyond the excess."""
    for live in list(meter.live):
        payment, invoice = meter.payments[live.payment_id], meter.invoices[live.invoice_id]
        if payment.withdrawn or invoice.withdrawn or payment.holder != invoice.holder:
            reverse(connection, meter, live)
    for kept, of in ((meter.payments, "payment_id"), (meter.invoices, "invoice_id")):
        for row in kept.values():
            given = [live for live in meter.live if getattr(live, of) == row.id]
            excess = sum((live.amount for live in given), ZERO) - row.amount
            for live in reversed(given):
                if excess <= 0:
                    break
                reverse(connection, meter, live)
                if (left := live.amount - excess) > 0:
                    allocate(connection, meter, live.payment_id, live.invoice_id, left, live.how)
                excess -= live.amount


def _append(connection, meter: MeterState, payment_id, invoice_id, amount, how, **values) -> int:
    allocation_id = connection.execute(
        insert(allocations)
        .values(
            meter_id=meter.id,
            payment_id=payment_id,
            invoice_id=invoice_id,
            amount=amount,
            how=how.value,
            created_by_id=meter.user_id,
            created_at=utcnow(),
            **values,
        )
        .returning(allocations.c.id)
    ).scalar_one()
    record(connection, PaymentAllocation, allocations.c.id == allocation_id, HistoryOperation.CREATE)
    sealing.written(connection, "payment_allocations", [(allocation_id, 0)])
    return allocation_id


@dataclass(frozen=True)
class Given:
    """An allocation to append: a payment's ``amount`` applied to an invoice of its meter, for its holder."""

    meter_id: int
    payment_id: int
    invoice_id: int
    amount: Decimal
    customer_id: int


def append_many(connection, given: list[Given], how: AllocationHow, user_id: int | None) -> list[int]:
    """Append the allocations in one statement, each with its history version and sealed at commit, as
    :func:`allocate` appends one; the caller holds the meters' locks and knows each invoice asks at least its
    amount."""
    if not given:
        return []
    moment = utcnow()
    rows = [
        {
            "meter_id": one.meter_id,
            "payment_id": one.payment_id,
            "invoice_id": one.invoice_id,
            "amount": one.amount,
            "how": how.value,
            "customer_id": one.customer_id,
            "created_by_id": user_id,
            "created_at": moment,
        }
        for one in given
    ]
    ids = list(
        connection.execute(
            insert(allocations).returning(allocations.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    )
    record(connection, PaymentAllocation, one_of(allocations.c.id, ids), HistoryOperation.CREATE)
    sealing.written(connection, "payment_allocations", [(allocation_id, 0) for allocation_id in ids])
    return ids


def by_invoice(connection, invoice_ids) -> dict[int, list]:
    """The live allocations to each invoice, oldest first: which payments pay it and how much of each."""
    return _live_by(connection, allocations.c.invoice_id, invoice_ids)


def by_payment(connection, payment_ids) -> dict[int, list]:
    """The live allocations of each payment, oldest first: which invoices it pays and how much of each."""
    return _live_by(connection, allocations.c.payment_id, payment_ids)


def _live():
    """An allocation not reversed (by a reversal that counts, ``counted_allocation``), nor a reversal itself."""
    reversal = allocations.alias("reversal")
    reversed_ = select(reversal.c.id).where(reversal.c.reverses_id == allocations.c.id, counted_allocation(reversal))
    return allocations.c.reverses_id.is_(None) & ~reversed_.exists()


def _live_by(connection, column, ids) -> dict[int, list]:
    rows = connection.execute(
        select(
            allocations,
            payments.c.paid_on,
            payments.c.reference,
            invoices.c.number,
            invoices.c.issued_on,
            invoices.c.due_on,
        )
        .join(payments, payments.c.id == allocations.c.payment_id)
        .join(invoices, invoices.c.id == allocations.c.invoice_id)
        .where(column.in_(list(ids)), _live(), counted_allocation(allocations))
        .order_by(allocations.c.id)
    )
    found: dict[int, list] = defaultdict(list)
    for row in rows:
        found[row._mapping[column.name]].append(row)
    return found
