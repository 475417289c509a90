"""Every invoice's VAT: charged on its net at the rate it names (held in its amount where it was given so), that
rate the one in force on its issue date, and
posted to VAT payable by its entries (nothing once withdrawn).

An invoice charged none (``vat`` NULL: no rate in force, a customer not taxed, or made before VAT was kept) posts
none. What an invoice charged is what
its customer was asked: the check reports, it never rewrites.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal, select

from backoffice.models import Account, EntryStatus, Invoice, JournalEntry, JournalLine
from backoffice.models.formulas import charged_vat_sql, vat_rate_sql
from backoffice.models.types import Money, Rate
from backoffice.posting.rules import VAT_PAYABLE
from backoffice.reconcile.base import CheckedField
from backoffice.reconcile.invoice_outstanding import _Allocated

invoices = Invoice.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
accounts = Account.__table__


def _posted_vat():
    """What the invoice's posted entries moved on VAT payable, credits less debits."""
    return (
        select(func.coalesce(func.sum(lines.c.credit - lines.c.debit), 0))
        .select_from(
            entries.join(lines, lines.c.entry_id == entries.c.id).join(accounts, accounts.c.id == lines.c.account_id)
        )
        .where(
            entries.c.source_type == "invoice",
            entries.c.source_id == invoices.c.id,
            entries.c.status == EntryStatus.POSTED.value,
            accounts.c.code == VAT_PAYABLE,
        )
        .scalar_subquery()
    )


class InvoiceTax(_Allocated):
    name = "invoice_tax"
    label = _l("Invoices' VAT")
    description = _l(
        "an invoice's VAT is its net at the rate it names (or, given with its total, the total less the total "
        "divided by one plus the rate), rounded once to the currency's unit; that rate is the one "
        "in force on its issue date; its entries post that VAT to VAT payable, nothing once withdrawn"
    )
    entity_type = "invoice"
    table = invoices
    fixable = False  # what an invoice charged is what its customer was asked: a person corrects the invoice

    def fields(self):
        kept = invoices.c.vat.is_not(None)
        given = case((invoices.c.vat_included.is_(True), invoices.c.amount), else_=Invoice.net)
        return [
            CheckedField(
                "vat",
                invoices.c.vat,
                case((kept, charged_vat_sql(given, invoices.c.vat_rate, invoices.c.vat_included)), else_=None),
            ),
            CheckedField(
                "vat_rate",
                invoices.c.vat_rate,
                case(
                    (invoices.c.vat_rate == 0, literal(0, Rate)), (kept, vat_rate_sql(invoices.c.issued_on)), else_=None
                ),
                adds=False,
            ),
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
