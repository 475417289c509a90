"""Every invoice's VAT, line by line: its lines make its net, each line charged the rate in force for its kind on
the invoice's issue date and its share of the VAT at that rate (held in its amount where it was given so); the
invoice's VAT is its lines', posted to VAT payable by its entries (nothing once withdrawn).

An invoice charged none (``vat`` NULL: no rate in force, a customer not taxed, or made before VAT was kept) posts
none. What an invoice charged is what its customer was asked: the check reports, it never rewrites.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal, select, true

from backoffice.models import Account, EntryStatus, Invoice, InvoiceLine, JournalEntry, JournalLine
from backoffice.models.formulas import charged_vat_sql, line_vat_sql, vat_rate_sql
from backoffice.models.types import Money, Rate
from backoffice.posting.rules import VAT_PAYABLE
from backoffice.reconcile.base import CheckedField
from backoffice.reconcile.invoice_outstanding import _Allocated

invoices = Invoice.__table__
entries = JournalEntry.__table__
journal_lines = JournalLine.__table__
lines = InvoiceLine.__table__
accounts = Account.__table__


def _posted_vat():
    """What the invoice's posted entries moved on VAT payable, credits less debits."""
    return (
        select(func.coalesce(func.sum(journal_lines.c.credit - journal_lines.c.debit), 0))
        .select_from(
            entries.join(journal_lines, journal_lines.c.entry_id == entries.c.id).join(
                accounts, accounts.c.id == journal_lines.c.account_id
            )
        )
        .where(
            entries.c.source_type == "invoice",
            entries.c.source_id == invoices.c.id,
            entries.c.status == EntryStatus.POSTED.value,
            accounts.c.code == VAT_PAYABLE,
        )
        .scalar_subquery()
    )


def _lines():
    """Per invoice, what its lines make: their base, the VAT their shares make (``formulas.line_vat_sql``: of their
    bases and rates as they stand, or of the VAT its total holds), how many lines hold another share or another rate
    than the one in force for their kind on its issue date, and their one rate (none where they have several)."""
    held = case(
        (invoices.c.vat_included.is_(True), charged_vat_sql(invoices.c.amount, lines.c.vat_rate, literal(True)))
    )
    in_force = case(
        (lines.c.vat_rate == 0, literal(0, Rate)),
        (lines.c.vat_rate.is_not(None), vat_rate_sql(invoices.c.issued_on, lines.c.kind)),
        else_=None,
    )
    shares = (
        select(
            lines.c.amount,
            lines.c.vat,
            lines.c.vat_rate,
            line_vat_sql(lines.c.invoice_id, lines.c.position, lines.c.amount, lines.c.vat_rate, held).label("share"),
            in_force.label("in_force"),
        )
        .where(lines.c.invoice_id == invoices.c.id)
        .correlate(invoices)
        .lateral("shares")
    )
    taxed = func.bool_or(shares.c.vat_rate > 0)
    return select(
        func.coalesce(func.sum(shares.c.amount), 0).label("net"),
        case((taxed, func.sum(shares.c.share)), else_=None).label("vat"),
        func.count().filter(shares.c.vat.is_distinct_from(shares.c.share)).label("wrong_shares"),
        func.count().filter(shares.c.vat_rate.is_distinct_from(shares.c.in_force)).label("wrong_rates"),
        case(
            (taxed & (func.min(shares.c.vat_rate) == func.max(shares.c.vat_rate)), func.min(shares.c.vat_rate)),
            else_=None,
        ).label("rate"),
    ).lateral("lined")


class InvoiceTax(_Allocated):
    name = "invoice_tax"
    label = _l("Invoices' VAT")
    description = _l(
        "an invoice's lines make its net; each line is taxed at the rate in force for its kind on the invoice's issue "
        "date (0 for a customer not taxed) and takes its share of the VAT: the VAT of its lines at that rate, "
        "computed on their sum (or, given with its total, the total less the total divided by one plus the rate) "
        "and rounded once to the currency's unit, each line its own base's, the last what rounding leaves; the "
        "invoice's VAT is its lines' and its entries post it to VAT payable, nothing once withdrawn"
    )
    entity_type = "invoice"
    table = invoices
    counted_on_table = True
    fixable = False  # what an invoice charged is what its customer was asked: a person corrects the invoice

    def __init__(self) -> None:
        self.lined = _lines()
        self.source = invoices.join(self.lined, true())

    def fields(self):
        lined = self.lined
        return [
            CheckedField("net", Invoice.net, lined.c.net),
            CheckedField("vat", invoices.c.vat, lined.c.vat),
            CheckedField("vat_rate", invoices.c.vat_rate, lined.c.rate, adds=False),
            CheckedField("line_vat", literal(0), lined.c.wrong_shares, scale=0),
            CheckedField("line_rates", literal(0), lined.c.wrong_rates, scale=0),
            CheckedField(
                "vat_posted",
                func.round(_posted_vat(), 2, type_=Money),
                case((invoices.c.withdrawn_at.is_not(None), literal(0, Money)), else_=func.coalesce(invoices.c.vat, 0)),
            ),
        ]

    def sources(self):
        return ()

    def consequences(self):
        return ()
