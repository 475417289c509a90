"""A meter's payments: added (one, or a batch posted as one), applied to the invoices chosen and then to the oldest
open ones, reallocated, corrected and withdrawn, each write one unit of work that posts the money through the
posting core and recomputes the meters' and customers' totals it moves (:mod:`backoffice.services.billing`)."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update

from backoffice.models import AllocationHow, Meter, Payment, User
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import one_of
from backoffice.platform.extensions import db
from backoffice.posting.rules import Kind
from backoffice.services import ChangedMeanwhile, allocations, billing, settlements, transaction
from backoffice.services.by_hand import refuse_beyond

payments = Payment.__table__


@dataclass(frozen=True)
class NewPayment:
    """A payment to add (:func:`add_payments`): for whoever held the meter on ``paid_on`` (``customer_id``, if given),
    applied to the invoices ``invoice_ids`` in that order."""

    meter_id: int
    amount: Decimal
    paid_on: date
    reference: str = ""
    invoice_ids: Sequence[int] = ()
    customer_id: int | None = None


def add_payment(
    meter: Meter,
    amount: Decimal,
    paid_on: date,
    reference: str = "",
    *,
    invoice_ids: Sequence[int] = (),
    customer_id: int | None = None,
    user: User | None = None,
    by_hand: bool = False,
) -> Payment:
    """A payment on the meter, for whoever held it on ``paid_on`` (``customer_id``, if given), applied to the
    invoices ``invoice_ids`` in that order, then what is left to the holder's oldest open invoices; what no open
    invoice takes stays as the meter's credit. A payment dated after today is refused. ``by_hand``: recorded by a
    person, money moved by hand (:func:`add_payments`)."""
    (payment_id,) = add_payments(
        [NewPayment(meter.id, amount, paid_on, reference, invoice_ids, customer_id)], user=user, by_hand=by_hand
    )
    return db.session.get(Payment, payment_id)


def add_payments(new: Sequence[NewPayment], *, user: User | None = None, by_hand: bool = False) -> list[int]:
    """Add the payments in one unit of work, posted as one batch (``post_sources``), each refused as
    :func:`add_payment` refuses one, before anything is written; each applied to its chosen invoices in the order
    given, then what is left of them all to the oldest open invoices. Returns their ids, in the order given.

    ``by_hand``: payments a person records, money moved by hand: where what ``user`` moved by hand for a holder today
    would pass the approval limit with them, ``by_hand.NeedsApproval`` is raised and nothing is written."""
    for payment in new:
        billing.not_after_today(payment.paid_on, _l("A payment"))
    new = [replace(payment, amount=billing.positive_amount(payment.amount)) for payment in new]
    billing.refuse_closed_days({payment.paid_on for payment in new})
    with transaction() as session:
        connection = session.connection()
        meter_ids = {payment.meter_id for payment in new}
        allocations.lock(connection, meter_ids)
        billing.refuse_references_taken(connection, [(payment.meter_id, payment.reference) for payment in new])
        if by_hand:
            _refuse_beyond_the_approval_limit(connection, new, user)
        posted = _posted(
            connection, Kind.PAYMENT, [(p.meter_id, p.paid_on, p.customer_id, p.amount) for p in new], user
        )
        connection.execute(
            insert(payments),
            [
                {
                    "id": entry.source_id,
                    "meter_id": payment.meter_id,
                    "amount": payment.amount,
                    "paid_on": payment.paid_on,
                    "reference": payment.reference.strip()[:100],
                    "entry_id": entry.entry_id,
                }
                for payment, entry in zip(new, posted, strict=True)
            ],
        )
        ids = [entry.source_id for entry in posted]
        record(connection, Payment, one_of(payments.c.id, ids), HistoryOperation.CREATE)
        read: dict[int, allocations.MeterState] = {}
        for payment, payment_id in zip(new, ids, strict=True):
            if payment.invoice_ids:
                if payment.meter_id not in read:
                    read[payment.meter_id] = allocations.read(
                        connection, payment.meter_id, user_id=user.id if user else None
                    )
                meter = read[payment.meter_id]
                settlements.take_the_place_of_settlements(connection, meter, payment_id, payment.invoice_ids, user)
                _apply_chosen(connection, payment.meter_id, payment_id, payment.invoice_ids, user, meter)
        billing.recompute_billing(connection, meter_ids, set(), user=user)
    return ids


def _refuse_beyond_the_approval_limit(connection, new: Sequence[NewPayment], user: User | None) -> None:
    """The limit's rule for payments recorded by hand, for each holder (``by_hand.refuse_beyond``)."""
    held = billing.holders_on(connection, [(payment.meter_id, payment.paid_on, payment.customer_id) for payment in new])
    moved: dict[int, Decimal] = defaultdict(Decimal)
    for payment, holder in zip(new, held, strict=True):
        moved[holder] += payment.amount
    refuse_beyond(connection, moved, maker_id=user.id if user else None, kind=Kind.PAYMENT.value)


