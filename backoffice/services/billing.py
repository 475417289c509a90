"""Postpaid billing: invoices and payments of a meter, each write one unit of work that posts the money through the
posting core and recomputes the meters' and customers' totals it moves; and who held a meter on a date.

A meter is at one customer at a time, over periods (see :class:`MeterAssignment`; ``meter_lifecycle`` adds, assigns
and retires meters); a reading, an invoice and a payment belong to the customer whose period covers their date, and
nothing is dated where nobody held the meter.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, insert, select, tuple_, update
from sqlalchemy.orm import joinedload

from backoffice.evidence import verifying
from backoffice.models import (
    AllocationHow,
    Customer,
    CutOver,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Meter,
    MeterAssignment,
    Payment,
    User,
    covers,
)
from backoffice.models.formulas import (
    customer_meter_sums_sql,
    due_sql,
    invoice_outstanding_sql,
    meter_balance_sql,
    meter_customer_net_sql,
    meter_overpayment_sql,
    overpaid_sql,
)
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import given_rows, local_date_of, one_of, utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import NotOneLine, one_line
from backoffice.platform.money import MoneyError, check_amount, round_money, shown
from backoffice.posting.closed_months import refuse_if_closed
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post, post_sources
from backoffice.posting.rules import Kind
from backoffice.services import ChangedMeanwhile, allocations, installation, tax, transaction
from backoffice.services.by_hand import refuse_beyond

meters = Meter.__table__
customers = Customer.__table__
assignments = MeterAssignment.__table__
invoices = Invoice.__table__
payments = Payment.__table__
entries = JournalEntry.__table__


class BillingError(ValueError):
    """A billing write refused; nothing was written.

    ``field`` names what the message is about, for a form to show it there: ``"number"``, ``"due_on"``,
    ``"date"`` (the date the write is dated on) or ``None`` (the amount, or the write as a whole).
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Withdrawn(BillingError):
    """The invoice or payment was withdrawn: it is neither changed nor withdrawn again."""


@dataclass(frozen=True)
class Owed:
    """What a customer owes on one meter, over their periods of it."""

    due: Decimal
    overpaid: Decimal


@dataclass(frozen=True)
class NewLine:
    """A line of an invoice as the system before wrote it: its amount before VAT, and what, how many, at what unit
    price and under which tax, as far as written."""

    amount: Decimal
    description: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax: str = ""


@dataclass(frozen=True)
class NewInvoice:
    """An invoice to add (:func:`add_invoices`): owed by whoever held the meter on ``issued_on`` (``customer_id``, if
    given). ``amount`` is its net, charged VAT; where ``vat_included``, its total, the VAT in it (an old system's
    total): what the customer owes as it is, never charged VAT again. ``net``, with ``vat_included``: the old
    system's net, the invoice's own where charged VAT it makes the total, else its net is derived from the total."""

    meter_id: int
    number: str
    amount: Decimal
    issued_on: date
    due_on: date
    customer_id: int | None = None
    vat_included: bool = False
    net: Decimal | None = None
    lines: Sequence[NewLine] = ()
    """Its lines as the system before wrote them, kept and printed (never changed)."""
    owed: Decimal | None = None
    """What it still asks once moved in, as the system before says (its Amount Due): the rest, where no payment here
    pays it, is recorded as settled in the system before (:func:`settle_before`)."""


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


def add_invoice(
    meter: Meter,
    number: str,
    amount: Decimal,
    issued_on: date,
    due_on: date,
    *,
    customer_id: int | None = None,
    user: User | None = None,
) -> Invoice:
    """Invoice the meter; the invoice is owed by whoever held the meter on ``issued_on`` (``customer_id``, if given).
    An invoice issued after today is refused."""
    (invoice_id,) = add_invoices([NewInvoice(meter.id, number, amount, issued_on, due_on, customer_id)], user=user)
    return db.session.get(Invoice, invoice_id)


