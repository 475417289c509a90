"""The documents customers receive (an invoice, a statement of account), as PDF: drawn on the server by WeasyPrint
from the very page a clerk prints, on A4, its fonts embedded, its pages numbered, its text one a reader can copy and
search.

An invoice bills the readings its holder used since the meter's previous invoice; what it asks beyond them is one line
more, so that its lines always add up to its amount.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from backoffice.models import (
    Customer,
    DocumentKind,
    Invoice,
    InvoiceLine,
    LineKind,
    MeterReading,
    TransactionCalculation,
)
from backoffice.models.types import utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES
from backoffice.services import allocations, receivables, statements
from backoffice.services.statements import Period

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
"""Where the pages' stylesheets are."""


@dataclass(frozen=True)
class Drawing:
    """A document as its template draws it: the template, what it is given and the name of its file, each made in the
    language it is drawn in (the reader's for its page, the customer's for its PDF, on demand and at a month's end
    alike), and what it asks of the customer."""

    kind: DocumentKind
    customer: Customer
    reference: str
    """The invoice's number, or the statement's period (``2026-10-01..2026-10-31``)."""
    template: str
    context: Callable[[], dict]
    """What the template is given, made when it is drawn: its descriptions in the language it is drawn in."""
    naming: Callable[[], str]
    """Its file's name without the extension, in the language spoken (``faktur-INV-11``)."""
    asks: Decimal
    """What it asks of the customer: an invoice's outstanding, a postpaid statement's closing balance; a prepaid
    statement's closing balance (what the wallet holds)."""
    due_on: date | None = None
    issued_on: date | None = None
    invoice_id: int | None = None
    period: tuple[date, date] | None = None

    def html(self, **more) -> str:
        return render_template(self.template, customer=self.customer, **self.context(), **more)

    @property
    def name(self) -> str:
        return self.naming()


def invoice(customer: Customer, row: Invoice) -> Drawing:
    """The invoice to print on A4: who sends it and to whom, what it bills line by line, what payments pay of it,
    what it still asks and its status today, and how to pay it."""

    def context() -> dict:
        today = local_today()
        return {
            "row": row,
            "billed": billed(row, customer.id),
            "paid": allocations.by_invoice(db.session.connection(), [row.id]).get(row.id, []),
            "status": row.status_on(today),
            "today": today,
        }

    return Drawing(
        DocumentKind.INVOICE,
        customer,
        row.number,
        "billing/invoice_print.html",
        context,
        lambda: _("invoice-%(number)s", number=row.number),
        asks=row.outstanding,
        due_on=row.due_on,
        issued_on=row.issued_on,
        invoice_id=row.id,
    )


def billing_statement(customer: Customer, since: date, until: date) -> Drawing:
    """The postpaid statement of account: opening balance, invoices and payments with a running balance, closing
    balance, and the aging of what is open."""
    today = local_today()
    found = receivables.billing_statement(customer.id, since, until, today)
    return Drawing(
        DocumentKind.BILLING_STATEMENT,
        customer,
        f"{since.isoformat()}..{until.isoformat()}",
        "customers/billing_statement.html",
        lambda: {
            "statement": found,
            "buckets": receivables.BUCKETS,
            "printed_at": utcnow(),
            "today": today,
        },
        lambda: _(
            "postpaid-statement-%(code)s-%(since)s-%(until)s",
            code=customer.code,
            since=since.isoformat(),
            until=until.isoformat(),
        ),
        asks=found.closing,
        period=(since, until),
    )


