"""The reconciliation engine and its checks: one module per derived field.

A new derived field registers here by adding its check to ``CHECKS``.
"""

from __future__ import annotations

from functools import cache

from backoffice.reconcile.account_balance import AccountBalance
from backoffice.reconcile.balance_sheet import BalanceSheet
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.reconcile.customer_meter_totals import CustomerMeterTotals
from backoffice.reconcile.customer_status import CustomerStatusCheck
from backoffice.reconcile.customer_wallet import CustomerWallet
from backoffice.reconcile.customer_words import CustomerWords
from backoffice.reconcile.evidence_seals import EvidenceSeals
from backoffice.reconcile.history_drift import HistoryDrift
from backoffice.reconcile.invoice_outstanding import InvoiceOutstanding, PaymentUnapplied
from backoffice.reconcile.invoice_tax import InvoiceTax
from backoffice.reconcile.journal_balanced import JournalBalanced
from backoffice.reconcile.ledger_chain import LedgerChain
from backoffice.reconcile.meter_balance import MeterBalance
from backoffice.reconcile.monthly_balance import MonthlyBalance
from backoffice.reconcile.movement_accounts import MovementAccounts
from backoffice.reconcile.order_grand_total import OrderGrandTotal
from backoffice.reconcile.order_month_totals import OrderMonthTotals
from backoffice.reconcile.reading_calculation import ReadingCalculation
from backoffice.reconcile.receivables_agreement import ReceivablesAgreement
from backoffice.reconcile.tallies import Tallies
from backoffice.reconcile.target_achieved import TargetAchieved
from backoffice.reconcile.wallet_ledger_agreement import WalletLedgerAgreement

# In dependency order: a check runs after the checks whose fields its expected values read.
CHECKS: dict[str, Check] = {
    check.name: check
    for check in (
        OrderGrandTotal(),
        TargetAchieved(),
        OrderMonthTotals(),
        ReadingCalculation(),
        CustomerWallet(),
        CustomerStatusCheck(),
        LedgerChain(),
        MonthlyBalance(),
        MeterBalance(),
        CustomerMeterTotals(),
        InvoiceOutstanding(),
        PaymentUnapplied(),
        InvoiceTax(),
        Tallies(),
        CustomerWords(),
        JournalBalanced(),
        MovementAccounts(),
        AccountBalance(),
        BalanceSheet(),
        WalletLedgerAgreement(),
        ReceivablesAgreement(),
        HistoryDrift(),
        EvidenceSeals(),
    )
}


class UnknownCheck(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown check {name!r}; the checks are: {', '.join(CHECKS)}.")


def label(name: str) -> str:
    """A check's label, or the name given when no check has it (a run recorded before a check was renamed)."""
    check = CHECKS.get(name)
    return str(check.label) if check is not None else name


@cache
def scale_of(check: str, field: str) -> int:
    """The decimal places of a check's field: 2 for money, more for a volume (4) or a factor (6), 0 for a count or
    a state. A check of one field records its discrepancies under names of their own (the kind of evidence, the
    columns that drifted): they have that field's places."""
    found = CHECKS.get(check)
    if found is None:
        return 2
    fields = found.fields()
    if len(fields) == 1:
        return fields[0].scale
    return next((f.scale for f in fields if f.name == field), 2)


def resolve(names: list[str] | tuple[str, ...] | None) -> list[Check]:
    """The checks named, in registry order; all of them when none is named."""
    if not names:
        return list(CHECKS.values())
    for name in names:
        if name not in CHECKS:
            raise UnknownCheck(name)
    return [check for name, check in CHECKS.items() if name in names]


__all__ = ["CHECKS", "Check", "CheckedField", "Scope", "UnknownCheck", "label", "resolve", "scale_of"]
