"""A meter's invoices: added (one, or a batch posted as one), their VAT charged, their lines kept, corrected and
withdrawn, each write one unit of work that posts the money through the posting core and recomputes the meters' and
customers' totals it moves (:mod:`backoffice.services.billing`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update

from backoffice.models import Invoice, InvoiceLine, LineKind, Meter, User
from backoffice.models.history import HistoryOperation, record
from backoffice.models.types import one_of
from backoffice.platform.extensions import db
from backoffice.platform.money import MoneyError, check_amount, rate_text, shown
from backoffice.posting.closed_months import refuse_if_closed
from backoffice.posting.rules import Kind
from backoffice.services import ChangedMeanwhile, allocations, billing, settlements, tax, transaction

invoices = Invoice.__table__


@dataclass(frozen=True)
class NewLine:
    """A line of an invoice: its base (its amount before VAT), what kind of thing it bills (taxed at that kind's
    rate), and, as typed or as the system before wrote it, what, how many, at what unit price and under which tax."""

    amount: Decimal
    description: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax: str = ""
    kind: str = LineKind.GAS.value


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
    """Its lines, which make its net; none given: one line of gas, its net."""
    owed: Decimal | None = None
    """What it still asks once moved in, as the system before says (its Amount Due): the rest, where no payment here
    pays it, is recorded as settled in the system before (:func:`settlements.settle_before`)."""


def add_invoice(
    meter: Meter,
    number: str,
    amount: Decimal,
    issued_on: date,
    due_on: date,
    *,
    customer_id: int | None = None,
    user: User | None = None,
    lines: Sequence[NewLine] = (),
) -> Invoice:
    """Invoice the meter ``amount`` before VAT, in ``lines`` that make it (none: one line of gas); the invoice is owed
    by whoever held the meter on ``issued_on`` (``customer_id``, if given). An invoice issued after today is
    refused."""
    new = NewInvoice(meter.id, number, amount, issued_on, due_on, customer_id, lines=tuple(lines))
    (invoice_id,) = add_invoices([new], user=user)
    return db.session.get(Invoice, invoice_id)


def add_invoices(new: Sequence[NewInvoice], *, user: User | None = None) -> list[int]:
    """Add the invoices in one unit of work, posted as one batch (``post_sources``), each refused as
    :func:`add_invoice` refuses one, before anything is written; the meters' credit applied, then what an invoice
    given what it still ``owed`` asks beyond it settled in the system before, and the balances stored once. Returns
    their ids, in the order given."""
    checked = []
    for invoice in new:
        billing.not_after_today(invoice.issued_on, _l("An invoice"))
        number, amount = _invoice_values(invoice.number, invoice.amount, invoice.issued_on, invoice.due_on)
        refuse_lines_off(invoice.lines, invoice.net if invoice.vat_included else amount)
        checked.append(replace(invoice, number=number, amount=amount))
    new = checked
    billing.refuse_closed_days({invoice.issued_on for invoice in new})
    with transaction() as session:
        connection = session.connection()
        meter_ids = {invoice.meter_id for invoice in new}
        holding = allocations.lock(connection, meter_ids)
        _refuse_numbers_taken([invoice.number for invoice in new])
        held = billing.holders_on(connection, [(i.meter_id, i.issued_on, i.customer_id) for i in new])
        new, rated = _rated(connection, new, held)
        totals = [
            invoice.amount if invoice.vat_included else _total(invoice.amount, taxed.vat or Decimal(0))
            for invoice, taxed in zip(new, rated, strict=True)
        ]
        dated = [(i.issued_on, holder, total) for i, holder, total in zip(new, held, totals, strict=True)]
        posted = billing.posted_sources(
            connection, Kind.INVOICE, dated, user, [taxed.vat or Decimal(0) for taxed in rated]
        )
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
        connection.execute(
            insert(InvoiceLine.__table__),
            [
                {
                    "invoice_id": invoice_id,
                    "position": position,
                    **asdict(line),
                    "vat_rate": charged.rate,
                    "vat": charged.vat,
                }
                for invoice_id, invoice, taxed in zip(ids, new, rated, strict=True)
                for position, (line, charged) in enumerate(zip(invoice.lines, taxed.lines, strict=True), 1)
            ],
        )
        record(connection, Invoice, one_of(invoices.c.id, ids), HistoryOperation.CREATE)
        allocations.settle_meters(connection, meter_ids, user_id=user.id if user else None, stored=False)
        if owed := [(invoice_id, i.owed) for invoice_id, i in zip(ids, new, strict=True) if i.owed is not None]:
            settlements.settle(connection, owed, user, leaving=True)
        allocations.store(connection, meter_ids)
        billing.store_balances(connection, meter_ids, holding)
    return ids


def _rated(connection, new: list[NewInvoice], held: list[int]) -> tuple[list[NewInvoice], list[tax.Taxed]]:
    """The invoices as charged, each with its lines and its VAT: an old system's total given with its net is the net
    charged VAT where that makes the total, else the total with the VAT in it, its lines making what the total
    leaves of it (the last line taking the difference)."""
    lined = [replace(i, lines=tuple(i.lines) or (NewLine(_given_net(i)),)) for i in new]

    def asked(invoice: NewInvoice, holder: int, total: bool) -> tax.Asked:
        lines = [(line.kind, line.amount) for line in invoice.lines]
        return tax.Asked(lines, invoice.issued_on, holder, invoice.amount if total else None)

    rated = tax.taxed(
        connection,
        [asked(i, holder, i.vat_included and i.net is None) for i, holder in zip(lined, held, strict=True)],
    )
    charged, again = [], []
    for position, (invoice, taxed) in enumerate(zip(lined, rated, strict=True)):
        if invoice.vat_included and invoice.net is not None:
            if invoice.net + (taxed.vat or Decimal(0)) == invoice.amount:
                invoice = replace(invoice, amount=invoice.net, vat_included=False)
            else:
                again.append(position)
        charged.append(invoice)
    if again:
        taxed_again = tax.taxed(connection, [asked(charged[p], held[p], True) for p in again])
        for position, taxed in zip(again, taxed_again, strict=True):
            rated[position] = taxed
    for position, (invoice, taxed) in enumerate(zip(charged, rated, strict=True)):
        if invoice.vat_included:
            _refuse_rates_in_total(invoice, taxed)
            charged[position] = _making(invoice, invoice.amount - (taxed.vat or Decimal(0)))
    return charged, rated


def _refuse_rates_in_total(invoice: NewInvoice, taxed: tax.Taxed) -> None:
    """Refuse a total given with its VAT in it whose lines are taxed at several rates: the VAT it holds cannot be
    told apart by rate (its net, given, is charged instead, where its VAT makes the total)."""
    rates = sorted({line.rate or Decimal(0) for line in taxed.lines})
    if len(rates) > 1:
        raise billing.BillingError(
            _(
                "Invoice %(number)s is given by its total with its VAT in it, but its lines are taxed at %(rates)s: "
                "give its net, or lines whose VAT at these rates makes its total.",
                number=invoice.number,
                rates=_(" and ").join(rate_text(rate) for rate in rates),
            ),
            "total",
        )


def _given_net(invoice: NewInvoice) -> Decimal:
    """What an invoice given without lines bills before VAT, as far as known: its net, or the old system's total."""
    return invoice.net if invoice.vat_included and invoice.net is not None else invoice.amount