def add_invoices(new: Sequence[NewInvoice], *, user: User | None = None) -> list[int]:
    """Add the invoices in one unit of work, posted as one batch (``post_sources``), each refused as
    :func:`add_invoice` refuses one, before anything is written; the meters' credit applied, then what an invoice
    given what it still ``owed`` asks beyond it settled in the system before, and the balances stored once. Returns
    their ids, in the order given."""
    checked = []
    for invoice in new:
        not_after_today(invoice.issued_on, _l("An invoice"))
        number, amount = _invoice_values(invoice.number, invoice.amount, invoice.issued_on, invoice.due_on)
        refuse_lines_off(invoice.lines, invoice.net if invoice.vat_included else amount)
        checked.append(replace(invoice, number=number, amount=amount))
    new = checked
    _refuse_closed_days({invoice.issued_on for invoice in new})
    with transaction() as session:
        connection = session.connection()
        meter_ids = {invoice.meter_id for invoice in new}
        holding = allocations.lock(connection, meter_ids)
        _refuse_numbers_taken([invoice.number for invoice in new])
        held = _holders_on(connection, [(i.meter_id, i.issued_on, i.customer_id) for i in new])
        new, rated = _rated(connection, new, held)
        totals = [
            invoice.amount if invoice.vat_included else _total(invoice.amount, taxed.vat or Decimal(0))
            for invoice, taxed in zip(new, rated, strict=True)
        ]
        dated = [(i.issued_on, holder, total) for i, holder, total in zip(new, held, totals, strict=True)]
        posted = _sourced(connection, Kind.INVOICE, dated, user, [taxed.vat or Decimal(0) for taxed in rated])
        connection.execute(
            insert(invoices),
            [
                {
                    "id": entry.source_id,
                    "meter_id": invoice.meter_id,
                    "number": invoice.number,
                    "amount": total,
                    "vat": taxed.vat,
                    "vat_rate": taxed.rate,
                    "vat_included": True if invoice.vat_included and taxed.vat is not None else None,
                    "issued_on": invoice.issued_on,
                    "due_on": invoice.due_on,
                    "entry_id": entry.entry_id,
                }
                for invoice, taxed, total, entry in zip(new, rated, totals, posted, strict=True)
            ],
        )
        ids = [entry.source_id for entry in posted]
        if kept := [
            {"invoice_id": invoice_id, "position": position, **asdict(line)}
            for invoice_id, invoice in zip(ids, new, strict=True)
            for position, line in enumerate(invoice.lines, 1)
        ]:
            connection.execute(insert(InvoiceLine.__table__), kept)
        record(connection, Invoice, one_of(invoices.c.id, ids), HistoryOperation.CREATE)
        allocations.settle_meters(connection, meter_ids, user_id=user.id if user else None, stored=False)
        if owed := [(invoice_id, i.owed) for invoice_id, i in zip(ids, new, strict=True) if i.owed is not None]:
            _settle(connection, owed, user, leaving=True)
        allocations.store(connection, meter_ids)
        _store_balances(connection, meter_ids, holding)
    return ids


def _rated(connection, new: list[NewInvoice], held: list[int]) -> tuple[list[NewInvoice], list[tax.Taxed]]:
    """The invoices as charged, with their VAT: an old system's total given with its net is the net charged VAT where
    that makes the total, else the total with the VAT in it."""
    asked = [
        (i.net, i.issued_on, holder, False)
        if i.vat_included and i.net is not None
        else (i.amount, i.issued_on, holder, i.vat_included)
        for i, holder in zip(new, held, strict=True)
    ]
    rated = tax.taxed(connection, asked)
    charged, again = [], []
    for position, (invoice, taxed) in enumerate(zip(new, rated, strict=True)):
        if invoice.vat_included and invoice.net is not None:
            if invoice.net + (taxed.vat or Decimal(0)) == invoice.amount:
                invoice = replace(invoice, amount=invoice.net, vat_included=False)
            else:
                again.append(position)
        charged.append(invoice)
    if again:
        taxed_again = tax.taxed(connection, [(new[p].amount, new[p].issued_on, held[p], True) for p in again])
        for position, taxed in zip(again, taxed_again, strict=True):
            rated[position] = taxed
    return charged, rated