def prepaid_statement(customer: Customer, period: Period) -> Drawing:
    """The prepaid statement of account: opening balance, every movement by its value date with a running balance,
    closing balance."""
    found = statements.summary(customer.id, period)

    def context() -> dict:
        return {
            "period": period,
            "summary": found,
            "lines": list(statements.lines(customer.id, period, found.opening)),
            "period_args": {"month": str(period.month)}
            if period.month
            else {"since": period.since.isoformat(), "until": period.until.isoformat()},
            "printed_at": utcnow(),
            "today": local_today(),
        }

    return Drawing(
        DocumentKind.STATEMENT,
        customer,
        f"{period.since.isoformat()}..{period.until.isoformat()}",
        "customers/statement.html",
        context,
        lambda: _("statement-%(code)s-%(period)s", code=customer.code, period=period.slug),
        asks=found.closing,
        period=(period.since, period.until),
    )


class DocumentsUnavailable(RuntimeError):
    """The PDF library's system parts (Pango) are not installed: no document can be drawn as PDF."""


@dataclass(frozen=True)
class BilledLine:
    """A line of an invoice: a reading billed (``reading_date`` set), a line the system before wrote (``kept``), or
    what the invoice asks beyond them."""

    amount: Decimal
    reading_date: date | None = None
    meter_index: Decimal | None = None
    volume_flow_meter: Decimal | None = None
    volume_sm3: Decimal | None = None
    price_per_sm3: Decimal | None = None
    kept: InvoiceLine | None = None


@dataclass(frozen=True)
class Taxed:
    """What an invoice's lines at one rate make: their base, the rate (none: charged none) and their VAT."""

    rate: Decimal | None
    base: Decimal
    vat: Decimal


@dataclass(frozen=True)
class Billed:
    """What an invoice bills: its period (after ``since``, the meter's previous invoice's issue date, up to its own),
    its lines, which add up to its net, and its totals by rate."""

    since: date | None
    until: date
    lines: list[BilledLine]
    taxes: list[Taxed] = field(default_factory=list)

    @property
    def first_day(self) -> date | None:
        """The period's first day: the day after the previous invoice's."""
        return self.since + timedelta(days=1) if self.since is not None else None

    @property
    def readings(self) -> list[BilledLine]:
        return [line for line in self.lines if line.reading_date is not None]

    @property
    def kept(self) -> list[InvoiceLine]:
        """The invoice's lines as the system before wrote them (an imported invoice's), printed in its readings'
        place."""
        return [line.kept for line in self.lines if line.kept is not None and _worded(line.kept)]

    @property
    def others(self) -> list[InvoiceLine]:
        """Its lines of other kinds than gas typed without words of their own (a meter's rental): printed by kind."""
        return [line.kept for line in self.lines if line.kept is not None and not _worded(line.kept)]

    @property
    def rest(self) -> BilledLine | None:
        """The line of what the invoice asks beyond (or short of) its readings; ``None`` when they make it whole."""
        return next((line for line in self.lines if line.reading_date is None and line.kept is None), None)

    @property
    def untaxed(self) -> bool:
        """Whether no line was charged a rate above 0 (an exempt or zero-rated customer, or no rate in force)."""
        return not any(tax.rate for tax in self.taxes)


def _worded(line: InvoiceLine) -> bool:
    """Whether a line carries words of its own (as the system before wrote it) beyond its kind and amount."""
    return bool(line.description or line.quantity is not None or line.unit_price is not None or line.tax)


def billed(invoice: Invoice, customer_id: int) -> Billed:
    """The invoice's lines: those the system before wrote, where it was imported with them, else the readings of its
    meter by ``customer_id`` (its holder) since the meter's previous invoice for its gas, its other lines by their
    kind; what it asks beyond them; and its totals by rate, its lines' summed."""
    since = db.session.scalar(
        select(func.max(Invoice.issued_on)).where(
            Invoice.meter_id == invoice.meter_id,
            Invoice.withdrawn_at.is_(None),
            Invoice.id != invoice.id,
            Invoice.issued_on < invoice.issued_on,
        )
    )
    kept = db.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
    ).all()
    if any(_worded(line) for line in kept):
        lines = [BilledLine(line.amount, kept=line) for line in kept]
    else:
        others = [line for line in kept if line.kind != LineKind.GAS]
        lines = [*_readings_billed(invoice, customer_id, since), *(BilledLine(o.amount, kept=o) for o in others)]
    rest = invoice.net - sum((line.amount for line in lines), Decimal(0))
    if rest or not lines:
        lines.append(BilledLine(amount=rest))
    return Billed(since=since, until=invoice.issued_on, lines=lines, taxes=_by_rate(kept))


