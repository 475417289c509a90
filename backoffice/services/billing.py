"""Postpaid billing, what a meter's invoices (:mod:`~backoffice.services.meter_invoices`), payments
(:mod:`~backoffice.services.meter_payments`) and settlements (:mod:`~backoffice.services.settlements`) share: the
refusal of a billing write (:class:`BillingError`); who held a meter on a date, and what they owe on it; the refusals
of a closed customer, a retired meter, a closed month, a date after today, an amount and a payment's reference; new
ones posted as one batch, a correction's difference and a withdrawal posted; and the meters' and customers' totals
they move, recomputed.

A meter is at one customer at a time, over periods (see :class:`MeterAssignment`; ``meter_lifecycle`` adds, assigns
and retires meters); a reading, an invoice and a payment belong to the customer whose period covers their date, and
nothing is dated where nobody held the meter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, select, tuple_, update
from sqlalchemy.orm import joinedload

from backoffice.models import Customer, Meter, MeterAssignment, Payment, User, covers
from backoffice.models.formulas import (
    customer_meter_sums_sql,
    due_sql,
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
from backoffice.platform.money import MoneyError, check_amount, round_money
from backoffice.posting.closed_months import refuse_if_closed
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post, post_sources
from backoffice.posting.rules import Kind
from backoffice.services import allocations, installation, transaction

meters = Meter.__table__
customers = Customer.__table__
assignments = MeterAssignment.__table__
payments = Payment.__table__


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


def withdraw(model, kind: Kind, row_id: int, reason: str, user, value_date):
    """Withdraw the invoice or payment ``row_id`` of ``model``, posted as ``kind`` (never deleted): its reversing entry
    posted on ``value_date`` (default today; not before its own date), for whoever held its meter on that date, and
    the figures it moved recomputed."""
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
        refuse_withdrawn(row, "invoice" if kind is Kind.INVOICE else "payment")
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


def post_difference(connection, kind: Kind, current, on: date, amount: Decimal, user, vat=Decimal(0)) -> None:
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


def refuse_withdrawn(row, what: str) -> None:
    """Refuse to change or withdraw again an invoice or payment (``what``) that was withdrawn (:class:`Withdrawn`)."""
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
    store_balances(connection, meter_ids, recomputed)


def store_balances(connection, meter_ids, customer_ids) -> None:
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


def posted_sources(connection, kind: Kind, dated: list[tuple[date, int, Decimal]], user, taxes=()) -> list:
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


def holders_on(connection, dated: list[tuple[int, date, int | None]]) -> list[int]:
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


def refuse_closed_days(days) -> None:
    """Refuse the first of the days that is in a closed month."""
    for on in sorted(days):
        refuse_if_closed(db.session, on)


def refuse_references_taken(connection, given: list[tuple[int, str]], payment_id: int | None = None) -> None:
    """Refuse the first payment reference its meter has on another payment, or that comes twice on one meter (the
    meters locked): a payment's reference is recorded once on its meter (``uq_payments_meter_reference``)."""
    for _meter_id, reference in given:
        refuse_line_breaks(reference, _("A payment's reference"), "reference")
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


def refuse_line_breaks(text: str, what: str, field: str) -> None:
    """Refuse a text of more than one line (``what`` names it) as a :class:`BillingError` under ``field``."""
    try:
        one_line(text.strip(), what)
    except NotOneLine as refusal:
        raise BillingError(str(refusal), field) from None


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