def change_invoice(
    invoice: Invoice, number: str, amount: Decimal, due_on: date, *, version: int | None = None, user=None
) -> Invoice:
    """Correct an invoice's number, net amount or due date; a new net is charged VAT at the invoice's own rate (an
    invoice made before VAT was kept stays without; one given with its VAT in its total keeps them while its net is
    not changed), and what the total changes moves its meter and is posted.

    ``version``: the one the invoice's form was loaded at; raises ``ChangedMeanwhile`` if it is not the invoice's now.
    """
    number, amount = _invoice_values(number, amount, invoice.issued_on, due_on)
    refuse_if_closed(db.session, invoice.issued_on)
    invoice_id = invoice.id
    with transaction() as session:
        connection = locked(session, invoice.meter_id)
        current = connection.execute(select(invoices).where(invoices.c.id == invoice_id)).one()
        _refuse_withdrawn(current, "invoice")
        if version is not None and current.version != version:
            raise ChangedMeanwhile
        _refuse_number_taken(number, invoice_id)
        included = current.vat_included if amount == current.amount - (current.vat or 0) else None
        if included:  # its net as it was: its total, and the VAT in it, stay
            vat = current.vat
        else:
            vat = None if current.vat_rate is None else tax.vat_at(connection, amount, current.vat_rate)
        total = _total(amount, vat or Decimal(0))
        _post_difference(
            connection, Kind.INVOICE, current, current.issued_on, total, user, (vat or 0) - (current.vat or 0)
        )
        connection.execute(
            update(invoices)
            .where(invoices.c.id == invoice_id)
            .values(
                number=number,
                amount=total,
                vat=vat,
                vat_included=included,
                due_on=due_on,
                version=invoices.c.version + 1,
            )
        )
        record(connection, Invoice, invoices.c.id == invoice_id, HistoryOperation.EDIT)
        recompute_billing(connection, {current.meter_id}, set(), user=user)
    return db.session.get(Invoice, invoice_id)


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
        not_after_today(payment.paid_on, _l("A payment"))
    new = [replace(payment, amount=positive_amount(payment.amount)) for payment in new]
    _refuse_closed_days({payment.paid_on for payment in new})
    with transaction() as session:
        connection = session.connection()
        meter_ids = {payment.meter_id for payment in new}
        allocations.lock(connection, meter_ids)
        _refuse_references_taken(connection, [(payment.meter_id, payment.reference) for payment in new])
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
                _take_the_place_of_settlements(connection, meter, payment_id, payment.invoice_ids, user)
                _apply_chosen(connection, payment.meter_id, payment_id, payment.invoice_ids, user, meter)
        recompute_billing(connection, meter_ids, set(), user=user)
    return ids


def _refuse_beyond_the_approval_limit(connection, new: Sequence[NewPayment], user: User | None) -> None:
    """The limit's rule for payments recorded by hand, for each holder (``by_hand.refuse_beyond``)."""
    held = _holders_on(connection, [(payment.meter_id, payment.paid_on, payment.customer_id) for payment in new])
    moved: dict[int, Decimal] = defaultdict(Decimal)
    for payment, holder in zip(new, held, strict=True):
        moved[holder] += payment.amount
    refuse_beyond(connection, moved, maker_id=user.id if user else None, kind=Kind.PAYMENT.value)