def _by_rate(lines) -> list[Taxed]:
    """The lines' bases and VAT summed by rate, the lowest rate first."""
    rates: dict[Decimal | None, tuple[Decimal, Decimal]] = {}
    for line in lines:
        base, vat = rates.get(line.vat_rate, (Decimal(0), Decimal(0)))
        rates[line.vat_rate] = (base + line.amount, vat + (line.vat or Decimal(0)))
    return [Taxed(rate, *rates[rate]) for rate in sorted(rates, key=lambda rate: rate or Decimal(0))]


def _readings_billed(invoice: Invoice, customer_id: int, since: date | None) -> list[BilledLine]:
    billed_by = [
        MeterReading.meter_id == invoice.meter_id,
        MeterReading.customer_id == customer_id,
        MeterReading.reading_date <= invoice.issued_on,
    ]
    if since is not None:
        billed_by.append(MeterReading.reading_date > since)
    found = db.session.execute(
        select(
            MeterReading.reading_date,
            MeterReading.meter_index,
            TransactionCalculation.volume_flow_meter,
            TransactionCalculation.volume_sm3,
            TransactionCalculation.price_per_sm3,
            TransactionCalculation.total_price,
        )
        .join(TransactionCalculation, TransactionCalculation.reading_id == MeterReading.id)
        .where(*billed_by)
        .order_by(MeterReading.reading_date, MeterReading.id)
    ).all()
    return [
        BilledLine(
            amount=row.total_price,
            reading_date=row.reading_date,
            meter_index=row.meter_index,
            volume_flow_meter=row.volume_flow_meter,
            volume_sm3=row.volume_sm3,
            price_per_sm3=row.price_per_sm3,
        )
        for row in found
    ]


def drawn_pdf(drawing: Drawing, *, base_url: str) -> bytes:
    """The document as a PDF, in its customer's language (their own, else the installation's)."""
    with force_locale(language_of(drawing.customer)):
        return pdf(drawing.html(as_pdf=True), base_url=base_url)


def language_of(customer: Customer) -> str:
    """The language a customer's documents are written in: their own, else the installation's."""
    return customer.language if customer.language in LANGUAGES else current_app.config["LANGUAGE"]


def pdf(html: str, *, base_url: str) -> bytes:
    """The page ``html`` (its links relative to ``base_url``) drawn as a PDF with the pages' stylesheets
    (:data:`STYLESHEETS`); what it links to is left out but for ``data:`` pictures (the issuer's logo). Raises
    :class:`DocumentsUnavailable` without Pango."""
    try:
        # Imported here: WeasyPrint loads Pango and its fonts, which only a document needs.
        from weasyprint import HTML
    except OSError as error:
        raise DocumentsUnavailable(str(error)) from None
    return HTML(string=html, base_url=base_url, url_fetcher=_data_only()).write_pdf(stylesheets=_stylesheets())


STYLESHEETS = ("app.css", "search.css", "print.css", "document.css")
"""A document's stylesheets, as its page has them, and the PDF's own (its pages numbered): parsed once a process."""


@cache
def _stylesheets():
    from weasyprint import CSS

    # The pages' stylesheet holds what a screen knows and a printer does not (sticky headers, shadows, media
    # queries): WeasyPrint warns of each as it parses them. What it cannot draw at all is still an error.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return [CSS(filename=str(STATIC / name)) for name in STYLESHEETS]


def _data_only():
    """WeasyPrint's fetcher held to ``data:`` addresses: a document never reaches a network or a file."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=("data",))