def reallocate(
    payment: Payment, invoice_ids: Sequence[int], reason: str, *, version: int | None = None, user: User | None = None
) -> Payment:
    """Apply the payment to other invoices: what it pays now is reversed, with the clerk's reason, and it is applied
    to ``invoice_ids`` in that order, then what is left to the oldest open invoices of its holder.

    ``version``: the :func:`allocation_version` the form was loaded at; raises ``ChangedMeanwhile`` if the payment
    pays something else now.
    """
    reason = reason.strip()
    if not reason:
        raise billing.BillingError(_("Say why the payment is applied to other invoices."), "reason")
    if len(reason) > 300:
        raise billing.BillingError(_("A reason has at most 300 characters."), "reason")
    if not invoice_ids:
        raise billing.BillingError(_("Choose the invoices the payment pays."), "invoice_ids")
    payment_id = payment.id
    with transaction() as session:
        connection = billing.locked(session, payment.meter_id)
        current = connection.execute(select(payments).where(payments.c.id == payment_id)).one()
        billing.refuse_withdrawn(current, "payment")
        if version is not None and allocation_version(payment_id) != version:
            raise ChangedMeanwhile
        meter = allocations.read(connection, current.meter_id, user_id=user.id if user else None)
        for live in [live for live in meter.live if live.payment_id == payment_id]:
            allocations.reverse(connection, meter, live, reason)
        _apply_chosen(connection, current.meter_id, payment_id, invoice_ids, user, meter)
        billing.recompute_billing(connection, {current.meter_id}, set(), user=user)
    return db.session.get(Payment, payment_id)


def allocation_version(payment_id: int) -> int:
    """The version a payment's allocation form carries: a digest of what it pays now, allocation by allocation.

    Not the payment's version: what a payment pays changes without the payment changing, when the meter's other
    invoices and payments move its allocations (an invoice issued takes its credit, one withdrawn or lowered gives
    back what it took) and when an allocation is found tampered or a review decides on it. Its version moves with
    the payment alone, so that its edit form is not made stale by money moving on its meter.
    """
    paid = allocations.by_payment(db.session.connection(), [payment_id]).get(payment_id, [])
    return zlib.crc32("|".join(f"{row.id}:{row.amount:.2f}" for row in paid).encode())


def _apply_chosen(connection, meter_id: int, payment_id: int, invoice_ids, user, meter=None) -> None:
    """Apply the payment to the chosen invoices, in order, each up to what it still asks; refused when one is not
    an open invoice of the payment's meter and holder."""
    if not invoice_ids:
        return
    meter = meter or allocations.read(connection, meter_id, user_id=user.id if user else None)
    payment = meter.payments[payment_id]
    for invoice_id in dict.fromkeys(invoice_ids):
        invoice = meter.invoices.get(invoice_id)
        if invoice is None or invoice.withdrawn or invoice.holder != payment.holder:
            raise billing.BillingError(_("Choose open invoices of the payment's meter and customer."), "invoice_ids")
        if (asks := meter.outstanding(invoice_id)) <= 0:
            raise billing.BillingError(_("Invoice %(number)s is already paid.", number=invoice.number), "invoice_ids")
        if (free := meter.free(payment_id)) <= 0:
            return
        allocations.allocate(connection, meter, payment_id, invoice_id, min(free, asks), AllocationHow.CHOSEN)


def change_payment(
    payment: Payment, amount: Decimal, reference: str = "", *, version: int | None = None, user: User | None = None
) -> Payment:
    """Correct a payment's amount or reference; a new amount moves its meter and its difference is posted.

    ``version``: the one the payment's form was loaded at; raises ``ChangedMeanwhile`` if it is not the payment's now.
    """
    amount = billing.positive_amount(amount)
    payment_id = payment.id
    with transaction() as session:
        connection = billing.locked(session, payment.meter_id)
        current = connection.execute(select(payments).where(payments.c.id == payment_id)).one()
        billing.refuse_withdrawn(current, "payment")
        if version is not None and current.version != version:
            raise ChangedMeanwhile
        billing.refuse_references_taken(connection, [(current.meter_id, reference)], payment_id)
        billing.post_difference(
            connection, settlements.paid_kind(connection, payment_id), current, current.paid_on, amount, user
        )
        connection.execute(
            update(payments)
            .where(payments.c.id == payment_id)
            .values(amount=amount, reference=reference.strip()[:100], version=payments.c.version + 1)
        )
        record(connection, Payment, payments.c.id == payment_id, HistoryOperation.EDIT)
        billing.recompute_billing(connection, {current.meter_id}, set(), user=user)
    return db.session.get(Payment, payment_id)


def withdraw_payment(
    payment: Payment, reason: str, *, user: User | None = None, value_date: date | None = None
) -> Payment:
    """Withdraw a payment (never deleted): it stops counting, and its reversing entry is posted on ``value_date``
    (default today; not before it was paid)."""
    return billing.withdraw(
        Payment, settlements.paid_kind(db.session.connection(), payment.id), payment.id, reason, user, value_date
    )


def _posted(connection, kind: Kind, dated: list[tuple[int, date, int | None, Decimal]], user) -> list:
    """Post new payments (``kind``), each ``(meter_id, on, customer_id, amount)``, as one batch, each for whoever held
    its meter on its date (:func:`billing.holders_on`); the meters are locked by the caller."""
    held = billing.holders_on(connection, [(meter_id, on, customer_id) for meter_id, on, customer_id, _amount in dated])
    return billing.posted_sources(
        connection, kind, [(on, holder, amount) for (_m, on, _c, amount), holder in zip(dated, held, strict=True)], user
    )