def _take_the_place_of_settlements(connection, meter: allocations.MeterState, payment_id: int, invoice_ids, user):
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
        _post_difference(connection, Kind.SETTLEMENT, current, current.paid_on, amount, user)
        values = {"amount": amount}
        meter.payments[settlement_id].amount = amount
    else:
        movement = Movement(
            kind=Kind.SETTLEMENT,
            amount=-current.amount,
            customer_id=holder_on(meter.id, current.paid_on).customer_id,
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
        ids = _settle(connection, settled, user)
        allocations.store(connection, meter_ids)
        _store_balances(connection, meter_ids, holding)
    return ids


def _settle(
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
    new = [(found[invoice_id], positive_amount(amount)) for invoice_id, amount in settled]
    if beyond := [invoice.number for invoice, amount in new if amount > asks[invoice.id]]:
        raise BillingError(_("Invoice %(number)s asks less than what is said settled of it before.", number=beyond[0]))
    _refuse_references_taken(connection, [(invoice.meter_id, invoice.number) for invoice, _amount in new])
    holders = _holders_on(connection, [(invoice.meter_id, invoice.issued_on, None) for invoice, _amount in new])
    dated = [(invoice.issued_on, holder, amount) for (invoice, amount), holder in zip(new, holders, strict=True)]
    posted = _sourced(connection, Kind.SETTLEMENT, dated, user)
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


def _paid_kind(connection, payment_id: int) -> Kind:
    """How a payment's money moved, as its own posted entry says: received, or settled in the system before."""
    settled = select(payments.c.id).join(entries, _posted_as(Kind.SETTLEMENT)).where(payments.c.id == payment_id)
    return Kind.SETTLEMENT if connection.scalar(settled) is not None else Kind.PAYMENT


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
        raise BillingError(_("Say why the payment is applied to other invoices."), "reason")
    if len(reason) > 300:
        raise BillingError(_("A reason has at most 300 characters."), "reason")
    if not invoice_ids:
        raise BillingError(_("Choose the invoices the payment pays."), "invoice_ids")
    payment_id = payment.id
    with transaction() as session:
        connection = locked(session, payment.meter_id)
        current = connection.execute(select(payments).where(payments.c.id == payment_id)).one()
        _refuse_withdrawn(current, "payment")
        if version is not None and allocation_version(payment_id) != version:
            raise ChangedMeanwhile
        meter = allocations.read(connection, current.meter_id, user_id=user.id if user else None)
        for live in [live for live in meter.live if live.payment_id == payment_id]:
            allocations.reverse(connection, meter, live, reason)
        _apply_chosen(connection, current.meter_id, payment_id, invoice_ids, user, meter)
        recompute_billing(connection, {current.meter_id}, set(), user=user)
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
            raise BillingError(_("Choose open invoices of the payment's meter and customer."), "invoice_ids")
        if (asks := meter.outstanding(invoice_id)) <= 0:
            raise BillingError(_("Invoice %(number)s is already paid.", number=invoice.number), "invoice_ids")
        if (free := meter.free(payment_id)) <= 0:
            return
        allocations.allocate(connection, meter, payment_id, invoice_id, min(free, asks), AllocationHow.CHOSEN)


def change_payment(
    payment: Payment, amount: Decimal, reference: str = "", *, version: int | None = None, user: User | None = None
) -> Payment:
    """Correct a payment's amount or reference; a new amount moves its meter and its difference is posted.

    ``version``: the one the payment's form was loaded at; raises ``ChangedMeanwhile`` if it is not the payment's now.
    """
    amount = positive_amount(amount)
    payment_id = payment.id
    with transaction() as session:
        connection = locked(session, payment.meter_id)
        current = connection.execute(select(payments).where(payments.c.id == payment_id)).one()
        _refuse_withdrawn(current, "payment")
        if version is not None and current.version != version:
            raise ChangedMeanwhile
        _refuse_references_taken(connection, [(current.meter_id, reference)], payment_id)
        _post_difference(connection, _paid_kind(connection, payment_id), current, current.paid_on, amount, user)
        connection.execute(
            update(payments)
            .where(payments.c.id == payment_id)
            .values(amount=amount, reference=reference.strip()[:100], version=payments.c.version + 1)
        )
        record(connection, Payment, payments.c.id == payment_id, HistoryOperation.EDIT)
        recompute_billing(connection, {current.meter_id}, set(), user=user)
    return db.session.get(Payment, payment_id)


def withdraw_invoice(
    invoice: Invoice, reason: str, *, user: User | None = None, value_date: date | None = None
) -> Invoice:
    """Withdraw an invoice (never deleted): it stops counting, and its reversing entry is posted on ``value_date``
    (default today; not before it was issued)."""
    return _withdraw(Invoice, Kind.INVOICE, invoice.id, reason, user, value_date)


def withdraw_payment(
    payment: Payment, reason: str, *, user: User | None = None, value_date: date | None = None
) -> Payment:
    """Withdraw a payment (never deleted): it stops counting, and its reversing entry is posted on ``value_date``
    (default today; not before it was paid)."""
    return _withdraw(Payment, _paid_kind(db.session.connection(), payment.id), payment.id, reason, user, value_date)


def _withdraw(model, kind: Kind, row_id: int, reason: str, user, value_date):
    reason = reason.strip()
    if not reason:
        refusal = (
            _("Say why the invoice is withdrawn.") if kind is Kind.INVOICE else _("Say why the payment is withdrawn.")
        )
        raise BillingError(refusal, "reason")
    if len(reason) > 300:
        raise BillingError(_("A reason has at most 300 characters."), "reason")
    if value_date is not None:
        not_after_today(value_date, _l("A withdrawal"))
    table = model.__table__
    with transaction() as session:
        meter_id = session.scalar(select(table.c.meter_id).where(table.c.id == row_id))
        if meter_id is None:
            refusal = _("No invoice %(id)s.") if kind is Kind.INVOICE else _("No payment %(id)s.")
            raise BillingError(refusal % {"id": row_id})
        connection = locked(session, meter_id)
        row = connection.execute(select(table).where(table.c.id == row_id)).one()
        _refuse_withdrawn(row, "invoice" if kind is Kind.INVOICE else "payment")
        on = row.issued_on if kind is Kind.INVOICE else row.paid_on
        if value_date is not None and value_date < on:
            if kind is Kind.INVOICE:
                refusal = _("A withdrawal cannot be dated before the invoice was issued (%(date)s).")
            else:
                refusal = _("A withdrawal cannot be dated before the payment was paid (%(date)s).")
            raise BillingError(refusal % {"date": named_date(on)}, "date")
        posted = post(
            installation(),
            connection,
            Movement(
                kind=kind,
                amount=-row.amount,
                tax=-(row.vat or 0) if kind is Kind.INVOICE else Decimal(0),
                customer_id=holder_on(meter_id, on).customer_id,
                value_date=value_date,
                reference=Reference(kind.value, row_id),
                user=user,
            ),
        )
        connection.execute(
            update(table)
            .where(table.c.id == row_id)
            .values(
                withdrawn_at=utcnow(),
                withdrawn_by_id=user.id if user else None,
                withdrawal_reason=reason,
                withdrawal_entry_id=posted.entry_id,
                version=table.c.version + 1,
            )
        )
        record(connection, model, table.c.id == row_id, HistoryOperation.EDIT)
        recompute_billing(connection, {meter_id}, set(), user=user)
    return db.session.get(model, row_id)


def _post_difference(connection, kind: Kind, current, on: date, amount: Decimal, user, vat=Decimal(0)) -> None:
    """Post what a corrected amount changes of an invoice or a payment (of its VAT: ``vat``), on its own date, for its
    holder then."""
    if difference := amount - current.amount:
        post(
            installation(),
            connection,
            Movement(
                kind=kind,
                amount=difference,
                tax=vat,
                customer_id=holder_on(current.meter_id, on).customer_id,
                value_date=on,
                reference=Reference(kind.value, current.id),
                user=user,
            ),
        )


def _refuse_withdrawn(row, what: str) -> None:
    if row.withdrawn_at is not None:
        on = local_date_of(row.withdrawn_at, current_app.config["TIMEZONE"])
        if what == "invoice":
            refusal = _("This invoice was withdrawn on %(date)s: it no longer changes.")
        else:
            refusal = _("This payment was withdrawn on %(date)s: it no longer changes.")
        raise Withdrawn(refusal % {"date": named_date(on)})


def locked(session, meter_id: int, *, also=()):
    """The unit of work's connection, holding the locks of the meter and of every customer who has held it (and of
    the customers ``also`` names), in the one order (customers, then meters), before anything is read to be
    written."""
    connection = session.connection()
    allocations.lock(connection, [meter_id], also=also)
    return connection


def recompute_billing(connection, meter_ids, customer_ids, *, user: User | None = None) -> None:
    """The meters' allocations (:func:`allocations.settle_meters`) and balances first, then the totals of every customer
    who has held them.

    An invoice or payment counts towards whoever held its meter on its date, and a date can
    change: every holder of the meter is recomputed, not only the one holding it now.
    The customers, then the meters, are locked first (in id order): each recomputation then
    reads what a concurrent invoice or payment committed instead of overwriting it.
    """
    recomputed = allocations.lock(connection, meter_ids, also=customer_ids)
    allocations.settle_meters(connection, meter_ids, user_id=user.id if user else None)
    _store_balances(connection, meter_ids, recomputed)


def _store_balances(connection, meter_ids, customer_ids) -> None:
    """The meters' balances, then their customers' totals (every customer who held them, locked by the caller)."""
    connection.execute(
        update(meters)
        .where(one_of(meters.c.id, meter_ids))
        .values(balance=meter_balance_sql(), overpayment=meter_overpayment_sql())
    )
    connection.execute(update(customers).where(one_of(customers.c.id, customer_ids)).values(customer_meter_sums_sql()))


def active_assignment(meter_id: int) -> MeterAssignment | None:
    """Where the meter is now: its active assignment, if any."""
    return db.session.scalar(
        select(MeterAssignment)
        .options(joinedload(MeterAssignment.customer), joinedload(MeterAssignment.meter))
        .where(MeterAssignment.meter_id == meter_id, MeterAssignment.is_active)
    )


def holder_on(meter_id: int, on: date, customer_id: int | None = None) -> MeterAssignment:
    """The assignment covering the date: whose a reading, invoice or payment of the meter dated then is.

    Refused when nobody held the meter then, or when ``customer_id`` is given and another customer did.
    """
    held = db.session.scalar(
        select(MeterAssignment)
        .options(joinedload(MeterAssignment.customer), joinedload(MeterAssignment.meter))
        .where(MeterAssignment.meter_id == meter_id, covers(MeterAssignment, on))
    )
    if held is None:
        serial = db.session.scalar(select(Meter.serial).where(Meter.id == meter_id))
        raise BillingError(
            _(
                "Meter %(serial)s was not assigned to any customer on %(date)s: readings, invoices and payments are "
                "dated in a period when a customer held the meter.",
                serial=serial,
                date=named_date(on),
            ),
            "date",
        )
    if customer_id is not None and held.customer_id != customer_id:
        code = db.session.scalar(select(Customer.code).where(Customer.id == customer_id))
        raise BillingError(
            _(
                "On %(date)s meter %(serial)s was at %(holder)s, not at %(code)s: enter it for %(holder)s.",
                date=named_date(on),
                serial=held.meter.serial,
                holder=held.customer.code,
                code=code,
            ),
            "date",
        )
    refuse_closed(held.customer_id)
    return held


def _posted(connection, kind: Kind, dated: list[tuple[int, date, int | None, Decimal]], user) -> list:
    """Post new payments (``kind``), each ``(meter_id, on, customer_id, amount)``, as one batch, each for whoever held
    its meter on its date (:func:`_holders_on`); the meters are locked by the caller."""
    held = _holders_on(connection, [(meter_id, on, customer_id) for meter_id, on, customer_id, _amount in dated])
    return _sourced(
        connection, kind, [(on, holder, amount) for (_m, on, _c, amount), holder in zip(dated, held, strict=True)], user
    )


def _sourced(connection, kind: Kind, dated: list[tuple[date, int, Decimal]], user, taxes=()) -> list:
    """Post new invoices or payments, each ``(on, holder, amount)`` (and its VAT, from ``taxes``), as one batch."""
    taxes = list(taxes) or [Decimal(0)] * len(dated)
    return post_sources(
        installation(),
        connection,
        [
            Movement(
                kind=kind,
                amount=amount,
                tax=vat,
                customer_id=holder,
                value_date=on,
                reference=Reference(kind.value, None),
                user=user,
            )
            for (on, holder, amount), vat in zip(dated, taxes, strict=True)
        ],
    )


def _holders_on(connection, dated: list[tuple[int, date, int | None]]) -> list[int]:
    """Who held each meter on each date (``(meter_id, on, customer_id)``), read at once: refused as
    :func:`holder_on` refuses one, for the first refused in the order given."""
    periods = defaultdict(list)
    for row in connection.execute(
        select(
            assignments.c.meter_id, assignments.c.customer_id, assignments.c.started_on, assignments.c.ended_on
        ).where(one_of(assignments.c.meter_id, {meter_id for meter_id, _on, _customer in dated}))
    ):
        periods[row.meter_id].append(row)
    held = []
    for meter_id, on, customer_id in dated:
        found = [
            p.customer_id for p in periods[meter_id] if p.started_on <= on and (p.ended_on is None or on < p.ended_on)
        ]
        if len(found) != 1 or customer_id not in (None, found[0]):
            holder_on(meter_id, on, customer_id)
        held.append(found[0])
    refuse_closed(*held)
    return held


def refuse_retired(meter: Meter, refused: str) -> None:
    """Raise :class:`BillingError` if the meter is retired; ``refused`` says what it takes no more."""
    if meter.retired:
        values = {"serial": meter.serial, "refused": refused}
        if meter.retired_on:
            refusal = _("Meter %(serial)s was retired on %(date)s: %(refused)s.") % {
                **values,
                "date": named_date(meter.retired_on),
            }
        else:
            refusal = _("Meter %(serial)s was retired: %(refused)s.") % values
        raise BillingError(refusal)


def refuse_closed(*customer_ids: int) -> None:
    """Refuse the first of the customers that is closed; the flag is read from its row as committed now, so a caller
    holding the customer's lock sees a close that committed while it waited for it."""
    closed = closed_customers(customer_ids)
    if closed:
        raise closed_refusal(closed[min(closed)])


def closed_customers(customer_ids) -> dict[int, str]:
    """The closed customers among these, by id: their codes (read as committed now, see :func:`refuse_closed`)."""
    found = db.session.execute(
        select(Customer.id, Customer.code).where(one_of(Customer.id, customer_ids), Customer.closed_at.is_not(None))
    )
    return dict(found.all())


def closed_refusal(code: str) -> BillingError:
    """The refusal of a closed customer's new meter, reading, invoice or payment."""
    return BillingError(
        _(
            "Customer %(code)s is closed: it takes no new meter, reading, invoice or payment. An admin can reopen it.",
            code=code,
        )
    )


def owed(assignment: MeterAssignment) -> Owed:
    """What the assignment's customer owes on its meter, over all their periods of it."""
    net = meter_customer_net_sql(assignment.meter_id, assignment.customer_id)
    due, overpaid = db.session.execute(select(due_sql(net), overpaid_sql(net))).one()
    return Owed(round_money(Decimal(due)), round_money(Decimal(overpaid)))


def not_after_today(on: date, what: str) -> None:
    """Refuse a date after today; ``what`` names what is dated ("An invoice", in the reader's language)."""
    today = local_today()
    if on > today:
        zone = current_app.config["TIMEZONE"]
        refusal = _("%(what)s cannot be dated after today (%(today)s in %(zone)s).")
        raise BillingError(refusal % {"what": what, "today": named_date(today), "zone": zone}, "date")


def _invoice_values(number: str, amount: Decimal, issued_on: date, due_on: date) -> tuple[str, Decimal]:
    amount = positive_amount(amount)
    number = number.strip()
    if not number or len(number) > 40:
        raise BillingError(_("An invoice needs a number of at most 40 characters."), "number")
    _one_line(number, _("An invoice's number"), "number")
    if due_on < issued_on:
        raise BillingError(_("An invoice cannot fall due before it is issued."), "due_on")
    return number, amount


def _refuse_closed_days(days) -> None:
    for on in sorted(days):
        refuse_if_closed(db.session, on)


def _refuse_number_taken(number: str, invoice_id: int | None = None) -> None:
    query = select(Invoice.id).where(Invoice.number == number, Invoice.id != invoice_id)
    with db.session.no_autoflush:
        if db.session.scalar(query) is not None:
            raise BillingError(_("Invoice number %(number)s is already used.", number=number), "number")


def _refuse_numbers_taken(numbers: list[str]) -> None:
    """Refuse the first number another invoice has, or that comes twice."""
    with db.session.no_autoflush:
        taken = set(db.session.scalars(select(Invoice.number).where(one_of(Invoice.number, numbers))))
    for number in numbers:
        if number in taken:
            raise BillingError(_("Invoice number %(number)s is already used.", number=number), "number")
        taken.add(number)


def _refuse_references_taken(connection, given: list[tuple[int, str]], payment_id: int | None = None) -> None:
    """Refuse the first payment reference its meter has on another payment, or that comes twice on one meter (the
    meters locked): a payment's reference is recorded once on its meter (``uq_payments_meter_reference``)."""
    for _meter_id, reference in given:
        _one_line(reference, _("A payment's reference"), "reference")
    wanted = {(meter_id, reference.strip()[:100]) for meter_id, reference in given if reference.strip()}
    if not wanted:
        return
    taken = set(
        connection.execute(
            select(payments.c.meter_id, payments.c.reference).where(
                tuple_(payments.c.meter_id, payments.c.reference).in_(
                    select(*given_rows("wanted", sorted(wanted), meter_id=Integer, reference=String).c)
                ),
                payments.c.id != payment_id,
            )
        ).all()
    )
    for meter_id, reference in given:
        pair = (meter_id, reference.strip()[:100])
        if pair in taken:
            raise BillingError(
                _("Payment reference %(reference)s is already recorded on this meter.", reference=pair[1]),
                "reference",
            )
        if pair[1]:
            taken.add(pair)


def _one_line(text: str, what: str, field: str) -> None:
    try:
        one_line(text.strip(), what)
    except NotOneLine as refusal:
        raise BillingError(str(refusal), field) from None


def _total(net: Decimal, vat: Decimal) -> Decimal:
    """What an invoice asks, its net and its VAT: refused beyond what an amount may be."""
    try:
        return check_amount(net + vat)
    except MoneyError as error:
        raise BillingError(_("With its VAT of %(vat)s: %(error)s", vat=shown(vat), error=error)) from None


def refuse_lines_off(lines: Sequence[NewLine], net: Decimal | None) -> None:
    """Refuse an invoice's lines that do not make its net, where its net is known: the write's rule, which an
    import's check runs too."""
    made = sum((line.amount for line in lines), Decimal(0))
    if lines and net is not None and made != net:
        raise BillingError(
            _(
                "Its lines make %(made)s, not its net %(net)s: a difference of %(difference)s.",
                made=shown(made),
                net=shown(net),
                difference=shown(made - net),
            ),
            "lines",
        )


def positive_amount(amount: Decimal) -> Decimal:
    """An invoice's or a payment's amount as it is stored, refused unless it is more than zero: the write's rule, which
    an import's check runs too."""
    try:
        amount = check_amount(amount)
    except MoneyError as error:
        raise BillingError(str(error)) from None
    if amount == 0:
        raise BillingError(_("Enter an amount greater than zero."))
    return amount