def _making(invoice: NewInvoice, net: Decimal) -> NewInvoice:
    """The invoice with its last line's base taking what its lines fall short of ``net`` by."""
    *first, last = invoice.lines
    short = net - sum((line.amount for line in invoice.lines), Decimal(0))
    return replace(invoice, lines=(*first, replace(last, amount=last.amount + short)))


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
        connection = billing.locked(session, invoice.meter_id)
        current = connection.execute(select(invoices).where(invoices.c.id == invoice_id)).one()
        billing.refuse_withdrawn(current, "invoice")
        if version is not None and current.version != version:
            raise ChangedMeanwhile
        _refuse_number_taken(number, invoice_id)
        same = amount == current.amount - (current.vat or 0)
        included = current.vat_included if same else None
        if same:  # its net as it was: its lines, its total and the VAT in it stay
            vat = current.vat
        else:
            line = _only_line(connection, invoice_id)
            share = None if line.vat_rate is None else tax.vat_at(connection, amount, line.vat_rate)
            vat = tax.invoice_taxed((tax.Charged(line.vat_rate, share),)).vat
        total = _total(amount, vat or Decimal(0))
        billing.post_difference(
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
        if not same:  # the line after its invoice: the database holds the lines to their invoice's net and VAT
            lines = InvoiceLine.__table__
            connection.execute(update(lines).where(lines.c.id == line.id).values(amount=amount, vat=share))
        record(connection, Invoice, invoices.c.id == invoice_id, HistoryOperation.EDIT)
        billing.recompute_billing(connection, {current.meter_id}, set(), user=user)
    return db.session.get(Invoice, invoice_id)


def _only_line(connection, invoice_id: int):
    """The one line of an invoice whose net is corrected: an invoice of several lines, or whose line gives its
    quantity and unit price, is corrected by its replacement (withdrawn, and issued again)."""
    lines = InvoiceLine.__table__
    found = connection.execute(select(lines).where(lines.c.invoice_id == invoice_id).order_by(lines.c.position)).all()
    if len(found) != 1 or found[0].quantity is not None:
        raise billing.BillingError(
            _("This invoice's lines make its net: withdraw it and issue its replacement with the lines corrected."),
            "amount",
        )
    return found[0]


def withdraw_invoice(
    invoice: Invoice, reason: str, *, user: User | None = None, value_date: date | None = None
) -> Invoice:
    """Withdraw an invoice (never deleted): it stops counting, and its reversing entry is posted on ``value_date``
    (default today; not before it was issued)."""
    return billing.withdraw(Invoice, Kind.INVOICE, invoice.id, reason, user, value_date)


def _invoice_values(number: str, amount: Decimal, issued_on: date, due_on: date) -> tuple[str, Decimal]:
    amount = billing.positive_amount(amount)
    number = number.strip()
    if not number or len(number) > 40:
        raise billing.BillingError(_("An invoice needs a number of at most 40 characters."), "number")
    billing.refuse_line_breaks(number, _("An invoice's number"), "number")
    if due_on < issued_on:
        raise billing.BillingError(_("An invoice cannot fall due before it is issued."), "due_on")
    return number, amount


def _refuse_number_taken(number: str, invoice_id: int | None = None) -> None:
    query = select(Invoice.id).where(Invoice.number == number, Invoice.id != invoice_id)
    with db.session.no_autoflush:
        if db.session.scalar(query) is not None:
            raise billing.BillingError(_("Invoice number %(number)s is already used.", number=number), "number")


def _refuse_numbers_taken(numbers: list[str]) -> None:
    """Refuse the first number another invoice has, or that comes twice."""
    with db.session.no_autoflush:
        taken = set(db.session.scalars(select(Invoice.number).where(one_of(Invoice.number, numbers))))
    for number in numbers:
        if number in taken:
            raise billing.BillingError(_("Invoice number %(number)s is already used.", number=number), "number")
        taken.add(number)


def _total(net: Decimal, vat: Decimal) -> Decimal:
    """What an invoice asks, its net and its VAT: refused beyond what an amount may be."""
    try:
        return check_amount(net + vat)
    except MoneyError as error:
        raise billing.BillingError(_("With its VAT of %(vat)s: %(error)s", vat=shown(vat), error=error)) from None


def refuse_lines_off(lines: Sequence[NewLine], net: Decimal | None) -> None:
    """Refuse an invoice's lines that do not make its net, where its net is known: the write's rule, which an
    import's check runs too."""
    made = sum((line.amount for line in lines), Decimal(0))
    if lines and net is not None and made != net:
        raise billing.BillingError(
            _(
                "Its lines make %(made)s, not its net %(net)s: a difference of %(difference)s.",
                made=shown(made),
                net=shown(net),
                difference=shown(made - net),
            ),
            "lines",
        )
